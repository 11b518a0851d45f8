"""Sample grids recorded during training: the same starting noise, sampled after every epoch.

Notebook 02 draws them live for a learner's run; ``train --snapshots FILE.npz`` keeps them for a long run,
so the notebook can show the shipped model's own path from noise to sprites without shipping its weights.
"""
import zipfile

import numpy as np
import torch

from .checkpoint import atomic_write
from .data import to_model_space, to_uint8
from .samplers import sample_ddpm

SNAPSHOT_FORMAT = "course_lib.snapshots/1"
PER_CLASS = 2        # sprites per class in each row
NOISE_SEED = 1       # the starting noise x_T, the same every epoch
STEP_NOISE_SEED = 2  # the noise DDPM adds at each step, the same every epoch
SAMPLE_STEPS = 100   # DDPM steps of each snapshot


def watch_inputs(n_classes, per_class=PER_CLASS, height=16):
    """The one-hot context (n, n_classes), class index of each column (n,) and starting noise (n, 3, H, W)
    of every snapshot, with n = n_classes * per_class: the same for every epoch, so only the network changes."""
    classes = torch.arange(n_classes).repeat_interleave(per_class)  # (n,): 0, 0, 1, 1, ...
    context = torch.eye(n_classes)[classes]  # (n, n_classes)
    x_T = torch.randn(len(classes), 3, height, height, generator=torch.Generator().manual_seed(NOISE_SEED))
    return context, classes, x_T


def sample_snapshot(model, sched, steps=SAMPLE_STEPS, per_class=PER_CLASS):
    """DDPM samples of `model` from the watch inputs, images (n, 3, H, W) in the model's space, [-1, 1]."""
    device = next(model.parameters()).device
    context, _, x_T = watch_inputs(model.n_cfeat, per_class, model.height)
    return sample_ddpm(model, sched, n=len(context), steps=steps, context=context.to(device),
                       x_T=x_T.to(device), generator=torch.Generator().manual_seed(STEP_NOISE_SEED)).images.cpu()


def load_snapshots(path):
    """The (epoch, images (n, 3, H, W) in [-1, 1]) pairs a run recorded, in order, and their steps."""
    not_snapshots = f"{path} is not a snapshot file that train --snapshots wrote ({SNAPSHOT_FORMAT})"
    try:
        loaded = np.load(path, allow_pickle=False)
        arrays = {}
        if isinstance(loaded, np.lib.npyio.NpzFile):  # a plain .npy under that name loads as one array
            with loaded:
                arrays = {key: loaded[key] for key in loaded.files}
    except (EOFError, ValueError, zipfile.BadZipFile):
        raise ValueError(f"{not_snapshots}: it is empty, cut short or another kind of file; move it away, or "
                         "give another --snapshots path") from None
    if str(arrays.get("format", "")) != SNAPSHOT_FORMAT or not {"epochs", "steps", "images"} <= arrays.keys():
        raise ValueError(not_snapshots)
    epochs, steps, images = arrays["epochs"], arrays["steps"], arrays["images"]
    return [(float(e), to_model_space(grid)) for e, grid in zip(epochs, images)], [int(s) for s in steps]


class SnapshotRecorder:
    """A `train` callback that samples the EMA network after every epoch and rewrites `path` (atomically)
    with every snapshot so far. Resuming at step s keeps the snapshots the file holds up to step s."""

    def __init__(self, path, sched, resume_step=0, steps=SAMPLE_STEPS):
        self.path, self.sched, self.steps = path, sched, steps
        self.epochs, self.step_of, self.images = [], [], []
        if resume_step:
            try:
                snapshots, step_of = load_snapshots(path)
            except FileNotFoundError:
                snapshots, step_of = [], []
            kept = [(s, e, g) for (e, g), s in zip(snapshots, step_of) if s <= resume_step]
            self.step_of = [s for s, _, _ in kept]
            self.epochs = [e for _, e, _ in kept]
            self.images = [to_uint8(g) for _, _, g in kept]

    def __call__(self, result):
        self.epochs.append(result.epoch)
        self.step_of.append(result.step)
        self.images.append(to_uint8(sample_snapshot(result.ema_model, self.sched, self.steps)))
        with atomic_write(self.path) as f:
            np.savez_compressed(f, format=np.str_(SNAPSHOT_FORMAT), epochs=np.asarray(self.epochs, np.float32),
                                steps=np.asarray(self.step_of, np.int64), images=np.stack(self.images))
