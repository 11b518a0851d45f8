"""Can the mix judge be trusted? A two-caption mix "A, B" counts as found in a sprite when the attribute
classifier names kind A for one half of it and kind B for the other (split top/bottom or left/right).
For each mix of the README's "mixes" set, the share of sprites found: in real hybrids of the two kinds
(a judge that sees both kinds takes this near 100%), in real sprites of one kind and in samples of one
caption alone (near 0%, or the judge would flatter the mixes row), and in samples of the mix.

Run from the repository root (about 3 minutes on one core):
    python docs/experiments/mix_judge.py > docs/results/mix_judge.md
"""
import torch

from course_lib.bench import machine_description
from course_lib.caption_metrics import (PROMPT_SETS, asked_attributes, load_caption_classifier, predict_attributes,
                                        real_sprites_for, score_prompt)
from course_lib.metrics import HELDOUT_SEED
from course_lib.captions import caption_words, encode_caption
from course_lib.data import to_model_space
from course_lib.pretrained import WEIGHTS_DIR, load_pretrained, manifest_entry
from course_lib.samplers import sample_ddim

N, STEPS, GUIDANCE, SEED = 250, 10, 2.0, 0


def found_share(classifier, images, mix):
    """Share of images (N, 3, 16, 16) in which the classifier finds both kinds of `mix`."""
    hits = score_prompt(predict_attributes(classifier, images), asked_attributes(mix))["both_kinds"]  # (N,) bool
    return hits.double().mean().item()


def samples_of(model, sched, caption):
    """N samples of `caption` (DDIM STEPS, GUIDANCE, SEED), clamped to [-1, 1] as evaluate's are."""
    return sample_ddim(model, sched, n=N, steps=STEPS, context=encode_caption(caption).expand(N, -1),  # (N, V)
                       guidance=GUIDANCE, generator=torch.Generator().manual_seed(SEED)).images.clamp(-1, 1)


def main():
    model, sched = load_pretrained("captions")
    classifier = load_caption_classifier()
    steps = manifest_entry(WEIGHTS_DIR / "caption_unet.pt")["steps"]
    print(f"Machine: {machine_description()}; caption model after {steps:,} training steps; "
          f"DDIM {STEPS}, guidance {GUIDANCE:g}, n = {N} per cell, seed {SEED}; real sprites of seed {HELDOUT_SEED}\n")
    print("| mix | real hybrids | real sprites of A | real sprites of B | samples of A | samples of B | "
          "samples of the mix |\n|---|---|---|---|---|---|---|")
    for mix in PROMPT_SETS["mixes"]:
        (a, _), (b, _) = caption_words(mix)
        a, b = " ".join(a), " ".join(b)
        cells = [to_model_space(real_sprites_for(caption, N, seed=HELDOUT_SEED)) for caption in (mix, a, b)]
        cells += [samples_of(model, sched, caption) for caption in (a, b, mix)]
        shares = " | ".join(f"{found_share(classifier, images, mix):.1%}" for images in cells)
        print(f"| {mix} (A = {a}, B = {b}) | {shares} |")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
