"""Pictures: sprite grids (as arrays, PNG files or matplotlib figures) and denoising animations.

Display maps [-1, 1] to [0, 1] with (x + 1) / 2 and clips, never per-image stretching.
"""
import io

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import animation
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from PIL import Image

from .checkpoint import atomic_write
from .data import to_uint8
from .samplers import SAMPLER_LABELS


def check_grid_layout(nrow, scale):
    """ValueError unless nrow (sprites per row) and scale (screen pixels per sprite pixel) are integers >= 1."""
    for name, value, meaning in (("nrow", nrow, "sprites per row"), ("scale", scale, "screen pixels per sprite pixel")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} ({meaning}) must be a positive integer, got {value!r}")


def grid_array(images, nrow=8, pad=1, scale=1):
    """Tile float images (N, 3, H, W) in [-1, 1] into one uint8 picture (rows·H, cols·W, 3), white gaps."""
    check_grid_layout(nrow, scale)
    pixels = to_uint8(images)  # (N, H, W, 3)
    n, h, w, _ = pixels.shape
    ncol = min(nrow, max(n, 1))
    nrows = -(-n // ncol)
    grid = np.full((nrows * (h + pad) + pad, ncol * (w + pad) + pad, 3), 255, np.uint8)
    for i, sprite in enumerate(pixels):
        r, c = divmod(i, ncol)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = sprite
    return grid.repeat(scale, 0).repeat(scale, 1)  # nearest-neighbour up-scaling keeps the pixels crisp


def save_png(array, path):
    """Write a uint8 (H, W, 3) picture to `path` atomically."""
    with atomic_write(path) as f:
        Image.fromarray(array).save(f, format="PNG")


def to_display(images):
    """Float images (N, 3, H, W) in [-1, 1] -> float array (N, H, W, 3) in [0, 1]: (x + 1) / 2, clipped."""
    x = torch.as_tensor(images).detach().to("cpu", torch.float32)
    return ((x + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).numpy()  # (N, H, W, 3)


def png_bytes(array):
    """PNG-encode a uint8 picture (H, W, 3) or (H, W): what an ``ipywidgets.Image`` shows."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def figure_png(fig, dpi=100):
    """Render a matplotlib figure to PNG bytes and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def show_grid(images, nrow=8, title=None, ax=None, row_labels=None, scale=None, col_labels=None):
    """Show float images (N, 3, H, W) in [-1, 1] as a grid on `ax` (a new figure if None); returns the figure.

    ``row_labels`` puts a label left of each row (e.g. a sampler), ``col_labels`` one above each column
    (e.g. a class; a run of equal labels is written once, over the middle of its columns); pixels stay
    crisp (no smoothing). A new figure gives each sprite `scale` inches
    (default: 0.6 to 1, so that a sprite stays large enough to read on a projector).
    """
    grid = grid_array(images, nrow=nrow)
    h, w = torch.as_tensor(images).shape[2:]
    if ax is None:
        rows, cols = grid.shape[0] / (h + 1), grid.shape[1] / (w + 1)
        size = scale or max(0.6, min(1.0, 9 / max(cols, 1)))
        _, ax = plt.subplots(figsize=(cols * size + (1.2 if row_labels else 0),
                                      rows * size + (0.4 if title else 0) + (0.3 if col_labels else 0)))
    ax.imshow(grid, interpolation="nearest")
    ax.set_xticks([])
    if col_labels:
        runs = _runs(col_labels)
        centres = [(w + 1) * (i + j - 1) / 2 + (w + 1) / 2 for i, j in runs]  # pixel centres of each run
        ax.set_xticks(centres, [col_labels[i] for i, _ in runs])
        ax.xaxis.tick_top()
        ax.tick_params(top=False, labelsize=9)
    if row_labels:
        ax.set_yticks([1 + (h + 1) * i + h / 2 for i in range(len(row_labels))], row_labels)
        ax.tick_params(left=False)
    else:
        ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title)
    return ax.figure


def _runs(labels):
    """(start, end) index pairs of the runs of equal neighbours in `labels`: "a a b" -> (0, 2), (2, 3)."""
    starts = [i for i in range(len(labels)) if i == 0 or labels[i] != labels[i - 1]]
    return list(zip(starts, starts[1:] + [len(labels)]))


def compare_grids(panels, nrow=8, suptitle=None, scale=None, per_row=None):
    """Several image grids side by side: ``panels`` maps a title to images (N, 3, H, W); returns the figure.

    `per_row` panels in a row (default: all); each sprite gets `scale` inches (default 0.8), and a panel
    is made at least as wide as its title, so that titles do not run into each other.
    """
    panels = list(panels.items())
    per_row = per_row or len(panels)
    size = scale or 0.8
    inches = [np.array(grid_array(images, nrow=nrow).shape[:2]) / 17 * size for _, images in panels]  # (h, w)
    title_inches = [0.09 * max(map(len, title.splitlines())) + 0.2 for title, _ in panels]  # about 10 pt text
    widths = [max(w, t) for (h, w), t in zip(inches, title_inches)]
    n_rows = -(-len(panels) // per_row)
    row_widths = [sum(widths[r * per_row:(r + 1) * per_row]) for r in range(n_rows)]
    title_lines = max(len(title.splitlines()) for title, _ in panels)
    height = n_rows * (max(h for h, w in inches) + 0.2 * title_lines + 0.2) + (0.4 if suptitle else 0)
    fig, axes = plt.subplots(n_rows, per_row, figsize=(max(row_widths) + 0.2 * per_row, height), squeeze=False,
                             gridspec_kw={"width_ratios": widths[:per_row]})
    for ax, (title, images) in zip(axes.flat, panels):
        show_grid(images, nrow=nrow, title=title, ax=ax)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def smooth(values, window=50):
    """Moving average over `window` points ('valid' part only: len(values) - window + 1 points)."""
    values = np.asarray(values, np.float64)
    window = max(1, min(int(window), len(values)))
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


LOSS_LABELS = {"eps": r"MSE($\varepsilon$, $\hat\varepsilon$)", "x0": r"MSE($x_0$, $\hat x_0$)", "v": r"MSE($v$, $\hat v$)"}


def plot_losses(losses, window=None, ax=None, title="training loss", log=True, prediction="eps"):
    """Per-step losses (faint) and their moving average; the x axis counts optimizer steps, the y axis names
    the loss of a network that predicts `prediction`. Returns the figure."""
    losses = np.asarray(losses, np.float64)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    if len(losses):
        window = window or max(1, len(losses) // 50)
        steps = np.arange(1, len(losses) + 1)
        ax.plot(steps, losses, color="tab:blue", alpha=0.25, lw=0.8, label="per step")
        if window > 1 and len(losses) >= window:
            ax.plot(steps[window - 1:], smooth(losses, window), color="tab:blue", lw=2,
                    label=f"mean of {window} steps")
        ax.legend(loc="upper right", frameon=False)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(LOSS_LABELS[prediction])
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    return ax.figure


def training_progress_figure(losses, snapshots, nrow=None, max_rows=6, col_labels=None, prediction="eps"):
    """Loss curve on the left (of a network that predicts `prediction`); on the right one row of samples per
    snapshot (epoch, images (n, 3, H, W)), with `col_labels` (e.g. the class of each column) above the columns.

    With more than `max_rows` snapshots, shows the first, the last and evenly spaced ones between.
    """
    fig, (ax_loss, ax_img) = plt.subplots(1, 2, figsize=(12, 4.4), gridspec_kw={"width_ratios": [1, 1.35]})
    plot_losses(losses, ax=ax_loss, prediction=prediction)
    if len(snapshots) > max_rows:
        keep = np.unique(np.linspace(0, len(snapshots) - 1, max_rows).round().astype(int))
        snapshots = [snapshots[i] for i in keep]
    if snapshots:
        images = torch.cat([torch.as_tensor(s[1]) for s in snapshots])
        n = nrow or len(snapshots[0][1])
        show_grid(images, nrow=n, ax=ax_img, row_labels=[f"epoch {e:g}" for e, _ in snapshots],
                  col_labels=col_labels, title="samples from the same starting noise, by epoch")
    else:
        ax_img.axis("off")
    fig.tight_layout()
    return fig


def plot_schedule(sched, t=None, ax=None):
    """ᾱ_t (signal share) and 1 − ᾱ_t (noise share) against t, with the SNR on a log axis; marks step t."""
    ab = sched.alpha_bars.detach().cpu().double().numpy()
    steps = np.arange(len(ab))
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(steps, ab, label="ᾱ_t  (signal variance)", color="tab:green")
    ax.plot(steps, 1 - ab, label="1 − ᾱ_t  (noise variance)", color="tab:red")
    ax.set_xlabel("t")
    ax.set_ylabel("share of x_t's variance")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(0, len(ab) - 1)
    snr_ax = ax.twinx()
    with np.errstate(divide="ignore"):
        snr = ab[1:] / (1 - ab[1:])
    snr_ax.semilogy(steps[1:], snr, color="tab:gray", ls="--", label="SNR = ᾱ_t / (1 − ᾱ_t)")
    snr_ax.set_ylabel("SNR (log)")
    if t is not None:
        ax.axvline(t, color="black", lw=1)
        ax.plot([t], [ab[t]], "o", color="tab:green")
    lines = ax.get_lines()[:2] + snr_ax.get_lines()[:1]
    ax.legend(lines, [line.get_label() for line in lines], loc="center right", frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return ax.figure


def compare_schedules(schedules):
    """ᾱ_t and log-SNR = log(ᾱ_t / (1 − ᾱ_t)) against t for each of `schedules` ({name: NoiseSchedule}),
    side by side. Returns the figure."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.4))
    for name, sched in schedules.items():
        ab = sched.alpha_bars.detach().cpu().double().numpy()
        steps = np.arange(len(ab))
        ax1.plot(steps, ab, label=name)
        ax2.plot(steps[1:], np.log(ab[1:] / (1 - ab[1:])), label=name)
    ax1.set_ylabel("ᾱ_t (signal variance)")
    ax2.set_ylabel("log-SNR = log(ᾱ_t / (1 − ᾱ_t))")
    for ax in (ax1, ax2):
        ax.set_xlabel("t")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def noising_strip(x0, sched, steps, noise):
    """x_t for each t in `steps` (t = 0: the clean sprite): (len(steps), N, 3, H, W), one noise for all t."""
    rows = []
    for t in steps:
        if t == 0:
            rows.append(x0)
        else:
            rows.append(sched.add_noise(x0, torch.full((len(x0),), int(t), dtype=torch.long), noise))
    return torch.stack(rows)


def show_strip(frames, steps, ax=None, title=None, label="t"):
    """Frames (F, N, 3, H, W) as a picture with one column per frame (labelled by step), one row per sprite."""
    frames = torch.as_tensor(frames)
    f, n = frames.shape[:2]
    images = frames.transpose(0, 1).reshape(f * n, *frames.shape[2:])  # (N·F, 3, H, W), row = one sprite
    if ax is None:
        _, ax = plt.subplots(figsize=(0.75 * f + 0.3, 0.75 * n + 0.6))
    show_grid(images, nrow=f, ax=ax, title=title)
    h = frames.shape[3]
    ax.set_xticks([1 + (h + 1) * i + h / 2 for i in range(f)], [f"{label}={s}" for s in steps], fontsize=8)
    ax.tick_params(bottom=False)
    return ax.figure


def denoise_animation(frames, x0_frames=None, steps=None, nrow=None, interval=150, scale=0.45):
    """An animation of sampling: x_t (and, if given, the predicted x̂_0) at each recorded step.

    frames, x0_frames: (F, n, 3, H, W) as in ``SampleResult.frames``/``x0_frames``; steps: the F step
    numbers (``SampleResult.frame_steps``). The figure is closed before returning (so it is not also
    shown as a still): display with ``HTML(anim.to_jshtml())``.
    """
    frames = torch.as_tensor(frames)
    panels = [("x_t", frames)] + ([("predicted x̂_0", torch.as_tensor(x0_frames))] if x0_frames is not None else [])
    n = frames.shape[1]
    nrow = nrow or min(n, 8)
    first = grid_array(frames[0], nrow=nrow)
    gh, gw = first.shape[:2]
    fig, axes = plt.subplots(1, len(panels), figsize=(len(panels) * gw / 17 * scale * 1.1 + 0.3,
                                                      gh / 17 * scale * 1.1 + 0.7), squeeze=False)
    shown = []
    for ax, (name, data) in zip(axes[0], panels):
        shown.append(ax.imshow(grid_array(data[0], nrow=nrow), interpolation="nearest"))
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    label = fig.suptitle("")
    steps = list(steps) if steps is not None else list(range(len(frames)))

    def update(i):
        for image, (_, data) in zip(shown, panels):
            image.set_data(grid_array(data[i], nrow=nrow))
        label.set_text(f"t = {steps[i]}" + ("  (done)" if steps[i] == 0 else ""))
        return shown + [label]

    update(0)
    fig.tight_layout()
    anim = animation.FuncAnimation(fig, update, frames=len(frames), interval=interval, blit=False)
    plt.close(fig)
    return anim


def feature_grid(maps, ncol=8, scale=4, pad=1):
    """Channel maps (C, h, w) -> uint8 picture, one tile per channel, in a sequential colormap (viridis).

    Feature maps are not images: they are coloured with viridis on one scale shared by all tiles
    (dark: low, yellow: high; the range spans the 1st to 99.5th percentile of all tiles), so tiles can be compared with each other.
    """
    maps = torch.as_tensor(maps).detach().float().cpu()
    c, h, w = maps.shape
    low, high = np.percentile(maps.numpy(), [1, 99.5])  # one robust range for all tiles
    scaled = np.clip((maps.numpy() - low) / ((high - low) or 1.0), 0, 1)
    colours = matplotlib.colormaps["viridis"](scaled)[..., :3]  # (C, h, w, 3)
    ncol = min(ncol, c)
    nrows = -(-c // ncol)
    grid = np.full((nrows * (h + pad) + pad, ncol * (w + pad) + pad, 3), 255, np.uint8)
    for i in range(c):
        r, col = divmod(i, ncol)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h,
             pad + col * (w + pad):pad + col * (w + pad) + w] = (colours[i] * 255).round().astype(np.uint8)
    return grid.repeat(scale, 0).repeat(scale, 1)


def _box(ax, x, y, w, h, text, colour, fontsize=8):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                fc=colour, ec="#333333", lw=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, colour="#333333", style="-|>", ls="-", rad=0.0, lw=1.3):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=colour, ls=ls, lw=lw,
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=2, shrinkB=2))


def draw_unet(rows, input_shape=(1, 3, 16, 16), ax=None):
    """Draw ContextUnet as boxes and arrows, labelled with the shapes from ``trace_shapes(model, x)``.

    Encoder down the left (each level halves H, W and raises channels), the bottleneck at the
    bottom, the decoder up the right (transposed convs double H, W); dashed arrows are the skip
    connections (concatenated into the decoder); the time and context embeddings enter the
    decoder as ``cemb * h + temb``. Returns the figure.
    """
    info = {name: (shape, params) for name, shape, params in rows}
    needed = ("init_conv", "down1", "down2", "to_vec", "up0", "up1", "up2", "out")
    missing = [name for name in needed if name not in info]
    if missing:
        raise ValueError(f"rows lack the blocks {missing}: pass trace_shapes(model, x) of a ContextUnet")

    def label(name, what):
        shape, params = info[name]
        dims = "×".join(str(d) for d in shape[1:])
        return f"{name}\n{what}\n{dims}\n{params:,} params"

    if ax is None:
        _, ax = plt.subplots(figsize=(11.5, 6.6))
    ax.set_xlim(-0.5, 12.3)
    ax.set_ylim(-0.9, 7.6)
    ax.axis("off")
    enc, dec, w, h = "#cfe3f7", "#f9dcc4", 2.0, 1.0
    cin = "×".join(str(d) for d in input_shape[1:])
    cout = "×".join(str(d) for d in info["out"][0][1:])
    xe, xd, xo = 1.3, 7.9, 10.7  # encoder, decoder and output columns
    _box(ax, xe, 6.9, w, 0.6, f"$x_t$  {cin}", "#eeeeee", 9)
    _box(ax, xe, 5.4, w, h, label("init_conv", "residual conv block"), enc, 7)
    _box(ax, xe, 3.8, w, h, label("down1", "2 conv blocks + max-pool"), enc, 7)
    _box(ax, xe, 2.2, w, h, label("down2", "2 conv blocks + max-pool"), enc, 7)
    _box(ax, 4.6, 0.3, 2.4, 0.9, label("to_vec", "average pool + GELU"), "#e2d4f0", 7)
    _box(ax, xd, 2.2, w, h, label("up0", "transposed conv"), dec, 7)
    _box(ax, xd, 3.8, w, h, label("up1", "concat, up-conv, 2 blocks"), dec, 7)
    _box(ax, xd, 5.4, w, h, label("up2", "concat, up-conv, 2 blocks"), dec, 7)
    _box(ax, xo, 5.4, 1.9, h, label("out", "concat, 2 convs"), dec, 7)
    _box(ax, xo, 6.9, 1.9, 0.6, rf"$\hat\varepsilon$  {cout}", "#eeeeee", 9)
    # main path
    _arrow(ax, (xe, 6.6), (xe, 5.9))
    _arrow(ax, (xe, 4.9), (xe, 4.3))
    _arrow(ax, (xe, 3.3), (xe, 2.7))
    _arrow(ax, (xe, 1.7), (3.4, 0.35), rad=0.2)
    _arrow(ax, (5.8, 0.35), (xd, 1.7), rad=0.2)
    _arrow(ax, (xd, 2.7), (xd, 3.3))
    _arrow(ax, (xd, 4.3), (xd, 4.9))
    _arrow(ax, (xd + 1.0, 5.4), (xo - 0.95, 5.4))
    _arrow(ax, (xo, 5.9), (xo, 6.6))
    # skip connections: encoder features concatenated into the decoder
    skip = "tab:green"
    _arrow(ax, (xe + 1.0, 2.2), (xd - 1.0, 3.65), skip, ls="--", lw=1.6)
    _arrow(ax, (xe + 1.0, 3.8), (xd - 1.0, 5.25), skip, ls="--", lw=1.6)
    _arrow(ax, (xe + 1.0, 5.6), (xo - 0.8, 5.9), skip, ls="--", lw=1.6, rad=-0.16)
    ax.text(5.9, 7.25, "skip connections (dashed): encoder features are concatenated into the decoder",
            color=skip, fontsize=8, ha="center")
    # embeddings enter the decoder from the right
    emb = "tab:purple"
    emb_params = sum(params for name, (shape, params) in info.items() if "embed" in name)
    _box(ax, xo + 0.1, 3.0, 2.2, 1.2, f"t/T → timeembed1, 2\nc → contextembed1, 2\n{emb_params:,} params\n\n"
         "h ← cemb · h + temb", "#efe6f7", 7)
    _arrow(ax, (xo - 1.0, 3.2), (xd + 1.0, 3.7), emb)
    _arrow(ax, (xo - 0.6, 3.5), (xd + 1.0, 5.1), emb)
    ax.text(xo + 0.1, 2.25, "scale by the context,\nshift by the time,\nbefore up1 and up2", color=emb,
            fontsize=7, ha="center", va="top")
    for y, name in ((5.4, "init_conv"), (3.8, "down1"), (2.2, "down2")):
        hw = info[name][0][2:]
        ax.text(-0.3, y, f"{hw[0]}×{hw[1]}", ha="center", va="center", fontsize=8, color="#555555", rotation=90)
    ax.text(xe, -0.55, "encoder: halve H, W; raise channels", ha="center", fontsize=9, color="#1f4e79")
    ax.text(xd + 0.6, -0.55, "decoder: double H, W; back to 3 channels", ha="center", fontsize=9, color="#8a4b14")
    total = sum(params for shape, params in info.values())
    ax.set_title(f"ContextUnet, {total:,} parameters: input and output are both {cin}", fontsize=11)
    return ax.figure


# ---- chapters 3 and 4


def plot_quality_vs_steps(curves, ax=None, ylabel="sprite FID (lower is better)", title=None, reference=None):
    """Quality against sampling steps: ``curves`` maps a sampler name to (steps, values), as
    ``widgets.quality_curves`` returns them. Log-scaled steps; ``reference`` draws a dashed line
    (e.g. the FID of real sprites against real sprites). Returns the figure."""
    labels = {**SAMPLER_LABELS, "ddim": "DDIM (η = 0)"}
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.6))
    for sampler, (steps, values) in curves.items():
        ax.plot(steps, values, "o-", label=labels.get(sampler, sampler))
    if reference is not None:
        ax.axhline(reference, color="grey", ls="--", lw=1, label="real vs real sprites")
    ax.set_xscale("log")
    ax.set_xlabel("sampling steps (network calls)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return ax.figure
