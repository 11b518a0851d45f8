"""What guidance by a loss does: the shipped model sampled with its figures' mean colour pushed toward a
chosen colour (course_lib/loss_guidance.py), per strength: how close the colour gets, whether the sprite is
still the class asked for (context accuracy) and still a sprite (FID against generated sprites), and what
the gradient through the network costs in time.

Run from the repository root (about 10 minutes on a 2-core CPU):
    python docs/experiments/colour_guidance.py > docs/results/colour_guidance.md
"""
import torch

from course_lib.bench import machine_description
from course_lib.loss_guidance import colour_distance, colour_loss, loss_steer
from course_lib.metrics import (context_accuracy, feature_stats, frechet_distance, load_classifier, reference_stats,
                                sample_in_batches)
from course_lib.pretrained import load_pretrained

N, STEPS, GUIDANCE, SEED = 250, 25, 2.0, 0
STRENGTHS = (0, 30, 100, 300)
COLOURS = {"blue": "#2060e0", "red": "#d02020"}


def main():
    model, sched = load_pretrained()
    classifier = load_classifier()
    classes = torch.arange(N) % 5
    contexts = torch.eye(5)[classes]  # (N, 5): 50 sprites of each class
    reference = reference_stats(classifier, N)
    print(f"Machine: {machine_description()}. Shipped model, DDIM-{STEPS}, classifier-free guidance {GUIDANCE:g}, "
          f"n {N} (50 per class), seed {SEED}; FID against {N} generated sprites (its floor at this n is about "
          "0.35).\n")
    print("| colour | strength | distance to the colour | context accuracy | sprite FID | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, colour in COLOURS.items():
        for strength in STRENGTHS:
            images, seconds = sample_in_batches(model, sched, "ddim", contexts, GUIDANCE, SEED, batch=125,
                                                steps=STEPS, steer=loss_steer(sched, colour_loss(colour), strength))
            fid = frechet_distance(*feature_stats(classifier, images), *reference)
            accuracy = context_accuracy(classifier, images, classes)
            distance = colour_distance(images, colour).mean().item()
            print(f"| {name} {colour} | {strength} | {distance:.2f} | {accuracy:.2f} | {fid:.2f} | {seconds:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
