"""How long a learner waits after typing a caption: notebook 03's caption box (8 sprites, DDIM 10 steps,
guidance 2, so 10 network calls on a batch of 16), timed from the new text to the new picture, over
several captions; median and range, with the library's thread choice.

Run from the repository root, with nothing else running:
    python docs/experiments/caption_widget_latency.py > docs/results/caption_widget_latency.md
"""
import os
import statistics
import time

from course_lib.bench import machine_description
from course_lib.caption_widgets import caption_box
from course_lib.precision import threads_for
from course_lib.pretrained import load_pretrained

CAPTIONS = ("blue potion", "red mushroom", "ghost", "hero sword blue", "mushroom, ghost", "yellow bird",
            "purple fireball", "cake")


def main():
    model, sched = load_pretrained("captions")
    box = caption_box(model, sched, caption="red potion", n=8, steps=10, guidance=2.0)  # the first render warms up
    seconds, threads = [], []
    for caption in CAPTIONS:
        threads.append(threads_for(16))  # 8 sprites and their null-context twins, one batch
        start = time.perf_counter()
        box.text.value = caption  # what pressing Enter does: the box samples and redraws
        seconds.append(time.perf_counter() - start)
    print(f"Machine: {machine_description()}; 1-minute load average at the end: {os.getloadavg()[0]:.2f}\n")
    print("| caption | seconds | threads |\n|---|---|---|")
    for caption, s, t in zip(CAPTIONS, seconds, threads):
        print(f"| {caption} | {s:.3f} | {t} |")
    print(f"\nmedian {statistics.median(seconds):.3f} s, range {min(seconds):.3f} to {max(seconds):.3f} s "
          f"(target: under 1 s)")


if __name__ == "__main__":
    main()
