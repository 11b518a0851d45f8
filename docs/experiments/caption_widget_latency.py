"""How long a learner waits after typing a caption: notebook 03's caption box (8 sprites, DDIM 10 steps,
guidance 2, so 10 network calls on a batch of 16; a typed mix, composed at the box's default, on a batch
of 32), timed from the new text to the new picture, over several captions; median and range, with the
library's thread choice. Then the caption mixer at its defaults (guidance 3, compose 0.5: a batch of 32)
as its weight slider moves.

Run from the repository root, with nothing else running:
    python docs/experiments/caption_widget_latency.py > docs/results/caption_widget_latency.md
"""
import os
import statistics
import time

from course_lib.bench import machine_description
from course_lib.caption_widgets import caption_box, caption_mixer
from course_lib.captions import MIX_COMPOSE, caption_conditions
from course_lib.precision import threads_for
from course_lib.pretrained import load_pretrained

CAPTIONS = ("blue potion", "red mushroom", "ghost", "hero sword blue", "mushroom, ghost", "yellow bird",
            "purple fireball", "cake")
MIXER_WEIGHTS = (0.4, 0.6, 0.3, 0.7, 0.5)


def batch_of(caption, n=8):
    """Rows per network call: n sprites for each condition of the caption and n null-context twins."""
    _, shares = caption_conditions(caption, MIX_COMPOSE)
    return n * (2 if shares is None else len(shares) + 1)


def timed(control, values):
    """Seconds from setting control.value to the redrawn picture, per value."""
    seconds = []
    for value in values:
        start = time.perf_counter()
        control.value = value  # what pressing Enter or letting go of a slider does: sample and redraw
        seconds.append(time.perf_counter() - start)
    return seconds


def summary(seconds):
    return f"median {statistics.median(seconds):.3f} s, range {min(seconds):.3f} to {max(seconds):.3f} s"


def main():
    model, sched = load_pretrained("captions")
    box = caption_box(model, sched, caption="red potion", n=8, steps=10, guidance=2.0)  # the first render warms up
    seconds = timed(box.text, CAPTIONS)
    mixer = caption_mixer(model, sched, first="mushroom", second="ghost", n=8, steps=10)
    mixer_seconds = timed(mixer.weight, MIXER_WEIGHTS)
    print(f"Machine: {machine_description()}; 1-minute load average at the end: {os.getloadavg()[0]:.2f}\n")
    print("| caption box: caption | seconds | batch | threads |\n|---|---|---|---|")
    for caption, s in zip(CAPTIONS, seconds):
        print(f"| {caption} | {s:.3f} | {batch_of(caption)} | {threads_for(batch_of(caption))} |")
    print(f"\n{summary(seconds)} (target: under 1 s)\n")
    print("| caption mixer, mushroom and ghost: weight of ghost | seconds | batch | threads |\n|---|---|---|---|")
    for weight, s in zip(MIXER_WEIGHTS, mixer_seconds):
        print(f"| {weight} | {s:.3f} | {batch_of('mushroom, ghost')} | {threads_for(batch_of('mushroom, ghost'))} |")
    print(f"\n{summary(mixer_seconds)}")


if __name__ == "__main__":
    main()
