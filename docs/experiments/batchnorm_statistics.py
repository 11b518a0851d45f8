"""Are the shipped network's BatchNorm statistics what DDIM-25 loses to? The trainer copies the running mean
and variance of the trained weights into their EMA average (`training._update_ema`), so the averaged weights
sample with statistics that other weights measured, over the last few batches only. This recomputes them for
the EMA weights themselves: 200 training batches of 100 (the first 20,000 training sprites, t drawn by
log-SNR ~ N(0, 2²), the null context for 10%, as the shipped run drew them), a plain average over all of
them, then scores DDIM-25 as `python -m course_lib evaluate` does (n = 1000, guidance 0, seed 0).

Run from the repository root (about 6 minutes on 2 CPU cores in fp32):
    python docs/experiments/batchnorm_statistics.py [WEIGHTS]
(the shipped one-hot model without an argument); it prints a Markdown table.
"""
import copy
import sys

import torch
from torch import nn

from course_lib.data import to_model_space
from course_lib.metrics import evaluate
from course_lib.pretrained import load_pretrained, load_weights
from course_lib.sprites import generate_sprites
from course_lib.training import diffusion_loss

BATCHES, BATCH = 200, 100


def batch_norms(model):
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


def recomputed_statistics(model, sched, batches=BATCHES, batch=BATCH, seed=0):
    """A copy of `model` whose BatchNorm running mean and variance are the plain average over `batches`
    training batches (momentum None), each drawn as the shipped run drew its batches."""
    model = copy.deepcopy(model)
    for norm in batch_norms(model):
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average instead of an exponential one
    images, labels = generate_sprites(batches * batch, seed=seed)
    x0, context = to_model_space(images), torch.as_tensor(labels)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():  # in train mode every forward pass adds its batch to the running statistics
        for x0_batch, context_batch in zip(x0.split(batch), context.split(batch)):
            diffusion_loss(model, sched, x0_batch, context_batch, generator, context_dropout=0.1,
                           log_snr_normal=(0.0, 2.0))
    return model.eval()


def largest_changes(before, after):
    """Over all BatchNorm channels: the largest |mean shift| in units of the recomputed std, and the
    largest |variance ratio - 1|."""
    shift, ratio = 0.0, 0.0
    for a, b in zip(batch_norms(before), batch_norms(after)):
        shift = max(shift, ((a.running_mean - b.running_mean).abs() / b.running_var.sqrt()).max().item())
        ratio = max(ratio, (a.running_var / b.running_var - 1).abs().max().item())
    return shift, ratio


def main(weights=None):
    model, sched = load_weights(weights) if weights else load_pretrained()
    recomputed = recomputed_statistics(model, sched)
    shift, ratio = largest_changes(model, recomputed)
    print(f"Recomputed over {BATCHES * BATCH:,} training draws: channel means moved by at most {shift:.3f} "
          f"standard deviations, variances by at most {100 * ratio:.1f}%.\n")
    print(f"| DDIM-25, w = 0, n = 1000, seed 0 ({weights or 'shipped model'}) | FID | context accuracy |\n"
          "|---|---|---|")
    for name, net in (("BatchNorm statistics as shipped", model), ("recomputed for the EMA weights", recomputed)):
        row = evaluate(net, sched, "ddim", steps=25, n=1000, guidance=0.0)
        print(f"| {name} | {row['fid']:.2f} | {100 * row['context_acc']:.1f}% |", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
