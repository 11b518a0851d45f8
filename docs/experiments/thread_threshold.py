"""Where a sampling call stops being "small": DDIM-10 with the shipped model at several batch sizes, on
one thread and on torch's default count, idle and while every core runs a competing process.
This is what precision.SMALL_CALL_SPRITES rests on.

Run from the repository root:  python docs/experiments/thread_threshold.py > docs/results/thread_threshold.md
"""
import contextlib

import torch

from course_lib.bench import machine_description
from course_lib.latency import competing_load, median_seconds
from course_lib.precision import set_threads
from course_lib.pretrained import load_pretrained
from course_lib.samplers import sample_ddim

BATCHES = (8, 16, 32, 64, 128)


def seconds(model, sched, batch, threads, repeats=3):
    """Median seconds of DDIM-10 for `batch` sprites (one-hot contexts) on `threads` threads."""
    context = torch.eye(model.n_cfeat)[torch.arange(batch) % model.n_cfeat]  # (batch, 5)
    set_threads(threads)
    try:
        return median_seconds(lambda: sample_ddim(model, sched, n=batch, steps=10, context=context,
                                                   generator=torch.Generator().manual_seed(0)), repeats)
    finally:
        set_threads(None)


def main():
    model, sched = load_pretrained()
    default = torch.get_num_threads()
    times = {}
    for phase, load in (("idle", contextlib.nullcontext()), ("busy", competing_load())):
        with load:
            for batch in BATCHES:
                for threads in (1, default):
                    times[phase, batch, threads] = seconds(model, sched, batch, threads)
    print(f"Machine: {machine_description()}\n")
    print("DDIM-10, median of 3 calls after a warm-up; busy: one competing process per core\n")
    print(f"| sprites | idle, 1 thread | idle, {default} threads | idle gain of {default} threads | "
          f"busy, 1 thread | busy, {default} threads | busy loss of {default} threads |")
    print("|---|---|---|---|---|---|---|")
    for b in BATCHES:
        i1, i2, b1, b2 = (times[p, b, t] for p in ("idle", "busy") for t in (1, default))
        print(f"| {b} | {i1:.3f} s | {i2:.3f} s | {i1 / i2:.2f}x | {b1:.3f} s | {b2:.3f} s | {b2 / b1:.1f}x |")


if __name__ == "__main__":
    main()
