"""The shipped weights: written with their sha256 in data/weights/manifest.json, loaded only when
the file's sha256 matches, always with ``weights_only=True``."""
import json
from pathlib import Path

import torch

from .checkpoint import atomic_write, load_checked, save_atomic, sha256_of
from .model import ContextUnet
from .schedule import NoiseSchedule

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "data" / "weights"
MANIFEST = "manifest.json"
WEIGHTS_FORMAT = "course_lib.weights/1"


def save_weights(model, sched, path, meta=None):
    """Write a model's weights, its config and its schedule atomically; return the file's sha256."""
    save_atomic({"format": WEIGHTS_FORMAT, "model_config": dict(model.config),
                 "schedule": {"timesteps": sched.timesteps, "kind": sched.kind, "betas": sched.betas[1:].cpu()},
                 "state_dict": {k: v.contiguous() for k, v in model.state_dict().items()},
                 "meta": dict(meta or {})}, path)
    return sha256_of(path)


def record_in_manifest(path, sha256, meta=None, manifest=None):
    """Add or update the entry for `path` (sha256 and metadata) in its folder's manifest.json."""
    path = Path(path)
    manifest = Path(manifest or path.parent / MANIFEST)
    entries = json.loads(manifest.read_text()) if manifest.exists() else {}
    entries[path.name] = {"sha256": sha256, **(meta or {})}
    with atomic_write(manifest, "w") as f:
        json.dump(entries, f, indent=2, sort_keys=True)
        f.write("\n")


def expected_sha256(path):
    """The sha256 that manifest.json beside `path` records for it, or None if it records none."""
    manifest = Path(path).parent / MANIFEST
    if not manifest.exists():
        return None
    return json.loads(manifest.read_text()).get(Path(path).name, {}).get("sha256")


def load_weights(path, sha256=None, device="cpu"):
    """Rebuild (model, schedule) from a weights file; the model is in eval mode on `device`."""
    state = load_checked(path, sha256=sha256, map_location="cpu")
    if not isinstance(state, dict) or state.get("format") != WEIGHTS_FORMAT:
        raise ValueError(f"{path} is not a course_lib weights file (format {WEIGHTS_FORMAT}); "
                         "training checkpoints are resumed with `train --resume`, not loaded here")
    betas = state["schedule"]["betas"]
    sched = NoiseSchedule(timesteps=state["schedule"]["timesteps"], kind=state["schedule"]["kind"])
    if not torch.allclose(sched.betas[1:], betas):
        raise ValueError(f"{path} was trained with a schedule this version cannot rebuild")
    model = ContextUnet(**state["model_config"])
    model.load_state_dict(state["state_dict"])
    return model.to(device).eval(), sched.to(device)


def load_pretrained(name="context_unet.pt", device="cpu"):
    """The shipped context model (EMA weights, eval mode) and its noise schedule, sha256-checked."""
    path = WEIGHTS_DIR / name
    sha256 = expected_sha256(path)
    if sha256 is None:
        raise FileNotFoundError(f"{path.parent / MANIFEST} records no sha256 for {name}: the shipped weights "
                                "are missing; restore data/weights from git or train them (see README)")
    return load_weights(path, sha256=sha256, device=device)
