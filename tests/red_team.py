"""Hostile inputs against every subcommand and the public API, each judged by what a trusted tool promises:
no traceback, no input lost, no garbage with exit 0, and a refusal that says what is wrong.

    python tests/red_team.py                                  # the table on stdout
    python tests/red_team.py --out docs/results/red_team.md   # the table the docs show

tests/test_red_team.py runs every case and asserts that none fails.

A case is a command line (run in-process through ``main``) or a library call, and what is expected of it:
"refuse" (exit 2, or a ValueError/TypeError/FileNotFoundError from the library, with a message) or "ok"
(exit 0, and an output that is finite and not saturated). Its outcome is one of:
    refused / ok     as expected
    traceback        an exception escaped main, or the library raised something else (an AssertionError,
                     a RuntimeError, ...), or a message was empty
    lost             a file the case did not name as its output changed or vanished, or a stale temporary
                     was left behind
    garbage          exit 0 where a refusal was expected, or an output with NaN or saturated pixels
"""
import argparse
import contextlib
import io
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from course_lib.__main__ import main
from course_lib.captions import caption_dataset
from course_lib.checkpoint import STALE_SECONDS, sha256_of
from course_lib.data import SpriteDataset, parse_context
from course_lib.model import ContextUnet
from course_lib.pretrained import load_pretrained, load_weights, save_weights
from course_lib.samplers import sample_ddim, sample_ddpm, sample_dpm_solver
from course_lib.schedule import NoiseSchedule

LIBRARY_ERRORS = (ValueError, TypeError, FileNotFoundError)
TINY_TRAIN_DATA = ["train", "--n", "40", "--batch-size", "20", "--max-steps", "2"]  # the width from --init
TINY_TRAIN = TINY_TRAIN_DATA + ["--n-feat", "8"]


@dataclass
class Case:
    group: str                  # the subcommand, or "library"
    label: str                  # what is hostile about it
    run: object                 # a list of arguments for main, or a callable taking the fixture folder
    expect: str = "refuse"      # "refuse" or "ok"
    outputs: tuple = ()         # files (in the fixture folder) the case may write
    images: str | None = None   # an output .npy of uint8 sprites to check for garbage
    prepare: object = None      # called with the fixture before the run (e.g. to leave a killed writer's debris)
    file_size_limit: int | None = None  # bytes a file may grow to during the run (ulimit -f), as on a full disk


@dataclass
class Outcome:
    case: Case
    verdict: str
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Fixture:
    folder: Path
    pristine: Path                               # a copy of the folder as the cases find it
    hashes: dict = field(default_factory=dict)  # file name -> sha256, as the cases find them

    def path(self, name):
        return str(self.folder / name)


def build_fixture(folder):
    """Tiny weights and checkpoint, data sets good and bad, files good and bad: the inputs the cases use."""
    folder = Path(folder)
    f = Fixture(folder, folder.with_name(folder.name + "_pristine"))
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(TINY_TRAIN + ["--checkpoint", f.path("run.ckpt"), "--out", f.path("w.pt")]) == 0
    weights = (folder / "w.pt").read_bytes()
    (folder / "truncated.pt").write_bytes(weights[: len(weights) // 2])
    (folder / "weights.npy").write_bytes(weights)  # weights under a name sample may write
    (folder / "empty.pt").write_bytes(b"")
    (folder / "junk.pt").write_bytes(bytes(range(256)) * 40)
    (folder / "text.pt").write_text("not weights\n")
    sched = NoiseSchedule()
    save_weights(ContextUnet(n_feat=8, height=32), sched, folder / "tall.pt")
    save_weights(ContextUnet(n_feat=8).double(), sched, folder / "double.pt")
    model = ContextUnet(n_feat=8)
    torch.save({"format": "course_lib.weights/1", "model_config": {**model.config, "n_cfeat": -1},
                "schedule": {"timesteps": 500, "kind": "linear", "betas": sched.betas[1:]},
                "state_dict": model.state_dict(), "meta": {}}, folder / "bad_config.pt")
    bad = dict(model.state_dict())
    bad["init_conv.conv1.0.weight"] = torch.full_like(bad["init_conv.conv1.0.weight"], float("nan"))
    torch.save({"format": "course_lib.weights/1", "model_config": model.config,
                "schedule": {"timesteps": 500, "kind": "linear", "betas": sched.betas[1:]},
                "state_dict": bad, "meta": {}}, folder / "nan_weights.pt")
    # data: the course's .npy pair, and broken variants of it
    data = SpriteDataset.generated(20, seed=1)
    images = ((data.images.permute(0, 2, 3, 1) + 1) * 127.5).round().clamp(0, 255).numpy().astype(np.uint8)
    labels = data.labels.numpy()

    def pair(name, x, y):
        np.save(folder / f"sprites_{name}.npy", x)
        np.save(folder / f"sprite_labels_nc_{name}.npy", y)

    pair("ok", images, labels)
    pair("nonsquare", images[:, :, :12], labels)
    pair("nan", np.where(np.arange(images.size).reshape(images.shape) % 7 == 0, np.nan,
                         images.astype(np.float32)), labels)
    pair("nanlabels", images, np.full_like(labels, np.nan))
    pair("neglabels", images, -labels)
    pair("fewlabels", images, labels[:5])
    pair("grey", images[..., 0], labels)
    pair("empty", images[:0], labels[:0])
    np.save(folder / "unnamed.npy", images)
    # folders of PNGs: RGB, 16-bit grey, palette, and an empty folder
    for kind, mode in (("pngs", "RGB"), ("pngs16", "I;16"), ("palette", "P")):
        for cls in ("hero", "food"):
            (folder / kind / cls).mkdir(parents=True)
            for i in range(3):
                rgb = Image.fromarray(images[i])
                picture = {"RGB": rgb, "P": rgb.convert("P"),
                           "I;16": Image.fromarray(images[i, :, :, 0].astype(np.uint16) * 257)}[mode]
                picture.save(folder / kind / cls / f"{i}.png")
    (folder / "empty_folder").mkdir()
    (folder / "not_a_picture" / "hero").mkdir(parents=True)
    (folder / "not_a_picture" / "hero" / "a.png").write_text("text, not a PNG")
    # quality lines, good and bad
    row = {"sampler": "ddim", "steps": 25, "guidance": 0.0, "fid": 3.0, "context_acc": 0.98}
    (folder / "quality.jsonl").write_text(json.dumps(row) + "\n")
    (folder / "malformed.jsonl").write_text(json.dumps(row) + "\n{not json\n")
    (folder / "nan.jsonl").write_text(json.dumps({**row, "fid": float("nan")}) + "\n")
    (folder / "list.jsonl").write_text("[1, 2]\n")
    (folder / "keyless.jsonl").write_text('{"a": 1}\n')
    (folder / "binary.jsonl").write_bytes(bytes(range(256)))
    # a folder whose manifest is corrupt, and a folder that is in the way of an output
    (folder / "corrupt").mkdir()
    (folder / "corrupt" / "manifest.json").write_text("{ half a manifest")
    (folder / "a_folder.pt").mkdir()
    (folder / "a_folder.npy").mkdir()
    f.hashes = snapshot(folder)
    shutil.copytree(folder, f.pristine, symlinks=True)
    return f


def snapshot(folder):
    """sha256 of every file under `folder`."""
    return {str(p.relative_to(folder)): sha256_of(p) for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def cases():
    """Every case, as (group, label, run, expect, ...)."""
    out = []

    def add(group, label, run, expect="refuse", outputs=(), images=None, **faults):
        out.append(Case(group, label, run, expect, tuple(outputs), images, **faults))

    # sample: each option with hostile values, around a base command that works (the shipped model)
    def sample(*extra, out_name="s.npy"):
        return ["sample", "--steps", "5", "--n", "5", "--out", "{" + out_name + "}", *extra]

    add("sample", "the base command", sample(), "ok", ["s.npy"], "s.npy")
    add("sample", "a PNG grid", sample(out_name="s.png"), "ok", ["s.png"])
    for steps in ("0", "-1", "1000000", "2.5", "x", ""):
        add("sample", f"--steps {steps!r}", sample("--steps", steps))
    for sampler in ("ddpm", "dpm"):
        add("sample", f"--sampler {sampler}", sample("--sampler", sampler), "ok", ["s.npy"], "s.npy")
        add("sample", f"--sampler {sampler} --eta 0.5", sample("--sampler", sampler, "--eta", "0.5"))
    add("sample", "--sampler bogus", sample("--sampler", "bogus"))
    for eta in ("nan", "inf", "-1", "2", "-inf"):
        add("sample", f"--eta {eta}", sample("--eta", eta))
    add("sample", "--eta 1", sample("--eta", "1"), "ok", ["s.npy"], "s.npy")
    for n in ("0", "-5", "2.5", "100000000000", "x"):
        add("sample", f"--n {n}", sample("--n", n))
    for batch in ("0", "-1", "x"):
        add("sample", f"--batch-size {batch}", sample("--batch-size", batch))
    for guidance in ("nan", "inf", "-inf", "-1", "1000", "1e308"):
        add("sample", f"--guidance {guidance} --context hero", sample("--guidance", guidance, "--context", "hero"))
    add("sample", "--guidance 2 without a context", sample("--guidance", "2"))
    add("sample", "--guidance 2 --context hero", sample("--guidance", "2", "--context", "hero"), "ok", ["s.npy"],
        "s.npy")
    for context in ("hero=100000", "hero=1e308", "hero=nan", "hero=inf", "hero=-1", "bogus", "hero=1,hero=2",
                    "hero=x", "", " ", "hero=", "=1", ",", "hero,,food"):
        add("sample", f"--context {context!r}", sample("--context", context))
    for context in ("hero", "hero=0.5,food=0.5", "none", "side-facing", "hero=1e-320"):
        add("sample", f"--context {context!r}", sample("--context", context), "ok", ["s.npy"], "s.npy")
    add("sample", "--compose with a one-part --prompt", sample("--prompt", "red potion", "--compose", "0.5"))
    add("sample", "--compose without --prompt", sample("--compose", "0.5"))
    add("sample", "--prompt with one-hot weights", sample("--prompt", "red potion", "--weights", "{w.pt}"))
    add("sample", "--prompt and --context", sample("--prompt", "red potion", "--context", "hero"))
    for seed in ("-1", "99999999999999999999999", "x", "1.5"):
        add("sample", f"--seed {seed}", sample("--seed", seed))
    add("sample", "--out ''", ["sample", "--weights", "{w.pt}", "--steps", "2", "--n", "5", "--out", ""])
    for name in ("a_folder.npy", "s.txt", "s", "s.npy.part"):
        add("sample", f"--out {name}", sample(out_name=name))
    add("sample", "--out in a folder to make", sample(out_name="missing/s.npy"), "ok", ["missing/s.npy"],
        "missing/s.npy")
    add("sample", "--out the weights, spelt ./", ["sample", "--weights", "{weights.npy}", "--steps", "2", "--n", "5",
                                                    "--out", "{./weights.npy}"])
    for nrow in ("0", "-1"):
        add("sample", f"--nrow {nrow}", sample("--nrow", nrow, out_name="s.png"))
    for scale in ("0", "33", "-1"):
        add("sample", f"--scale {scale}", sample("--scale", scale, out_name="s.png"))
    for weights in ("missing.pt", "truncated.pt", "empty.pt", "junk.pt", "text.pt", "bad_config.pt", "run.ckpt",
                    "a_folder.pt", "sprites_ok.npy", "quality.jsonl", "nan_weights.pt"):
        add("sample", f"--weights {weights}", ["sample", "--weights", "{" + weights + "}", "--steps", "2", "--n", "5",
                                               "--out", "{s.npy}"])
    for weights in ("w.pt", "tall.pt", "double.pt"):  # random or barely trained: no sprites to judge
        add("sample", f"--weights {weights}", ["sample", "--weights", "{" + weights + "}", "--steps", "2", "--n", "5",
                                               "--out", "{s.npy}"], "ok", ["s.npy"])
    for device in ("cuda", "cuda:7", "tpu", "mps", ""):
        add("sample", f"--device {device!r}", sample("--device", device))
    add("sample", "--precision fp16", sample("--precision", "fp16"))
    add("sample", "--precision bogus", sample("--precision", "bogus"))
    add("sample", "an unknown option", sample("--frobnicate"))

    # train
    def train(*extra, out_name="t.pt"):
        return TINY_TRAIN + ["--out", "{" + out_name + "}", *extra]

    add("train", "the base command", train(), "ok", ["t.pt", "t.losses.npy", "manifest.json"])
    for lr in ("nan", "inf", "-inf", "0", "-1", "x"):
        add("train", f"--lr {lr}", train("--lr", lr))
    for option, values in (("--batch-size", ("0", "-1", "x")), ("--max-steps", ("0", "-1", "1.5")),
                           ("--epochs", ("0", "-1", "nan", "inf")), ("--minutes", ("0", "-1", "nan", "inf", "-inf")),
                           ("--n", ("0", "-1", "x")), ("--n-feat", ("0", "7", "-8", "12")),
                           ("--timesteps", ("0", "-1", "100000000", "1e8", "x")),
                           ("--log-snr-normal", ("nan,1", "0,-1", "0,inf", "a,b", "1", "0,0", "1,2,3", "")),
                           ("--checkpoint-every", ("-1", "x")), ("--seed", ("x", "-1")),
                           ("--prediction", ("bogus",)), ("--preset", ("bogus",))):
        for value in values:
            add("train", f"{option} {value!r}", train(option, value))
    add("train", "--epochs 1 (two steps)", train("--epochs", "1", "--max-steps", "2"), "ok",
        ["t.pt", "t.losses.npy", "manifest.json"])
    add("train", "--checkpoint-every without --checkpoint", train("--checkpoint-every", "5"))
    add("train", "--hybrids with --data sprites", train("--hybrids", "0.2"))
    for hybrids in ("-0.1", "2", "nan"):
        add("train", f"--hybrids {hybrids} with --data captions", train("--data", "captions", "--hybrids", hybrids))
    def train_from(init, *extra, out_name="t.pt"):
        return TINY_TRAIN_DATA + ["--init", "{" + init + "}", "--out", "{" + out_name + "}", *extra]

    add("train", "--n-feat with --init", train_from("w.pt", "--n-feat", "16"))
    add("train", "--prediction with --init", train_from("w.pt", "--prediction", "x0"))
    for init in ("missing.pt", "truncated.pt", "empty.pt", "junk.pt", "run.ckpt", "tall.pt", "bad_config.pt",
                 "nan_weights.pt"):
        add("train", f"--init {init}", train_from(init))
    add("train", "--init weights train wrote", train_from("w.pt"), "ok", ["t.pt", "t.losses.npy", "manifest.json"])
    for data in ("missing", "missing.npy", "empty_folder", "unnamed.npy", "sprites_nonsquare.npy", "sprites_nan.npy",
                 "sprites_nanlabels.npy", "sprites_neglabels.npy", "sprites_fewlabels.npy", "sprites_grey.npy",
                 "sprites_empty.npy", "not_a_picture", "quality.jsonl", "w.pt"):
        add("train", f"--data {data}", train("--data", "{" + data + "}"))
    add("train", "--data ''", train("--data", ""))
    for data in ("sprites_ok.npy", "pngs", "pngs16", "palette"):
        add("train", f"--data {data}", train("--data", "{" + data + "}"), "ok", ["t.pt", "t.losses.npy",
                                                                              "manifest.json"])
    for resume in ("missing.ckpt", "truncated.pt", "w.pt", "junk.pt", "empty.pt"):
        add("train", f"--resume {resume}", train("--resume", "{" + resume + "}"))
    add("train", "--resume a run with another width", train("--resume", "{run.ckpt}", "--n-feat", "16"))
    add("train", "--resume a run with another batch size", train("--resume", "{run.ckpt}", "--batch-size", "10"))
    add("train", "--resume a run with another seed", train("--resume", "{run.ckpt}", "--seed", "3"))
    add("train", "--resume a run with other timesteps", train("--resume", "{run.ckpt}", "--timesteps", "400"))
    add("train", "--resume a run with other data", train("--resume", "{run.ckpt}", "--n", "60"))
    add("train", "--out ''", TINY_TRAIN + ["--out", ""])
    for name in ("a_folder.pt", "t.png", "t", "sprites_ok.npy", "run.ckpt"):
        add("train", f"--out {name}", train(out_name=name))
    add("train", "--out in a folder to make", train(out_name="missing/t.pt"), "ok",
        ["missing/t.pt", "missing/t.losses.npy", "missing/manifest.json"])
    add("train", "--out the --data file", train("--data", "{sprites_ok.npy}", out_name="sprites_ok.npy"))
    add("train", "--out the --init file, spelt ./", train_from("w.pt", out_name="./w.pt"))
    add("train", "--out and --checkpoint on one path", train("--checkpoint", "{t.pt}"))
    add("train", "--checkpoint the --init file", train_from("w.pt", "--checkpoint", "{w.pt}"))
    add("train", "--snapshots a PNG", train("--snapshots", "{snap.png}"))
    add("train", "--snapshots the --out file", train("--snapshots", "{t.pt}"))
    add("train", "--out into a folder with a corrupt manifest", train(out_name="corrupt/t.pt"))
    for device in ("cuda", "tpu"):
        add("train", f"--device {device}", train("--device", device))

    # evaluate
    def evaluate(*extra):
        return ["evaluate", "--weights", "{w.pt}", "--n", "10", "--steps", "2", "--batch", "10", *extra]

    add("evaluate", "the base command", evaluate(), "ok")
    for option, values in (("--n", ("0", "-5", "7", "x", "100000000000")), ("--steps", ("0", "-1", "1000000", "x")),
                           ("--batch", ("0", "-1")), ("--guidance", ("nan", "inf", "x", "1000", "-1")),
                           ("--eta", ("nan", "-1", "2")), ("--sampler", ("bogus", "")),
                           ("--seed", ("x",)), ("--reference-seed", ("x",)), ("--compose", ("0.5", "nan")),
                           ("--prompt-set", ("bogus",)), ("--device", ("cuda", "tpu"))):
        for value in values:
            add("evaluate", f"{option} {value!r}", evaluate(option, value))
    add("evaluate", "--real-sprites without prompts", evaluate("--real-sprites"))
    add("evaluate", "--prompt with one-hot weights", evaluate("--prompt", "red potion"))
    for weights in ("tall.pt", "missing.pt", "truncated.pt", "run.ckpt", "bad_config.pt", "nan_weights.pt"):
        add("evaluate", f"--weights {weights}", ["evaluate", "--weights", "{" + weights + "}", "--n", "10",
                                                 "--steps", "2", "--batch", "10"])

    # report
    add("report", "good lines", ["report", "{quality.jsonl}"], "ok")
    for name in ("missing.jsonl", "malformed.jsonl", "nan.jsonl", "list.jsonl", "keyless.jsonl", "binary.jsonl",
                 "empty_folder", "w.pt", "sprites_ok.npy"):
        add("report", f"{name}", ["report", "{" + name + "}"])

    # export
    add("export", "the base command", ["export", "{run.ckpt}", "--out", "{e.pt}"], "ok", ["e.pt", "e.losses.npy",
                                                                                       "manifest.json"])
    for checkpoint in ("missing.ckpt", "truncated.pt", "w.pt", "junk.pt", "empty.pt", "a_folder.pt"):
        add("export", f"{checkpoint}", ["export", "{" + checkpoint + "}", "--out", "{e.pt}"])
    for name in ("run.ckpt", "a_folder.pt", "e.png", "", "corrupt/e.pt"):
        add("export", f"--out {name!r}", ["export", "{run.ckpt}", "--out", "{" + name + "}" if name else ""])

    # the disk fills up (a file-size limit stands in for it): refused before the work where the size is
    # known, or when the write fails, and either way the old file intact and no temporary left behind
    if FILE_SIZE_LIMITS:
        for limit, when in ((8_000, "before the work"), (120_000, "while writing the weights")):
            add("train", f"--out over an old file, the disk full {when}", train(out_name="w.pt"),
                file_size_limit=limit)
            add("export", f"--out over an old file, the disk full {when}",
                ["export", "{run.ckpt}", "--out", "{w.pt}"], file_size_limit=limit)
        add("train", "--checkpoint, the disk full before the work",
            train("--checkpoint", "{c.ckpt}", "--checkpoint-every", "1"), file_size_limit=300_000)
        add("train", "--checkpoint, the disk full while writing it",
            train("--checkpoint", "{c.ckpt}", "--checkpoint-every", "1"), file_size_limit=500_000)
        add("sample", "--out .npy, the disk full before sampling", sample(), file_size_limit=2_000)
        add("sample", "--out .png, the disk full while writing it", sample(out_name="s.png"), file_size_limit=1_000)
    # a writer killed by SIGKILL left its temporary file: the next run of the same output removes it
    for group, argv, name, outputs in (
            ("train", train(), "t.pt", ["t.pt", "t.losses.npy", "manifest.json"]),
            ("export", ["export", "{run.ckpt}", "--out", "{e.pt}"], "e.pt", ["e.pt", "e.losses.npy", "manifest.json"]),
            ("sample", sample(), "s.npy", ["s.npy"])):
        add(group, "a killed writer's temporary file beside --out", argv, "ok", outputs,
            prepare=lambda f, name=name: _killed_writers_debris(f.folder / name))

    # bench and segment: only refusals, so that nothing here times a machine
    for option, values in (("--repeats", ("0", "-1", "x")), ("--batches", ("-2", "0", "a", "", "1,,2")),
                           ("--ddpm-steps", ("0", "-1")), ("--ddim-steps", ("0", "-1", "a")),
                           ("--train-steps", ("0", "-1")), ("--eval-every", ("0", "-1")), ("--json", ("",)),
                           ("--preset", ("bogus",))):
        for value in values:
            add("bench", f"{option} {value!r}", ["bench", option, value])
    add("bench", "--json into a folder", ["bench", "--json", "{a_folder.npy}"])
    add("bench", "--train with --latency", ["bench", "--train", "--latency"])
    for option, value in (("--preset", "course"), ("--eval-every", "100"), ("--seed", "3")):
        add("bench", f"{option} without --train", ["bench", option, value])
    for option, values in (("--lr", ("inf", "nan", "0", "-1")), ("--steps", ("0", "-1", "x")),
                           ("--train-sizes", ("0", "-1", "100000000000", "a", "", "4,,8")),
                           ("--test-size", ("0", "-1", "100000000000")), ("--n-feat", ("0", "7", "-8")),
                           ("--batch-size", ("0", "-1")), ("--precision", ("fp16", "bogus")),
                           ("--device", ("cuda", "tpu"))):
        for value in values:
            add("segment", f"{option} {value!r}", ["segment", option, value])

    # other command lines
    add("cli", "no subcommand", [])
    add("cli", "an unknown subcommand", ["frobnicate"])
    add("cli", "vocabulary with an argument", ["vocabulary", "extra"])
    add("cli", "vocabulary", ["vocabulary"], "ok")

    # the library
    def with_model(call):
        def run(f):
            model, sched = load_weights(f.path("w.pt"))
            return call(model, sched, f)
        return run

    def sampler_case(label, expect="refuse", **kwargs):
        for name, sampler in (("ddim", sample_ddim), ("ddpm", sample_ddpm), ("dpm", sample_dpm_solver)):
            add("library", f"sample_{name}: {label}",
                with_model(lambda m, s, f, sampler=sampler: _finite(sampler(m, s, **{"n": 2, "steps": 2, **kwargs}))),
                expect)

    sampler_case("n=0", n=0)
    sampler_case("n=-1", n=-1)
    sampler_case("n=2.5", n=2.5)
    sampler_case("steps=0", steps=0)
    sampler_case("steps=100000", steps=100_000)
    sampler_case("x_T as numpy", "ok", x_T=np.zeros((2, 3, 16, 16), np.float32))
    sampler_case("x_T with NaN", x_T=torch.full((2, 3, 16, 16), float("nan")))
    sampler_case("x_T of another shape", x_T=torch.zeros(2, 3, 8, 8))
    sampler_case('context="hero"', context="hero")
    sampler_case("a context of 4 values", context=torch.ones(2, 4))
    sampler_case("a context with NaN", context=torch.full((2, 5), float("nan")))
    sampler_case("generator=0", generator=0)
    sampler_case("guidance=nan", context=torch.eye(5)[:2], guidance=float("nan"))
    sampler_case("guidance=1e308", context=torch.eye(5)[:2], guidance=1e308)
    sampler_case("precision='fp8'", precision="fp8")
    sampler_case("device='tpu'", device="tpu")
    sampler_case("a one-hot context", "ok", context=torch.eye(5)[:2])
    add("library", "sample_ddim: eta=nan", with_model(lambda m, s, f: sample_ddim(m, s, n=2, steps=2, eta=math.nan)))
    add("library", "sample_ddim: a float64 model", with_model(lambda m, s, f: sample_ddim(m.double(), s, n=2, steps=2)))
    add("library", "sample_ddim: a float16 model", with_model(lambda m, s, f: sample_ddim(m.half(), s, n=2, steps=2)))
    add("library", "load_pretrained('nonexistent')", lambda f: load_pretrained("nonexistent"))
    add("library", "load_pretrained(device='cuda') without a GPU", lambda f: _without_cuda(load_pretrained, "cuda"))
    add("library", "load_pretrained(device='tpu')", lambda f: load_pretrained(device="tpu"))
    add("library", "load_weights of a missing file", lambda f: load_weights(f.path("missing.pt")))
    add("library", "load_weights of a truncated file", lambda f: load_weights(f.path("truncated.pt")))
    add("library", "load_weights of a folder", lambda f: load_weights(f.path("a_folder.pt")))
    add("library", "load_weights with n_cfeat -1", lambda f: load_weights(f.path("bad_config.pt")))
    for n in (0, -1, 2.5, "10"):
        add("library", f"caption_dataset(n={n!r})", lambda f, n=n: caption_dataset(n))
        add("library", f"SpriteDataset.generated({n!r})", lambda f, n=n: SpriteDataset.generated(n))
    for kwargs in ({"timesteps": 0}, {"timesteps": -1}, {"timesteps": 2.5}, {"timesteps": 10**9},
                   {"kind": "bogus"}, {"beta1": 0.1, "beta2": 0.01}, {"beta1": math.nan},
                   {"beta1": -0.1}, {"beta2": 1.0}, {"kind": "cosine", "beta1": 0.001}):
        add("library", f"NoiseSchedule({kwargs})", lambda f, kwargs=kwargs: NoiseSchedule(**kwargs))
    add("library", "add_noise at t = 0", lambda f: NoiseSchedule().add_noise(torch.zeros(1, 3, 16, 16),
                                                                            torch.tensor([0]), torch.zeros(1, 3, 16, 16)))
    add("library", "add_noise at t = T + 1", lambda f: NoiseSchedule().add_noise(
        torch.zeros(1, 3, 16, 16), torch.tensor([501]), torch.zeros(1, 3, 16, 16)))
    add("library", "add_noise at t = 2.5", lambda f: NoiseSchedule().add_noise(
        torch.zeros(1, 3, 16, 16), torch.tensor([2.5]), torch.zeros(1, 3, 16, 16)))
    for kwargs in ({"n_feat": 0}, {"n_feat": 12}, {"n_cfeat": -1}, {"height": 15}, {"height": 0},
                   {"in_channels": 0}, {"prediction": "bogus"}):
        add("library", f"ContextUnet({kwargs})", lambda f, kwargs=kwargs: ContextUnet(**kwargs))
    for spec in ("hero=nan", "hero=-1", "bogus", "hero=1e400", 5):
        add("library", f"parse_context({spec!r})", lambda f, spec=spec: parse_context(spec))
    add("library", "SpriteDataset.from_npy of a non-square file", lambda f: SpriteDataset.from_npy(
        f.path("sprites_nonsquare.npy"), f.path("sprite_labels_nc_nonsquare.npy")))
    add("library", "SpriteDataset.from_npy with NaN labels", lambda f: SpriteDataset.from_npy(
        f.path("sprites_ok.npy"), f.path("sprite_labels_nc_nanlabels.npy")))
    return out


FILE_SIZE_LIMITS = os.name == "posix"  # RLIMIT_FSIZE


@contextlib.contextmanager
def file_size_limit(nbytes):
    """Let no file grow past `nbytes` while the block runs (ulimit -f): a write past it fails with EFBIG,
    as one on a full disk fails with ENOSPC (SIGXFSZ, which would kill the process, is ignored meanwhile)."""
    import resource
    import signal
    before = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, before)
        signal.signal(signal.SIGXFSZ, handler)


def _killed_writers_debris(out):
    """The temporary file atomic_write leaves beside `out` when its process is killed mid-write, aged past
    STALE_SECONDS."""
    debris = out.with_name(f".{out.name}.0123456789ab.tmp")
    debris.write_bytes(b"half a file")
    old = time.time() - 10 * STALE_SECONDS
    os.utime(debris, (old, old))


def _finite(result):
    """The sampler's images, refused as garbage when they hold NaN or infinities."""
    if not torch.isfinite(result.images).all():
        raise _Garbage("non-finite sprites")
    return result


def _without_cuda(loader, device):
    if torch.cuda.is_available():
        raise ValueError("this machine has a GPU: the case does not apply")
    return loader(device=device)


class _Garbage(Exception):
    """A result that came back without an error but is not a result."""


def saturated_share(images):
    """The share of colour values at 0 or 255 outside pure white pixels: near 0 for sprites (a sprite's
    white background is excluded), near 1 for the saturated noise of an overflowing sampler."""
    images = np.asarray(images)
    white = (images == 255).all(-1, keepdims=True)
    extreme = ((images == 0) | (images == 255)) & ~white
    return extreme.sum() / max(1, (~white).sum() * images.shape[-1])


def fill(argv, f):
    """The case's arguments with {name} replaced by the fixture's path of that name."""
    filled = []
    for arg in argv:
        if arg.startswith("{") and arg.endswith("}"):
            name = arg[1:-1]
            filled.append(f"{f.folder}/./{name[2:]}" if name.startswith("./") else f.path(name))
        else:
            filled.append(arg)
    return filled


def run_case(case, f):
    """Run one case against the fixture and judge it; the fixture is restored afterwards."""
    stderr = io.StringIO()
    started = time.perf_counter()
    status, message = None, ""
    try:
        with contextlib.ExitStack() as faults:
            if case.prepare is not None:
                case.prepare(f)
            if case.file_size_limit is not None:
                faults.enter_context(file_size_limit(case.file_size_limit))
            faults.enter_context(contextlib.redirect_stdout(io.StringIO()))
            faults.enter_context(contextlib.redirect_stderr(stderr))
            if callable(case.run):
                try:
                    case.run(f)
                    status = 0
                except LIBRARY_ERRORS as err:
                    status, message = 2, str(err)
            else:
                try:
                    status = main(fill(case.run, f))
                except SystemExit as exit_:  # argparse: a usage error, or --help
                    status = exit_.code if isinstance(exit_.code, int) else 2
                message = stderr.getvalue()
    except _Garbage as err:
        verdict, detail = "garbage", str(err)
    except BaseException as err:  # what a learner would see as a traceback
        verdict, detail = "traceback", f"{type(err).__name__}: {str(err)[:200]}"
    if status is None:
        _restore(f)
        return Outcome(case, verdict, detail, time.perf_counter() - started)
    seconds = time.perf_counter() - started
    verdict, detail = _judge(case, f, status, message)
    _restore(f)
    return Outcome(case, verdict, detail, seconds)


def _judge(case, f, status, message):
    now = snapshot(f.folder)
    lost = [name for name, sha in f.hashes.items() if now.get(name) != sha and name not in case.outputs]
    stale = [name for name in now if name.endswith(".tmp") or ".tmp." in name]
    if lost or stale:
        return "lost", ", ".join(lost + stale)
    if status == 0:
        if case.expect == "refuse":
            return "garbage", "exit 0 where a refusal was expected"
        if case.images:
            images = np.load(f.folder / case.images)
            share = saturated_share(images)
            if share > 0.5:
                return "garbage", f"{share:.0%} of the colour values saturated"
        return "ok", ""
    if status != 2 or not message.strip():
        return "traceback", f"exit {status}, message {message.strip()[:200]!r}"
    if case.expect == "ok":
        return "wrongly refused", message.strip().splitlines()[-1][:200]
    return "refused", message.strip().splitlines()[-1][:200]


def _restore(f):
    """Put the fixture back as the cases find it: remove what a case wrote, copy back what it changed."""
    for path in sorted(f.folder.rglob("*"), reverse=True):
        name = str(path.relative_to(f.folder))
        if path.is_file() and name not in f.hashes:
            path.unlink()
        elif path.is_dir() and not (f.pristine / name).is_dir():
            shutil.rmtree(path)
    for name, sha in f.hashes.items():
        if not (f.folder / name).is_file() or sha256_of(f.folder / name) != sha:
            shutil.copy2(f.pristine / name, f.folder / name)


def run_all(folder=None):
    """Every case's outcome, in a fresh fixture under `folder` (a temporary folder when None)."""
    with tempfile.TemporaryDirectory() as tmp:
        f = build_fixture(Path(folder or tmp) / "red_team")
        return [run_case(case, f) for case in cases()]


GOOD = {"refused", "ok"}


def table(outcomes):
    """Markdown: the count per group and verdict, then every case that is not as expected."""
    groups = sorted({o.case.group for o in outcomes}, key=[o.case.group for o in outcomes].index)
    verdicts = ["refused", "ok", "wrongly refused", "traceback", "lost", "garbage"]
    lines = ["| | cases | " + " | ".join(verdicts) + " |", "|---|---:|" + "---:|" * len(verdicts)]
    for group in groups + ["all"]:
        mine = [o for o in outcomes if group in ("all", o.case.group)]
        counts = [sum(o.verdict == v for o in mine) for v in verdicts]
        lines.append(f"| {group} | {len(mine)} | " + " | ".join(map(str, counts)) + " |")
    bad = [o for o in outcomes if o.verdict not in GOOD]
    if bad:
        lines += ["", "Not as expected:", ""]
        lines += [f"- {o.case.group}: {o.case.label}: **{o.verdict}** ({o.detail})" for o in bad]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the table to this markdown file")
    parser.add_argument("--show", action="store_true", help="print every case's verdict and message")
    args = parser.parse_args()
    outcomes = run_all()
    if args.show:
        for o in outcomes:
            print(f"{o.verdict:>15}  {o.case.group}: {o.case.label}  {o.detail}  ({o.seconds:.1f} s)")
    text = table(outcomes)
    print(text)
    if args.out:
        Path(args.out).write_text(
            f"# Hostile inputs: {len(outcomes)} cases\n\n"
            "Made by `python tests/red_team.py --out docs/results/red_team.md` (the cases, and what each verdict "
            "means, are in\nthat file; `pytest tests/test_red_team.py` runs them all as tests). Expected: every "
            "case refused with a\nmessage or done with a sound result, none with a traceback, a lost file or "
            "garbage.\n\n" + text + "\n")
    sys.exit(0 if all(o.verdict in GOOD for o in outcomes) else 1)
