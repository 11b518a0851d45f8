"""What a deterministic sampler lets a learner do with a sprite: invert it, edit it, SDEdit it, inpaint it.

| function       | what it does                                                  | paper                              |
|----------------|---------------------------------------------------------------|------------------------------------|
| `invert_ddim`  | sprite x_0 -> its noise x_t: DDIM's η = 0 step run upwards     | Song et al. 2021, eq. 12 and §5.4  |
| `decode_ddim`  | x_t -> sprite: DDIM's η = 0 steps from t down to 0             | Song et al. 2021, eq. 12           |
| `edit_context` | invert under one context part-way up, decode under another    | the DDIM encoding, as in Mokady et al. 2023 |
| `sdedit`       | noise any picture to t_0 (DDPM eq. 4), denoise under a context | Meng et al. 2022, SDEdit           |
| `inpaint`      | regenerate the pixels outside a mask, known ones re-noised     | Lugmayr et al. 2022, RePaint, Alg. 1 |

Every function runs `samplers.run_chain`, the samplers' own loop, with their step functions
(`ddim_step`, `ddpm_step`); nothing here is a second copy of a sampling loop.

``strength`` in 0..1 says how far up the chain an edit starts: t_0 = round(strength · T), and the
chain down from t_0 takes round(strength · steps) of a full chain's ``steps`` (as diffusers'
image-to-image pipelines count them).
"""
import torch

from .data import to_model_space
from .samplers import _check_model_input, ddim_step, ddpm_step, run_chain, sampling_timesteps
from .sprites import generate_sprites

__all__ = ["invert_ddim", "decode_ddim", "edit_context", "sdedit", "inpaint", "repaint_timesteps",
           "start_step", "figure_masks", "seam_jump", "held_out_sprites"]

HELD_OUT_SEED = 777  # the shipped models trained on the generator's seed 0


def held_out_sprites(n, seed=HELD_OUT_SEED):
    """n generated sprites the shipped models never saw, in model space (n, 3, 16, 16), and their one-hot
    classes (n, 5)."""
    images, labels = generate_sprites(n, seed=seed)
    return to_model_space(images), torch.as_tensor(labels).float()


def start_step(sched, strength, steps):
    """(t_0, steps over 0..t_0) for an edit of `strength` in (0, 1] on a full chain of `steps`."""
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 < strength <= 1:
        raise ValueError(f"strength must be a number in (0, 1] (how far up the chain the edit starts: 1 is all the "
                         f"way to pure noise), got {strength!r}")
    t0 = max(1, round(strength * sched.timesteps))
    return t0, min(t0, max(1, round(strength * steps)))


def invert_ddim(model, sched, x0, steps=50, context=None, guidance=0.0, t_end=None, record_every=0,
                precision="auto"):
    """DDIM inversion: x_0 -> x_{t_end} (default T) by eq. 12 at η = 0 with t_prev > t,

        x_{t'} = sqrt(ᾱ_{t'}) x̂_0(x_t, t) + sqrt(1 − ᾱ_{t'}) ε_θ(x_t, t),   t' > t,

    the reverse of `decode_ddim` on the same steps. Exact only in the limit of small steps: the step
    from t to t' uses ε at t where the way down uses it at t' (the error this leaves is what the
    notebook's round-trip table measures). DDPM has no such inverse: its steps add fresh noise z.
    Returns a SampleResult whose ``images`` are x_{t_end}.
    """
    timesteps = sampling_timesteps(sched, steps, t_start=t_end)[::-1]  # [0, ..., t_end]

    def update(x, t, t_next, eps, noise):
        return ddim_step(sched, x, t, t_next, eps)

    return run_chain(model, sched, x0, timesteps, update, context=context, guidance=guidance,
                     record_every=record_every, precision=precision)


def decode_ddim(model, sched, x_t, t_start=None, steps=50, context=None, guidance=0.0, record_every=0,
                precision="auto"):
    """DDIM at η = 0 from x_t at step t_start (default T) down to a sprite, on `steps` evenly spaced steps."""
    timesteps = sampling_timesteps(sched, steps, t_start=t_start)

    def update(x, t, t_prev, eps, noise):
        return ddim_step(sched, x, t, t_prev, eps)

    return run_chain(model, sched, x_t, timesteps, update, context=context, guidance=guidance,
                     record_every=record_every, precision=precision)


def edit_context(model, sched, x0, context, new_context, strength=0.6, steps=50, guidance=0.0, precision="auto"):
    """Invert x_0 under `context` to t_0 = strength · T, then decode under `new_context`.

    strength 1 keeps only the inverted noise x_T of the sprite; a small strength keeps its outline and
    colours and lets the new context change details. Same context both ways: the round trip of
    `invert_ddim` and `decode_ddim`. Returns a SampleResult (``images``: the edited sprites).
    """
    t0, k = start_step(sched, strength, steps)
    x_t = invert_ddim(model, sched, x0, k, context=context, guidance=guidance, t_end=t0, precision=precision).images
    return decode_ddim(model, sched, x_t, t0, k, context=new_context, guidance=guidance, precision=precision)


def sdedit(model, sched, x0, strength=0.5, steps=50, context=None, guidance=0.0, generator=None, precision="auto"):
    """SDEdit (Meng et al. 2022): x_{t_0} = sqrt(ᾱ_{t_0}) x + sqrt(1 − ᾱ_{t_0}) ε (DDPM eq. 4), then DDIM
    down to 0 under `context`. Any picture in [-1, 1] will do, a sketch included: a small strength keeps
    it (faithful), a large one keeps only its rough colours and layout (realistic)."""
    t0, k = start_step(sched, strength, steps)
    x0 = _check_model_input(model, x0).to(sched.alpha_bars.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0)  # drawn on the CPU: same on every device
    x_t = sched.add_noise(x0, torch.full((len(x0),), t0), noise)
    return decode_ddim(model, sched, x_t, t0, k, context=context, guidance=guidance, precision=precision)


def repaint_timesteps(sched, steps, resample=1):
    """RePaint's walk with jump length 1: each step t -> t' of `sampling_timesteps` is taken `resample`
    times, going back up t' -> t in between, e.g. steps [500, 250, 0] with resample 2 give
    [500, 250, 500, 250, 0, 250, 0]."""
    if isinstance(resample, bool) or not isinstance(resample, int) or not 1 <= resample <= 20:
        raise ValueError(f"resample must be an integer from 1 (plain) to 20 (RePaint used 10), got {resample!r}")
    down = sampling_timesteps(sched, steps)
    walk = [down[0]]
    for t, t_prev in zip(down[:-1], down[1:]):
        walk += [t_prev, t] * (resample - 1) + [t_prev]
    return walk


def _check_keep(keep, x0):
    keep = torch.as_tensor(keep)
    if keep.dim() == 3:
        keep = keep.unsqueeze(1)  # (n, H, W) -> (n, 1, H, W)
    if keep.dtype != torch.bool or keep.dim() != 4 or keep.shape[1] != 1 or keep.shape[2:] != x0.shape[2:] \
            or len(keep) != len(x0):
        raise ValueError(f"keep must be a bool mask (n, H, W) of the pixels to keep, one per sprite of shape "
                         f"{tuple(x0.shape)}, got {keep.dtype} {tuple(keep.shape)}; figure_masks(x0) gives the "
                         "sprites' own")
    return keep


def inpaint(model, sched, x0, keep, steps=50, context=None, guidance=0.0, resample=1, generator=None,
            record_every=0, precision="auto"):
    """RePaint (Lugmayr et al. 2022, Algorithm 1) on the jumping DDPM step: at every step down to t',

        x_{t'} = keep ⊙ (sqrt(ᾱ_{t'}) x_0 + sqrt(1 − ᾱ_{t'}) ε)  +  (1 − keep) ⊙ ddpm_step(x_t),

    the known pixels re-noised from the original to the same level as the generated ones. With
    ``resample`` r > 1 each step is taken r times, re-noised back up in between,
    x_t = sqrt(ᾱ_t / ᾱ_{t'}) x_{t'} + sqrt(1 − ᾱ_t / ᾱ_{t'}) z, so that the two parts can agree.
    At t' = 0 the kept pixels are x_0 itself, exactly.
    """
    x0 = _check_model_input(model, x0)
    keep = _check_keep(keep, x0).to(sched.alpha_bars.device)
    x0 = x0.to(sched.alpha_bars.device)
    ab = sched.alpha_bars

    def update(x, t, t_next, eps, noise):
        if t_next > t:  # RePaint's jump back up: q(x_t | x_{t'})
            a = ab[t_next] / ab[t]
            return a.sqrt() * x + (1 - a).sqrt() * noise
        unknown = ddpm_step(sched, x, t, eps, noise, t_prev=t_next)
        if t_next == 0:
            return torch.where(keep, x0, unknown)
        known_noise = torch.randn(x0.shape, generator=generator).to(x0)
        known = ab[t_next].sqrt() * x0 + (1 - ab[t_next]).sqrt() * known_noise
        return torch.where(keep, known, unknown)

    x_T = torch.randn(x0.shape, generator=generator)
    return run_chain(model, sched, x_T, repaint_timesteps(sched, steps, resample), update, context=context,
                     guidance=guidance, generator=generator, record_every=record_every, precision=precision,
                     needs_noise=True, network_on_ascent=False)


def figure_masks(images, white=0.96):
    """The sprites' drawn pixels: any channel below `white` (images (n, 3, H, W) in [-1, 1] -> bool (n, H, W)).

    The generator paints its background exactly white (backgrounds.sprite_masks), so on generated
    sprites this is their true mask; on the model's samples it is the figure the model drew."""
    return (torch.as_tensor(images) < white).any(1)


def seam_jump(images, keep):
    """Mean absolute colour step (over channels, in [-1, 1] units) between 4-neighbour pixels on opposite
    sides of the mask's border: how sharply the kept and the regenerated parts meet. Compare it with the
    same figure for the originals."""
    images, keep = torch.as_tensor(images).float(), torch.as_tensor(keep)
    steps, across = [], []
    for dim in (2, 3):  # vertical and horizontal neighbours
        a, b = images.narrow(dim, 0, images.shape[dim] - 1), images.narrow(dim, 1, images.shape[dim] - 1)
        ka, kb = keep.narrow(dim - 1, 0, keep.shape[dim - 1] - 1), keep.narrow(dim - 1, 1, keep.shape[dim - 1] - 1)
        steps.append((a - b).abs().mean(1).flatten())  # (n (H-1) W,) or (n H (W-1),)
        across.append((ka != kb).flatten())
    steps, across = torch.cat(steps), torch.cat(across)
    if not across.any():
        raise ValueError("the mask has no border inside the picture (all kept or nothing kept)")
    return float(steps[across].mean())
