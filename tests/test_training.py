"""The training loop: the loss falls, a resumed run repeats the uninterrupted one, checkpoints are safe."""
from pathlib import Path

import pytest
import torch

from course_lib import ContextUnet, TrainConfig, train
from course_lib.data import SpriteDataset, to_model_space
from course_lib.sprites import generate_sprites


@pytest.fixture(scope="module")
def sprites():
    images, labels = generate_sprites(20, seed=3)
    return to_model_space(images), torch.from_numpy(labels)


def _model(n_feat=32):
    torch.manual_seed(0)
    return ContextUnet(n_feat=n_feat)


def test_tiny_training_run_halves_the_loss(sprites, sched):
    result = train(_model(), sched, sprites, epochs=None, max_steps=300, batch_size=20, lr=2e-3, progress=False)
    first, last = sum(result.losses[:20]) / 20, sum(result.losses[-20:]) / 20
    assert result.step == len(result.losses) == 300
    assert last < first / 2, f"loss fell from {first:.3f} only to {last:.3f}"


def test_ema_model_is_a_separate_eval_copy(sprites, sched):
    result = train(_model(8), sched, sprites, max_steps=5, batch_size=10, progress=False)
    assert not result.ema_model.training and result.ema_model is not result.model
    assert not any(p.requires_grad for p in result.ema_model.parameters())
    assert any(not torch.equal(a, b) for a, b in
               zip(result.model.parameters(), result.ema_model.parameters()))


class Interrupt(Exception):
    pass


def test_resume_continues_exactly(sprites, sched, tmp_path):
    config = TrainConfig(epochs=None, max_steps=16, batch_size=5, progress=False, checkpoint_every=4,
                         checkpoint_path=str(tmp_path / "run.ckpt"))
    full = train(_model(8), sched, sprites, config, checkpoint_path=str(tmp_path / "full.ckpt"))

    def stop_after_two_epochs(result):
        if result.step == 8:
            raise Interrupt
    with pytest.raises(Interrupt):
        train(_model(8), sched, sprites, config, callback=stop_after_two_epochs)
    resumed = train(_model(8), sched, sprites, config, resume=str(tmp_path / "run.ckpt"))
    assert resumed.losses == full.losses
    for a, b in zip(full.ema_model.state_dict().values(), resumed.ema_model.state_dict().values()):
        assert torch.equal(a, b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.ckpt", "run.ckpt"]  # no temporary files


def test_resume_from_a_missing_checkpoint_says_how_to_write_one(sprites, sched, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*gone.ckpt.*--checkpoint PATH"):
        train(_model(8), sched, sprites, TrainConfig(max_steps=1, progress=False), resume=str(tmp_path / "gone.ckpt"))


def test_callback_runs_once_per_epoch(sprites, sched):
    seen = []
    train(_model(8), sched, sprites, epochs=3, batch_size=10, progress=False,
          callback=lambda r: seen.append((r.step, r.epoch)))
    assert seen == [(2, 1.0), (4, 2.0), (6, 3.0)]


def test_minutes_budget_stops_training(sprites, sched):
    result = train(_model(8), sched, sprites, epochs=None, minutes=0.002, batch_size=10, progress=False)
    assert 1 <= result.step < 1000


@pytest.mark.parametrize("overrides, match", [
    ({"epochs": None}, "give at least one of epochs, max_steps or minutes"),
    ({"epochs": 0}, "epochs must be a positive integer, got 0"),
    ({"batch_size": 2.5}, "batch_size must be a positive integer"),
    ({"context_dropout": 1.5}, r"context_dropout must be in \[0, 1\]"),
])
def test_bad_config(sprites, sched, overrides, match):
    with pytest.raises(ValueError, match=match):
        train(_model(8), sched, sprites, progress=False, **overrides)


def test_labels_must_match_the_model(sprites, sched):
    images, labels = sprites
    with pytest.raises(ValueError, match=r"labels must have shape \(20, 5\).*got \(20, 3\)"):
        train(_model(8), sched, (images, labels[:, :3]), max_steps=1, progress=False)


DCSS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "dcss-sprites"


@pytest.mark.skipif(not DCSS.is_dir(), reason=f"the CC0 DCSS tiles are not at {DCSS} (checks only)")
def test_trains_on_real_pixel_art_from_a_folder(sched):
    data = SpriteDataset.from_folder(DCSS)
    subset = data.subset(torch.arange(0, len(data), 20))  # every 20th tile: a quick check
    model = ContextUnet(n_feat=16, n_cfeat=len(data.class_names))
    result = train(model, sched, subset, epochs=None, max_steps=6, batch_size=32, progress=False)
    assert result.step == 6 and all(torch.isfinite(torch.tensor(result.losses)))
    assert result.losses[-1] < result.losses[0]
