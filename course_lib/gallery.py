"""The README's key figures: ``python -m course_lib.gallery [--out FOLDER]`` writes them as PNGs.

Without ``--out`` they go to out/gallery/, so a run leaves the committed figures alone; the README's
figures are remade with ``--out docs/gallery``.

    training_sprites.png   generated training sprites, one row per class
    samples_per_class.png  the shipped model's samples (DDIM 25 steps, guidance 2), one row per class
    unet.png               the U-Net diagram with the shapes from trace_shapes
    loss_curve.png         the shipped model's training loss against steps, smoothed
    denoising_strip.png    x_t at several steps of DDPM sampling, one row per class

Every file is written atomically (a temporary file, then a rename). Seeds are fixed, so a rerun
gives the same pictures on the same machine.
"""
import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from .checkpoint import atomic_write  # noqa: E402
from .data import CLASS_NAMES, SpriteDataset  # noqa: E402
from .model import trace_shapes  # noqa: E402
from .precision import pick_device  # noqa: E402
from .pretrained import WEIGHTS_DIR, load_pretrained  # noqa: E402
from .samplers import sample_ddim, sample_ddpm  # noqa: E402
from .viz import draw_unet, figure_png, plot_losses, show_grid, show_strip  # noqa: E402

DEFAULT_OUT = Path("out") / "gallery"
PER_CLASS = 8


def one_hot_rows(per_class, n_classes=len(CLASS_NAMES)):
    """Contexts (n_classes * per_class, n_classes): `per_class` rows of each class, in class order."""
    return torch.eye(n_classes).repeat_interleave(per_class, 0)


def training_sprites_figure(per_class=PER_CLASS, seed=0):
    data = SpriteDataset.generated(per_class * len(CLASS_NAMES) * 2, seed=seed)
    classes = data.labels.argmax(1)
    images = torch.cat([data.images[classes == k][:per_class] for k in range(len(CLASS_NAMES))])
    return show_grid(images, nrow=per_class, row_labels=list(CLASS_NAMES), title="training sprites (generated)")


def samples_figure(model, sched, per_class=PER_CLASS, seed=0):
    res = sample_ddim(model, sched, n=per_class * len(CLASS_NAMES), steps=25, guidance=2.0,
                      context=one_hot_rows(per_class).to(sched.alpha_bars.device),
                      generator=torch.Generator().manual_seed(seed))
    return show_grid(res.images, nrow=per_class, row_labels=list(CLASS_NAMES),
                     title="samples of the shipped model (DDIM, 25 steps, guidance 2)")


def unet_figure(model):
    x = torch.zeros(1, model.in_channels, model.height, model.height, device=next(model.parameters()).device)
    return draw_unet(trace_shapes(model, x), input_shape=tuple(x.shape))


def loss_figure(losses_path=WEIGHTS_DIR / "context_unet.losses.npy"):
    losses = np.load(losses_path)
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    plot_losses(losses, window=200, ax=ax, title=f"training loss of the shipped model ({len(losses):,} steps)")
    return fig


def denoising_figure(model, sched, seed=0, steps=(500, 400, 300, 200, 150, 100, 75, 50, 25, 0)):
    """DDPM with all T steps, one sprite per class; the columns are x_t at `steps` (0: the result)."""
    res = sample_ddpm(model, sched, n=len(CLASS_NAMES), context=one_hot_rows(1).to(sched.alpha_bars.device),
                      generator=torch.Generator().manual_seed(seed), record_every=25)
    keep = [res.frame_steps.index(t) for t in steps]
    return show_strip(res.frames[keep], list(steps),
                      title="DDPM sampling: x_t from noise (left) to a sprite (right), one row per class")


def make_gallery(out=DEFAULT_OUT, device="auto", log=print):
    """Write the five figures into `out`; returns their paths."""
    out = Path(out)
    device = pick_device(device)
    model, sched = load_pretrained(device=device)
    figures = {"training_sprites.png": lambda: training_sprites_figure(),
               "samples_per_class.png": lambda: samples_figure(model, sched),
               "unet.png": lambda: unet_figure(model),
               "loss_curve.png": lambda: loss_figure(),
               "denoising_strip.png": lambda: denoising_figure(model, sched)}
    paths = []
    for name, make in figures.items():
        start = time.perf_counter()
        png = figure_png(make(), dpi=110)
        with atomic_write(out / name) as f:
            f.write(png)
        paths.append(out / name)
        log(f"wrote {out / name} ({time.perf_counter() - start:.1f} s)")
    return paths


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m course_lib.gallery", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT),
                        help="folder for the PNGs (default: out/gallery; the README's are in docs/gallery)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    make_gallery(args.out, args.device)


if __name__ == "__main__":
    main()
