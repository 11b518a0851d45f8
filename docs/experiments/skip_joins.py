"""Concatenated against added skip connections (course_lib/skip_joins.py), 3 seeds each: the segmentation
U-Net at 8, 32 and 128 training composites (held-out IoU), and the live noise recipe (held-out loss, FID,
context accuracy) after the same optimizer steps. Writes the tables to stdout and the loss curves to
docs/results/skip_joins.png.

Run from the repository root (about 25 minutes on a 2-core CPU):
    python docs/experiments/skip_joins.py > docs/results/skip_joins.md
"""
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from course_lib.bench import machine_description  # noqa: E402
from course_lib.model import SKIP_JOINS  # noqa: E402
from course_lib.skip_joins import noise_runs, parameter_counts, segmentation_runs, spread  # noqa: E402

SEEDS = (0, 1, 2)
TRAIN_SIZES = (8, 32, 128)
NOISE_STEPS = 500
FIGURE = "docs/results/skip_joins.png"


def smooth(losses, width=25):
    """Running mean over `width` steps."""
    return np.convolve(losses, np.ones(width) / width, mode="valid")


def main():
    counts = parameter_counts()
    print(f"Machine: {machine_description()}. Seeds {', '.join(map(str, SEEDS))}; each cell is the mean over the "
          "seeds, with the lowest and highest in brackets.\n")
    print("Parameters: " + "; ".join(f"{join}: {seg:,} (segmentation U-Net, n_feat 16), {noise:,} (noise U-Net, "
                                     f"n_feat 32)" for join, (seg, noise) in counts.items()) + ".\n")
    seg = segmentation_runs(TRAIN_SIZES, SEEDS)
    print("## Segmentation: held-out IoU (500 composites), 200 steps\n")
    print("| training composites | " + " | ".join(SKIP_JOINS) + " | seconds (" + ", ".join(SKIP_JOINS) + ") |")
    print("|---:|" + "---:|" * (len(SKIP_JOINS) + 1))
    for n in TRAIN_SIZES:
        cells = ["{:.3f} [{:.3f}, {:.3f}]".format(*spread(seg, "iou", join=j, train_size=n)) for j in SKIP_JOINS]
        seconds = ", ".join(f"{spread(seg, 'seconds', join=j, train_size=n)[0]:.0f}" for j in SKIP_JOINS)
        print(f"| {n} | " + " | ".join(cells) + f" | {seconds} |", flush=True)
    noise = noise_runs(SEEDS, steps=NOISE_STEPS)
    print(f"\n## Noise: the live recipe's first two changes, {NOISE_STEPS} steps of 64 sprites (DDIM-25, guidance 2, n 250)\n")
    print("| join | held-out loss | sprite FID | context accuracy | seconds |")
    print("|---|---:|---:|---:|---:|")
    for join in SKIP_JOINS:
        cells = [spread(noise, key, join=join) for key in ("held_out_loss", "fid", "accuracy", "seconds")]
        print(f"| {join} | " + " | ".join(f"{m:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]" for (m, lo, hi), d in
                                          zip(cells[:3], (4, 2, 2))) + f" | {cells[3][0]:.0f} |", flush=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for join, colour in zip(SKIP_JOINS, ("tab:blue", "tab:orange")):
        for i, row in enumerate(r for r in seg if r["join"] == join and r["train_size"] == 32):
            axes[0].plot(smooth(row["losses"]), color=colour, alpha=0.8, label=join if i == 0 else None)
        for i, row in enumerate(r for r in noise if r["join"] == join):
            axes[1].plot(smooth(row["losses"]), color=colour, alpha=0.8, label=join if i == 0 else None)
    axes[0].set(title="segmentation, 32 composites", xlabel="step", ylabel="BCE + Dice (running mean)")
    axes[1].set(title="noise, live recipe", xlabel="step", ylabel="loss (running mean)", yscale="log")
    for ax in axes:
        ax.legend(title="skips")
    fig.tight_layout()
    fig.savefig(FIGURE, dpi=90)
    print("\nLoss curves of every seed (segmentation at 32 composites; noise): ![loss curves](skip_joins.png)")


if __name__ == "__main__":
    main()
