"""train --snapshots keeps one sample grid per epoch, from the same noise each time, across a resume."""
import numpy as np
import pytest
import torch

from course_lib import ContextUnet, NoiseSchedule
from course_lib.__main__ import main
from course_lib.pretrained import WEIGHTS_DIR
from course_lib.progress_snapshots import load_snapshots, sample_snapshot, watch_inputs

TRAIN = ["train", "--n", "40", "--batch-size", "20", "--n-feat", "8", "--prediction", "x0", "--seed", "3"]


def test_watch_inputs_are_two_sprites_per_class_from_fixed_noise():
    context, classes, x_T = watch_inputs(5)
    assert context.shape == (10, 5) and x_T.shape == (10, 3, 16, 16)
    assert classes.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert torch.equal(context.argmax(1), classes) and torch.equal(context.sum(1), torch.ones(10))
    assert torch.equal(watch_inputs(5)[2], x_T)  # the same noise every call


def test_a_snapshot_is_the_same_for_the_same_network():
    torch.manual_seed(0)
    model = ContextUnet(n_feat=8).eval()
    sched = NoiseSchedule(50)
    first, second = sample_snapshot(model, sched, steps=5), sample_snapshot(model, sched, steps=5)
    assert first.shape == (10, 3, 16, 16) and torch.equal(first, second)


def test_train_keeps_one_grid_per_epoch_and_a_resume_keeps_those_up_to_its_step(tmp_path, capsys):
    snapshots, checkpoint = tmp_path / "run.snapshots.npz", tmp_path / "run.ckpt"
    assert main(TRAIN + ["--epochs", "3", "--snapshots", str(snapshots), "--out", str(tmp_path / "a.pt")]) == 0
    first_run, first_steps = load_snapshots(snapshots)
    assert [e for e, _ in first_run] == [1.0, 2.0, 3.0] and first_steps == [2, 4, 6]
    assert first_run[0][1].shape == (10, 3, 16, 16)

    # a checkpoint at step 2, resumed with the same snapshot file: the grids after step 2 are replaced
    assert main(TRAIN + ["--epochs", "1", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "b.pt")]) == 0
    assert main(TRAIN + ["--epochs", "2", "--resume", str(checkpoint), "--snapshots", str(snapshots),
                         "--out", str(tmp_path / "c.pt")]) == 0
    resumed, resumed_steps = load_snapshots(snapshots)
    assert resumed_steps == [2, 4] and [e for e, _ in resumed] == [1.0, 2.0]
    assert torch.equal(resumed[0][1], first_run[0][1])


def test_a_file_that_is_not_a_snapshot_file_is_refused(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, images=np.zeros((1, 10, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="not a snapshot file that train --snapshots wrote"):
        load_snapshots(path)


@pytest.mark.parametrize("target", ["eps", "x0", "v"])
def test_the_prediction_target_runs_notebook_02_shows_are_ten_epochs_of_the_watch_grid(target):
    snapshots, steps = load_snapshots(WEIGHTS_DIR.parent / "snapshots" / f"target_{target}.snapshots.npz")
    assert [round(epoch) for epoch, _ in snapshots] == list(range(1, 11))
    assert steps == list(range(125, 1251, 125))  # 1,250 steps of 64 of 8,000 sprites: 125 per epoch
    assert all(images.shape == (10, 3, 16, 16) for _, images in snapshots)
