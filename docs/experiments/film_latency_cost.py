"""What the caption model's FiLM layers cost a learner who types a caption: the caption box's call
(8 sprites, DDIM 10 steps, guidance 2) on the step-29,000 model without them and on the shipped one,
alternated in one run, so that a busy machine slows both alike, each on the thread count sample_ddim
chooses for a call this small (precision.threads_for: one); medians.

Run from the repository root (about 30 seconds):
    mkdir -p out && git show 8781618:data/weights/caption_unet.pt > out/caption_unet_29000.pt
    python docs/experiments/film_latency_cost.py out/caption_unet_29000.pt > docs/results/film_latency_cost.md
"""
import statistics
import sys
import time

import torch

from course_lib.bench import machine_description
from course_lib.captions import encode_caption
from course_lib.pretrained import load_pretrained, load_weights
from course_lib.samplers import sample_ddim

ROUNDS = 10


def main(without_film_path):
    without_film, sched = load_weights(without_film_path)
    models = {"step 29,000, no FiLM": without_film, "shipped, with FiLM": load_pretrained("captions")[0]}
    context = encode_caption("blue potion")
    seconds = {name: [] for name in models}
    for seed in range(ROUNDS):
        for name, model in models.items():
            start = time.perf_counter()
            sample_ddim(model, sched, n=8, steps=10, context=context, guidance=2.0,
                        generator=torch.Generator().manual_seed(seed))
            seconds[name].append(time.perf_counter() - start)
    print(f"Machine: {machine_description()}; {ROUNDS} alternated rounds\n")
    print("| model | median seconds | fastest |\n|---|---|---|")
    for name, times in seconds.items():
        print(f"| {name} | {statistics.median(times):.3f} | {min(times):.3f} |")


if __name__ == "__main__":
    main(sys.argv[1])
