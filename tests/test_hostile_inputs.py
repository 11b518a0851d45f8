"""Nothing lost: an output never replaces an input, outputs are checked before the work, a resume is the
same run or refused, one checkpoint has one writer, and a closed pipe ends the command quietly."""
import os
import shutil
import subprocess
import sys

import pytest
import torch

from course_lib.__main__ import main
from course_lib.checkpoint import sha256_of, sole_writer

TINY = ["train", "--n", "40", "--batch-size", "20", "--n-feat", "8", "--max-steps", "3"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Weights and the checkpoint of one tiny run."""
    folder = tmp_path_factory.mktemp("run")
    assert main(TINY + ["--checkpoint", str(folder / "run.ckpt"), "--out", str(folder / "run.pt")]) == 0
    return folder / "run.pt", folder / "run.ckpt"


def refused(args, capsys, *phrases):
    """main(args) exits 2 and its message holds every phrase."""
    assert main(args) == 2
    message = capsys.readouterr().err
    for phrase in phrases:
        assert phrase in message, message
    return message


def test_train_never_writes_over_its_init_weights_however_the_path_is_spelt(tiny_run, tmp_path, capsys):
    weights, _ = tiny_run
    link = tmp_path / "link.pt"
    link.symlink_to(weights)
    before = sha256_of(weights)
    for out in (str(link), os.path.join(os.path.dirname(weights), ".", weights.name)):
        refused(["train", "--n", "40", "--max-steps", "1", "--batch-size", "20", "--init", str(weights),
                 "--out", out], capsys, "--out", "same file as --init", "overwrite")
    assert sha256_of(weights) == before


def test_train_refuses_its_checkpoint_and_weights_on_one_path(tmp_path, capsys):
    same = tmp_path / "same.pt"
    refused(TINY + ["--checkpoint", str(same), "--out", str(same)], capsys, "same file as --out",
            "another output")
    assert not any(tmp_path.iterdir())


def test_resume_never_loses_its_checkpoint_to_out(tiny_run, tmp_path, capsys):
    _, checkpoint = tiny_run
    copy = tmp_path / "copy.pt"
    shutil.copy(checkpoint, copy)
    refused(TINY + ["--resume", str(copy), "--out", str(copy)], capsys, "same file as --resume")
    assert sha256_of(copy) == sha256_of(checkpoint)


def test_sample_and_export_never_write_over_what_they_read(tiny_run, tmp_path, capsys):
    weights, checkpoint = tiny_run
    as_npy = tmp_path / "weights.npy"  # a weights file with a name sample could write
    shutil.copy(weights, as_npy)
    refused(["sample", "--weights", str(as_npy), "--out", str(as_npy), "--n", "2"], capsys, "same file as --weights")
    assert sha256_of(as_npy) == sha256_of(weights)
    as_pt = tmp_path / "run.pt"
    shutil.copy(checkpoint, as_pt)
    refused(["export", str(as_pt), "--out", str(as_pt)], capsys, "same file as the checkpoint")
    assert sha256_of(as_pt) == sha256_of(checkpoint)


@pytest.mark.parametrize("args, phrase", [
    (["--out", ""], "--out is empty"),
    (["--out", "FOLDER"], "is a folder; name a file in it"),
    (["--out", "x.png"], "should end in .pt"),
    (["--out", "x.pt", "--snapshots", "x.png"], "--snapshots x.png should end in .npz"),
    (["--out", "A_FILE/x.pt"], "is a file, not a folder"),
])
def test_train_checks_its_outputs_before_it_trains(tmp_path, capsys, monkeypatch, args, phrase):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FOLDER").mkdir()
    (tmp_path / "A_FILE").write_text("")
    refused(TINY + args, capsys, phrase)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A_FILE", "FOLDER"]


@pytest.mark.parametrize("change, named", [
    (["--n-feat", "16"], "n_feat 8 there, 16 here"),
    (["--batch-size", "10"], "batch_size 20 there, 10 here"),
    (["--seed", "1"], "seed 0 there, 1 here"),
    (["--timesteps", "400"], "timesteps 500 there, 400 here"),
    (["--n", "60"], "n_images 40 there, 60 here"),
    (["--prediction", "x0"], "prediction None there, 'x0' here"),
    (["--input-perturbation", "0.1"], "input_perturbation 0.0 there, 0.1 here"),
])
def test_resume_refuses_another_run_naming_what_differs(tiny_run, tmp_path, capsys, change, named):
    _, checkpoint = tiny_run
    args = TINY + ["--max-steps", "5", "--resume", str(checkpoint), "--out", str(tmp_path / "more.pt")]
    position = args.index(change[0]) if change[0] in args else None
    if position is not None:
        args[position + 1] = change[1]
    else:
        args += change
    refused(args, capsys, "was written by another run", named)
    assert not (tmp_path / "more.pt").exists()


def test_a_checkpoint_whose_step_was_forged_is_refused(tiny_run, tmp_path, capsys):
    _, checkpoint = tiny_run
    state = torch.load(checkpoint, weights_only=True)
    state["step"] = 2000
    forged = tmp_path / "forged.ckpt"
    torch.save(state, forged)
    refused(TINY + ["--max-steps", "5", "--resume", str(forged), "--out", str(tmp_path / "x.pt")], capsys,
            "inconsistent: step 2000 but 3 losses recorded")


def test_two_runs_never_share_one_checkpoint(tmp_path, capsys):
    checkpoint = tmp_path / "shared.ckpt"
    with sole_writer(checkpoint):  # this process plays the run that is writing it
        refused(TINY + ["--checkpoint", str(checkpoint), "--out", str(tmp_path / "x.pt")], capsys,
                f"another run (process {os.getpid()}) is writing")
    assert not checkpoint.exists()
    assert main(TINY + ["--checkpoint", str(checkpoint), "--out", str(tmp_path / "x.pt")]) == 0  # free again


def test_a_closed_pipe_ends_the_command_quietly():
    done = subprocess.run(f"{sys.executable} -m course_lib vocabulary | head -n 1", shell=True,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.count("\n") == 1 and "Traceback" not in done.stderr and "Error" not in done.stderr
