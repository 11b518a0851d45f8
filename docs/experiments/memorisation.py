"""Data diversity and memorisation (course_lib/memorisation.py): the live recipe's first two changes,
1,250 steps of 64 (of 16 on 16 sprites: a batch holds each sprite once at most), trained on the first 16,
128, 1,024 and 8,000 sprites of the generator; per size, 250 DDIM-50 samples at guidance 2:
the share of copies, their distance to the nearest training sprite beside a new sprite's, and FID against
sprites none of them saw. Keeps ten samples per size (two per class, uint8) in
data/snapshots/memorisation.npz for notebook 02, which sets them beside their nearest training sprites.

Run from the repository root (about 15 minutes on a 2-core CPU):
    python docs/experiments/memorisation.py > docs/results/memorisation.md
"""
import time
from pathlib import Path

import numpy as np

from course_lib.bench import machine_description
from course_lib.checkpoint import atomic_write
from course_lib.data import to_uint8
from course_lib.memorisation import DATA_SIZES, memorisation_row, train_on_subset

OUT = Path("data/snapshots/memorisation.npz")
SHOWN = [0, 5, 1, 6, 2, 7, 3, 8, 4, 9]  # two samples of each class, in class order (sample i has class i % 5)


def main():
    print(f"Machine: {machine_description()}. Live recipe's first two changes (n_feat 32, predicts x0, t by "
          "log-SNR; context dropout 0.1), 1,250 steps of 64 sprites (16 on 16 sprites), seed 0; 250 samples (DDIM-50, guidance 2, 50 per class) per run.\n")
    print("| training sprites | epochs | copies: samples | copies: new sprites | nearest training sprite: "
          "samples | nearest: new sprites | closest training pair | sprite FID | train s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    shown = []
    for n in DATA_SIZES:
        started = time.perf_counter()
        model, training = train_on_subset(n)
        seconds = time.perf_counter() - started
        row, samples = memorisation_row(model, training)
        shown.append(to_uint8(samples[SHOWN]))
        print(f"| {n:,} | {1250 * min(64, n) / n:,.0f} | {row['copies']:.0%} | {row['new_sprites_copies']:.0%} | "
              f"{row['nearest_pixel_distance']:.2f} | "
              f"{row['new_sprites_nearest']:.2f} | {row['closest_training_pair']:.2f} | {row['fid']:.2f} | "
              f"{seconds:.0f} |", flush=True)
    with atomic_write(OUT) as f:
        np.savez_compressed(f, sizes=np.asarray(DATA_SIZES), samples=np.stack(shown))  # (sizes, 10, 16, 16, 3)


if __name__ == "__main__":
    main()
