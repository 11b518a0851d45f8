"""Judging caption samples: a sprite classifier with one head per attribute, and how often samples
show what their caption asked for.

    logits (B, 5 + 38 + 12) = [class | kind | colour]: the SpriteClassifier body, one linear layer
    attribute accuracy = share of samples whose predicted attribute is the one the caption names
                         (a kind alone names its class too: "potion" asks for food)
    a mix "A, B" of two kinds is found in a sample when one half of it shows A and the other half B,
    split top/bottom or left/right: the kind the classifier names for each half, the other half white
    (it is trained on whole sprites and on copies with one random half kept, keep_half)
    the classifier's ceiling for a caption = the same scores on real sprites that show what it names
                                             (for a mix: real hybrids of its two kinds, join_halves)
"""
import json
import time
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from .captions import HELD_OUT, caption_words, is_mix, join_halves, stack_conditions
from .data import to_model_space
from .metrics import (CLASSIFIER_SEED, HELDOUT_SEED, SpriteClassifier, fit_classifier, load_classifier,
                      sample_in_batches, save_classifier)
from .precision import eval_mode, resolve_precision
from .pretrained import WEIGHTS_DIR, record_in_manifest
from .samplers import sampler_options
from .sprites import CLASS_NAMES, COLOUR_NAMES, KIND_CLASSES, KIND_NAMES, generate_sprite_attributes

__all__ = ["ATTRIBUTES", "PROMPT_SETS", "HALVES", "attribute_targets", "keep_half", "train_caption_classifier",
           "ship_caption_classifier", "load_caption_classifier", "predict_attributes", "asked_attributes",
           "score_prompt", "evaluate_prompts", "real_sprites_for", "score_real_sprites", "caption_table"]

ATTRIBUTES = {"class": CLASS_NAMES, "kind": ("none",) + KIND_NAMES, "colour": COLOUR_NAMES}
CAPTION_CLASSIFIER_FILE = "caption_classifier.pt"
HALVES = ("top", "bottom", "left", "right")  # predict_attributes' "kind_halves" columns, in this order
MIX_WEIGHT = 1.0  # the second caption's weight in the notebook's mixes and the "mixes" set
REAL_POOL = 20_000  # real sprites drawn per class to find those that show a caption
PROMPT_SETS = {  # the README's caption table: captions the model was trained on, held-out pairs, mixes
    "seen": ("hero sword blue", "hero staff red", "non-hero ghost white", "non-hero mushroom red",
             "non-hero slime green", "food apple red", "food potion blue", "spell fireball orange",
             "spell orb yellow", "side-facing bird green"),
    "held-out": tuple(f"{colour} {kind}" for colour, kind in HELD_OUT),
    "mixes": tuple(f"{a}, {b}={MIX_WEIGHT:g}" for a, b in (("mushroom", "ghost"), ("apple", "cake"),
                                                         ("fireball", "orb"), ("slime", "skeleton"))),
}


def attribute_targets(attributes):
    """(n, 3) targets: class, kind (0 = none) and colour indices of generate_sprite_attributes' dict."""
    kinds = ATTRIBUTES["kind"]
    kind = torch.tensor([kinds.index(k or "none") for k in attributes["kind"]])
    colour = torch.tensor([COLOUR_NAMES.index(c) for c in attributes["colour"]])
    return torch.stack([torch.as_tensor(attributes["class"]), kind, colour], 1)


def keep_half(images, half):
    """Images (N, 3, H, W) in [-1, 1] with all but one half white (1.0, the background): "top",
    "bottom", "left" or "right"."""
    h, w = images.shape[-2:]
    blanked = {"top": (slice(h // 2, None), slice(None)), "bottom": (slice(None, h // 2), slice(None)),
               "left": (slice(None), slice(w // 2, None)), "right": (slice(None), slice(None, w // 2))}[half]
    kept = images.clone()
    kept[(..., *blanked)] = 1.0
    return kept


def _half_copies(images, generator):
    """Each image once more with one half kept (keep_half), the half drawn at random: (N, 3, H, W)."""
    which = torch.randint(len(HALVES), (len(images),), generator=generator)
    copies = torch.empty_like(images)
    for k, half in enumerate(HALVES):
        copies[which == k] = keep_half(images[which == k], half)
    return copies


def _split(logits):
    """The logits (B, 55) as {attribute: (B, size)}."""
    return dict(zip(ATTRIBUTES, logits.split([len(v) for v in ATTRIBUTES.values()], dim=1)))


def train_caption_classifier(n=40_000, seed=CLASSIFIER_SEED, epochs=8, batch_size=128, lr=3e-3, max_shift=1,
                             heldout_n=5000, heldout_seed=HELDOUT_SEED):
    """A SpriteClassifier with a class, a kind and a colour head, trained on n generated sprites and a
    copy of each with one random half kept, labelled as its sprite (so all three heads learn to name a
    sprite from half of it), on the sum of the three cross-entropies. Returns (classifier, info); info
    holds each head's accuracy on heldout_n sprites of heldout_seed, and the kind head's on each half
    of them alone ("heldout_half_kind_accuracy")."""
    started = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SpriteClassifier(n_classes=sum(len(v) for v in ATTRIBUTES.values()))
    sprites, attributes = generate_sprite_attributes(n, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    images = to_model_space(sprites)
    images = torch.cat([images, _half_copies(images, generator)])  # (2n, 3, 16, 16)
    targets = attribute_targets(attributes).repeat(2, 1)  # (2n, 3)

    def loss_of(logits, idx):
        return sum(F.cross_entropy(head, targets[idx, k]) for k, head in enumerate(_split(logits).values()))

    loss = fit_classifier(model, images, loss_of, generator, epochs, batch_size, lr, max_shift)
    heldout, heldout_attributes = generate_sprite_attributes(heldout_n, seed=heldout_seed)
    predicted = predict_attributes(model, to_model_space(heldout))
    truth = attribute_targets(heldout_attributes)
    info = {f"heldout_{name}_accuracy": (predicted[name] == truth[:, k]).double().mean().item()
            for k, name in enumerate(ATTRIBUTES)}
    has_kind = truth[:, 1] > 0
    halves_right = predicted["kind_halves"][has_kind] == truth[has_kind, 1:2]  # (n with a kind, 4)
    info["heldout_half_kind_accuracy"] = round(halves_right.double().mean().item(), 4)
    info.update(heldout_n=heldout_n, heldout_seed=heldout_seed, train_n=n, seed=seed, epochs=epochs,
                max_shift=max_shift, final_loss=round(loss.item(), 5),
                train_seconds=round(time.perf_counter() - started, 1), torch=str(torch.__version__))
    return model, info


def ship_caption_classifier(path=WEIGHTS_DIR / CAPTION_CLASSIFIER_FILE, **train_kwargs):
    """Train the attribute classifier, write it to `path` and record its sha256 in the manifest."""
    model, info = train_caption_classifier(**train_kwargs)
    meta = {"command": "python -m course_lib.caption_metrics", **info}
    record_in_manifest(path, save_classifier(model, path, meta), meta)
    return meta


def load_caption_classifier(device="cpu"):
    """The shipped attribute classifier, sha256-checked, in eval mode."""
    return load_classifier(WEIGHTS_DIR / CAPTION_CLASSIFIER_FILE, device=device)


@torch.no_grad()
def predict_attributes(classifier, images, batch=1000):
    """{attribute: (N,) predicted indices into ATTRIBUTES[attribute]}, plus "kind_halves" (N, 4): the
    kind predicted for each of the HALVES kept alone."""
    device = next(classifier.parameters()).device

    def heads_of(half=None):
        chunks = (chunk if half is None else keep_half(chunk, half) for chunk in images.split(batch))
        return _split(torch.cat([classifier(chunk.to(device)).cpu() for chunk in chunks]))

    with eval_mode(classifier):
        out = {name: head.argmax(1) for name, head in heads_of().items()}
        out["kind_halves"] = torch.stack([heads_of(half)["kind"].argmax(1) for half in HALVES], 1)  # (N, 4)
    return out


def asked_attributes(caption):
    """What a caption asks for: {"class": set of class indices, "kind": index, "colour": index}, only
    the attributes its words name, and "mix": the two kind indices of a two-part mix of kinds."""
    parts = caption_words(caption)
    words = [w for part, _ in parts for w in part]
    kinds = [ATTRIBUTES["kind"].index(w) for w in words if w in KIND_NAMES]
    asked = {}
    classes = {CLASS_NAMES.index(w) for w in words if w in CLASS_NAMES}
    if not classes and kinds:
        classes = {CLASS_NAMES.index(c) for k in words if k in KIND_CLASSES for c in KIND_CLASSES[k]}
    if classes:
        asked["class"] = classes
    if len(parts) == 2 and len(kinds) == 2:
        asked["mix"] = tuple(kinds)
    elif len(kinds) == 1:
        asked["kind"] = kinds[0]
    colours = [COLOUR_NAMES.index(w) for w in words if w in COLOUR_NAMES]
    if len(colours) == 1:
        asked["colour"] = colours[0]
    return asked


def score_prompt(predicted, asked):
    """Per-sample hits (N,) bool for each attribute the caption asks for, and "all" (every one right)."""
    hits = {}
    if "class" in asked:
        hits["class"] = torch.isin(predicted["class"], torch.tensor(sorted(asked["class"])))
    for name in ("kind", "colour"):
        if name in asked:
            hits[name] = predicted[name] == asked[name]
    if "mix" in asked:
        kind_of = dict(zip(HALVES, predicted["kind_halves"].unbind(1)))
        a, b = asked["mix"]

        def split_shows_both(one, other):
            return ((kind_of[one] == a) & (kind_of[other] == b)) | ((kind_of[one] == b) & (kind_of[other] == a))

        hits["both_kinds"] = split_shows_both("top", "bottom") | split_shows_both("left", "right")
    if hits:
        hits["all"] = torch.stack(list(hits.values())).all(0)
    return hits


def _prompt_list(prompts, n):
    """The captions as a list, checking that n samples split evenly over them."""
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not prompts or isinstance(n, bool) or not isinstance(n, int) or n < len(prompts) or n % len(prompts):
        raise ValueError(f"n must be a positive multiple of the number of captions ({len(prompts)}), got {n!r}")
    return prompts


@lru_cache(maxsize=None)
def _shipped(device):
    return load_caption_classifier(device)


def evaluate_prompts(model, sched, prompts, n=1000, guidance=0.0, sampler="ddim", steps=25, seed=0,
                     classifier=None, batch=500, precision="auto", compose=0.0, eta=0.0):
    """Sample n sprites spread evenly over the captions in `prompts` and score what each asked for.

    Returns a dict: the accuracy of every attribute asked for ("class_acc", "kind_acc", "colour_acc",
    "both_kinds_acc" for mixes, "all_acc"), each over the samples whose caption asks for it, and the
    same per prompt. Samples come from torch.Generator().manual_seed(seed), `batch` at a time; mixes
    are composed as captions.caption_conditions does at `compose`.
    """
    prompts = _prompt_list(prompts, n)
    options = sampler_options(sampler, steps, eta)
    device = sched.alpha_bars.device
    classifier = _shipped(str(device)) if classifier is None else classifier
    contexts, shares = stack_conditions(prompts, compose)  # (P, V), or (P, C, V) and (P, C)
    per = n // len(prompts)
    images, seconds = sample_in_batches(model, sched, sampler, contexts.repeat_interleave(per, 0), guidance, seed,
                                        batch, shares=None if shares is None else shares.repeat_interleave(per, 0),
                                        precision=precision, **options)
    row = {"prompts": prompts, "sampler": sampler, **options, "guidance": guidance, "n": n, "seed": seed,
           "precision": resolve_precision(precision, device)}
    if any(is_mix(p) for p in prompts):
        row["compose"] = compose
    row.update(_accuracies(predict_attributes(classifier, images), prompts), seconds=seconds)
    return row


def _accuracies(predicted, prompts):
    """Attribute accuracies over images that are len(prompts) equal blocks, block k for prompts[k]:
    {"class_acc": ..., ..., "by_prompt": {prompt: {"class_acc": ..., ...}}}."""
    per = len(predicted["class"]) // len(prompts)
    per_prompt, totals = {}, {}
    for k, prompt in enumerate(prompts):
        hits = score_prompt({name: v[k * per:(k + 1) * per] for name, v in predicted.items()}, asked_attributes(prompt))
        per_prompt[prompt] = {f"{name}_acc": h.double().mean().item() for name, h in hits.items()}
        for name, h in hits.items():
            totals.setdefault(name, []).append(h)
    out = {f"{name}_acc": torch.cat(h).double().mean().item() for name, h in totals.items()}
    return {**out, "by_prompt": per_prompt}


@lru_cache(maxsize=8)
def _real_pool(classes, seed, size):
    """`size` generated sprites of these classes (a tuple of indices) and their attribute targets."""
    images, attributes = generate_sprite_attributes(size, seed=seed, classes=classes)
    return images, attribute_targets(attributes)


def real_sprites_for(prompt, n, seed=HELDOUT_SEED, pool=REAL_POOL):
    """n real sprites that show everything `prompt` names (its class, kind and colour), uint8 (n, 16, 16, 3):
    the first ones among `pool` generated sprites of its classes (seed `seed`). For a mix of two kinds,
    "A, B": join_halves of n sprites of A and n of B."""
    asked = asked_attributes(prompt)
    if "mix" in asked:
        first, second = (real_sprites_for(ATTRIBUTES["kind"][k], n, seed, pool) for k in asked["mix"])
        return join_halves(first, second)
    words = [w for part, _ in caption_words(prompt) for w in part]
    if "class" not in asked or sum(w in KIND_NAMES for w in words) > 1 or sum(w in COLOUR_NAMES for w in words) > 1:
        raise ValueError(f"no real sprite shows {prompt!r}: real sprites exist for captions with a kind or a class "
                         "word and at most one kind and one colour (e.g. 'red mushroom'), and real hybrids for "
                         "mixes of two kinds (e.g. 'mushroom, ghost')")
    images, targets = _real_pool(tuple(sorted(asked["class"])), seed, pool)  # the pool holds only its classes
    fits = torch.ones(len(targets), dtype=torch.bool)
    for column, name in ((1, "kind"), (2, "colour")):
        if name in asked:
            fits &= targets[:, column] == asked[name]
    found = np.flatnonzero(fits.numpy())
    if len(found) < n:
        raise ValueError(f"only {len(found)} of {pool:,} real sprites show {prompt!r}; ask for n <= {len(found)} "
                         "per caption")
    return images[found[:n]]


def score_real_sprites(prompts, n=1000, seed=HELDOUT_SEED, classifier=None, pool=REAL_POOL):
    """The classifier's ceiling: the scores of evaluate_prompts for n real sprites, n / len(prompts) per
    caption, each showing what its caption names (real_sprites_for). Sprites of `seed`, which neither the
    classifier nor the caption model trained on."""
    prompts = _prompt_list(prompts, n)
    images = np.concatenate([real_sprites_for(p, n // len(prompts), seed, pool) for p in prompts])  # (n, 16, 16, 3)
    classifier = _shipped("cpu") if classifier is None else classifier
    predicted = predict_attributes(classifier, to_model_space(images))
    return {"prompts": prompts, "sampler": "real sprites", "n": n, "seed": seed, **_accuracies(predicted, prompts)}


def caption_table(rows):
    """A markdown table of `evaluate --prompt-set` lines: per caption set, guidance and compose (mixes
    only), the share of samples with each named attribute right; lines of `--real-sprites` are the
    classifier's ceiling. A later line for the same setting replaces an earlier one."""
    columns = (("class_acc", "class"), ("kind_acc", "kind"), ("colour_acc", "colour"),
               ("both_kinds_acc", "both kinds found"), ("all_acc", "all named attributes"))
    latest = {(row["prompt_set"], row.get("guidance"), row.get("compose"), row["sampler"], row.get("steps"),
               row.get("eta") or 0): row for row in rows}
    lines = ["| captions | guidance | compose | sprites from | n | " + " | ".join(label for _, label in columns) + " |",
             "|---|---|---|---|---|" + "---|" * len(columns)]
    for (name, guidance, compose, sampler, steps, eta), row in latest.items():
        cells = [f"{100 * row[key]:.1f}%" if key in row else "–" for key, _ in columns]
        settings = ["–" if value is None else f"{float(value):g}" for value in (guidance, compose)]
        source = (sampler if steps is None else f"{sampler} {steps}") + (f", η = {eta:g}" if eta else "")
        lines.append(f"| {name} | {' | '.join(settings)} | {source} | {row['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(ship_caption_classifier()))
