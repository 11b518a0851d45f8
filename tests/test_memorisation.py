"""The memorisation measures (course_lib/memorisation.py) on sprites whose answers are known."""
import numpy as np
import pytest
import torch

from course_lib.data import SpriteDataset
from course_lib.memorisation import DATA_SIZES, closest_pair, copy_share, nearest_training, pixel_distances
from course_lib.metrics import load_classifier
from course_lib.pretrained import WEIGHTS_DIR


@pytest.fixture(scope="module")
def training():
    return SpriteDataset.generated(n=40, seed=0).images  # (40, 3, 16, 16)


def test_pixel_distances_are_euclidean_over_every_value():
    a, b = torch.zeros(1, 3, 2, 2), torch.ones(2, 3, 2, 2)
    b[1] = 3.0
    assert pixel_distances(a, b).tolist() == [[pytest.approx(12 ** 0.5), pytest.approx((12 * 9) ** 0.5)]]


def test_the_closest_pair_ignores_a_sprite_itself_and_its_exact_duplicates(training):
    doubled = torch.cat([training, training[:3]])
    assert closest_pair(doubled) == pytest.approx(closest_pair(training))
    near = training.clone()
    near[1] = near[0] + 0.01  # one sprite a shade off another: the closest pair, sqrt(768) * 0.01 apart
    assert closest_pair(near) == pytest.approx(768 ** 0.5 * 0.01, rel=1e-4)


def test_copies_of_training_sprites_count_as_copies_and_new_sprites_do_not(training):
    copies = training[[3, 7, 9]] + 0.001  # reproduced to within a thousandth
    new = SpriteDataset.generated(n=20, seed=777).images
    assert copy_share(copies, training) == 1.0
    assert copy_share(new, training) == 0.05  # one of 20: the generator draws near-twins now and then
    index, distance = nearest_training(copies, training)
    assert index.tolist() == [3, 7, 9] and distance.max() < 0.03


def test_neighbours_in_the_classifiers_feature_space_find_the_same_sprite(training):
    index, _ = nearest_training(training[:10] + 0.001, training, classifier=load_classifier())
    assert index.tolist() == list(range(10))


def test_the_samples_notebook_02_shows_are_ten_per_data_size():
    with np.load(WEIGHTS_DIR.parent / "snapshots" / "memorisation.npz") as kept:
        assert kept["sizes"].tolist() == list(DATA_SIZES)
        assert kept["samples"].shape == (len(DATA_SIZES), 10, 16, 16, 3) and kept["samples"].dtype == np.uint8
