"""Every kind and colour word of the caption model's vocabulary (CAPTION_COLOURS), alone as a caption: the
share of samples in which the caption classifier finds the word drawn (DDIM-25 by default, guidance 2, seed 0), beside
the classifier's own accuracy on real sprites that show the word (held-out generator sprites, seed
HELDOUT_SEED): how well the judge names the word. Samples can score above it.

Run from the repository root (about 4 minutes on 2 CPU cores with bf16 at n 100):
    python docs/experiments/caption_words.py --n 100 --out docs/results/caption_words.md
--weights scores another caption model (e.g. one being trained) in place of the shipped one; --sampler
and --eta another sampler (e.g. --sampler ddpm --steps 25, DDPM jumping 20 steps at a time).
"""
import argparse
import time
from pathlib import Path

import torch

from course_lib.bench import machine_description
from course_lib.caption_metrics import evaluate_prompts, load_caption_classifier, predict_attributes
from course_lib.captions import CAPTION_COLOURS
from course_lib.data import to_model_space
from course_lib.metrics import HELDOUT_SEED
from course_lib.precision import resolve_precision
from course_lib.pretrained import load_pretrained, load_weights
from course_lib.samplers import SAMPLER_LABELS, SAMPLERS
from course_lib.sprites import COLOUR_NAMES, KIND_NAMES, generate_sprite_attributes

TARGET = 0.9  # the share of samples in which every word should be drawn right


def real_accuracy(n_real):
    """{word: the classifier's accuracy on the held-out real sprites whose kind or colour is that word}."""
    images, attributes = generate_sprite_attributes(n_real, seed=HELDOUT_SEED)
    predicted = predict_attributes(load_caption_classifier("cpu"), to_model_space(images))
    scores = {}
    for attribute, names, offset in (("kind", KIND_NAMES, 1), ("colour", COLOUR_NAMES, 0)):
        truth = torch.tensor([names.index(w) + offset if w else 0 for w in attributes[attribute]])
        for index, word in enumerate(names):
            shows = truth == index + offset
            if shows.any():
                scores[word] = (predicted[attribute][shows] == index + offset).float().mean().item(), int(shows.sum())
    return scores


def word_rows(n, guidance, steps, weights=None, sampler="ddim", eta=0.0):
    """One row per word: (word, attribute, share of n samples with it drawn right), for the weights file
    (sha256-checked against its folder's manifest) or, by default, the shipped caption model."""
    model, sched = load_pretrained("captions") if weights is None else load_weights(weights)
    rows = []
    for attribute, words in (("kind", KIND_NAMES), ("colour", CAPTION_COLOURS)):
        scores = evaluate_prompts(model, sched, list(words), n=n * len(words), guidance=guidance, sampler=sampler,
                                  steps=steps, eta=eta)
        rows += [(word, attribute, scores["by_prompt"][word][f"{attribute}_acc"]) for word in words]
    return rows


def markdown(rows, real, args, seconds):
    below = [word for word, _, share in rows if share < TARGET]
    model = "the shipped caption model" if args.weights is None else f"the caption model {args.weights}"
    sampler = f"{SAMPLER_LABELS[args.sampler]} {args.steps}" + (f" (η = {args.eta:g})" if args.eta else "")
    lines = [f"Machine: {machine_description()} ({resolve_precision('auto', 'cpu')}); {model}; {sampler}"
             f", guidance {args.guidance:g}, n = {args.n} per word, seed 0; real sprites: "
             f"{args.n_real} held-out generator sprites (seed {HELDOUT_SEED}); {seconds:.0f} s.",
             "",
             f"Words drawn right in fewer than {TARGET:.0%} of samples: "
             f"{len(below)} of {len(rows)}" + (f" ({', '.join(below)})." if below else "."),
             "",
             "| word | attribute | samples with it drawn right | classifier on real sprites showing it (n) |",
             "|---|---|---|---|"]
    for word, attribute, share in rows:
        on_real = f"{real[word][0]:.0%} ({real[word][1]})" if word in real else "–"
        lines.append(f"| {word} | {attribute} | {share:.0%} | {on_real} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100, help="samples per word")
    parser.add_argument("--guidance", type=float, default=2.0)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--sampler", choices=sorted(SAMPLERS), default="ddim")
    parser.add_argument("--eta", type=float, default=0.0, help="DDIM's stochasticity (0: deterministic)")
    parser.add_argument("--n-real", type=int, default=20_000, help="held-out real sprites scored by the classifier")
    parser.add_argument("--out", default=None, help="also write the markdown table to this file")
    parser.add_argument("--weights", default=None, help="a caption model's weights (default: the shipped one)")
    args = parser.parse_args()
    start = time.perf_counter()
    rows = word_rows(args.n, args.guidance, args.steps, args.weights, args.sampler, args.eta)
    text = markdown(rows, real_accuracy(args.n_real), args, time.perf_counter() - start)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
