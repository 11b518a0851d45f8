"""Predicting ε, x₀ or v, side by side: notebook 02's live run as the pictures were recorded (n_feat 32,
without the context's FiLM layers, context dropout 0.1, 8,000 sprites, 1,250 steps of 64, t uniform as the
course draws it) trained once per target from the same seed, its sample grid recorded after every epoch
from the same noise (progress_snapshots). The grids are small pictures, not weights: notebook 02 shows
them as data/snapshots/target_{eps,x0,v}.snapshots.npz. Their scores over 3 seeds are the rows course,
x0 and v of docs/training_recipe.md.

Run from the repository root (about 10 minutes on a 2-core CPU):
    python docs/experiments/prediction_targets.py
"""
import time
from pathlib import Path

import torch

from course_lib.bench import machine_description
from course_lib.data import SpriteDataset
from course_lib.progress_snapshots import SnapshotRecorder
from course_lib.schedule import PREDICTION_TARGETS, NoiseSchedule
from course_lib.training import PRESETS, preset_config, preset_model, train

OUT = Path("data/snapshots")


def main():
    sched = NoiseSchedule()
    data = SpriteDataset.generated(n=PRESETS["live"].n_sprites, seed=0)
    print(f"Machine: {machine_description()}")
    for target in PREDICTION_TARGETS:
        started = time.perf_counter()
        torch.manual_seed(0)  # the same initial weights (but for the output layer's meaning) for every target
        model = preset_model("live", prediction=target, context_film=False)
        recorder = SnapshotRecorder(OUT / f"target_{target}.snapshots.npz", sched)
        config = preset_config("live", log_snr_normal=None, context_dropout=0.1, seed=0, progress=False)
        result = train(model, sched, data, config, callback=recorder)
        print(f"{target}: {result.step} steps, {time.perf_counter() - started:.0f} s with the snapshots", flush=True)


if __name__ == "__main__":
    main()
