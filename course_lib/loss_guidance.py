"""Guidance by a differentiable loss: steer any sampler toward what a loss on the predicted sprite asks for,
here the mean colour of the figure, the gradient taken through the network's guess x̂_0.

At every step the noise estimate ε becomes

    ε̃ = ε + s · sqrt(1 − ᾱ_t) · ∇_{x_t} L(x̂_0(x_t)),   x̂_0(x_t) = (x_t − sqrt(1 − ᾱ_t) ε(x_t)) / sqrt(ᾱ_t)

classifier guidance (Dhariwal & Nichol 2021, eq. 14) with −log p(y | x_t) replaced by a loss L on x̂_0, as
universal guidance's forward step does (Bansal et al. 2023, eq. 6). The sampler then steps with ε̃, so
its x̂_0 moves by about −s · Cov(x_0 | x_t) · ∇_{x̂_0} L: a large step early, while the sprite is
undecided, and almost none at the end, when the network is sure of it.
"""
import math

import torch

from .editing import figure_masks
from .samplers import predict_x0, sample_ddim

__all__ = ["figure_mean_colour", "colour_loss", "loss_steer", "parse_colour", "colour_distance", "steered_rows",
           "MAX_STRENGTH"]

MAX_STRENGTH = 1000.0


def parse_colour(colour):
    """A colour as a (3,) tensor in the model's [-1, 1] space, from "#rrggbb" or (r, g, b) in 0..255."""
    if isinstance(colour, str):
        text = colour.strip().lstrip("#")
        if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
            raise ValueError(f"a colour is '#rrggbb' (e.g. '#d03030') or (r, g, b) from 0 to 255, got {colour!r}")
        colour = [int(text[i:i + 2], 16) for i in (0, 2, 4)]
    rgb = torch.as_tensor(colour, dtype=torch.float32).flatten()
    if rgb.numel() != 3 or not torch.isfinite(rgb).all() or (rgb < 0).any() or (rgb > 255).any():
        raise ValueError(f"a colour is '#rrggbb' (e.g. '#d03030') or (r, g, b) from 0 to 255, got {colour!r}")
    return rgb / 127.5 - 1


def figure_mean_colour(images):
    """Mean colour (n, 3) of each sprite's figure, its non-white pixels (editing.figure_masks, held fixed
    while differentiating): images (n, 3, H, W) in [-1, 1]."""
    figure = figure_masks(images.detach()).unsqueeze(1).to(images)  # (n, 1, H, W): 1 on the figure
    return (figure * images).sum((2, 3)) / figure.sum((2, 3)).clamp_min(1.0)  # (n, 3)


def colour_loss(colour):
    """L(x̂_0) = ‖figure mean colour − colour‖², per sprite (n,): the loss loss_steer takes."""
    target = parse_colour(colour)

    def loss(x0_hat):
        return ((figure_mean_colour(x0_hat) - target.to(x0_hat)) ** 2).sum(1)

    return loss


def colour_distance(images, colour):
    """How far each sprite's figure colour lies from `colour`: ‖mean − colour‖ in [-1, 1] units, (n,)."""
    return (figure_mean_colour(torch.as_tensor(images).float()) - parse_colour(colour)).norm(dim=1)


def loss_steer(sched, loss, strength):
    """The `steer` a sampler takes (run_chain): ε̃ = ε + s sqrt(1 − ᾱ_t) ∇_{x_t} L(x̂_0), s = `strength`."""
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= MAX_STRENGTH:
        raise ValueError(f"strength must be a number from 0 to {MAX_STRENGTH:g} (0: no steering), got {strength!r}")

    def steer(eps_at, x, t):
        if strength == 0:
            return eps_at(x)
        with torch.enable_grad():
            x = x.detach().requires_grad_()
            eps = eps_at(x)
            grad, = torch.autograd.grad(loss(predict_x0(sched, x, t, eps)).sum(), x)
        return eps.detach() + strength * math.sqrt(1 - float(sched.alpha_bars[t])) * grad

    return steer


def steered_rows(model, sched, colour, strengths, context, n=8, steps=25, seed=0, guidance=2.0):
    """One row of n DDIM sprites per strength, steered toward `colour`, every row from the same n noises
    x_T and with the same context (n, k). Returns (images (rows n, 3, H, W), seconds per row)."""
    x_T = torch.randn((n, model.in_channels, model.height, model.height),
                      generator=torch.Generator().manual_seed(seed))  # (n, C, H, W), shared by every row
    loss = colour_loss(colour)
    rows, seconds = [], []
    for strength in strengths:
        result = sample_ddim(model, sched, n=n, steps=steps, context=context, guidance=guidance, x_T=x_T,
                             steer=loss_steer(sched, loss, strength))
        rows.append(result.images.clamp(-1, 1))
        seconds.append(result.seconds)
    return torch.cat(rows), seconds
