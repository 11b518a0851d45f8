"""Training under torchrun: two processes over gloo on this CPU train one model (the same weights on both
ranks, the loss falls), rank 0 alone writes the checkpoint, a resume on two processes repeats the
uninterrupted run, and a resume on another number of processes is refused."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_lib import ContextUnet, NoiseSchedule, train
from course_lib.data import to_model_space
from course_lib.sprites import generate_sprites
from course_lib.training import _epoch_order, rank_share

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]

# Each rank trains the same tiny model, keeps its checkpoint in its own file name (so a file from
# rank 1 would show), copies the step-8 checkpoint aside, and saves what it holds at the end.
WORKER = """
import os, shutil, sys
import torch
from course_lib import ContextUnet, NoiseSchedule, train
from course_lib.data import to_model_space
from course_lib.sprites import generate_sprites

folder, resume = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
rank = int(os.environ["RANK"])
images, labels = generate_sprites(40, seed=3)
torch.manual_seed(0)
model = ContextUnet(n_feat=16)

def keep_step_8(result):
    if result.step == 8 and rank == 0 and resume is None:
        shutil.copy(f"{folder}/checkpoints/run{rank}.ckpt", f"{folder}/step8.ckpt")

result = train(model, NoiseSchedule(), (to_model_space(images), torch.from_numpy(labels)), epochs=None,
               max_steps=32, batch_size=5, lr=3e-3, checkpoint_every=8, progress=False, resume=resume,
               checkpoint_path=f"{folder}/checkpoints/run{rank}.ckpt", callback=keep_step_8)
torch.save({"model": result.model.state_dict(), "ema": result.ema_model.state_dict(), "losses": result.losses},
           f"{folder}/{'resumed' if resume else 'full'}_rank{rank}.pt")
"""


def _torchrun(args, cwd):
    done = subprocess.run(TORCHRUN + args, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _same_tensors(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_each_step_of_the_ranks_covers_one_batch_of_a_single_process():
    order = _epoch_order(23, seed=5, epoch=2)
    assert torch.equal(rank_share(order, 0, 1), order)
    batch, world = 2, 3
    shares = [rank_share(order, r, world) for r in range(world)]
    for step in range(23 // (batch * world)):
        together = torch.cat([s[step * batch:(step + 1) * batch] for s in shares])
        assert sorted(together.tolist()) == sorted(order[step * batch * world:(step + 1) * batch * world].tolist())


@pytest.fixture(scope="module")
def two_rank_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    (folder / "worker.py").write_text(WORKER)
    _torchrun([str(folder / "worker.py"), str(folder)], cwd=ROOT)
    _torchrun([str(folder / "worker.py"), str(folder), str(folder / "step8.ckpt")], cwd=ROOT)
    return folder


def test_two_processes_hold_the_same_weights_and_the_loss_falls(two_rank_runs):
    rank0, rank1 = (torch.load(two_rank_runs / f"full_rank{r}.pt") for r in (0, 1))
    assert _same_tensors(rank0["model"], rank1["model"])  # parameters and BatchNorm statistics
    assert _same_tensors(rank0["ema"], rank1["ema"])
    assert rank0["losses"] == rank1["losses"] and len(rank0["losses"]) == 32  # the mean over both ranks
    first, last = sum(rank0["losses"][:8]) / 8, sum(rank0["losses"][-8:]) / 8
    assert last < 0.7 * first, f"loss fell from {first:.3f} only to {last:.3f}"


def test_rank_0_alone_writes_the_checkpoint(two_rank_runs):
    assert [p.name for p in (two_rank_runs / "checkpoints").iterdir()] == ["run0.ckpt"]
    state = torch.load(two_rank_runs / "checkpoints" / "run0.ckpt", weights_only=True)
    assert state["step"] == 32 and state["world_size"] == 2 and len(state["rng_per_rank"]) == 2
    assert not torch.equal(*state["rng_per_rank"])  # each rank draws its own noise
    assert _same_tensors(state["ema"], torch.load(two_rank_runs / "full_rank0.pt")["ema"])


def test_a_resume_on_two_processes_repeats_the_uninterrupted_run(two_rank_runs):
    for rank in (0, 1):
        full = torch.load(two_rank_runs / f"full_rank{rank}.pt")
        resumed = torch.load(two_rank_runs / f"resumed_rank{rank}.pt")
        assert resumed["losses"] == full["losses"]
        assert _same_tensors(resumed["model"], full["model"]) and _same_tensors(resumed["ema"], full["ema"])


def test_a_resume_on_another_number_of_processes_is_refused(two_rank_runs):
    images, labels = generate_sprites(40, seed=3)
    with pytest.raises(ValueError, match=r"step8.ckpt was written by training on 2 process\(es\) and this run "
                                         r"has 1.*with torchrun --nproc_per_node 2"):
        train(ContextUnet(n_feat=16), NoiseSchedule(), (to_model_space(images), torch.from_numpy(labels)),
              max_steps=32, batch_size=5, progress=False, resume=str(two_rank_runs / "step8.ckpt"))


def test_the_command_line_runs_unchanged_under_torchrun(tmp_path):
    done = _torchrun(["-m", "course_lib", "train", "--n-sprites", "40", "--n-feat", "8", "--batch-size", "5",
                      "--max-steps", "4", "--device", "cpu", "--checkpoint", str(tmp_path / "run.ckpt"),
                      "--out", str(tmp_path / "tiny.pt")], cwd=ROOT)
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["processes"] == 2 and json.loads(lines[0])["steps"] == 4
    assert done.stderr.count("world size 2, gloo") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "run.ckpt", "tiny.losses.npy", "tiny.pt"]
    assert torch.load(tmp_path / "run.ckpt", weights_only=True)["world_size"] == 2
