"""The shipped weights: written with their sha256 in data/weights/manifest.json, loaded only when
the file's sha256 matches, always with ``weights_only=True``."""
import hashlib
import inspect
import io
import json
from pathlib import Path

import numpy as np
import torch

from .checkpoint import atomic_write, folder_lock, load_checked, save_atomic, sha256_of
from .data import CLASS_NAMES
from .model import ContextUnet
from .precision import pick_device
from .schedule import NoiseSchedule

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "data" / "weights"
MANIFEST = "manifest.json"
WEIGHTS_FORMAT = "course_lib.weights/1"


def _weights_state(model, sched, meta):
    return {"format": WEIGHTS_FORMAT, "model_config": dict(model.config),
            "schedule": {"timesteps": sched.timesteps, "kind": sched.kind, "betas": sched.betas[1:].cpu()},
            "state_dict": {k: v.contiguous() for k, v in model.state_dict().items()}, "meta": dict(meta or {})}


def save_weights(model, sched, path, meta=None):
    """Write a model's weights, its config and its schedule atomically; return the file's sha256.
    ``meta["class_names"]``, when given, names the context entries (see `context_names`)."""
    save_atomic(_weights_state(model, sched, meta), path)
    return sha256_of(path)


def losses_path(weights_path):
    """Where the loss history of a weights file lies: NAME.losses.npy beside NAME.pt."""
    return Path(weights_path).with_suffix(".losses.npy")


def ship_weights(model, sched, path, meta, losses):
    """save_weights, the loss history (`losses_path`) and the manifest entry as one change; returns the sha256.
    Both files are renamed into place only once the manifest records the new sha256, so a manifest that
    cannot be read or written leaves every old file as it was."""
    buffer = io.BytesIO()
    torch.save(_weights_state(model, sched, meta), buffer)
    sha256 = hashlib.sha256(buffer.getbuffer()).hexdigest()
    with atomic_write(path) as weights_file:
        weights_file.write(buffer.getbuffer())
        weights_file.flush()  # a full disk shows here, named for the weights, not inside the losses' block
        with atomic_write(losses_path(path)) as losses_file:
            np.save(losses_file, np.asarray(losses, np.float32))
            losses_file.flush()
            record_in_manifest(path, sha256, meta)
    return sha256


def record_in_manifest(path, sha256, meta=None, manifest=None):
    """Add or update the entry for `path` (sha256 and metadata) in its folder's manifest.json, under a lock
    on the folder: processes that record at the same time keep every entry."""
    path = Path(path)
    manifest = Path(manifest or path.parent / MANIFEST)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(manifest.parent):
        entries = _read_manifest(manifest)
        entries[path.name] = {"sha256": sha256, **(meta or {})}
        with atomic_write(manifest, "w") as f:
            json.dump(entries, f, indent=2, sort_keys=True)
            f.write("\n")


def _read_manifest(manifest):
    if not manifest.exists():
        return {}
    try:
        entries = json.loads(manifest.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, IsADirectoryError) as err:
        entries = err
    if not isinstance(entries, dict):
        raise ValueError(f"{manifest} is not a manifest course_lib wrote ({entries}); restore it (the shipped "
                         "one: `git checkout -- data/weights/manifest.json`) or move it away")
    return entries


def manifest_entry(path):
    """What manifest.json beside `path` records for it (sha256, steps, command, ...), or {} if nothing."""
    entry = _read_manifest(Path(path).parent / MANIFEST).get(Path(path).name)
    return entry if isinstance(entry, dict) else {}


def expected_sha256(path):
    """The sha256 that manifest.json beside `path` records for it, or None if it records none."""
    return manifest_entry(path).get("sha256")


def load_weights(path, sha256=None, device="cpu"):
    """Rebuild (model, schedule) from a weights file; the model is in eval mode on `device`, with the
    file's metadata in ``model.meta``. The file's sha256 must be `sha256`, or when that is None the one
    manifest.json beside the file records for it (files it does not record load unchecked)."""
    device = pick_device(device)  # an unknown or absent device fails before the file is read
    state = load_checked(path, sha256=sha256 or expected_sha256(path), map_location="cpu")
    if not isinstance(state, dict) or state.get("format") != WEIGHTS_FORMAT:
        raise ValueError(f"{path} is not a course_lib weights file (format {WEIGHTS_FORMAT}); "
                         "training checkpoints are resumed with `train --resume`, not loaded here")
    missing = [key for key in ("model_config", "schedule", "state_dict") if key not in state]
    if missing:
        raise ValueError(f"{path} is a course_lib weights file without {' and '.join(missing)}: it holds "
                         f"{', '.join(sorted(state))}, where a whole one holds format, model_config, schedule, "
                         "state_dict and meta; use the file save_weights wrote, or retrain it")
    sched = _rebuild_schedule(path, state["schedule"])
    model = rebuild_model(path, state["model_config"], state["state_dict"])
    model.meta = dict(state.get("meta") or {})
    names = model.meta.get("class_names")
    if names is not None and (len(names) != model.n_cfeat or not all(isinstance(n, str) for n in names)):
        raise ValueError(f"{path} names {len(names)} classes in its meta but its model takes {model.n_cfeat} "
                         "context values; use the file save_weights wrote, or retrain it")
    return model.to(device).eval(), sched.to(device)


def _rebuild_schedule(path, schedule):
    fields = ("timesteps", "kind", "betas")
    if not isinstance(schedule, dict) or any(key not in schedule for key in fields):
        held = ", ".join(sorted(schedule)) if isinstance(schedule, dict) else type(schedule).__name__
        raise ValueError(f"{path} holds a schedule with {held or 'nothing'}; expected {', '.join(fields)}: "
                         "use the file save_weights wrote, or retrain it")
    try:
        sched = NoiseSchedule(timesteps=schedule["timesteps"], kind=schedule["kind"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path} holds a schedule this version cannot rebuild ({err})") from None
    betas = schedule["betas"]
    if not isinstance(betas, torch.Tensor) or betas.shape != sched.betas[1:].shape \
            or not torch.allclose(sched.betas[1:], betas):
        raise ValueError(f"{path} was trained with a schedule this version cannot rebuild (its betas differ "
                         f"from {schedule['kind']} betas for T = {sched.timesteps})")
    return sched


def rebuild_model(path, config, state_dict):
    """The ContextUnet `config` describes, with the tensors of `state_dict`; a ValueError that names what
    differs when they do not fit each other or this version of ContextUnet."""
    fields = list(inspect.signature(ContextUnet).parameters)
    unknown = sorted(set(config) - set(fields)) if isinstance(config, dict) else None
    if unknown is None or unknown:
        raise ValueError(f"{path} holds a model_config with {unknown or config!r}, which this version's "
                         f"ContextUnet does not take (its fields: {', '.join(fields)}); the file was written "
                         "by another version or edited: use the original or retrain it")
    try:
        model = ContextUnet(**config)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path} holds a model_config {config} that builds no ContextUnet ({err})") from None
    expected = model.state_dict()
    held = state_dict if isinstance(state_dict, dict) else {}
    problems = [f"{name} missing" for name in expected if name not in held]
    problems += [f"{name} unknown" for name in held if name not in expected]
    problems += [f"{name} is {_shape(held[name])} in the file, {tuple(tensor.shape)} for this config"
                 for name, tensor in expected.items() if name in held and _shape(held[name]) != tuple(tensor.shape)]
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise ValueError(f"{path}: its tensors do not fit its model_config {config} ({'; '.join(problems[:3])}"
                         f"{more}); the file was damaged or edited: use the original or retrain it")
    damaged = [name for name, tensor in held.items() if tensor.is_floating_point() and not tensor.isfinite().all()]
    if damaged:
        which = f"{damaged[0]} and {len(damaged) - 1} more hold" if len(damaged) > 1 else f"{damaged[0]} holds"
        raise ValueError(f"{path}: {which} NaN or infinity, so every sprite would too; the run diverged or the "
                         "file was damaged: retrain it with a lower --lr, or use the original")
    model.load_state_dict(held)
    return model


def _shape(value):
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


def context_names(model):
    """The names of a loaded model's context entries, in order: the class names saved with its weights
    (``meta["class_names"]``: the folders of a PNG data set, a caption model's vocabulary), else the
    course's five classes (weights saved before names were), else "class 0", "class 1", ...
    ``parse_context(text, context_names(model))`` reads a --context for it."""
    names = getattr(model, "meta", {}).get("class_names")
    if names:
        return tuple(names)
    if model.n_cfeat == len(CLASS_NAMES):
        return tuple(CLASS_NAMES)
    return tuple(f"class {i}" for i in range(model.n_cfeat))


SHIPPED_MODELS = {"classes": "context_unet.pt", "captions": "caption_unet.pt"}


def load_pretrained(name="classes", device="cpu"):
    """A shipped model (EMA weights, eval mode) and its noise schedule, sha256-checked: "classes", the
    course's one-hot context model, or "captions", the caption model (context = encode_caption(text))."""
    name = SHIPPED_MODELS.get(name, name)
    path = WEIGHTS_DIR / name
    sha256 = expected_sha256(path)
    if sha256 is None:
        raise FileNotFoundError(f"{path.parent / MANIFEST} records no sha256 for {name}: the shipped weights "
                                "are missing; restore data/weights from git or train them (see README)")
    return load_weights(path, sha256=sha256, device=device)
