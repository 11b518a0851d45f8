"""A second network for the band where DDIM-25 loses (eDiff-I's expert denoisers, Balaji et al. 2022): the
shipped one-hot model answers the sampler above t = 250, and an expert, the shipped weights trained further
on t drawn by log-SNR ~ N(1.85, 1.4²) (95% of its draws between the log-SNRs of t = 250 and t = 20, -0.9 and
4.6), answers at and below. The pair has twice the parameters where docs/results/where_ddim_loses.md
finds the gap arising.

Train the expert, then score (about 20 minutes on a 2-core CPU, bf16), from the repository root:
    python -m course_lib train --preset course --init data/weights/context_unet.pt --log-snr-normal 1.85,1.4 \\
        --max-steps 3000 --lr 3e-4 --out out/band/low.pt
    python docs/experiments/band_expert.py out/band/low.pt >> docs/results/band_expert.jsonl

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
        self.high, self.low, self.switch_frac = high, low, switch_t / timesteps
        for name in ("prediction", "height", "in_channels", "n_cfeat"):
            setattr(self, name, getattr(high, name))

    def forward(self, x, t_frac, c=None):
        at_or_below = torch.as_tensor(t_frac) <= self.switch_frac
        if bool(at_or_below.any()) != bool(at_or_below.all()):
            raise ValueError("BandRouter needs one t per batch, as the samplers give it")
        return (self.low if bool(at_or_below.all()) else self.high)(x, t_frac, c)


def main(expert_path):
    shipped, sched = load_pretrained()
    expert, _ = load_weights(expert_path)
    pair = BandRouter(shipped, expert, SWITCH_T, sched.timesteps)
    for name, model, sampler in (("pair", pair, "ddim"), ("pair", pair, "ddpm"), ("expert alone", expert, "ddim")):
        row = evaluate(model, sched, sampler, steps=25, n=1000, guidance=0.0)
        print(json.dumps({"model": name, "expert": expert_path, "switch_t": SWITCH_T, **row}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
