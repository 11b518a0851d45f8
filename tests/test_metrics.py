"""Fréchet distance against closed forms, the shipped classifier (accuracy, sha256 check), sprite FID,
context accuracy, `evaluate` on a tiny model, its command line, and bad input."""
import argparse
import json
import math
import shutil

import numpy as np
import pytest
import torch

from course_lib import ContextUnet, NoiseSchedule
from course_lib.data import to_model_space
from course_lib.metrics import (add_evaluate_arguments, context_accuracy, data_fid_floor, evaluate, feature_stats,
                                frechet_distance, load_classifier, reference_stats, run_evaluate, save_classifier,
                                quality_table, sprite_fid, train_classifier)
from course_lib.pretrained import WEIGHTS_DIR, record_in_manifest, save_weights
from course_lib.sprites import generate_sprites

KEYS = {"sampler", "steps", "eta", "guidance", "n", "fid", "context_acc", "seconds", "seconds_per_64"}


@pytest.fixture(scope="module")
def classifier():
    return load_classifier()


@pytest.fixture(scope="module")
def unseen():
    """500 sprites from a seed used neither for the classifier (1, 2) nor as FID reference (12345)."""
    images, labels = generate_sprites(500, seed=999)
    return to_model_space(images), torch.from_numpy(labels).argmax(1)


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return ContextUnet(n_feat=16).eval(), NoiseSchedule()


def _random_spd(d, seed):
    a = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


# ---------------------------------------------------------------- Fréchet distance

def test_frechet_distance_of_1d_gaussians_is_mean_and_std_gaps_squared():
    mu1, s1, mu2, s2 = 1.0, 2.0, -0.5, 0.5
    d = frechet_distance(torch.tensor([mu1]), torch.tensor([[s1 ** 2]]), torch.tensor([mu2]), torch.tensor([[s2 ** 2]]))
    assert d == pytest.approx((mu1 - mu2) ** 2 + (s1 - s2) ** 2, abs=1e-12)  # 2.25 + 2.25


def test_frechet_distance_of_diagonal_covariances():
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    s1, s2 = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([3.0, 2.0, 0.1])
    expected = ((mu1 - mu2) ** 2).sum() + ((s1 - s2) ** 2).sum()  # 5 + 4.16
    assert frechet_distance(mu1, torch.diag(s1 ** 2), mu2, torch.diag(s2 ** 2)) == pytest.approx(expected.item())


def test_frechet_distance_of_identical_stats_is_zero():
    cov = _random_spd(64, seed=1)
    assert abs(frechet_distance(torch.ones(64), cov, torch.ones(64), cov)) < 1e-6


def test_frechet_distance_matches_eigenvalues_of_the_unsymmetric_product():
    """Tr((Σ1 Σ2)^{1/2}) = Σ sqrt(λ_i(Σ1 Σ2)): an independent route through numpy's general eigvals."""
    cov1, cov2 = _random_spd(8, seed=2), _random_spd(8, seed=3)
    mu1, mu2 = torch.zeros(8), torch.full((8,), 0.5)
    lam = np.linalg.eigvals(cov1.numpy() @ cov2.numpy())
    expected = 8 * 0.25 + np.trace(cov1.numpy() + cov2.numpy()) - 2 * np.sqrt(lam.real).sum()
    assert frechet_distance(mu1, cov1, mu2, cov2) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"means \(D,\) and covariances \(D, D\)"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(4), torch.eye(4))


# ---------------------------------------------------------------- the shipped classifier

def test_shipped_classifier_is_accurate_on_unseen_sprites(classifier, unseen):
    assert not classifier.training
    assert context_accuracy(classifier, *unseen) >= 0.98


def test_tampered_classifier_file_is_refused(tmp_path):
    shutil.copy(WEIGHTS_DIR / "sprite_classifier.pt", tmp_path / "sprite_classifier.pt")
    shutil.copy(WEIGHTS_DIR / "manifest.json", tmp_path / "manifest.json")
    assert load_classifier(tmp_path / "sprite_classifier.pt") is not None  # the intact copy loads
    data = bytearray((tmp_path / "sprite_classifier.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "sprite_classifier.pt").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        load_classifier(tmp_path / "sprite_classifier.pt")


def test_train_classifier_rejects_bad_settings():
    with pytest.raises(ValueError, match="held-out sprites must come from another seed"):
        train_classifier(n=200, seed=3, heldout_seed=3)
    with pytest.raises(ValueError, match=r"n must be an integer >= batch_size \(128\)"):
        train_classifier(n=100)


def test_trained_classifier_round_trips_through_its_file(tmp_path, unseen):
    model, info = train_classifier(n=200, epochs=1, batch_size=50, heldout_n=50, heldout_seed=5)
    assert not model.training and 0 <= info["heldout_accuracy"] <= 1
    path = tmp_path / "clf.pt"
    record_in_manifest(path, save_classifier(model, path, info), info)
    loaded = load_classifier(path)
    with torch.no_grad():
        assert torch.equal(model(unseen[0][:8]), loaded(unseen[0][:8]))


def test_other_files_are_not_loaded_as_classifiers(tmp_path, tiny_model):
    save_weights(*tiny_model, tmp_path / "unet.pt")
    with pytest.raises(ValueError, match="not a sprite classifier file"):
        load_classifier(tmp_path / "unet.pt")


def test_context_accuracy_is_high_for_true_labels_and_low_for_shuffled(classifier, unseen):
    images, labels = unseen
    shuffled = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]
    assert context_accuracy(classifier, images, labels) >= 0.98
    assert context_accuracy(classifier, images, shuffled) < 0.35  # chance is 0.2


# ---------------------------------------------------------------- sprite FID

def test_fid_of_a_set_against_itself_is_zero(classifier, unseen):
    assert abs(sprite_fid(classifier, unseen[0], unseen[0])) < 1e-6


def test_fid_grows_with_noise_and_starts_near_the_data_floor(classifier, unseen):
    images = unseen[0]
    reference = reference_stats(classifier, 500)
    assert reference_stats(classifier, 500) is reference  # cached
    fids = []
    for sigma in (0.0, 0.05, 0.1, 0.2, 0.4):
        noisy = (images + sigma * torch.randn(images.shape, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)
        fids.append(frechet_distance(*feature_stats(classifier, noisy), *reference))
    assert fids == sorted(fids) and fids[-1] > 20 * fids[0], fids
    floor = data_fid_floor(500, classifier=classifier)
    assert 0 < floor < fids[1] and fids[0] < 2 * floor


# ---------------------------------------------------------------- evaluate

def test_evaluate_a_tiny_untrained_model(tiny_model, classifier):
    result = evaluate(*tiny_model, steps=2, n=10, classifier=classifier, batch=4)
    assert KEYS <= result.keys()
    assert result["n"] == 10 and result["sampler"] == "ddim" and result["steps"] == 2
    for key in ("fid", "context_acc", "seconds", "seconds_per_64"):
        assert math.isfinite(result[key])
    assert 0 <= result["context_acc"] <= 1
    assert result["seconds_per_64"] == pytest.approx(result["seconds"] / 10 * 64)
    assert evaluate(*tiny_model, steps=2, n=10, classifier=classifier, batch=4)["fid"] == result["fid"]


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 12}, "multiple of 5"),
    ({"n": 0}, "positive integer"),
    ({"sampler": "euler"}, "unknown sampler 'euler'"),
    ({"sampler": "dpm", "eta": 0.5}, "eta applies to ddim only"),
    ({"batch": 0}, "batch must be a positive integer"),
])
def test_evaluate_rejects_bad_input(tiny_model, classifier, kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate(*tiny_model, **{"steps": 2, "n": 10, "classifier": classifier, **kwargs})


def test_bad_images_and_labels_are_explained(classifier, unseen):
    images, labels = unseen
    with pytest.raises(TypeError, match="to_model_space"):
        context_accuracy(classifier, torch.zeros(2, 16, 16, 3, dtype=torch.uint8), labels[:2])
    with pytest.raises(ValueError, match=r"argmax\(1\)"):
        context_accuracy(classifier, images[:4], torch.eye(5)[:4])


# ---------------------------------------------------------------- command line

def _parser():
    return add_evaluate_arguments(argparse.ArgumentParser(exit_on_error=False))


def test_cli_prints_one_json_line_per_combination(tiny_model, tmp_path, capsys):
    save_weights(*tiny_model, tmp_path / "tiny.pt")
    args = _parser().parse_args(["--sampler", "ddim,dpm", "--steps", "1,2", "--n", "5", "--device", "cpu",
                                 "--weights", str(tmp_path / "tiny.pt")])
    results = run_evaluate(args)
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == results
    assert [(r["sampler"], r["steps"]) for r in results] == [("ddim", 1), ("ddim", 2), ("dpm", 1), ("dpm", 2)]


def test_cli_rejects_unknown_samplers():
    with pytest.raises(argparse.ArgumentError, match="unknown sampler"):
        _parser().parse_args(["--sampler", "ddim,euler"])


def test_quality_table_has_a_line_per_setting_and_columns_per_guidance():
    rows = [{"sampler": "dpm", "steps": 10, "guidance": 0.0, "fid": 2.874, "context_acc": 0.98},
            {"sampler": "ddim", "steps": 25, "eta": 1.0, "guidance": 2.0, "fid": 0.976, "context_acc": 1.0},
            {"sampler": "ddim", "steps": 25, "guidance": 0.0, "fid": 9.9, "context_acc": 0.5},
            {"sampler": "ddim", "steps": 25, "guidance": 0.0, "fid": 3.2718, "context_acc": 0.978},  # replaces
            {"sampler": "ddpm", "steps": 500, "guidance": 2.0, "fid": 0.594, "context_acc": 1.0}]
    assert quality_table(rows).splitlines() == [
        "| sampler | steps | FID, w = 0 | context acc., w = 0 | FID, w = 2 | context acc., w = 2 |",
        "|---|---|---|---|---|---|",
        "| DDPM | 500 | – | – | 0.59 | 100.0% |",
        "| DDIM (η = 0) | 25 | 3.27 | 97.8% | – | – |",
        "| DDIM (η = 1) | 25 | – | – | 0.98 | 100.0% |",
        "| DPM-Solver++ 2M | 10 | 2.87 | 98.0% | – | – |"]
