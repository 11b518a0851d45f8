"""The command line writes the files it promises, refuses bad input with a clear message, and the
shipped weights refuse to load when tampered with."""
import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib import sample_ddim
from course_lib.__main__ import build_parser, main
from course_lib.captions import VOCABULARY
from course_lib.data import CLASS_NAMES, to_uint8
from course_lib.pretrained import WEIGHTS_DIR, context_names, expected_sha256, load_weights
from course_lib.memory import available_memory
from course_lib.sample_files import write_samples


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    out = tmp_path_factory.mktemp("weights") / "tiny.pt"
    assert main(["train", "--n", "40", "--max-steps", "3", "--batch-size", "20", "--n-feat", "8",
                 "--out", str(out)]) == 0
    return out


def _command_names():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _command_names())
def test_every_command_prints_its_help(command, capsys):
    # argparse %-formats help text: a "%" in it (the live preset's "5% of sprites") must reach it as "%%"
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m course_lib {command}")


def test_train_writes_weights_manifest_and_losses(tiny_weights, capsys):
    manifest = json.loads((tiny_weights.parent / "manifest.json").read_text())
    assert manifest["tiny.pt"]["steps"] == 3 and len(manifest["tiny.pt"]["sha256"]) == 64
    assert np.load(tiny_weights.with_suffix(".losses.npy")).shape == (3,)
    model, sched = load_weights(tiny_weights, sha256=manifest["tiny.pt"]["sha256"])
    assert model.n_feat == 8 and not model.training and sched.timesteps == 500


def test_sample_writes_a_png_grid(tiny_weights, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["sample", "--weights", str(tiny_weights), "--n", "6", "--nrow", "3", "--scale", "2",
                 "--steps", "2", "--context", "hero=1,food=0.5", "--out", str(out)]) == 0
    assert Image.open(out).size == (2 * (3 * 17 + 1), 2 * (2 * 17 + 1))  # 3 x 2 sprites, 1-pixel gaps
    assert "wrote 6 sprites" in capsys.readouterr().out


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm"])
def test_sample_writes_uint8_npy(tiny_weights, tmp_path, sampler):
    out = tmp_path / "sprites.npy"
    assert main(["sample", "--weights", str(tiny_weights), "--sampler", sampler, "--steps", "3", "--n", "5",
                 "--out", str(out)]) == 0
    sprites = np.load(out)
    assert sprites.shape == (5, 16, 16, 3) and sprites.dtype == np.uint8
    assert [p.name for p in tmp_path.iterdir()] == ["sprites.npy"]  # no temporary file left behind


def test_upper_case_suffix_is_accepted(tiny_weights, tmp_path):
    out = tmp_path / "GRID.PNG"
    assert main(["sample", "--weights", str(tiny_weights), "--n", "2", "--steps", "1", "--out", str(out)]) == 0
    assert Image.open(out).format == "PNG"


def test_a_file_that_is_not_weights_is_refused_with_a_message(tmp_path, capsys):
    not_weights = tmp_path / "notes.pt"
    not_weights.write_text("just text")
    assert main(["sample", "--weights", str(not_weights), "--out", str(tmp_path / "x.png")]) == 2
    assert "notes.pt is not a file course_lib wrote with torch.save" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.pt"]


@pytest.mark.parametrize("args, message", [
    (["--out", "x.jpg"], "--out must end in .png"),
    (["--context", "wizard", "--out", "x.png"], "unknown class 'wizard'"),
    (["--steps", "0", "--out", "x.png"], "steps must be from 1 to 500"),
    (["--sampler", "dpm", "--eta", "0.5", "--out", "x.png"], "--eta applies to ddim only"),
    (["--n", "0", "--out", "x.png"], "n must be a positive integer number of sprites, got 0"),
    (["--nrow", "0", "--out", "x.png"], "nrow (sprites per row) must be a positive integer, got 0"),
    (["--sampler", "ddpm", "--scale", "0", "--out", "x.png"], "scale (screen pixels per sprite pixel) must be"),
    (["--device", "gpu", "--out", "x.png"], "unknown device 'gpu'; use auto, cpu, cuda, cuda:N or mps"),
    (["--precision", "fp16", "--device", "cpu", "--out", "x.png"], "fp16 is for GPUs"),
])
def test_bad_sample_arguments_exit_2_with_a_message(tiny_weights, tmp_path, capsys, args, message):
    args = [a if not a.startswith("x.") else str(tmp_path / a) for a in args]
    assert main(["sample", "--weights", str(tiny_weights)] + args) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_evaluate_prints_one_json_line_per_setting(tiny_weights, capsys):
    assert main(["evaluate", "--weights", str(tiny_weights), "--sampler", "ddim,dpm", "--steps", "2",
                 "--n", "10", "--batch", "10"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["sampler"], r["steps"], r["n"]) for r in rows] == [("ddim", 2, 10), ("dpm", 2, 10)]
    assert all(np.isfinite(r["fid"]) and 0 <= r["context_acc"] <= 1 for r in rows)
    assert all(0 < r["fid_floor"] < r["fid"] for r in rows)  # 3 training steps: far from real sprites


def test_report_prints_the_table_of_a_file_and_explains_an_empty_one(tmp_path, capsys):
    lines = tmp_path / "quality.jsonl"
    lines.write_text(json.dumps({"sampler": "ddim", "steps": 25, "guidance": 0.0, "fid": 3.27, "context_acc": 0.978}))
    assert main(["report", str(lines)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "| DDIM (η = 0) | 25 | 3.27 | 97.8% |"
    assert main(["report", str(tmp_path / "none.jsonl")]) == 2
    assert "no file at" in capsys.readouterr().err
    (tmp_path / "empty.jsonl").write_text("\n")
    assert main(["report", str(tmp_path / "empty.jsonl")]) == 2
    assert "no evaluate lines in" in capsys.readouterr().err


def test_report_shows_one_hot_and_caption_lines_of_one_file_and_names_a_line_without_numbers(tmp_path, capsys):
    lines = tmp_path / "both.jsonl"
    one_hot = {"sampler": "ddim", "steps": 25, "guidance": 0.0, "fid": 3.27, "context_acc": 0.978}
    caption = {"prompt_set": "seen", "sampler": "ddim", "steps": 10, "eta": 0.0, "guidance": 2.0, "n": 100,
               "all_acc": 0.86, "class_acc": 1.0, "kind_acc": 0.9, "colour_acc": 0.95}
    lines.write_text(json.dumps(one_hot) + "\n" + json.dumps(caption) + "\n")
    assert main(["report", str(lines)]) == 0
    out = capsys.readouterr().out
    assert "| DDIM (η = 0) | 25 | 3.27 | 97.8% |" in out and "seen" in out
    lines.write_text(json.dumps({**one_hot, "context_acc": None}) + "\n")
    assert main(["report", str(lines)]) == 2
    assert f"{lines}, line 1 holds context_acc None where evaluate writes a number" in capsys.readouterr().err


def test_tampered_shipped_weights_are_refused(tmp_path):
    shutil.copy(WEIGHTS_DIR / "context_unet.pt", tmp_path / "context_unet.pt")
    data = bytearray((tmp_path / "context_unet.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "context_unet.pt").write_bytes(bytes(data))
    expected = expected_sha256(WEIGHTS_DIR / "context_unet.pt")
    with pytest.raises(ValueError, match=f"has sha256 .* expected {expected}.*damaged or was replaced"):
        load_weights(tmp_path / "context_unet.pt", sha256=expected)


def test_module_entry_point_runs(tiny_weights, tmp_path):
    out = tmp_path / "one.npy"
    done = subprocess.run([sys.executable, "-m", "course_lib", "sample", "--weights", str(tiny_weights),
                           "--steps", "1", "--n", "1", "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert np.load(out).shape == (1, 16, 16, 3)


# --- sampling in batches, the output checked before sampling, weights files, contexts -----------------------


def _sample(weights, out, *args):
    return main(["sample", "--weights", str(weights), "--steps", "2", "--out", str(out), *map(str, args)])


def test_more_sprites_than_a_batch_come_from_one_seed_in_batches(tiny_weights, tmp_path):
    one, many = tmp_path / "one.npy", tmp_path / "many.npy"
    assert _sample(tiny_weights, one, "--n", 3) == 0 and _sample(tiny_weights, many, "--n", 7, "--batch-size", 3) == 0
    model, sched = load_weights(tiny_weights)
    direct = sample_ddim(model, sched, n=3, steps=2, generator=torch.Generator().manual_seed(0))
    assert np.array_equal(np.load(one), to_uint8(direct.images))  # n <= --batch-size: one call, as before
    assert np.load(many).shape == (7, 16, 16, 3) and np.array_equal(np.load(many)[:3], np.load(one))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.npy", "one.npy"]


def test_write_samples_asks_for_at_most_a_batch_at_a_time(tiny_weights, tmp_path):
    model, sched = load_weights(tiny_weights)
    asked = []

    def sample(n, generator):
        asked.append(n)
        return sample_ddim(model, sched, n=n, steps=1, generator=generator)

    write_samples(tmp_path / "grid.png", sample, 7, 3, torch.Generator().manual_seed(0), nrow=4, scale=1)
    assert asked == [3, 3, 1]
    assert Image.open(tmp_path / "grid.png").size == (4 * 17 + 1, 2 * 17 + 1)


def test_write_samples_stops_at_a_batch_of_nan_and_writes_nothing(tiny_weights, tmp_path):
    model, sched = load_weights(tiny_weights)

    def sample(n, generator):
        result = sample_ddim(model, sched, n=n, steps=1, generator=generator)
        result.images = result.images.clone()
        result.images[-1, 0, 0, 0] = float("nan")  # one value of one sprite, as an overflow would leave it
        return result

    for name in ("x.npy", "x.png"):
        with pytest.raises(ValueError, match="the sprites came out as NaN or infinity.*weights may be damaged"):
            write_samples(tmp_path / name, sample, 4, 2, torch.Generator().manual_seed(0))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("args, message", [
    (["--n", 10 ** 12, "--out", "x.npy"], "would be a file of 768.0 TB, but only"),
    (["--n", 10 ** 12, "--out", "x.png"], "--n 1000000000000 at --scale 4 makes a PNG grid that needs about"),
    (["--scale", 100_000, "--out", "x.png"], "--scale 100000 would draw each sprite pixel as 100000x100000"),
    (["--batch-size", 0, "--out", "x.png"], "--batch-size must be a positive integer number of sprites, got 0"),
    (["--context", "", "--out", "x.png"], '--context "" names no class; give a class'),
    (["--context", " ", "--out", "x.png"], '--context "" names no class; give a class'),
    (["--guidance", "inf", "--out", "x.png"], "guidance must be a number from 0 to 20 (0: no guidance"),
    (["--guidance", "nan", "--out", "x.npy"], "guidance must be a number from 0 to 20 (0: no guidance"),
])
def test_outputs_that_cannot_fit_and_non_finite_settings_are_refused_up_front(tiny_weights, tmp_path, capsys, args,
                                                                            message):
    if "x.png" in args and "--n" in args and available_memory() is None:
        pytest.skip("this system does not report its available memory")
    args = [str(tmp_path / a) if str(a).startswith("x.") else a for a in args]
    assert _sample(tiny_weights, *args[-1:], *args[:-2]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("context, guidance, message", [
    ("hero", "1e30", "guidance must be a number from 0 to 20 (0: no guidance, 1 to 3 is typical; beyond, the "
                     "colours saturate), got 1e+30"),
    ("hero=1e30", "0", "context weights must lie in [0, 10], got 0 to 1e+30"),
])
def test_settings_that_would_overflow_are_refused_naming_the_setting(tiny_weights, tmp_path, capsys, context,
                                                                     guidance, message):
    assert _sample(tiny_weights, tmp_path / "x.npy", "--n", 2, "--context", context, "--guidance", guidance) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_an_out_that_is_a_folder_is_refused_naming_a_file_in_it(tiny_weights, tmp_path, capsys):
    folder = tmp_path / "grids.png"
    folder.mkdir()
    assert _sample(tiny_weights, folder, "--n", 1) == 2
    expected = f"--out {folder} is a folder; name a file in it, e.g. --out {folder / 'sprites.png'}"
    assert expected in capsys.readouterr().err
    assert not any(folder.iterdir())


@contextlib.contextmanager
def _read_only(folder):
    """`folder` made read-only: by its permissions, or where they do not bind (root) immutable (chattr +i)."""
    if os.name != "posix":
        pytest.skip("folder permissions are POSIX")
    if os.geteuid() != 0:
        folder.chmod(0o555)
        undo = ["chmod", "755", str(folder)]
    elif shutil.which("chattr") and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
        undo = ["chattr", "-i", str(folder)]
    else:
        pytest.skip("running as root without chattr: no folder is read-only")
    try:
        yield folder
    finally:
        subprocess.run(undo, check=True)


def test_a_read_only_folder_is_refused_before_sampling(tiny_weights, tmp_path, capsys):
    folder = tmp_path / "locked"
    folder.mkdir()
    with _read_only(folder):
        assert _sample(tiny_weights, folder / "x.png", "--n", 1, "--steps", 500) == 2
    err = capsys.readouterr().err
    assert f"cannot write {folder / 'x.png'} (" in err and "): write to a folder you may write to" in err
    assert not any(folder.iterdir())


def _under_file_size_limit(nbytes, *argv):
    """`python -m course_lib ARGV` in a process whose files may not grow past `nbytes` (ulimit -f)."""
    import resource
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, resource.RLIM_INFINITY))  # noqa: E731
    return subprocess.run([sys.executable, "-m", "course_lib", *map(str, argv)], capture_output=True, text=True,
                          preexec_fn=limit)


@pytest.mark.skipif(os.name != "posix", reason="a file-size limit (ulimit -f) is POSIX")
def test_an_output_that_cannot_fit_is_refused_before_sampling(tiny_weights, tmp_path):
    out = tmp_path / "sprites.npy"
    done = _under_file_size_limit(4096, "sample", "--weights", tiny_weights, "--steps", 1, "--n", 10, "--out", out)
    assert done.returncode == 2, done.stderr
    assert f"--out {out} would be a file of 7.8 KB, but only 4.1 KB can be written there (free disk or ulimit -f); " \
        "lower --n" in done.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(os.name != "posix", reason="a file-size limit (ulimit -f) is POSIX")
def test_a_write_that_fails_midway_leaves_nothing_and_says_why(tiny_weights, tmp_path):
    out = tmp_path / "sprites.png"  # a PNG's size is known only once it is compressed
    done = _under_file_size_limit(500, "sample", "--weights", tiny_weights, "--steps", 1, "--n", 10, "--out", out)
    assert done.returncode == 2, done.stderr
    assert f"cannot write {out} (File too large): the file would pass this system's file-size limit (ulimit -f)" \
        in done.stderr and "nothing was written" in done.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(os.name != "posix", reason="a file-size limit (ulimit -f) is POSIX")
def test_weights_that_fail_midway_leave_the_old_file_and_say_why(tiny_weights, tmp_path):
    """torch.save hides the OSError of a full disk in a RuntimeError; the weights are written so that it shows.
    The limit lies between the tensors' bytes (the check before training) and the whole file's."""
    out = tmp_path / "tiny.pt"
    shutil.copy(tiny_weights, out)
    size = out.stat().st_size
    done = _under_file_size_limit(size - 10_000, "train", "--n", 40, "--batch-size", 20, "--max-steps", 1,
                                  "--n-feat", 8, "--out", out)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (f"error: cannot write {out} (File too large): the file would pass this "
                                            "system's file-size limit (ulimit -f): raise it or write a smaller file; "
                                            "nothing was written")
    assert out.read_bytes() == tiny_weights.read_bytes() and [p.name for p in tmp_path.iterdir()] == ["tiny.pt"]


def test_export_of_a_missing_checkpoint_says_where_checkpoints_come_from(tmp_path, capsys):
    assert main(["export", str(tmp_path / "run.ckpt"), "--out", str(tmp_path / "w.pt")]) == 2
    assert f"no checkpoint at {tmp_path / 'run.ckpt'}: export takes the file that `python -m course_lib train " \
        "--checkpoint PATH --checkpoint-every N` wrote" in capsys.readouterr().err


def _edited_weights(tiny_weights, path, edit):
    state = torch.load(tiny_weights, weights_only=True)
    edit(state)
    torch.save(state, path)
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.pop("schedule"), "is a course_lib weights file without schedule: it holds format, meta, "
                                  "model_config, state_dict"),
    (lambda s: s["schedule"].pop("betas"), "holds a schedule with kind, timesteps; expected timesteps, kind, betas"),
    (lambda s: s["model_config"].update(dropout=0.1), "holds a model_config with ['dropout'], which this version's "
                                                      "ContextUnet does not take (its fields: in_channels, n_feat"),
    (lambda s: s["model_config"].update(n_cfeat=3), "contextembed1.model.0.weight is (16, 5) in the file, (16, 3) "
                                                    "for this config"),
    (lambda s: s["state_dict"].pop("out.0.weight"), "its tensors do not fit its model_config {'in_channels': 3, "
                                                    "'n_feat': 8, 'n_cfeat': 5, 'height': 16} (out.0.weight missing)"),
], ids=["no schedule", "no betas", "unknown config field", "n_cfeat 3 against 5", "a tensor missing"])
def test_a_damaged_weights_file_says_what_it_holds_and_what_was_expected(tiny_weights, tmp_path, capsys, edit,
                                                                         message):
    weights = _edited_weights(tiny_weights, tmp_path / "edited.pt", edit)
    assert _sample(weights, tmp_path / "x.png", "--n", 1) == 2
    assert message in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["edited.pt"]


def test_a_copy_is_checked_against_the_manifest_beside_it(tiny_weights, tmp_path, capsys):
    shutil.copy(tiny_weights, tmp_path / "tiny.pt")
    assert _sample(tmp_path / "tiny.pt", tmp_path / "x.npy", "--n", 1) == 0
    assert f"note: no manifest.json beside {tmp_path / 'tiny.pt'} records it, so its sha256 is not checked" in \
        capsys.readouterr().err
    shutil.copy(tiny_weights.parent / "manifest.json", tmp_path / "manifest.json")
    data = bytearray((tmp_path / "tiny.pt").read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / "tiny.pt").write_bytes(bytes(data))
    assert _sample(tmp_path / "tiny.pt", tmp_path / "y.npy", "--n", 1) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'tiny.pt'} has sha256" in err and f"expected {expected_sha256(tiny_weights)}" in err
    assert not (tmp_path / "y.npy").exists()


def test_a_model_trained_on_a_folder_of_pngs_is_conditioned_by_its_class_names(tmp_path, capsys):
    for name, colour in (("apple", (200, 30, 30)), ("bat", (40, 40, 40))):
        (tmp_path / "art" / name).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (16, 16), tuple(c + 10 * i for c in colour)).save(tmp_path / "art" / name / f"{i}.png")
    weights = tmp_path / "art.pt"
    assert main(["train", "--data", str(tmp_path / "art"), "--max-steps", "2", "--batch-size", "4", "--n-feat", "8",
                 "--out", str(weights)]) == 0
    model, _ = load_weights(weights)
    assert context_names(model) == ("apple", "bat") and model.meta["class_names"] == ["apple", "bat"]
    capsys.readouterr()
    assert _sample(weights, tmp_path / "bats.npy", "--n", 2, "--context", "bat") == 0
    assert _sample(weights, tmp_path / "mix.npy", "--n", 2, "--context", "apple=1,bat=0.5") == 0
    assert _sample(weights, tmp_path / "hero.npy", "--n", 2, "--context", "hero") == 2
    assert "unknown class 'hero' in context 'hero'; use names from ['apple', 'bat']" in capsys.readouterr().err


def test_weights_saved_without_class_names_mean_the_courses_five(tiny_weights, tmp_path):
    weights = _edited_weights(tiny_weights, tmp_path / "old.pt", lambda s: s["meta"].pop("class_names"))
    model, _ = load_weights(weights)
    assert context_names(model) == tuple(CLASS_NAMES)
    assert _sample(weights, tmp_path / "x.npy", "--n", 1, "--context", "side-facing") == 0


def test_train_adds_context_film_layers_to_init_weights_that_lack_them(tiny_weights, tmp_path, capsys):
    out = tmp_path / "film.pt"
    assert main(["train", "--n", "40", "--max-steps", "2", "--batch-size", "20", "--init", str(tiny_weights),
                 "--context-film", "--out", str(out)]) == 0
    model, _ = load_weights(out, sha256=expected_sha256(out))
    assert model.config == {"in_channels": 3, "n_feat": 8, "n_cfeat": 5, "height": 16, "context_film": True}
    assert model.contextfilm3.model[-1].weight.abs().sum() > 0  # trained away from its zero start
    assert _sample(out, tmp_path / "x.npy", "--n", 2, "--context", "food") == 0


def test_no_context_film_with_init_weights_that_have_the_layers_is_refused(tiny_weights, tmp_path, capsys):
    film = tmp_path / "film.pt"
    assert main(["train", "--n", "40", "--max-steps", "1", "--batch-size", "20", "--init", str(tiny_weights),
                 "--context-film", "--out", str(film)]) == 0
    out = tmp_path / "out.pt"
    assert main(["train", "--n", "40", "--max-steps", "1", "--batch-size", "20", "--init", str(film),
                 "--no-context-film", "--out", str(out)]) == 2
    assert f"--no-context-film would do nothing with --init: the weights in {film} have" in capsys.readouterr().err
    assert not out.exists()
    assert main(["train", "--n", "40", "--max-steps", "1", "--batch-size", "20", "--init", str(film),
                 "--out", str(out)]) == 0  # without the flag the weights keep their layers
    assert load_weights(out)[0].context_film


def test_train_on_captions_with_hybrids_widens_the_context_and_hybrids_need_captions(tiny_weights, tmp_path, capsys):
    out = tmp_path / "captions.pt"
    assert main(["train", "--data", "captions", "--hybrids", "0.5", "--n", "40", "--max-steps", "1",
                 "--batch-size", "20", "--init", str(tiny_weights), "--out", str(out)]) == 0
    model, _ = load_weights(out, sha256=expected_sha256(out))
    assert model.n_cfeat == len(VOCABULARY)
    assert main(["train", "--hybrids", "0.2", "--n", "40", "--max-steps", "1", "--out", str(tmp_path / "x.pt")]) == 2
    assert "--hybrids adds hybrid sprites to caption training: use it with --data captions" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_repeat_words_needs_captions_and_words_of_the_vocabulary(tmp_path, capsys):
    out = tmp_path / "x.pt"
    assert main(["train", "--repeat-words", "staff=2", "--n", "40", "--max-steps", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--repeat-words repeats sprites by their caption words: use it with --data captions" in err
    assert main(["train", "--data", "captions", "--repeat-words", "stafff=2", "--n", "40", "--max-steps", "1",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "repeat_words names 'stafff', which is not in the vocabulary; did you mean 'staff'?" in err
    with pytest.raises(SystemExit):
        main(["train", "--data", "captions", "--repeat-words", "staff", "--out", str(out)])
    assert "expected comma-separated WORD=COUNT pairs (e.g. staff=3,bow=2), got 'staff'" in capsys.readouterr().err
    assert not out.exists()


def test_export_ships_a_checkpoints_ema_weights_and_says_the_run_is_partial(tmp_path, capsys):
    ckpt, out = tmp_path / "run.ckpt", tmp_path / "shipped" / "partial.pt"
    assert main(["train", "--n", "40", "--max-steps", "6", "--batch-size", "20", "--n-feat", "8", "--minutes", "1e-6",
                 "--checkpoint", str(ckpt), "--out", str(tmp_path / "unused.pt")]) == 0
    out.parent.mkdir()
    assert main(["export", str(ckpt), "--out", str(out), "--note", "2-core CPU"]) == 0
    state = torch.load(ckpt, weights_only=True)
    entry = json.loads((out.parent / "manifest.json").read_text())["partial.pt"]
    model, _ = load_weights(out, sha256=entry["sha256"])
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state["ema"].items())
    assert entry["steps"] == state["step"] == 1 and entry["planned_steps"] == 6  # the tiny --minutes stops after one step
    assert entry["status"] == f"partial: 1 of 6 planned steps; resume from {ckpt}" and entry["note"] == "2-core CPU"
    assert entry["class_names"] == list(CLASS_NAMES)
    assert np.load(out.with_suffix(".losses.npy")).tolist() == pytest.approx(state["losses"])


def test_export_of_a_weights_file_says_what_it_takes(tiny_weights, tmp_path, capsys):
    assert main(["export", str(tiny_weights), "--out", str(tmp_path / "x.pt")]) == 2
    assert "is a weights file" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("limits, epochs, max_steps", [
    (["--max-steps", "70"], None, 70),                   # more steps than the default 32 epochs hold
    (["--max-steps", "70", "--epochs", "3"], 3, 70),
    ([], None, None),                                    # --minutes alone: the clock decides
])
def test_max_steps_alone_decides_when_training_stops(tmp_path, limits, epochs, max_steps):
    ckpt = tmp_path / "run.ckpt"
    assert main(["train", "--n", "40", "--batch-size", "20", "--n-feat", "8", "--minutes", "1e-6", *limits,
                 "--checkpoint", str(ckpt), "--out", str(tmp_path / "w.pt")]) == 0
    config = torch.load(ckpt, weights_only=True)["train_config"]
    assert (config["epochs"], config["max_steps"]) == (epochs, max_steps)
