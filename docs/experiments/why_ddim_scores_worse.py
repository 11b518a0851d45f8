"""Why deterministic samplers score a worse sprite FID than DDPM-500 here: two checks.

1. Pixel statistics of 200 samples per sampler (w = 0, one-hot contexts, seed 0) against real sprites:
   the share of mid-tone values (strictly between -0.9 and 0.9), of pure-white background pixels, and
   the mean absolute difference between neighbouring pixels (edge contrast).
2. DDIM-25 at n = 1000 (FID and context accuracy) as it is, and changed in one way each:
   - x̂0 clamped to [-1, 1] inside every step and ε recomputed from it (diffusers' clip_sample with
     use_clipped_model_output);
   - started from what training showed the network at t = T, sqrt(ᾱ_T) x0 + sqrt(1 − ᾱ_T) ε with x0 a real
     sprite of the class asked for, not from pure noise (the linear schedule leaves sqrt(ᾱ_T) = 0.08 of the
     sprite in x_T: Lin et al. 2024's non-zero terminal SNR);
   - ε divided by 1.02 in every step (Ning et al. 2024's epsilon scaling against exposure bias).

Run from the repository root:  python docs/experiments/why_ddim_scores_worse.py
"""
import contextlib

import torch
import torch.nn.functional as F

from course_lib import samplers
from course_lib.data import to_model_space
from course_lib.metrics import REFERENCE_SEED, context_accuracy, evaluate, load_classifier, sprite_fid
from course_lib.pretrained import load_pretrained
from course_lib.sprites import generate_sprites


def pixel_statistics(images):
    """Mid-tone share, white-background share and edge contrast of images (N, 3, H, W) in [-1, 1]."""
    x = images.clamp(-1, 1)
    edge = ((x[..., 1:] - x[..., :-1]).abs().mean() + (x[..., 1:, :] - x[..., :-1, :]).abs().mean()) / 2
    return {"mid-tone": ((x > -0.9) & (x < 0.9)).float().mean().item(),
            "white": (x.min(dim=1).values > 0.9).float().mean().item(),  # all three channels near 1
            "edge": edge.item()}


def clamped_eps(sched, x_t, t, eps):
    """The ε consistent with x̂0 clamped to [-1, 1]."""
    return sched.eps_from("x0", x_t, t, samplers.predict_x0(sched, x_t, t, eps).clamp(-1, 1))


@contextlib.contextmanager
def ddim_eps_changed(change):
    """Within the block, ddim_step uses change(sched, x_t, t, eps) in place of the network's ε."""
    plain = samplers.ddim_step

    def changed(sched, x_t, t, t_prev, eps, eta=0.0, noise=None):
        return plain(sched, x_t, t, t_prev, change(sched, x_t, t, eps), eta, noise)

    samplers.ddim_step = changed
    try:
        yield
    finally:
        samplers.ddim_step = plain


def ddim_from_leaked_start(model, sched, n=1000, seed=0, batch=500):
    """FID and context accuracy of DDIM-25 (w = 0) started from sqrt(ᾱ_T) x0 + sqrt(1 − ᾱ_T) ε, x0 real
    sprites (seed 777) of the classes asked for, scored as evaluate() scores."""
    real = to_model_space(generate_sprites(n, seed=777)[0])  # (n, 3, 16, 16), sprite i of class i % 5
    asked = torch.arange(n) % 5
    context = F.one_hot(asked, 5).float()  # (n, 5)
    generator = torch.Generator().manual_seed(seed)
    ab_T = sched.alpha_bars[-1]
    images = []
    for x0, c in zip(real.split(batch), context.split(batch)):
        x_T = ab_T.sqrt() * x0 + (1 - ab_T).sqrt() * torch.randn(x0.shape, generator=generator)
        images.append(samplers.sample_ddim(model, sched, len(x_T), 25, context=c, x_T=x_T, generator=generator).images)
    images = torch.cat(images).clamp(-1, 1)
    classifier = load_classifier()
    reference = to_model_space(generate_sprites(n, seed=REFERENCE_SEED)[0])
    return sprite_fid(classifier, images, reference), context_accuracy(classifier, images, asked)


def main(n=200):
    model, sched = load_pretrained()
    context = F.one_hot(torch.arange(n) % 5, 5).float()  # (n, 5), classes in turn
    runs = {"real sprites (seed 12345)": lambda g: to_model_space(generate_sprites(n, seed=12345)[0]),
            "DDPM-500": lambda g: samplers.sample_ddpm(model, sched, n, context=context, generator=g).images,
            "DDIM-25, η = 1": lambda g: samplers.sample_ddim(model, sched, n, 25, eta=1.0, context=context,
                                                             generator=g).images,
            "DDIM-25, η = 0": lambda g: samplers.sample_ddim(model, sched, n, 25, context=context, generator=g).images,
            "DPM-Solver++ 10": lambda g: samplers.sample_dpm_solver(model, sched, n, 10, context=context,
                                                                    generator=g).images}
    print(f"| {n} images | mid-tone share | white share | edge contrast |\n|---|---|---|---|")
    for name, make in runs.items():
        s = pixel_statistics(make(torch.Generator().manual_seed(0)))
        print(f"| {name} | {100 * s['mid-tone']:.1f}% | {100 * s['white']:.1f}% | {s['edge']:.3f} |")
    print("\n| DDIM-25, w = 0, n = 1000, seed 0 | FID | context accuracy |\n|---|---|---|")
    changes = {"as it is": lambda sched, x_t, t, eps: eps, "x̂0 clamped in every step": clamped_eps,
               "ε / 1.02 in every step": lambda sched, x_t, t, eps: eps / 1.02}
    for name, change in changes.items():
        with ddim_eps_changed(change):
            row = evaluate(model, sched, "ddim", steps=25, n=1000)
        print(f"| {name} | {row['fid']:.2f} | {100 * row['context_acc']:.1f}% |")
    fid, acc = ddim_from_leaked_start(model, sched)
    print(f"| started from sqrt(ᾱ_T) x0 + sqrt(1 − ᾱ_T) ε | {fid:.2f} | {100 * acc:.1f}% |")


if __name__ == "__main__":
    main()
