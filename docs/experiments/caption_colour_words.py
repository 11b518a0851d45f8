"""Does a colour word change the colour drawn? For a kind alone ("slime") and the kind with a colour
("slime green"), the share of samples the attribute classifier calls that colour, next to the share of
real sprites of that kind in that colour (the generator's). The difference between the two sampled
columns is what the colour word does; a model that follows colours takes it near 100%.

Run from the repository root (about 2 minutes on one core):
    python docs/experiments/caption_colour_words.py > docs/results/caption_colour_words.md
"""
import numpy as np
import torch

from course_lib.bench import machine_description
from course_lib.caption_metrics import load_caption_classifier, predict_attributes
from course_lib.captions import encode_caption
from course_lib.pretrained import WEIGHTS_DIR, load_pretrained, manifest_entry
from course_lib.samplers import sample_ddim
from course_lib.sprites import COLOUR_NAMES, generate_sprite_attributes

PAIRS = (("slime", "green"), ("slime", "orange"), ("potion", "red"), ("apple", "green"), ("mushroom", "red"),
         ("orb", "blue"))
N, STEPS, GUIDANCE, SEED = 100, 10, 2.0, 0
REAL_N, REAL_SEED = 20_000, 5  # a fresh draw of the generator for the real shares (training used seed 0)


def colour_share(model, sched, classifier, caption, colour):
    """Share of N samples of `caption` (DDIM STEPS, GUIDANCE, SEED) that the classifier calls `colour`."""
    context = encode_caption(caption).expand(N, -1)  # (N, V)
    images = sample_ddim(model, sched, n=N, steps=STEPS, context=context, guidance=GUIDANCE,
                         generator=torch.Generator().manual_seed(SEED)).images
    return (predict_attributes(classifier, images)["colour"] == COLOUR_NAMES.index(colour)).double().mean().item()


def main():
    model, sched = load_pretrained("captions")
    classifier = load_caption_classifier()
    _, attributes = generate_sprite_attributes(REAL_N, seed=REAL_SEED)
    steps = manifest_entry(WEIGHTS_DIR / "caption_unet.pt")["steps"]
    print(f"Machine: {machine_description()}; caption model after {steps:,} training steps; "
          f"DDIM {STEPS}, guidance {GUIDANCE:g}, n = {N} per caption, seed {SEED}\n")
    print("| kind | colour | real sprites of the kind in the colour | samples of the kind alone | "
          "samples of kind + colour |\n|---|---|---|---|---|")
    for kind, colour in PAIRS:
        of_kind = attributes["kind"] == kind
        real = np.mean(attributes["colour"][of_kind] == colour)
        alone = colour_share(model, sched, classifier, kind, colour)
        asked = colour_share(model, sched, classifier, f"{kind} {colour}", colour)
        print(f"| {kind} | {colour} | {real:.0%} | {alone:.0%} | {asked:.0%} |")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
