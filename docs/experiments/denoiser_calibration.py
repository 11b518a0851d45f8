"""Is the shipped network's x̂0 off by a scale, an offset or a floor that a deterministic chain inherits?

Held-out sprites (`generate_sprites(2000, seed=HELD_OUT_SEED)`; the shipped models trained on seed 0) are
noised to each step t of DDIM-25's grid and a few below it, with their own one-hot labels, and the
network's x̂0 is compared with the sprite:
- MSE of x̂0, and of y = x_t / sqrt(ᾱ_t), the input itself read as a guess of x0;
- the slope of the least-squares line of x0 on x̂0: 1 for a denoiser whose guesses are calibrated,
  E[x0 | x̂0] = x̂0, above 1 where it shrinks towards grey more than the noise justifies;
- λ(t) = <x0 − x̂0, y − x̂0> / |y − x̂0|², the share of the input that, blended in as
  x̂0 + λ (y − x̂0), lowers the MSE most (Karras et al. 2022's c_skip builds such a share into a
  network), clipped at 0, and the MSE of that blend.
Then DDIM-25 samples with the blend at every step and is scored as `python -m course_lib evaluate` scores:
n = 1000, guidance 0, seed 0. It asks the network at t = 500, 480, ..., 20; every one of those steps at or
below 100 is in the table, and λ is 0 at the others (above 100 the table finds no share that helps).

Run from the repository root (about 8 minutes on 2 CPU cores in fp32):
    python docs/experiments/denoiser_calibration.py [WEIGHTS]
(the shipped one-hot model without an argument); it prints Markdown.
"""
import sys

import torch
from torch import nn

from course_lib.data import to_model_space
from course_lib.editing import HELD_OUT_SEED
from course_lib.metrics import evaluate
from course_lib.pretrained import load_pretrained, load_weights
from course_lib.sprites import generate_sprites

SPRITES = 2000
TABLE_STEPS = (500, 400, 300, 250, 200, 150, 100, 80, 60, 40, 20, 10, 5, 2)


def held_out_batch(n=SPRITES):
    images, labels = generate_sprites(n, seed=HELD_OUT_SEED)
    return to_model_space(images), torch.as_tensor(labels)


@torch.no_grad()
def guesses(model, sched, x0, context, t, generator):
    """(x̂0, y): the network's guess of x0 at step t, and the input read as one, y = x_t / sqrt(ᾱ_t)."""
    steps = torch.full((len(x0),), t)  # (N,)
    x_t = sched.add_noise(x0, steps, torch.randn(x0.shape, generator=generator))
    x0_hat = model(x_t, steps.float() / sched.timesteps, context).float()
    return x0_hat, x_t / sched.alpha_bars[t].sqrt()


def best_share(x0, x0_hat, y):
    """λ minimising |x̂0 + λ (y − x̂0) − x0|², clipped at 0."""
    towards_input = y - x0_hat
    return max(0.0, float(((x0 - x0_hat) * towards_input).sum() / towards_input.pow(2).sum()))


def calibration_slope(x0, x0_hat):
    """Slope of the least-squares line of x0 on x̂0, over every value of the batch."""
    guess, truth = x0_hat.flatten(), x0.flatten()
    return float(((guess - guess.mean()) * (truth - truth.mean())).mean() / guess.var(unbiased=False))


class InputBlend(nn.Module):
    """x̂0 + λ(t) (x_t / sqrt(ᾱ_t) − x̂0) for an x0-predicting `net`; the samplers pass t / T."""

    def __init__(self, net, sched, shares):
        super().__init__()
        if net.prediction != "x0":
            raise ValueError(f"the blend is written for a network that predicts x0, not {net.prediction!r}")
        self.net, self.sched = net, sched
        self.register_buffer("shares", shares)  # (T + 1,): λ at each integer step
        for name in ("prediction", "height", "in_channels", "n_cfeat"):
            setattr(self, name, getattr(net, name))

    def forward(self, x, t_frac, c=None):
        t = torch.round(torch.as_tensor(t_frac).float() * self.sched.timesteps).long()  # (B,)
        x0_hat = self.net(x, t_frac, c).float()
        signal = self.sched.alpha_bars[t].sqrt().view(-1, 1, 1, 1)  # (B, 1, 1, 1)
        return x0_hat + self.shares[t].view(-1, 1, 1, 1) * (x / signal - x0_hat)


def main(weights=None):
    model, sched = load_weights(weights) if weights else load_pretrained()
    x0, context = held_out_batch()
    generator = torch.Generator().manual_seed(1)

    def mse(guess):
        return float((guess - x0).pow(2).mean())

    print("| t | log-SNR | MSE of x̂0 | MSE of x_t / sqrt(ᾱ_t) | slope of x0 on x̂0 | λ | MSE of the blend |\n"
          "|---|---|---|---|---|---|---|")
    shares = torch.zeros(sched.timesteps + 1)  # (T + 1,): λ at each integer step, 0 off the table
    for t in TABLE_STEPS:
        x0_hat, y = guesses(model, sched, x0, context, t, generator)
        share = shares[t] = best_share(x0, x0_hat, y)
        log_snr = float(sched.snr(torch.tensor([t])).log())
        print(f"| {t} | {log_snr:.2f} | {mse(x0_hat):.4f} | {mse(y):.4f} | {calibration_slope(x0, x0_hat):.4f} "
              f"| {share:.3f} | {mse(x0_hat + share * (y - x0_hat)):.4f} |", flush=True)
    print()
    for name, scored in (("as it is", model), ("with the input blended in", InputBlend(model, sched, shares))):
        row = evaluate(scored, sched, "ddim", steps=25, n=1000, guidance=0.0, precision="fp32")
        print(f"DDIM-25, w = 0, n = 1000, seed 0, fp32, {name}: FID {row['fid']:.2f}, "
              f"context accuracy {100 * row['context_acc']:.1f}%", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
