"""Is it how captions are combined? Held-out pairs ("blue mushroom") and mixes ("mushroom, ghost")
sampled two ways from the same noise: as one context vector, as the model was trained and as the
README's table measures them, and composed: each part gets its own guidance direction (Composable
Diffusion, Liu et al. 2022, eq. 10 with equal weights):

    one vector:  ε = ε(x, ∅) + (1 + w) (ε(x, c) − ε(x, ∅)),            c = encode_caption(caption)
    composed:    ε = ε(x, ∅) + (1 + w) Σ_p (ε(x, c_p) − ε(x, ∅)),      c_p = encode_caption(part p)

where the parts of a held-out pair are its two words and those of a mix its two captions. If the
composed column is far above the other, the model knows each part and only the one-vector encoding
fails to combine them; if both are low, the model does not draw what a part asks for.

Run from the repository root (about 5 minutes on two cores):
    python docs/experiments/caption_composition.py > docs/results/caption_composition.md
"""
import torch

from course_lib.bench import machine_description
from course_lib.caption_metrics import (PROMPT_SETS, asked_attributes, load_caption_classifier, predict_attributes,
                                        score_prompt)
from course_lib.captions import caption_words, encode_caption
from course_lib.pretrained import WEIGHTS_DIR, load_pretrained, manifest_entry
from course_lib.samplers import sample_ddim

N, STEPS, GUIDANCE, SEED = 200, 10, 2.0, 0


def sample_composed(model, sched, parts):
    """N sprites by DDIM (STEPS, eta 0) with ε = ε(∅) + (1 + GUIDANCE) Σ_p (ε(c_p) − ε(∅)), from SEED's noise:
    the samplers' composed guidance with equal shares 1/P and w = P (1 + GUIDANCE) − 1."""
    shares = torch.full((len(parts),), 1 / len(parts))
    return sample_ddim(model, sched, n=N, steps=STEPS, context=torch.stack(parts), context_shares=shares,
                       guidance=len(parts) * (1 + GUIDANCE) - 1, generator=torch.Generator().manual_seed(SEED),
                       precision="fp32").images.clamp(-1, 1)


def parts_of(caption):
    """The parts to compose: a mix's captions, or a one-part caption's words."""
    parts = caption_words(caption)
    texts = [" ".join(words) for words, _ in parts] if len(parts) > 1 else parts[0][0]
    return [encode_caption(text) for text in texts]


def main():
    model, sched = load_pretrained("captions")  # in eval mode
    classifier = load_caption_classifier()
    steps = manifest_entry(WEIGHTS_DIR / "caption_unet.pt")["steps"]
    print(f"Machine: {machine_description()}; caption model after {steps:,} training steps; "
          f"DDIM {STEPS}, guidance {GUIDANCE:g}, n = {N} per caption, seed {SEED}\n")
    print("Share of samples with every named attribute right (a mix: both kinds found).\n")
    print("| caption | one vector | composed |\n|---|---|---|")
    for caption in PROMPT_SETS["held-out"] + PROMPT_SETS["mixes"]:
        shares = []
        for parts in ([encode_caption(caption)], parts_of(caption)):
            hits = score_prompt(predict_attributes(classifier, sample_composed(model, sched, parts)),
                                asked_attributes(caption))
            shares.append(hits["all"].double().mean().item())
        print(f"| {caption} | {shares[0]:.0%} | {shares[1]:.0%} |")


if __name__ == "__main__":
    main()
