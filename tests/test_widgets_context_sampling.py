"""Chapters 3 and 4: the pure functions behind the context mixer and the sampler explorer, and the two
views built on them (their sliders, CSS classes and the PNG bytes they show)."""
import io
import json

import ipywidgets
import pytest
import torch
from PIL import Image

from course_lib import sample_ddim, sampling_timesteps
from course_lib.data import CLASS_NAMES
from course_lib.metrics import load_quality
from course_lib.widgets import (CONTEXT_PRESETS, class_grid, compare_samplers, context_mixer, context_rows,
                                format_table, guidance_rows, interpolate_contexts, interpolation_row,
                                interpolation_rows, make_context, quality_curves, sample_grid, sampler_explorer, sprites_png)


def noise(n, seed, model):
    return torch.randn((n, 3, model.height, model.height), generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- contexts

def test_make_context_forms():
    assert make_context(None) is None and make_context("none") is None
    assert make_context("food").tolist() == [0, 0, 1, 0, 0]
    assert make_context("hero=1,food=0.5").tolist() == [1, 0, 0.5, 0, 0]
    assert make_context({"spell": 0.25, "side-facing": 1}).tolist() == [0, 0, 0, 0.25, 1]
    assert make_context([0, 1, 0, 0, 0]).tolist() == [0, 1, 0, 0, 0]
    assert make_context(torch.eye(5)).shape == (5, 5)


@pytest.mark.parametrize("bad, words", [({"wizard": 1}, "unknown class"), ([1, 0, 0], "5 weights"),
                                        ([1, -1, 0, 0, 0], "non-negative"), ("hero=x", "not a number"),
                                        ("hero,hero=0", "class .hero. appears twice")])
def test_make_context_errors(bad, words):
    with pytest.raises(ValueError, match=words):
        make_context(bad)


def test_presets_name_classes_only():
    assert {"hero + food", "none (unconditional)"} <= set(CONTEXT_PRESETS)
    for name, weights in CONTEXT_PRESETS.items():
        assert set(weights) <= set(CLASS_NAMES), name
    assert make_context(CONTEXT_PRESETS["hero + food"]).tolist() == [1, 0, 1, 0, 0]


def test_interpolate_contexts_is_a_straight_line():
    contexts, a = interpolate_contexts("hero", "food", n=5)
    assert a.tolist() == [0, 0.25, 0.5, 0.75, 1]
    assert contexts[0].tolist() == [1, 0, 0, 0, 0] and contexts[-1].tolist() == [0, 0, 1, 0, 0]
    assert contexts[1].tolist() == [0.75, 0, 0.25, 0, 0]
    assert torch.allclose(contexts.sum(1), torch.ones(5))
    with pytest.raises(ValueError, match=">= 2"):
        interpolate_contexts("hero", "food", n=1)
    with pytest.raises(ValueError, match="two single contexts"):
        interpolate_contexts("hero", None)


# ---------------------------------------------------------------- sampling helpers

def test_sample_grid_is_seeded_and_starts_from_the_seeds_noise(fake_model, sched):
    res = sample_grid(fake_model, sched, "hero", steps=5, seed=3, n=4)
    assert res.images.shape == (4, 3, 8, 8) and res.timesteps == sampling_timesteps(sched, 5)
    again = sample_grid(fake_model, sched, "hero", steps=5, seed=3, n=4)
    assert torch.equal(res.images, again.images)
    direct = sample_ddim(fake_model, sched, n=4, steps=5, context=make_context("hero"), x_T=noise(4, 3, fake_model))
    assert torch.allclose(res.images, direct.images)
    assert not torch.allclose(res.images, sample_grid(fake_model, sched, "hero", steps=5, seed=4, n=4).images)
    mixed = sample_grid(fake_model, sched, "hero=1,food=1", steps=5, seed=3, n=4)
    assert not torch.allclose(res.images, mixed.images)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm"])
def test_sample_grid_every_sampler(fake_model, sched, sampler):
    res = sample_grid(fake_model, sched, None, steps=4, seed=0, sampler=sampler, n=2)
    assert res.images.shape == (2, 3, 8, 8) and len(res.timesteps) == 5 and res.seconds >= 0
    assert torch.isfinite(res.images).all()


def test_sample_grid_rejects_eta_off_ddim_and_unknown_samplers(fake_model, sched):
    with pytest.raises(ValueError, match="eta applies to ddim only"):
        sample_grid(fake_model, sched, steps=4, sampler="dpm", eta=0.5, n=2)
    with pytest.raises(ValueError, match="unknown sampler"):
        sample_grid(fake_model, sched, steps=4, sampler="euler", n=2)


def test_class_grid_rows_are_classes_from_the_same_noises(fake_model, sched):
    images = class_grid(fake_model, sched, per_class=3, steps=4, seed=1)
    assert images.shape == (15, 3, 8, 8)
    for k, name in enumerate(CLASS_NAMES):
        row = sample_grid(fake_model, sched, name, steps=4, seed=1, n=3).images
        assert torch.allclose(images[3 * k:3 * k + 3], row, atol=1e-6), name


def test_context_rows_share_noises_across_rows(fake_model, sched):
    images = context_rows(fake_model, sched, ["hero", None, {"food": 1, "spell": 0.5}], per_row=2, steps=4, seed=6)
    assert images.shape == (6, 3, 8, 8)
    for r, context in enumerate(["hero", None, "food=1,spell=0.5"]):
        row = sample_grid(fake_model, sched, context, steps=4, seed=6, n=2).images
        assert torch.allclose(images[2 * r:2 * r + 2], row, atol=1e-6), context
    with pytest.raises(ValueError, match=r"context must have shape \(B, 5\) or \(5,\), got \(4, 3\)"):
        context_rows(fake_model, sched, torch.ones(2, 3), per_row=2, steps=4)  # the model checks a tensor's width


def test_interpolation_rows_batch_equals_single_rows(fake_model, sched):
    pairs = [("hero", "food"), ("spell", "side-facing")]
    images, a = interpolation_rows(fake_model, sched, pairs, n=3, steps=4, seed=2)
    assert images.shape == (6, 3, 8, 8) and a.tolist() == [0, 0.5, 1]
    for r, (c1, c2) in enumerate(pairs):
        row, _ = interpolation_row(fake_model, sched, c1, c2, n=3, steps=4, seed=2)
        assert torch.allclose(images[3 * r:3 * r + 3], row, atol=1e-6)


def test_interpolation_row_changes_only_the_context(fake_model, sched):
    images, a = interpolation_row(fake_model, sched, "hero", "hero", n=4, steps=4, seed=2)
    assert images.shape == (4, 3, 8, 8) and torch.allclose(a, torch.tensor([0, 1 / 3, 2 / 3, 1]))
    assert torch.allclose(images, images[:1].expand(4, -1, -1, -1))  # same context, same noise: same sprite
    images, _ = interpolation_row(fake_model, sched, "hero", "hero=1,food=1", n=4, steps=4, seed=2)
    first = sample_grid(fake_model, sched, "hero", steps=4, seed=2, n=1).images
    assert torch.allclose(images[:1], first, atol=1e-6)
    assert not torch.allclose(images[0], images[-1])


def test_guidance_rows(fake_model, sched):
    images = guidance_rows(fake_model, sched, "spell", scales=(0, 1, 4), n=2, steps=4, seed=5)
    assert images.shape == (6, 3, 8, 8)
    plain = sample_grid(fake_model, sched, "spell", steps=4, seed=5, n=2).images
    assert torch.allclose(images[:2], plain, atol=1e-6)  # w = 0 is plain conditional sampling
    assert not torch.allclose(images[2:4], images[4:6])
    with pytest.raises(ValueError, match="guidance 4 needs a context to guide toward"):  # nothing to guide towards
        guidance_rows(fake_model, sched, None, scales=(0, 4), n=2, steps=4, seed=5)


def test_compare_samplers_share_the_starting_noise(fake_model, sched):
    rows = compare_samplers(fake_model, sched, runs=[("ddpm", 500), ("ddim", 10), ("ddim", 25)], n=2, seed=7,
                            context="hero", guidance=1.0)
    assert [(r["sampler"], r["steps"], r["network_calls"]) for r in rows] == [
        ("ddpm", 500, 1000), ("ddim", 10, 20), ("ddim", 25, 50)]
    assert [len(r["timesteps"]) for r in rows] == [501, 11, 26]
    direct = sample_ddim(fake_model, sched, n=2, steps=10, context=make_context("hero"), guidance=1.0,
                         x_T=noise(2, 7, fake_model))
    assert torch.allclose(rows[1]["images"], direct.images, atol=1e-6)
    assert all(r["seconds"] > 0 and r["images"].shape == (2, 3, 8, 8) for r in rows)


# ---------------------------------------------------------------- tables and the benchmark file

def test_format_table():
    rows = [{"sampler": "DDPM", "steps": 500, "seconds": 12.345}, {"sampler": "DDIM", "steps": 10, "seconds": 0.2}]
    assert format_table(rows, ["sampler", "steps", "seconds"], {"seconds": ".2f"}) == (
        "| sampler | steps | seconds |\n"
        "|---------|-------|---------|\n"
        "|    DDPM |   500 |   12.35 |\n"
        "|    DDIM |    10 |    0.20 |")


def test_load_quality_and_curves(tmp_path):
    assert load_quality(tmp_path / "missing.jsonl") == []
    rows = [{"sampler": "ddim", "steps": 50, "guidance": 0.0, "fid": 2.0, "context_acc": 0.9},
            {"sampler": "ddim", "steps": 10, "guidance": 0.0, "fid": 9.0, "context_acc": 0.8},
            {"sampler": "ddim", "steps": 10, "guidance": 2.0, "fid": 7.0, "context_acc": 0.95},
            {"sampler": "ddpm", "steps": 500, "guidance": 0.0, "fid": 1.5, "context_acc": 0.97},
            {"sampler": "ddim", "steps": 25, "guidance": 0.0, "eta": 1.0, "fid": 3.0, "context_acc": 0.9}]
    path = tmp_path / "quality.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    assert load_quality(path) == rows
    assert quality_curves(rows) == {"ddim": ([10, 50], [9.0, 2.0]), "ddpm": ([500], [1.5])}
    assert quality_curves(rows, "context_acc", guidance=2) == {"ddim": ([10], [0.95])}
    assert quality_curves(rows, eta=1) == {"ddim": ([25], [3.0])}


def test_sprites_png_is_the_grid():
    images = torch.linspace(-1, 1, 6 * 3 * 4 * 4).view(6, 3, 4, 4)
    data = sprites_png(images, nrow=3, scale=2)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    picture = Image.open(io.BytesIO(data))
    assert picture.size == ((3 * 5 + 1) * 2, (2 * 5 + 1) * 2)  # 3 columns, 2 rows, 1-pixel gaps, scale 2


# ---------------------------------------------------------------- the views

def test_context_mixer(fake_model, sched):
    box = context_mixer(fake_model, sched, n=2, steps=3, start="hero")
    assert isinstance(box, ipywidgets.VBox) and "course-context-mixer" in box._dom_classes
    assert list(box.sliders) == list(CLASS_NAMES)
    for name, slider in box.sliders.items():
        assert isinstance(slider, ipywidgets.FloatSlider) and slider.description == name
        assert slider.continuous_update is False
    assert [s.value for s in box.sliders.values()] == [1, 0, 0, 0, 0]
    assert isinstance(box.image, ipywidgets.Image) and box.image.value[:4] == b"\x89PNG"
    before = box.image.value
    box.sliders["food"].value = 0.6
    assert box.image.value != before and "food 0.60" in box.info.value
    box.preset.value = "hero + food"
    assert [s.value for s in box.sliders.values()] == [1, 0, 1, 0, 0]
    box.preset.value = "none (unconditional)"
    assert [s.value for s in box.sliders.values()] == [0] * 5 and "unconditional" in box.info.value
    after_preset = box.image.value
    box.seed.value = 1
    assert box.image.value != after_preset


def test_context_mixer_guidance_changes_the_sprites(fake_model, sched):
    box = context_mixer(fake_model, sched, n=2, steps=3, start="spell")
    before = box.image.value
    box.guidance.value = 3.0
    assert box.image.value != before and "guidance 3" in box.info.value


def test_sampler_explorer(fake_model, sched):
    box = sampler_explorer(fake_model, sched, n=2, steps=3)
    assert isinstance(box, ipywidgets.VBox) and "course-sampler-explorer" in box._dom_classes
    assert isinstance(box.steps, ipywidgets.IntSlider) and box.steps.description == "steps"
    assert box.steps.continuous_update is False and (box.steps.min, box.steps.max) == (1, sched.timesteps)
    assert isinstance(box.image, ipywidgets.Image)
    before = box.image.value
    box.steps.value = 6
    assert box.image.value != before and "6 network calls" in box.info.value
    ddim_6 = box.image.value
    box.eta.value = 1.0
    assert box.image.value != ddim_6
    box.sampler.value = "dpm"
    assert box.eta.disabled and "DPM-Solver++" in box.info.value
    box.sampler.value = "ddpm"
    box.context.value = "none"
    assert box.image.value[:4] == b"\x89PNG"


def test_views_on_the_shipped_model():
    """The real network: moving one context slider or the step count changes the pictured sprites."""
    from course_lib.pretrained import load_pretrained
    model, sched = load_pretrained()
    mixer = context_mixer(model, sched, n=2, steps=3, start="hero")
    before = mixer.image.value
    mixer.sliders["food"].value = 1.0
    assert mixer.image.value != before
    explorer = sampler_explorer(model, sched, n=2, steps=3)
    before = explorer.image.value
    explorer.steps.value = 4
    assert explorer.image.value != before
