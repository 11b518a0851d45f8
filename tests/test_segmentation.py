"""Chapter 1's segmentation U-Net: masks from the generator, composites, the network, training, IoU, CLI."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib import sprites
from course_lib.__main__ import main
from course_lib.backgrounds import (BACKGROUND_KINDS, composite, make_composites, render_background,
                                    sprite_masks)
from course_lib.data import to_model_space
from course_lib.segmentation import (SegmentationUnet, augment, fit_threshold, iou, mask_images, predict_masks,
                                     threshold_masks, train_segmentation)

DCSS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "dcss-sprites"


# --- masks and composites ----------------------------------------------------------------------

def drawn_pixels(n, seed):
    """What the generator drew for sprites 0..n-1: the shapes and, around them, the 1-pixel outline."""
    drawn = []
    for i in range(n):
        canvas = sprites._draw(i % len(sprites.CLASS_NAMES), np.random.default_rng((seed, i)))
        shapes = (canvas.body > 0) | (canvas.detail > 0)
        drawn.append(sprites._dilate(shapes))  # shapes plus their 4-neighbour outline
    return np.stack(drawn)


def test_the_mask_is_exactly_what_the_generator_drew():
    images, _ = sprites.generate_sprites(300, seed=4)
    drawn = drawn_pixels(300, seed=4)
    np.testing.assert_array_equal(sprite_masks(images), drawn)
    assert (images[drawn] <= 250).all()  # every drawn colour is clipped to 250 ...
    assert (images[~drawn] == 255).all()  # ... and the rest is pure white: the mask needs no guessing
    assert 0.3 < drawn.mean() < 0.8


def test_sprite_masks_refuses_float_images():
    with pytest.raises(ValueError, match=r"uint8 sprites \(N, H, W, 3\)"):
        sprite_masks(np.zeros((2, 16, 16, 3), np.float32))


def test_composites_keep_every_sprite_pixel_and_replace_the_white():
    images, masks, kinds = make_composites(60, seed=2)
    originals, _ = sprites.generate_sprites(60, seed=2)
    assert images.shape == (60, 16, 16, 3) and images.dtype == np.uint8 and masks.shape == (60, 16, 16)
    np.testing.assert_array_equal(masks, sprite_masks(originals))
    np.testing.assert_array_equal(images[masks], originals[masks])  # the sprite, pixel for pixel
    assert (images[~masks] == 255).all(-1).mean() < 0.01  # almost no white left behind it
    assert set(kinds) == set(BACKGROUND_KINDS)


def test_composite_takes_the_background_where_the_mask_is_off():
    sprite = np.zeros((1, 16, 16, 3), np.uint8)
    background = np.full((1, 16, 16, 3), 7, np.uint8)
    mask = np.zeros((1, 16, 16), bool)
    mask[0, 3, 4] = True
    out = composite(sprite, mask, background)
    assert out[0, 3, 4].tolist() == [0, 0, 0] and out.sum() == 7 * 3 * (256 - 1)


def test_composites_are_deterministic_and_a_prefix_is_the_smaller_set():
    big, big_masks, big_kinds = make_composites(20, seed=5)
    small, small_masks, small_kinds = make_composites(8, seed=5)
    np.testing.assert_array_equal(big[:8], small)
    np.testing.assert_array_equal(big_masks[:8], small_masks)
    assert big_kinds[:8] == small_kinds
    assert not np.array_equal(make_composites(8, seed=6)[0], small)


@pytest.mark.parametrize("kind", BACKGROUND_KINDS)
def test_each_background_is_textured_or_close_to_the_sprite(kind):
    sprite, _ = sprites.generate_sprites(1, seed=0)
    background = render_background(kind, 3, sprite[0])
    assert background.shape == (16, 16, 3) and background.dtype == np.uint8
    _, counts = np.unique(background.reshape(-1, 3), axis=0, return_counts=True)
    if kind == "solid":  # one colour plus a little dither, near a colour the sprite drew
        drawn = sprite[0][sprite_masks(sprite)[0]].astype(int)
        main_colour = np.median(background.reshape(-1, 3), axis=0)
        assert np.abs(drawn - main_colour).max(1).min() <= 30
    else:  # a texture: several colours, none covering nine tenths of it
        assert len(counts) >= 3 and counts.max() < 0.9 * 256


def test_unknown_background_kind_is_refused():
    with pytest.raises(ValueError, match="unknown background kind 'lava'; use one of"):
        render_background("lava", 0)
    with pytest.raises(ValueError, match="kinds must name at least one of"):
        make_composites(2, kinds=("lava",))


def test_the_colour_threshold_is_exact_on_white_and_fails_on_backgrounds():
    images, _ = sprites.generate_sprites(100, seed=1)
    masks = torch.from_numpy(sprite_masks(images))
    assert iou(threshold_masks(images, 0), masks) == 1.0  # on white, any colour that is not white
    composites, masks, _ = make_composites(100, seed=1)
    best = fit_threshold(composites, masks)
    assert iou(threshold_masks(composites, best), torch.from_numpy(masks)) < 0.8


# --- iou ---------------------------------------------------------------------------------------

def test_iou_fixed_values():
    a = torch.tensor([[True, True, False, False]])
    b = torch.tensor([[True, False, True, False]])
    assert iou(a, b) == pytest.approx(1 / 3)
    assert iou(a, a) == 1.0
    assert iou(a, ~a) == 0.0
    assert iou(np.zeros((2, 3), bool), np.zeros((2, 3), bool)) == 1.0  # nothing to find, nothing found
    assert iou(np.eye(4, dtype=bool), np.ones((4, 4), bool)) == 0.25


def test_iou_refuses_logits_and_mismatched_shapes():
    with pytest.raises(ValueError, match=r"threshold logits first"):
        iou(torch.zeros(2, 4), torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\(2, 4\) and torch.bool \(4, 2\)"):
        iou(torch.zeros(2, 4, dtype=torch.bool), torch.zeros(4, 2, dtype=torch.bool))


def test_mask_images_colour_the_mistakes():
    pred = torch.tensor([[[True, True, False, False]]])
    truth = torch.tensor([[[True, False, True, False]]])
    pictures = mask_images(pred, truth)
    assert pictures.shape == (1, 3, 1, 4)
    assert pictures[0, :, 0].T.tolist() == [[1, 1, 1], [-0.5, 0.25, 1], [1, -0.5, -0.5], [-1, -1, -1]]
    assert torch.equal(mask_images(pred), mask_images(pred, pred))  # no truth: white on black


def test_augment_moves_each_mask_with_its_image():
    g = torch.Generator().manual_seed(0)
    masks = (torch.rand(64, 1, 16, 16, generator=g) < 0.3).float()
    x = torch.cat([masks, 2 * masks, 3 * masks], 1)  # three channels, each a multiple of the mask
    moved_x, moved_masks = augment(x, masks, g)
    assert torch.equal(moved_x.sum(1, keepdim=True), 6 * moved_masks)  # every channel still on the moved mask
    orders = {tuple(v.tolist()) for v in moved_x.flatten(2).amax(2)}  # each image's channel values in order
    assert orders == {(1, 2, 3), (1, 3, 2), (2, 1, 3), (2, 3, 1), (3, 1, 2), (3, 2, 1)}
    assert sum(not torch.equal(a, b) for a, b in zip(moved_masks, masks)) > 40  # 7 of 8 moves change a mask
    assert torch.equal(x.sum(1, keepdim=True), 6 * masks)  # the inputs are left as they were


# --- the network -------------------------------------------------------------------------------

def test_cutting_the_skips_keeps_every_shape():
    intact, cut = SegmentationUnet(n_feat=8), SegmentationUnet(n_feat=8, skips=False)
    assert {k: v.shape for k, v in intact.state_dict().items()} == {k: v.shape for k, v in cut.state_dict().items()}
    cut.load_state_dict(intact.state_dict())
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    intact.eval(), cut.eval()
    assert intact(x).shape == cut(x).shape == (3, 1, 16, 16)
    assert not torch.allclose(intact(x), cut(x))


def test_without_skips_only_the_bottleneck_reaches_the_decoder():
    model = SegmentationUnet(n_feat=8, skips=False).eval()
    fixed = torch.randn(1, 16, 1, 1)
    model.to_vec.register_forward_hook(lambda module, args, output: fixed.expand_as(output))
    a, b = model(torch.rand(2, 3, 16, 16)), model(-torch.rand(2, 3, 16, 16))
    assert torch.equal(a, b)  # whatever the images, the same bottleneck gives the same masks


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="height must be a positive multiple of 4"):
        SegmentationUnet(height=10)
    with pytest.raises(ValueError, match="n_feat must be a positive multiple of 8"):
        SegmentationUnet(n_feat=12)
    with pytest.raises(ValueError, match="need as many masks as images"):
        train_segmentation(SegmentationUnet(n_feat=8), torch.zeros(3, 3, 16, 16),
                           torch.zeros(2, 16, 16, dtype=torch.bool))


def train_small(steps, seed=0):
    images, masks, _ = make_composites(24, seed=10)
    torch.manual_seed(seed)
    model = SegmentationUnet(n_feat=8)
    fit = train_segmentation(model, to_model_space(images), torch.from_numpy(masks), steps=steps, batch_size=24,
                             seed=seed)
    return model, fit, fit_threshold(images, masks)


def test_a_short_seeded_run_learns_masks_it_never_saw():
    model, fit, threshold = train_small(steps=120)  # 0.910 when written
    test_images, test_masks, _ = make_composites(200, seed=11)
    test_masks = torch.from_numpy(test_masks)
    score = iou(predict_masks(model, to_model_space(test_images)), test_masks)
    assert score >= 0.85, f"held-out IoU {score:.3f} after 120 steps on 24 composites"
    assert score > iou(threshold_masks(test_images, threshold), test_masks) + 0.15
    assert np.mean(fit.losses[-10:]) < 0.25 * np.mean(fit.losses[:10])


def test_training_is_repeatable_by_seed():
    runs = [train_small(steps=4, seed=seed)[1].losses for seed in (0, 0, 1)]
    assert runs[0] == runs[1] and runs[0] != runs[2]


# --- the command line --------------------------------------------------------------------------

def test_segment_prints_one_json_line_per_size(capsys):
    assert main(["segment", "--train-sizes", "4,8", "--test-size", "20", "--steps", "2", "--n-feat", "8"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["train_size"] for r in rows] == [4, 8]
    for r in rows:
        assert r["test_size"] == 20 and r["steps"] == 2 and r["n_feat"] == 8
        for key in ("iou_unet", "iou_no_skips", "iou_threshold"):
            assert 0 <= r[key] <= 1
        assert r["seconds_unet"] >= 0 and r["seconds_no_skips"] >= 0


@pytest.mark.parametrize("args, message", [
    (["--train-sizes", "8,0"], "--train-sizes must be positive whole numbers"),
    (["--train-sizes", "eight"], "--train-sizes must be positive whole numbers, comma-separated"),
    (["--test-size", "0"], "test_size must be a positive number of images, got 0"),
    (["--steps", "0"], "steps and batch_size must be positive"),
    (["--n-feat", "12"], "n_feat must be a positive multiple of 8"),
    (["--device", "gpu"], "unknown device 'gpu'"),
])
def test_bad_segment_arguments_exit_2_with_a_message(capsys, args, message):
    assert main(["segment", "--test-size", "5", "--train-sizes", "2"] + args) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
