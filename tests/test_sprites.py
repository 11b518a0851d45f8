"""Tests of the procedural sprite generator (course_lib.sprites)."""
import numpy as np
import pytest

from course_lib.sprites import CLASS_NAMES, SIZE, generate_sprites, render_sprite

N = 1000


@pytest.fixture(scope="module")
def batch():
    return generate_sprites(N, seed=0)


def _foreground(images):
    """True where a pixel is not the pure white background."""
    return (images != 255).any(-1)


def test_class_names_in_course_order():
    assert CLASS_NAMES == ("hero", "non-hero", "food", "spell", "side-facing")
    assert SIZE == 16


def test_shapes_and_dtypes(batch):
    images, labels = batch
    assert images.shape == (N, 16, 16, 3) and images.dtype == np.uint8
    assert labels.shape == (N, 5) and labels.dtype == np.float32


def test_labels_are_one_hot_and_exactly_balanced(batch):
    labels = batch[1]
    assert set(np.unique(labels).tolist()) == {0.0, 1.0}
    np.testing.assert_array_equal(labels.sum(1), np.ones(N))
    np.testing.assert_array_equal(labels.sum(0), [N // 5] * 5)
    np.testing.assert_array_equal(labels.argmax(1), np.arange(N) % 5)


def test_same_seed_gives_identical_bytes_and_another_seed_differs():
    a, labels_a = generate_sprites(40, seed=3)
    b, labels_b = generate_sprites(40, seed=3)
    c, labels_c = generate_sprites(40, seed=4)
    assert a.tobytes() == b.tobytes() and labels_a.tobytes() == labels_b.tobytes()
    assert (a != c).any(axis=(1, 2, 3)).all()  # every single sprite changes with the seed
    np.testing.assert_array_equal(labels_a, labels_c)  # the class order does not depend on the seed


def test_a_prefix_of_a_larger_set_equals_the_smaller_set(batch):
    images, labels = generate_sprites(37, seed=0)
    np.testing.assert_array_equal(images, batch[0][:37])
    np.testing.assert_array_equal(labels, batch[1][:37])


def test_sprite_i_is_render_sprite_with_rng_of_seed_and_index(batch):
    for i in (0, 1, 4, 498, N - 1):
        np.testing.assert_array_equal(render_sprite(i % 5, np.random.default_rng((0, i))), batch[0][i])


def test_render_sprite_shape_dtype_and_seed_argument():
    sprite = render_sprite(3, np.random.default_rng(7))
    assert sprite.shape == (16, 16, 3) and sprite.dtype == np.uint8
    np.testing.assert_array_equal(render_sprite(3, 7), sprite)


def test_classes_argument_draws_only_those_classes_balanced():
    images, labels = generate_sprites(10, seed=5, classes=[2, 4])
    assert labels.argmax(1).tolist() == [2, 4] * 5
    assert labels.shape == (10, 5)
    np.testing.assert_array_equal(images[3], render_sprite(4, np.random.default_rng((5, 3))))
    only_food = generate_sprites(6, seed=5, classes=[2])[1]
    assert only_food.argmax(1).tolist() == [2] * 6


def test_background_is_pure_white(batch):
    images = batch[0]
    corners = images[:, [0, 0, -1, -1], [0, -1, 0, -1]]  # (N, 4, 3)
    corner_white = (corners == 255).all(axis=(1, 2))
    assert corner_white.mean() > 0.95
    # White is the most common colour of every sprite: the background, not a near-white tint.
    assert ((images == 255).all(-1).sum((1, 2)) >= 40).all()


def test_every_sprite_is_drawn_and_outlined(batch):
    images = batch[0]
    fg = _foreground(images)
    counts = fg.sum((1, 2))
    assert counts.min() >= 40 and counts.max() <= 16 * 16 - 40  # neither blank nor filled
    dark = images.max(-1) < 100
    assert dark.sum((1, 2)).min() >= 10
    # The silhouette's rim is the outline: every drawn pixel touching the background is dark.
    white = np.pad(~fg, ((0, 0), (1, 1), (1, 1)))
    touches_white = white[:, :-2, 1:-1] | white[:, 2:, 1:-1] | white[:, 1:-1, :-2] | white[:, 1:-1, 2:]
    rim = fg & touches_white
    assert rim.any(axis=(1, 2)).all()
    assert dark[rim].all()


def test_at_least_20000_distinct_sprites():
    images, _ = generate_sprites(20_500, seed=1)
    assert len({sprite.tobytes() for sprite in images}) >= 20_000


def test_classes_differ_in_shape(batch):
    images, labels = batch
    fg = _foreground(images).astype(np.float64)
    k = labels.argmax(1)
    means = np.stack([fg[k == c].mean(0) for c in range(5)])  # mean silhouette per class
    distance = np.abs(means[:, None] - means[None]).mean(axis=(2, 3))
    off_diagonal = distance[np.triu_indices(5, 1)]
    assert off_diagonal.min() > 0.06, distance.round(3)
    # Side-facing characters are lopsided; front-facing heroes are close to mirror-symmetric.
    asymmetry = [np.abs(fg[k == c] - fg[k == c][:, :, ::-1]).mean() for c in range(5)]
    assert asymmetry[4] > asymmetry[0] + 0.03, asymmetry


def test_each_class_has_varied_silhouettes(batch):
    images, labels = batch
    fg = _foreground(images)
    for c in range(5):
        masks = fg[labels.argmax(1) == c]
        assert len({m.tobytes() for m in masks}) >= 0.3 * len(masks), CLASS_NAMES[c]


@pytest.mark.parametrize("bad", [-1, 5, 12, 2.0, "food", None, True])
def test_render_sprite_rejects_a_bad_class_index(bad):
    with pytest.raises(ValueError, match=r"0\.\.4") as info:
        render_sprite(bad, np.random.default_rng(0))
    assert f"got {bad!r}" in str(info.value)


def test_zero_sprites_gives_empty_arrays_of_the_right_shape():
    images, labels = generate_sprites(0)
    assert images.shape == (0, 16, 16, 3) and images.dtype == np.uint8
    assert labels.shape == (0, 5) and labels.dtype == np.float32


@pytest.mark.parametrize("bad", [-1, 2.5, "10"])
def test_bad_n_raises_and_says_what_to_pass(bad):
    with pytest.raises(ValueError, match="non-negative int"):
        generate_sprites(bad)


def test_bad_classes_argument_raises():
    with pytest.raises(ValueError, match="at least one"):
        generate_sprites(5, classes=[])
    with pytest.raises(ValueError, match=r"0\.\.4.*got 9"):
        generate_sprites(5, classes=[0, 9])
