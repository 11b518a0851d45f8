"""The training-recipe ablation behind `--preset live` (docs/training_recipe.md): one change per row against
the course's recipe at notebook 02's live budget, scored the same way.

Budget of every row unless it says otherwise: n_feat 32, 8,000 generated sprites (seed 0), 1,250 AdamW steps
of 64 sprites (lr 2e-3 decaying linearly to 0, weight decay 0.01), context dropout 0.1, EMA with the
library's warm-up, T = 500 linear schedule, bf16 where the CPU has it. Scores: the EMA weights sampled with
DDIM-50 (n 250, seed 0) at guidance 0 and 2: sprite FID and context accuracy (course_lib.metrics.evaluate),
and the speckle share: of the non-white pixels, the share whose colour differs from all four neighbours by
more than 0.15 (real sprites: about 0.15; speckled samples 0.35 and more).

The loop below is the library's training loop (same data order, noise and t draws) with the knobs the
library does not carry open for the ablation: loss weighting, warm-up and cosine learning rates, Adam's β₂,
network variants. The chosen recipe is also measured with the library itself
(`python -m course_lib bench --train`).

Run from the repository root, one row per call (each takes about 2.5 minutes on 2 CPU cores):
    python docs/experiments/training_recipe.py --name x0 --prediction x0
Each call appends its row, with every option it ran with, to docs/results/training_recipe.jsonl;
`python docs/experiments/training_recipe.py --table bf16` prints the table of docs/training_recipe.md
(`--table fp32` the fp32 rows).
"""
import argparse
import copy
import json
import math
import time
from pathlib import Path

import matplotlib
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import ContextUnet, NoiseSchedule
from course_lib.data import SpriteDataset
from course_lib.metrics import evaluate
from course_lib.model import EmbedFC
from course_lib.precision import autocast, prepare_input, resolve_precision
from course_lib.samplers import sample_ddim
from course_lib.training import draw_timesteps, perturbed_noise
from course_lib.viz import show_grid

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path("docs/results/training_recipe.jsonl")
PICTURES = Path("out/training_recipe")
SIGMA_DATA = 0.5  # σ_d of Karras et al.'s preconditioning and its loss weight


class TimeInEncoder(ContextUnet):
    """The course's U-Net with the time embedding also added to the encoder's first features."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.timeembed0 = EmbedFC(1, self.n_feat)
        self.init_conv.register_forward_hook(self._add_time)  # a bound method: copies of the model hook their own

    def _add_time(self, module, args, out):
        return out + self._temb0

    def forward(self, x, t, c=None):
        t_col = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1, 1).expand(x.shape[0], 1)
        self._temb0 = self.timeembed0(t_col).view(x.shape[0], self.n_feat, 1, 1)  # (B, F, 1, 1)
        return super().forward(x, t, c)


class Preconditioned(ContextUnet):
    """Karras et al. 2022 (EDM, Table 1) preconditioning written for the VP schedule: with y = x_t / sqrt(ᾱ_t)
    and σ² = (1 − ᾱ_t)/ᾱ_t, x̂_0 = c_skip y + c_out F(c_in y, t), c_in = 1/sqrt(σ² + σ_d²),
    c_skip = σ_d²/(σ² + σ_d²), c_out = σ σ_d/sqrt(σ² + σ_d²). With v = ᾱ_t σ_d² + 1 − ᾱ_t that is
    x̂_0 = σ_d² sqrt(ᾱ_t) x_t / v + σ_d sqrt((1 − ᾱ_t)/v) F(x_t / sqrt(v), t): the network F sees input of
    unit variance where the sprites' standard deviation is σ_d, and its target is −ε at low noise and
    x_0 / σ_d at high noise."""

    def __init__(self, sched, sigma_data=SIGMA_DATA, **kwargs):
        super().__init__(**kwargs)
        self.alpha_bars, self.sigma_data = sched.alpha_bars.clone(), sigma_data

    def forward(self, x, t, c=None):
        steps = (torch.as_tensor(t, dtype=torch.float32) * (len(self.alpha_bars) - 1)).round().long()
        ab = self.alpha_bars[steps].reshape(-1, 1, 1, 1).to(x)  # (B, 1, 1, 1) or (1, 1, 1, 1)
        var = ab * self.sigma_data ** 2 + 1 - ab
        out = super().forward(x / var.sqrt(), t, c)
        return self.sigma_data ** 2 * ab.sqrt() * x / var + self.sigma_data * ((1 - ab) / var).sqrt() * out


def shifted_schedule(shift):
    """The linear schedule with every step's log-SNR moved by `shift` (Hoogeboom et al. 2023's shifted
    schedule: negative = noisier at every step)."""
    sched = NoiseSchedule(500)
    log_snr = sched.snr(torch.arange(1, 501)).log() + shift
    alpha_bars = torch.cat([torch.ones(1), torch.sigmoid(log_snr)])  # (T + 1,), ᾱ_0 = 1
    sched.alpha_bars.copy_(alpha_bars)
    sched.alphas.copy_(torch.cat([torch.ones(1), alpha_bars[1:] / alpha_bars[:-1]]))
    sched.betas.copy_(1 - sched.alphas)
    return sched


def with_group_norm(model):
    """Every BatchNorm2d of `model` replaced by GroupNorm(8 groups), in place."""
    for name, child in model.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(model, name, nn.GroupNorm(8, child.num_features))
        else:
            with_group_norm(child)
    return model


def build_model(args, sched):
    fields = dict(n_feat=args.n_feat, prediction=args.prediction)
    if args.network == "preconditioned":
        return Preconditioned(sched, **fields)
    if args.network == "course":
        return ContextUnet(**fields)
    if args.network == "group-norm":
        return with_group_norm(ContextUnet(**fields))
    if args.network == "time-in-encoder":
        return TimeInEncoder(**fields)
    if args.network == "context-film":
        return ContextUnet(context_film=True, **fields)
    raise ValueError(f"unknown network {args.network!r}")


def learning_rate(args, step):
    """Linear warm-up over args.warmup steps, then linear decay to 0 or a half cosine."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    done = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (1 - done if args.lr_schedule == "linear" else 0.5 * (1 + math.cos(math.pi * done)))


def log_snr_normal(t_sampling):
    """"uniform" -> None; "lognormal:MU,SD" -> (MU, SD), the (mean, std) of the log-SNR that t is drawn by."""
    if t_sampling == "uniform":
        return None
    mean, std = map(float, t_sampling.removeprefix("lognormal:").split(","))
    return mean, std


def loss_weights(args, sched, t):
    """Per-sprite weights of the target's MSE, each written in x_0 units and divided by what the target's
    MSE already weighs x_0 errors by (ε: SNR, v: SNR + 1, x_0: 1):
        min-snr-γ: min(SNR, γ) (Hang et al. 2023);
        p2-γ: SNR / (1 + SNR)^γ, ε's weight 1/(1 + SNR)^γ of Choi et al. 2022 (k = 1);
        edm: 1/c_out² = (1 + σ_d² SNR)/σ_d², σ_d = SIGMA_DATA (Karras et al. 2022: unit weight on F's error)."""
    if args.weighting == "none":
        return torch.ones(len(t))
    snr = sched.snr(t)
    if args.weighting.startswith("min-snr-"):
        weights = snr.clamp(max=float(args.weighting.removeprefix("min-snr-")))
    elif args.weighting.startswith("p2-"):
        weights = snr / (1 + snr) ** float(args.weighting.removeprefix("p2-"))
    elif args.weighting == "edm":
        weights = (1 + SIGMA_DATA ** 2 * snr) / SIGMA_DATA ** 2
    else:
        raise ValueError(f"unknown weighting {args.weighting!r}")
    in_target_units = {"eps": snr, "x0": torch.ones_like(snr), "v": snr + 1}[args.prediction]
    return weights / in_target_units


def speckle_share(images):
    """Share of non-white pixels whose colour differs from each of their 4 neighbours by more than 0.15."""
    x = (images.clamp(-1, 1) + 1) / 2
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    h, w = x.shape[-2:]
    gaps = [(x - padded[..., 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]).abs().amax(1)
            for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0))]  # 4 x (B, H, W)
    isolated = torch.stack(gaps).amin(0) > 0.15
    drawn = x.amin(1) < 0.9
    return (isolated & drawn).sum().item() / max(1, drawn.sum().item())


def train_row(args, sched, data):
    torch.manual_seed(args.seed)
    model = build_model(args, sched)
    precision = resolve_precision(args.precision, "cpu")
    if args.memory_format == "channels_last":  # as the library trains on a CPU, in bf16 and fp32
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, args.beta2))
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    generator = torch.Generator().manual_seed(args.seed)
    batches_per_epoch = len(data) // args.batch
    start = time.perf_counter()
    model.train()
    for step in range(args.steps):
        epoch, i = divmod(step, batches_per_epoch)
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(args.seed * 1_000_003 + epoch))
        idx = order[i * args.batch:(i + 1) * args.batch]
        x0, context = data.images[idx], data.labels[idx]
        t = draw_timesteps(sched, len(idx), generator, log_snr_normal(args.t_sampling))
        noise = torch.randn(x0.shape, generator=generator)
        keep = torch.rand(len(idx), generator=generator) >= args.context_dropout
        context = context * keep[:, None]  # context dropout: the null context for this share
        seen_noise = perturbed_noise(noise, args.input_perturbation, generator)  # the target uses ε alone
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(args, step)
        with autocast("cpu", precision):
            out = model(prepare_input(sched.add_noise(x0, t, seen_noise), precision), t / sched.timesteps, context)
        target = sched.target_of(args.prediction, x0, t, noise)
        loss = (loss_weights(args, sched, t) * ((out.float() - target) ** 2).mean((1, 2, 3))).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        decay = min(args.ema, (1 + step) / (10 + step)) if args.ema_warmup else args.ema
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), model.parameters()):
                p_ema.lerp_(p, 1 - decay)
            for b_ema, b in zip(ema.buffers(), model.buffers()):
                b_ema.copy_(b)
    return ema, time.perf_counter() - start, precision


SCORES = ("fid_g0", "acc_g0", "fid_g2", "acc_g2", "speckle", "train_seconds")


def table(path, precision="all"):
    """Markdown: one line per row name, the noise-predicting rows first, then in the file's order; with
    several seeds, the mean and the range. `precision` "bf16" or "fp32" keeps the rows trained in it."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    rows = [row for row in rows if precision in ("all", row["precision"])]
    names = list(dict.fromkeys(row["name"] for row in rows))
    predicts = {row["name"]: row["prediction"] for row in rows}
    names.sort(key=lambda name: predicts[name] == "x0")  # stable: file order within each group
    lines = ["| row | seeds | FID g0 | acc g0 | FID g2 | acc g2 | speckle | train s |",
             "|---|---|---|---|---|---|---|---|"]
    for name in names:
        runs = [row for row in rows if row["name"] == name]
        cells = []
        for key in SCORES:
            values = [row[key] for row in runs]
            mean = sum(values) / len(values)
            digits = 3 if key.startswith(("acc", "speckle")) else 1 if key == "train_seconds" else 2
            cell = f"{mean:.{digits}f}"
            if len(values) > 1:
                cell += f" ({min(values):.{digits}f}-{max(values):.{digits}f})"
            cells.append(cell)
        lines.append(f"| {name} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", help="the row's name in the results file")
    parser.add_argument("--table", nargs="?", const="all", choices=("all", "bf16", "fp32"),
                        help="print the markdown table of the results file instead (of the rows in one precision)")
    parser.add_argument("--prediction", default="eps", choices=("eps", "x0", "v"))
    parser.add_argument("--weighting", default="none", help="none, min-snr-G (e.g. min-snr-5), p2-G or edm")
    parser.add_argument("--t-sampling", default="uniform", help="uniform or lognormal:MU,SD (of log-SNR)")
    parser.add_argument("--schedule", default="linear", choices=("linear", "cosine"))
    parser.add_argument("--schedule-shift", type=float, default=0.0,
                        help="move the linear schedule's log-SNR by this at every step")
    parser.add_argument("--network", default="course",
                        choices=("course", "group-norm", "time-in-encoder", "context-film", "preconditioned"))
    parser.add_argument("--n-feat", type=int, default=32)
    parser.add_argument("--steps", type=int, default=1250)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--lr-schedule", default="linear", choices=("linear", "cosine"))
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--beta2", type=float, default=0.999)
    parser.add_argument("--ema", type=float, default=0.995, help="EMA decay; 0 samples the trained weights")
    parser.add_argument("--no-ema-warmup", dest="ema_warmup", action="store_false",
                        help="the EMA decay from the first step, not min(decay, (1 + s)/(10 + s))")
    parser.add_argument("--context-dropout", type=float, default=0.1)
    parser.add_argument("--input-perturbation", type=float, default=0.0, metavar="GAMMA",
                        help="x_t made with ε + GAMMA ξ, the target with ε alone (Ning et al. 2023 use 0.1)")
    parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    parser.add_argument("--memory-format", default="channels_last", choices=("channels_last", "nchw"),
                        help="the network's weight layout while training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", default=str(RESULTS), help="the JSON-lines file the row is appended to")
    args = parser.parse_args()
    if args.table:
        print(table(args.results, args.table))
        return
    if not args.name:
        parser.error("--name is required to run a row")

    if args.schedule_shift and args.schedule != "linear":
        parser.error("--schedule-shift moves the linear schedule")
    if args.network == "preconditioned" and args.prediction != "x0":
        parser.error("the preconditioned network outputs x_0: give --prediction x0")
    if not (args.weighting in ("none", "edm") or args.weighting.startswith(("min-snr-", "p2-"))):
        parser.error(f"unknown weighting {args.weighting!r}: none, min-snr-G, p2-G or edm")
    sched = shifted_schedule(args.schedule_shift) if args.schedule_shift else NoiseSchedule(500, kind=args.schedule)
    data = SpriteDataset.generated(8000, seed=0)
    ema, seconds, precision = train_row(args, sched, data)
    row = {**{k: v for k, v in vars(args).items() if k not in ("results", "table")}, "precision": precision, "train_seconds": round(seconds, 1)}
    for guidance in (0.0, 2.0):
        scores = evaluate(ema, sched, sampler="ddim", steps=50, n=250, guidance=guidance, seed=0,
                          precision=args.precision)
        row[f"fid_g{guidance:g}"] = round(scores["fid"], 2)
        row[f"acc_g{guidance:g}"] = round(scores["context_acc"], 3)
    shown = sample_ddim(ema, sched, n=40, steps=50, context=torch.eye(5).repeat_interleave(8, 0), guidance=2.0,
                        generator=torch.Generator().manual_seed(0), precision=args.precision).images
    row["speckle"] = round(speckle_share(shown), 3)
    PICTURES.mkdir(parents=True, exist_ok=True)
    show_grid(shown, nrow=8, title=args.name)
    plt.savefig(PICTURES / f"{args.name}.png", dpi=80)
    print(json.dumps(row))
    with open(args.results, "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
