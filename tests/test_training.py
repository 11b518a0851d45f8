"""The training loop: the loss falls, a resumed run repeats the uninterrupted one (also after a real
kill), checkpoints are safe, a diverging run stops, and bad settings are refused before any work."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib import ContextUnet, NoiseSchedule, TrainConfig, train
from course_lib.__main__ import main
from course_lib.data import SpriteDataset, to_model_space
from course_lib.pretrained import load_weights, save_weights
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


def test_on_a_cpu_fp32_training_keeps_the_weights_channels_last(sprites, sched):
    result = train(_model(8), sched, sprites, max_steps=2, batch_size=10, precision="fp32", progress=False)
    convs = [m.weight for m in result.ema_model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert result.precision == "fp32"


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


EARLIER_CHECKPOINT_KEYS = {"format", "model_config", "schedule", "model", "ema", "optimizer", "step", "losses", "rng",
                           "train_config"}


def test_a_checkpoint_in_the_earlier_format_resumes_exactly(sprites, sched, tmp_path):
    """Checkpoints from before multi-process training (no world_size, no rng_per_rank) resume as before,
    and today's hold every key the earlier code reads."""
    def keep_step_4_in_the_earlier_format(result):
        if result.step == 4:
            state = torch.load(tmp_path / "run.ckpt", weights_only=True)
            assert EARLIER_CHECKPOINT_KEYS <= state.keys() and state["world_size"] == 1
            torch.save({k: state[k] for k in EARLIER_CHECKPOINT_KEYS}, tmp_path / "earlier.ckpt")
    config = TrainConfig(epochs=None, max_steps=8, batch_size=5, progress=False, checkpoint_every=4,
                         checkpoint_path=str(tmp_path / "run.ckpt"))
    full = train(_model(8), sched, sprites, config, callback=keep_step_4_in_the_earlier_format)
    resumed = train(_model(8), sched, sprites, config, resume=str(tmp_path / "earlier.ckpt"))
    assert resumed.losses == full.losses and len(full.losses) == 8
    for a, b in zip(full.ema_model.state_dict().values(), resumed.ema_model.state_dict().values()):
        assert torch.equal(a, b)


def test_training_draws_its_inputs_with_the_configured_input_perturbation(sprites, sched):
    def first_losses(gamma):
        config = TrainConfig(epochs=None, max_steps=2, batch_size=5, progress=False, input_perturbation=gamma)
        return train(_model(8), sched, sprites, config).losses
    plain = first_losses(0.0)
    assert plain == first_losses(0.0) and first_losses(0.5) != plain


def test_a_checkpoint_from_before_input_perturbation_resumes_as_unperturbed(sprites, sched, tmp_path):
    config = TrainConfig(epochs=None, max_steps=2, batch_size=5, progress=False, checkpoint_path=str(tmp_path / "a"))
    train(_model(8), sched, sprites, config)
    state = torch.load(tmp_path / "a", weights_only=True)
    del state["train_config"]["input_perturbation"]
    torch.save(state, tmp_path / "earlier.ckpt")
    more = TrainConfig(epochs=None, max_steps=3, batch_size=5, progress=False)
    assert train(_model(8), sched, sprites, more, resume=str(tmp_path / "earlier.ckpt")).step == 3
    with pytest.raises(ValueError, match=r"input_perturbation 0\.0 there, 0\.1 here"):
        train(_model(8), sched, sprites, TrainConfig(**{**vars(more), "input_perturbation": 0.1}),
              resume=str(tmp_path / "earlier.ckpt"))


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
    ({"context_dropout": 1.5}, r"context_dropout \(the share .*\) must be a number in \[0, 1\], got 1.5"),
    ({"context_dropout": "0.1"}, r"must be a number in \[0, 1\], got '0.1'; the course uses 0.1"),
    ({"lr": float("inf")}, r"lr \(the learning rate, --lr\) must be a positive finite number, got inf"),
    ({"lr": 0.0}, "lr .* must be a positive finite number, got 0.0"),
    ({"checkpoint_every": -1, "checkpoint_path": "x.ckpt"}, r"checkpoint_every .* must be a whole number .*got -1"),
    ({"checkpoint_every": 5}, "checkpoint_every=5 has nowhere to write: give the checkpoint file too"),
])
def test_bad_config(sprites, sched, overrides, match):
    with pytest.raises(ValueError, match=match):
        train(_model(8), sched, sprites, progress=False, **overrides)


def test_labels_must_match_the_model(sprites, sched):
    images, labels = sprites
    with pytest.raises(ValueError, match=r"labels must have shape \(20, 5\).*got \(20, 3\)"):
        train(_model(8), sched, (images, labels[:, :3]), max_steps=1, progress=False)


def test_a_diverging_run_stops_and_keeps_the_last_finite_checkpoint(sprites, sched, tmp_path):
    with pytest.raises(ValueError, match=r"the loss became nan at step 2 with learning rate 1e\+30.*keeps the last "
                                         r"checkpoint, whose weights were finite \(step 1\).*lower learning rate"):
        train(_model(8), sched, sprites, max_steps=10, batch_size=10, lr=1e30, progress=False,
              checkpoint_every=1, checkpoint_path=str(tmp_path / "run.ckpt"))
    state = torch.load(tmp_path / "run.ckpt", weights_only=True)
    assert state["step"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values())
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]


def test_resume_from_a_weights_file_says_what_it_takes(sprites, sched, tmp_path):
    save_weights(_model(8), sched, tmp_path / "tiny.pt")
    with pytest.raises(ValueError, match=r"tiny.pt is a weights file .*not a training checkpoint: resume takes"):
        train(_model(8), sched, sprites, max_steps=2, progress=False, resume=str(tmp_path / "tiny.pt"))


TINY_RUN = ["train", "--n", "40", "--max-steps", "2", "--batch-size", "20", "--n-feat", "8"]


@pytest.mark.parametrize("args, message", [
    (["--lr", "inf"], "lr (the learning rate, --lr) must be a positive finite number, got inf"),
    (["--n", "1000000000"], "1,000,000,000 generated sprites (6 KiB each while they are made) needs about 5,722.0 GiB of memory"),
    (["--n-feat", "0"], "--n-feat must be a positive multiple of 8"),
    (["--checkpoint-every", "-1", "--checkpoint", "run.ckpt"], "must be a whole number of steps >= 0"),
    (["--checkpoint-every", "5"], "checkpoint_every=5 has nowhere to write"),
    (["--resume", "tiny.pt"], "tiny.pt is a weights file (what --out writes, for sampling), not a training checkpoint"),
])
def test_bad_train_arguments_exit_2_and_write_nothing(tmp_path, capsys, args, message):
    save_weights(_model(8), NoiseSchedule(), tmp_path / "tiny.pt")
    args = [str(tmp_path / a) if a.endswith((".ckpt", ".pt")) else a for a in args]
    assert main(TINY_RUN + ["--out", str(tmp_path / "out.pt")] + args) == 2
    assert message in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.pt"]


def test_a_diverging_command_exits_2_naming_the_learning_rate(tmp_path, capsys):
    assert main(TINY_RUN + ["--lr", "1e30", "--max-steps", "5", "--batch-size", "10", "--checkpoint",
                            str(tmp_path / "run.ckpt"), "--checkpoint-every", "1", "--out", str(tmp_path / "w.pt")]) == 2
    assert "with learning rate 1e+30, so it stopped" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]  # no weights of a diverged model
    assert torch.load(tmp_path / "run.ckpt", weights_only=True)["step"] == 1


# A real `train` process, killed mid-run and resumed. One thread: quick on a busy CPU, the same in every run.
KILLABLE_RUN = [sys.executable, "-m", "course_lib", "train", "--n", "40", "--n-feat", "8", "--batch-size", "10",
                "--max-steps", "120", "--device", "cpu", "--checkpoint-every", "10"]
ONE_THREAD = dict(os.environ, OMP_NUM_THREADS="1")


def _train_in(folder, *extra):
    return [*KILLABLE_RUN, "--checkpoint", str(folder / "run.ckpt"), "--out", str(folder / "w.pt"), *extra]


def _default_ctrl_c():
    """In the child: SIGINT as a terminal delivers it, also when the tests run as a background job, which
    starts with SIGINT ignored (Python then never raises KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def uninterrupted_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    done = subprocess.run(_train_in(folder), capture_output=True, text=True, timeout=600, env=ONE_THREAD)
    assert done.returncode == 0, done.stderr[-2000:]
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_a_killed_train_process_resumes_exactly(uninterrupted_run, tmp_path, signal_number):
    checkpoint = tmp_path / "run.ckpt"
    run = subprocess.Popen(_train_in(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=ONE_THREAD, preexec_fn=_default_ctrl_c)
    deadline = time.monotonic() + 300
    while not checkpoint.exists():  # kill it as soon as it has written its first checkpoint
        assert run.poll() is None, run.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.01)
    run.send_signal(signal_number)
    _, err = run.communicate(timeout=120)
    state = torch.load(checkpoint, weights_only=True)  # a whole checkpoint: it loads
    assert 10 <= state["step"] < 120 and state["step"] % 10 == 0 and len(state["losses"]) == state["step"]
    assert not (tmp_path / "w.pt").exists()
    if signal_number == signal.SIGINT:
        assert run.returncode == 130
        assert f"{checkpoint} holds step {state['step']}; continue with the same command plus --resume" in err
        assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]
    else:
        assert run.returncode == -signal.SIGKILL
    resumed = subprocess.run(_train_in(tmp_path, "--resume", str(checkpoint)), capture_output=True, text=True,
                             timeout=600, env=ONE_THREAD)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert np.array_equal(np.load(tmp_path / "w.losses.npy"), np.load(uninterrupted_run / "w.losses.npy"))
    full, _ = load_weights(uninterrupted_run / "w.pt")
    again, _ = load_weights(tmp_path / "w.pt")
    assert all(torch.equal(a, b) for a, b in zip(full.state_dict().values(), again.state_dict().values()))


DCSS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "dcss-sprites"


@pytest.mark.skipif(not DCSS.is_dir(), reason=f"the CC0 DCSS tiles are not at {DCSS} (checks only)")
def test_trains_on_real_pixel_art_from_a_folder(sched):
    data = SpriteDataset.from_folder(DCSS)
    subset = data.subset(torch.arange(0, len(data), 20))  # every 20th tile: a quick check
    model = ContextUnet(n_feat=16, n_cfeat=len(data.class_names))
    result = train(model, sched, subset, epochs=None, max_steps=6, batch_size=32, progress=False)
    assert result.step == 6 and all(torch.isfinite(torch.tensor(result.losses)))
    assert result.losses[-1] < result.losses[0]
