"""The command line writes the files it promises, refuses bad input with a clear message, and the
shipped weights refuse to load when tampered with."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from course_lib.__main__ import main
from course_lib.pretrained import WEIGHTS_DIR, expected_sha256, load_weights


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    out = tmp_path_factory.mktemp("weights") / "tiny.pt"
    assert main(["train", "--n", "40", "--max-steps", "3", "--batch-size", "20", "--n-feat", "8",
                 "--out", str(out)]) == 0
    return out


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
    assert "no evaluate lines in" in capsys.readouterr().err


def test_tampered_shipped_weights_are_refused(tmp_path):
    shutil.copy(WEIGHTS_DIR / "context_unet.pt", tmp_path / "context_unet.pt")
    data = bytearray((tmp_path / "context_unet.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "context_unet.pt").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="has sha256 .* expected 5d1f9ce8.*damaged or was replaced"):
        load_weights(tmp_path / "context_unet.pt", sha256=expected_sha256(WEIGHTS_DIR / "context_unet.pt"))


def test_module_entry_point_runs(tiny_weights, tmp_path):
    out = tmp_path / "one.npy"
    done = subprocess.run([sys.executable, "-m", "course_lib", "sample", "--weights", str(tiny_weights),
                           "--steps", "1", "--n", "1", "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert np.load(out).shape == (1, 16, 16, 3)
