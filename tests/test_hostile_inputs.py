"""Nothing lost: an output never replaces an input, outputs are checked before the work, a resume is the
same run or refused, one checkpoint has one writer, and a closed pipe ends the command quietly."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

import course_lib.__main__ as cli
import course_lib.pretrained as pretrained
from course_lib.__main__ import main
from course_lib.checkpoint import sha256_of, sole_writer
from course_lib.progress_snapshots import load_snapshots

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


def test_a_broken_manifest_beside_out_is_refused_before_anything_is_written(tiny_run, tmp_path, capsys):
    weights, checkpoint = tiny_run
    shipped = tmp_path / "ship" / "run.pt"
    shipped.parent.mkdir()
    shutil.copy(weights, shipped)
    (shipped.parent / "manifest.json").write_text("<<<<<<< HEAD\n")
    for command in (["export", str(checkpoint)], TINY):
        refused(command + ["--out", str(shipped)], capsys, "manifest.json is not a manifest course_lib wrote")
    assert sha256_of(shipped) == sha256_of(weights)
    assert sorted(p.name for p in shipped.parent.iterdir()) == ["manifest.json", "run.pt"]


def test_weights_and_losses_stay_as_they_were_when_the_manifest_cannot_be_written(tiny_run, tmp_path, monkeypatch):
    weights, _ = tiny_run
    model, sched = pretrained.load_weights(weights)
    out = tmp_path / "run.pt"
    shutil.copy(weights, out)
    np.save(tmp_path / "run.losses.npy", np.ones(3, np.float32))
    before = {p.name: sha256_of(p) for p in tmp_path.iterdir()}

    def full_disk(*args, **kwargs):
        raise ValueError("cannot write manifest.json (No space left on device); nothing was written")
    monkeypatch.setattr(pretrained, "record_in_manifest", full_disk)
    with pytest.raises(ValueError, match="nothing was written"):
        pretrained.ship_weights(model, sched, out, {"steps": 9}, [0.5, 0.25])
    assert {p.name: sha256_of(p) for p in tmp_path.iterdir()} == before  # no temporary left either


def test_the_loss_history_is_an_output_no_other_file_may_share(tmp_path, capsys):
    refused(TINY + ["--checkpoint", str(tmp_path / "run.losses.npy"), "--out", str(tmp_path / "run.pt")], capsys,
            "same file as the loss history beside --out")
    (tmp_path / "w.losses.npy").mkdir()
    refused(TINY + ["--out", str(tmp_path / "w.pt")], capsys, "the loss history beside --out", "is a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.losses.npy"]


@pytest.mark.parametrize("damage, phrase", [
    (lambda state: state["ema"].update({k: torch.full_like(v, float("nan")) for k, v in state["ema"].items()
                                        if v.is_floating_point()}), "NaN or infinity"),
    (lambda state: state.pop("ema"), "lacks ema"),
    (lambda state: state["model"].popitem(), "missing"),
])
def test_a_damaged_checkpoint_is_neither_exported_nor_resumed(tiny_run, tmp_path, capsys, damage, phrase):
    _, checkpoint = tiny_run
    state = torch.load(checkpoint, weights_only=True)
    damage(state)
    damaged = tmp_path / "damaged.ckpt"
    torch.save(state, damaged)
    refused(["export", str(damaged), "--out", str(tmp_path / "x.pt")], capsys, phrase)
    refused(TINY + ["--resume", str(damaged), "--max-steps", "5", "--out", str(tmp_path / "y.pt")], capsys, phrase)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.ckpt"]


def test_sample_under_a_file_says_so(tiny_run, tmp_path, capsys):
    weights, _ = tiny_run
    (tmp_path / "a.png").write_bytes(b"not a folder")
    below_a_file = tmp_path / "a.png" / "x.png"
    refused(["sample", "--weights", str(weights), "--n", "2", "--steps", "2", "--out", str(below_a_file)], capsys,
            "a folder on that path is a file", "nothing was written")


def test_ctrl_c_while_sampling_ends_with_a_line_not_a_traceback(tiny_run, tmp_path, capsys, monkeypatch):
    weights, _ = tiny_run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "write_samples", interrupted)
    assert main(["sample", "--weights", str(weights), "--n", "2", "--out", str(tmp_path / "x.png")]) == 130
    assert capsys.readouterr().err == "interrupted: every file written so far is whole, and none was half-written\n"
    assert not any(tmp_path.iterdir())


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


def test_evaluate_with_prompts_checks_its_batch(capsys):
    refused(["evaluate", "--prompt", "red potion", "--n", "10", "--steps", "2", "--batch", "0"], capsys,
            "batch must be a positive integer (samples drawn at once), got 0")


def test_a_new_run_never_writes_over_another_runs_checkpoint(tiny_run, tmp_path, capsys):
    _, checkpoint = tiny_run
    kept = tmp_path / "run.ckpt"
    shutil.copy(checkpoint, kept)
    refused(TINY + ["--checkpoint", str(kept), "--out", str(tmp_path / "w.pt")], capsys,
            "already holds a checkpoint", f"continue that run with --resume {kept}")
    assert sha256_of(kept) == sha256_of(checkpoint) and not (tmp_path / "w.pt").exists()


@pytest.mark.parametrize("content", [b"", b"plain text\n", b"PK\x03\x04 cut short"])
def test_a_snapshot_file_that_is_empty_or_cut_short_is_named(tmp_path, content):
    broken = tmp_path / "run.snapshots.npz"
    broken.write_bytes(content)
    with pytest.raises(ValueError, match="is not a snapshot file .*: it is empty, cut short or another kind of file"):
        load_snapshots(broken)


def test_a_resume_already_past_max_steps_says_there_is_nothing_to_train(tiny_run, tmp_path, capsys):
    _, checkpoint = tiny_run  # at step 3
    refused(TINY + ["--resume", str(checkpoint), "--max-steps", "2", "--out", str(tmp_path / "w.pt")], capsys,
            "is at step 3, past max_steps 2 (--max-steps), so there is nothing to train", "course_lib export")
    assert not any(tmp_path.iterdir())


def test_repeated_words_that_would_not_fit_in_memory_are_refused(tmp_path, capsys):
    refused(["train", "--data", "captions", "--n", "20", "--repeat-words", "staff=100000000", "--max-steps", "1",
             "--out", str(tmp_path / "w.pt")], capsys, "sprites with their repeated copies needs about",
            "repeat fewer words, or each fewer times")
    assert not any(tmp_path.iterdir())
