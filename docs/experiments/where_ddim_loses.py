"""Where along the chain DDIM-25 loses its sprite FID to DDPM: 25-step chains that take DDPM's noisy jump
(ddpm_step, noise added) on some steps and DDIM's deterministic step (η = 0) on the others.

Every chain runs the same 25 trailing steps (500, 480, ..., 20, 0) from the same x_T, asks the network the
same 25 times, and is scored as `evaluate` scores: n = 1000 one-hot contexts (200 per class), guidance 0,
seed 0, FID against the same reference sprites. A switch step s splits the chain: "DDPM above s" jumps
with DDPM from every t > s and steps with DDIM from t <= s; "DDIM above s" the other way round.

Run from the repository root:  python docs/experiments/where_ddim_loses.py [WEIGHTS]
(the shipped one-hot model without an argument); it prints a Markdown table.
"""
import sys

import torch
import torch.nn.functional as F

from course_lib import samplers
from course_lib.metrics import context_accuracy, feature_stats, frechet_distance, load_classifier, reference_stats
from course_lib.pretrained import load_pretrained, load_weights

SWITCHES = (400, 250, 100, 40)


def mixed_chain_scores(model, sched, classifier, noisy_at, n=1000, seed=0, batch=500):
    """FID and context accuracy of 25-step chains that jump with DDPM where noisy_at(t), else step with DDIM."""
    def update(x, t, t_prev, eps, noise):
        if noisy_at(t):
            return samplers.ddpm_step(sched, x, t, eps, noise, t_prev=t_prev)
        return samplers.ddim_step(sched, x, t, t_prev, eps)

    asked = torch.arange(n) % 5  # (n,): the class each sample is asked for
    contexts = F.one_hot(asked, 5).float()  # (n, 5)
    generator = torch.Generator().manual_seed(seed)
    timesteps = samplers.sampling_timesteps(sched, 25)
    images = []
    for context in contexts.split(batch):
        x_T = torch.randn((len(context), 3, 16, 16), generator=generator)
        images.append(samplers.run_chain(model, sched, x_T, timesteps, update, context=context, generator=generator,
                                         needs_noise=True).images)
    images = torch.cat(images).clamp(-1, 1)
    fid = frechet_distance(*feature_stats(classifier, images), *reference_stats(classifier, n))  # as evaluate scores
    return fid, context_accuracy(classifier, images, asked)


def main(weights=None):
    model, sched = load_weights(weights) if weights else load_pretrained()
    classifier = load_classifier()  # reference_stats caches the reference sprites' statistics for it
    chains = {"DDIM on every step": lambda t: False, "DDPM on every step": lambda t: True}
    chains.update({f"DDPM above {s}, DDIM at and below": (lambda s: lambda t: t > s)(s) for s in SWITCHES})
    chains.update({f"DDIM above {s}, DDPM at and below": (lambda s: lambda t: t <= s)(s) for s in SWITCHES})
    print(f"| 25 steps, w = 0, n = 1000, seed 0 ({weights or 'shipped model'}) | FID | context accuracy |\n"
          "|---|---|---|")
    for name, noisy_at in chains.items():
        fid, acc = mixed_chain_scores(model, sched, classifier, noisy_at)
        print(f"| {name} | {fid:.2f} | {100 * acc:.1f}% |", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
