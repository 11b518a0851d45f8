"""Chapter 4's editing figures, measured: ``python -m course_lib.editing_report [--n N] [--out FILE]``.

Three tables on held-out generated sprites (seed 777; the shipped model trained on seed 0), written as
Markdown (default: out/editing.md; the committed copy is docs/results/editing.md):

    round trip   DDIM inversion then decoding: mean absolute pixel error per step count and guidance,
                 and what decoding the same x_T with DDPM gives instead
    editing      invert under the sprite's class, decode under the next class: how often the shipped
                 classifier sees the asked class, and the figure's mask IoU with the original's,
                 against SDEdit (random noise instead of the inverted noise) at the same strength
    captions     the caption model's red potions edited to "blue potion": how often the attribute
                 classifier sees a blue potion, and how much of the outline is kept
    inpainting   half of each sprite regenerated: the colour step at the seam, pasted against RePaint
"""
import argparse
import time
from pathlib import Path

import torch

from .bench import machine_description
from .caption_metrics import asked_attributes, load_caption_classifier, predict_attributes, score_prompt
from .captions import encode_caption
from .checkpoint import atomic_write, check_writable_file
from .editing import (HELD_OUT_SEED, decode_ddim, edit_context, figure_masks, held_out_sprites, inpaint, invert_ddim,
                      sdedit, seam_jump)
from .metrics import context_accuracy, load_classifier
from .pretrained import load_pretrained
from .samplers import sample_ddim, sample_ddpm
from .segmentation import iou

PIXEL_LEVELS = 127.5  # [-1, 1] -> 0..255


def mean_iou(masks_a, masks_b):
    return sum(iou(a, b) for a, b in zip(masks_a, masks_b)) / len(masks_a)


def round_trip_rows(model, sched, x0, context, steps=(10, 25, 50, 100), guidances=(0, 2)):
    rows = []
    for guidance in guidances:
        for k in steps:
            start = time.perf_counter()
            x_T = invert_ddim(model, sched, x0, k, context=context, guidance=guidance).images
            back = decode_ddim(model, sched, x_T, steps=k, context=context, guidance=guidance).images
            by_ddpm = sample_ddpm(model, sched, n=len(x0), steps=k, context=context, guidance=guidance, x_T=x_T,
                                  generator=torch.Generator().manual_seed(0)).images
            rows.append({"steps": k, "guidance": guidance, "ddim": float((back - x0).abs().mean()),
                         "ddpm": float((by_ddpm - x0).abs().mean()), "x_T std": float(x_T.std()),
                         "seconds": time.perf_counter() - start})
    return rows


def editing_rows(model, sched, classifier, x0, context, strengths=(0.3, 0.5, 0.7, 1.0), guidances=(0, 2), steps=25):
    target = (context.argmax(1) + 1) % context.shape[1]
    new_context = torch.eye(context.shape[1])[target]
    masks = figure_masks(x0)
    rows = []
    for guidance in guidances:
        for strength in strengths:
            edited = edit_context(model, sched, x0, context, new_context, strength, steps, guidance).images
            noised = sdedit(model, sched, x0, strength, steps, new_context, guidance,
                            generator=torch.Generator().manual_seed(0)).images
            rows.append({"strength": strength, "guidance": guidance,
                         "edit acc": context_accuracy(classifier, edited, target),
                         "edit IoU": mean_iou(figure_masks(edited), masks),
                         "edit change": float((edited - x0).abs().mean()),
                         "sdedit acc": context_accuracy(classifier, noised, target),
                         "sdedit IoU": mean_iou(figure_masks(noised), masks),
                         "sdedit change": float((noised - x0).abs().mean())})
    return rows, mean_iou(masks.roll(1, 0), masks)


def caption_edit_rows(n, source="red potion", target="blue potion", strengths=(0.4, 0.6, 0.8, 1.0), steps=25,
                      guidance=2.0):
    """The caption model's sprites of `source` (DDIM-25, seed 0), edited to `target` at each strength."""
    model, sched = load_pretrained("captions")
    classifier = load_caption_classifier()
    before, after = encode_caption(source).expand(n, -1), encode_caption(target).expand(n, -1)  # (n, words)
    x0 = sample_ddim(model, sched, n, steps, context=before, guidance=guidance,
                     generator=torch.Generator().manual_seed(0)).images
    asked, masks = asked_attributes(target), figure_masks(x0)
    rows = []
    for strength in (0.0,) + tuple(strengths):
        edited = x0 if strength == 0 else edit_context(model, sched, x0, before, after, strength, steps, guidance).images
        hits = score_prompt(predict_attributes(classifier, edited), asked)
        rows.append({"strength": strength, "colour": float(hits["colour"].float().mean()),
                     "kind": float(hits["kind"].float().mean()), "IoU": mean_iou(figure_masks(edited), masks)})
    return rows


def inpainting_rows(model, sched, classifier, x0, context, resamples=(1, 2, 5), steps=25):
    keep = torch.zeros(len(x0), *x0.shape[2:], dtype=torch.bool)
    keep[..., : x0.shape[-1] // 2] = True  # (n, H, W): the left half is kept
    classes = context.argmax(1)
    free = sample_ddpm(model, sched, n=len(x0), steps=steps, context=context,
                       generator=torch.Generator().manual_seed(0)).images
    pasted = torch.where(keep[:, None], x0, free)
    rows = [{"method": "original sprites", "seam": seam_jump(x0, keep), "acc": context_accuracy(classifier, x0, classes)},
            {"method": "pasted: a free sample's right half", "seam": seam_jump(pasted, keep),
             "acc": context_accuracy(classifier, pasted, classes)}]
    for r in resamples:
        out = inpaint(model, sched, x0, keep, steps, context=context, resample=r,
                      generator=torch.Generator().manual_seed(0)).images
        rows.append({"method": f"RePaint, resample {r}", "seam": seam_jump(out, keep),
                     "acc": context_accuracy(classifier, out, classes)})
    return rows


def markdown(n, trips, edits, unrelated_iou, captions, fills, seconds):
    lines = ["# Editing with the shipped model, measured\n",
             f"`python -m course_lib.editing_report --n {n} --out docs/results/editing.md` ({seconds / 60:.0f} min on "
             f"{machine_description()}). {n} held-out generated sprites (seed {HELD_OUT_SEED}), fp32 sampling.\n",
             "## Round trip: DDIM inversion, then decoding\n",
             "Mean absolute pixel error against the original (0..255 levels), and the inverted x_T's standard "
             "deviation (noise has 1). The DDPM column decodes the same x_T with jumping DDPM on the same steps: "
             "its fresh noise makes another sprite.\n",
             "| steps | guidance | DDIM round trip | DDPM from the same x_T | x_T std |", "|---|---|---|---|---|"]
    lines += [f"| {r['steps']} | {r['guidance']} | {r['ddim'] * PIXEL_LEVELS:.1f} | {r['ddpm'] * PIXEL_LEVELS:.1f} | "
              f"{r['x_T std']:.2f} |" for r in trips]
    lines += ["\n## Editing: invert under the sprite's class, decode under the next one\n",
              "DDIM-25 over the whole chain (strength s runs round(25 s) steps from t = 500 s). *acc*: share the "
              "shipped classifier puts in the asked class; *IoU*: the drawn figure's mask against the original's "
              f"(two unrelated held-out sprites score {unrelated_iou:.2f}); *change*: mean absolute pixel change "
              "(0..255 levels). SDEdit starts from random noise at the same step instead of the inverted noise.\n",
              "| strength | guidance | edit acc | edit IoU | edit change | SDEdit acc | SDEdit IoU | SDEdit change |",
              "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['strength']} | {r['guidance']} | {r['edit acc']:.2f} | {r['edit IoU']:.2f} | "
              f"{r['edit change'] * PIXEL_LEVELS:.1f} | {r['sdedit acc']:.2f} | {r['sdedit IoU']:.2f} | "
              f"{r['sdedit change'] * PIXEL_LEVELS:.1f} |" for r in edits]
    lines += ["\n## Editing with words: the caption model's red potions made blue\n",
              f"{n} sprites of \"red potion\" (caption model, DDIM-25, guidance 2, seed 0), inverted under that caption "
              "and decoded under \"blue potion\". *colour* and *kind*: share the caption attribute classifier "
              "reads as blue and as a potion; *IoU*: the figure's mask against the red potion's.\n",
              "| strength | colour blue | kind potion | IoU |", "|---|---|---|---|"]
    lines += [f"| {r['strength'] or 'before the edit'} | {r['colour']:.2f} | {r['kind']:.2f} | {r['IoU']:.2f} |"
              for r in captions]
    lines += ["\n## Inpainting: the left half kept, the right half regenerated under the sprite's class\n",
              "*seam*: mean colour step across the border between the halves ([-1, 1] units; the originals' is the "
              "natural one). *acc*: share of the results the classifier puts in the sprite's class. DDPM-25 steps.\n",
              "| method | seam | acc |", "|---|---|---|"]
    lines += [f"| {r['method']} | {r['seam']:.3f} | {r['acc']:.2f} |" for r in fills]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_lib.editing_report", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100, help="held-out sprites per table (default 100)")
    parser.add_argument("--out", type=Path, default=Path("out") / "editing.md", help="the Markdown file to write")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be at least 1, got {args.n}")
    try:
        check_writable_file(args.out, "--out", (".md",))
    except ValueError as error:
        parser.error(str(error))
    start = time.perf_counter()
    model, sched = load_pretrained()
    classifier = load_classifier()
    x0, context = held_out_sprites(args.n)
    trips = round_trip_rows(model, sched, x0, context)
    edits, unrelated_iou = editing_rows(model, sched, classifier, x0, context)
    captions = caption_edit_rows(args.n)
    fills = inpainting_rows(model, sched, classifier, x0, context)
    text = markdown(args.n, trips, edits, unrelated_iou, captions, fills, time.perf_counter() - start)
    with atomic_write(args.out, "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
