"""A second network for the band where DDIM-25 loses, as eDiff-I samples with expert denoisers (Balaji et
al. 2022). The shipped one-hot model answers the sampler above t = 250; an expert answers at and below. The
expert is the shipped weights trained further on t drawn by log-SNR ~ N(1.85, 1.4²): 95% of its draws fall
between t = 250 and t = 20 (log-SNR -0.9 to 4.6), the band where docs/results/where_ddim_loses.md finds the
gap arising. The pair has twice the parameters, a whole network for that band, at the same cost per step.

Train the expert, then score (about 20 minutes on a 2-core CPU with AVX512-BF16, bf16), from the repository
root:
    python -m course_lib train --preset course --init data/weights/context_unet.pt --log-snr-normal 1.85,1.4 \\
        --max-steps 3000 --lr 3e-4 --out out/band/low.pt
    python docs/experiments/band_expert.py out/band/low.pt > docs/results/band_expert.jsonl

It prints one JSON line per row: the pair with DDIM-25 and DDPM-25, and the expert alone with DDIM-25
(n = 1000, guidance 0, seed 0, as `python -m course_lib evaluate` scores).
"""
import json
import sys

import torch
from torch import nn

from course_lib.metrics import evaluate
from course_lib.pretrained import load_pretrained, load_weights

SWITCH_T = 250


class BandRouter(nn.Module):
    """Asks `low` at t <= switch_t and `high` above; a sampler's batch shares one t, so one network answers."""

    def __init__(self, high, low, switch_t, timesteps):
        super().__init__()
        self.high, self.low, self.switch_t, self.timesteps = high, low, switch_t, timesteps
        for name in ("prediction", "height", "in_channels", "n_cfeat"):
            setattr(self, name, getattr(high, name))

    def forward(self, x, t_frac, c=None):
        t = torch.round(torch.as_tensor(t_frac) * self.timesteps)  # the samplers pass t / T
        at_or_below = t <= self.switch_t
        low = bool(at_or_below.all())
        if not low and bool(at_or_below.any()):
            raise ValueError("BandRouter needs one t per batch, as the samplers give it")
        return (self.low if low else self.high)(x, t_frac, c)


def main(expert_path):
    shipped, sched = load_pretrained()
    expert, _ = load_weights(expert_path)
    pair = BandRouter(shipped, expert, SWITCH_T, sched.timesteps)
    pair_label = {"model": "pair", "switch_t": SWITCH_T}
    rows = ((pair_label, pair, "ddim"), (pair_label, pair, "ddpm"), ({"model": "expert alone"}, expert, "ddim"))
    for label, model, sampler in rows:
        row = evaluate(model, sched, sampler, steps=25, n=1000, guidance=0.0)
        print(json.dumps({**label, "expert": expert_path, **row}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
