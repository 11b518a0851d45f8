"""Training a network to predict noise (DDPM Algorithm 1), readable top to bottom.

    repeat:  x_0 ~ data,  t ~ Uniform{1..T},  ε ~ N(0, I)
             x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε
             loss = ‖ε − ε_θ(x_t, t/T, c)‖²       (c zeroed with probability `context_dropout`)
             take a gradient step on loss; update the EMA copy of the weights

A model built with prediction="x0" (or "v") learns the same way with the clean sprite x_0 (or v) in
place of ε in the loss (`diffusion_loss`).

All randomness comes from one seeded generator whose state is saved in each checkpoint, and the
data order of epoch e from a generator seeded by (seed, e): a resumed run repeats the
uninterrupted one step for step.

Under `torchrun` each of the N processes (ranks) trains a DistributedDataParallel copy of the model
on its own share of every batch: rank r takes every N-th sprite of the epoch's order from the r-th
on, so one step of N ranks sees the same sprites as one step of one process with N times the batch.
Gradients are averaged over the ranks, rank r draws its noise from its own seeded generator (rank 0
from the seed itself), and rank 0 alone writes checkpoints and shows progress.
"""
import contextlib
import copy
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .checkpoint import load_checked, save_atomic, sole_writer
from .distributed import (broadcast_buffers, gather_from_ranks, process_group, processes_on_this_machine,
                          sum_over_ranks)
from .memory import GENERATED_SPRITE_BYTES, check_fits_in_memory
from .model import ContextUnet
from .precision import autocast, prepare_input, resolve_precision
from .pretrained import WEIGHTS_FORMAT, rebuild_model

CHECKPOINT_FORMAT = "course_lib.checkpoint/1"


@dataclass
class TrainConfig:
    """What to train for and how. Stop at whichever of epochs, max_steps, minutes comes first."""
    epochs: int | None = 32
    max_steps: int | None = None
    minutes: float | None = None
    batch_size: int = 100
    lr: float = 1e-3
    lr_decay: bool = True          # linear decay to 0 over the planned steps, as the course does
    context_dropout: float = 0.1   # share of samples trained with the null context
    log_snr_normal: tuple | None = None  # (mean, std): t drawn by its log-SNR ~ N(mean, std²); None: t uniform
    input_perturbation: float = 0.0  # γ: the network sees x_t made with ε + γ ξ (Ning et al. 2023); 0: off
    ema_decay: float = 0.995
    seed: int = 0
    checkpoint_every: int = 0      # steps; 0 writes only at the end (if checkpoint_path is set)
    checkpoint_path: str | None = None
    precision: str = "auto"
    progress: bool = True


@dataclass(frozen=True)
class Preset:
    """A whole recipe: the network to build (width, prediction target, whether the context also reaches the
    16x16 features), how many generated sprites to train on, and the TrainConfig fields it sets.
    `python -m course_lib train --preset NAME` uses it."""
    n_feat: int
    prediction: str
    context_film: bool
    n_sprites: int
    config: dict
    about: str


PRESETS = {
    # docs/training_recipe.md: the ablation that chose it (the live run of notebook 02)
    "live": Preset(n_feat=32, prediction="x0", context_film=True, n_sprites=8000,
                   config=dict(epochs=None, max_steps=1250, batch_size=64, lr=2e-3, log_snr_normal=(0.0, 2.0),
                               context_dropout=0.05),
                   about="predict the clean sprite, t drawn by log-SNR ~ N(0, 2^2), the context also on the 16x16 "
                         "features, the null context for 5% of sprites; 1,250 steps of 64 of 8,000 sprites (about "
                         "2 min on 2 CPU cores)"),
    "course": Preset(n_feat=64, prediction="eps", context_film=False, n_sprites=89_400,
                     config=dict(epochs=32, max_steps=None, batch_size=100, lr=1e-3, log_snr_normal=None),
                     about="the course's: predict the noise; 32 epochs of 89,400 sprites, batches of 100"),
}


def preset_model(name, n_cfeat=5, height=16, **overrides):
    """A fresh ContextUnet built as preset `name` says (keyword overrides replace its fields)."""
    preset = PRESETS[check_preset(name)]
    fields = {"n_feat": preset.n_feat, "prediction": preset.prediction, "context_film": preset.context_film,
              **overrides}
    return ContextUnet(n_cfeat=n_cfeat, height=height, **fields)


def preset_config(name, **overrides):
    """The TrainConfig of preset `name`, with keyword overrides."""
    return TrainConfig(**{**PRESETS[check_preset(name)].config, **overrides})


def check_preset(name):
    """ValueError, listing the presets, unless `name` is one; returns it."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)} "
                         f"({'; '.join(f'{k}: {v.about}' for k, v in PRESETS.items())})")
    return name


@dataclass
class TrainResult:
    """The trained model, its EMA copy (use it for sampling), and the per-step loss history."""
    model: torch.nn.Module
    ema_model: torch.nn.Module
    losses: list = field(default_factory=list)
    step: int = 0
    epoch: float = 0.0             # epochs done, fractional
    seconds: float = 0.0
    precision: str = "fp32"


def check_config(cfg):
    """ValueError, naming the field and what it takes, for a TrainConfig that cannot train."""
    if cfg.epochs is None and cfg.max_steps is None and cfg.minutes is None:
        raise ValueError("give at least one of epochs, max_steps or minutes so training can stop")
    for name in ("epochs", "max_steps", "batch_size"):
        value = getattr(cfg, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if cfg.minutes is not None and not 0 < cfg.minutes < math.inf:
        raise ValueError(f"minutes must be a finite number > 0 (leave it out for no time limit), got {cfg.minutes!r}")
    lr = cfg.lr
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr (the learning rate, --lr) must be a positive finite number, got {lr!r}; "
                         "the course uses 1e-3")
    dropout = cfg.context_dropout
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
        raise ValueError(f"context_dropout (the share of sprites trained with the null context, --context-dropout) "
                         f"must be a number in [0, 1], got {dropout!r}; the course uses 0.1")
    if cfg.log_snr_normal is not None:
        spec = cfg.log_snr_normal
        if (not isinstance(spec, (tuple, list)) or len(spec) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in spec)
                or not spec[1] > 0):
            raise ValueError(f"log_snr_normal must be (mean, std) with a finite mean and a std > 0, e.g. (0, 3), "
                             f"or None for t uniform, got {spec!r}")
    gamma = cfg.input_perturbation
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0 <= gamma <= 1:
        raise ValueError(f"input_perturbation (γ, --input-perturbation) must be a number in [0, 1], got {gamma!r}; "
                         "Ning et al. 2023 use 0.1, and 0 trains as the course does")
    if not 0 <= cfg.ema_decay < 1:
        raise ValueError(f"ema_decay must be in [0, 1), got {cfg.ema_decay!r}")
    every = cfg.checkpoint_every
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise ValueError(f"checkpoint_every (--checkpoint-every) must be a whole number of steps >= 0 "
                         f"(0: one checkpoint at the end), got {every!r}")
    if every and not cfg.checkpoint_path:
        raise ValueError(f"checkpoint_every={every} has nowhere to write: give the checkpoint file too "
                         "(checkpoint_path, or --checkpoint PATH on the command line)")


def _check_data_size(n_images, world):
    if n_images == 0:
        raise ValueError("the data set is empty: nothing to train on")
    if n_images < world.size:
        raise ValueError(f"the data set has {n_images} sprites, fewer than the {world.size} processes: "
                         "give each process at least one sprite, or start fewer")


def check_generated_sprites_fit(n, processes=None):
    """ValueError, before any sprite is drawn, when n generated sprites (one copy per training process on
    this machine) need more memory than is available."""
    processes = processes or processes_on_this_machine()
    copies = f", one copy for each of {processes} processes" if processes > 1 else ""
    check_fits_in_memory(n * GENERATED_SPRITE_BYTES * processes,
                         f"{n:,} generated sprites ({GENERATED_SPRITE_BYTES // 1024} KiB each while they are made"
                         f"{copies})", "ask for fewer (--n)")


def _images_and_labels(data, model):
    """Accept a SpriteDataset (anything with .images and .labels) or an (images, labels) pair."""
    images, labels = (data.images, data.labels) if hasattr(data, "images") else data
    model.check_images(images)
    if labels is not None and tuple(labels.shape) != (len(images), model.n_cfeat):
        raise ValueError(f"labels must have shape ({len(images)}, {model.n_cfeat}) to match the images "
                         f"and the model's n_cfeat, got {tuple(labels.shape)}")
    return images, labels


def _epoch_order(n, seed, epoch):
    """The data order of one epoch, a function of (seed, epoch) only."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def rank_share(order, rank, world_size):
    """The sprites of an epoch's `order` that rank `rank` of `world_size` trains on: every world_size-th
    from the rank-th on (as DistributedSampler splits). Batch i of each rank, taken together, is batch i
    of one process with world_size times the batch; with one process the share is the whole order."""
    return order[rank::world_size]


def _rank_seed(seed, rank):
    """The seed of rank r's noise generator: the seed itself on rank 0 (one process trains as before)."""
    return seed + (rank << 32)


@torch.no_grad()
def _update_ema(ema_model, model, decay):
    for p_ema, p in zip(ema_model.parameters(), model.parameters()):
        p_ema.lerp_(p, 1 - decay)  # p_ema = decay p_ema + (1 − decay) p
    for b_ema, b in zip(ema_model.buffers(), model.buffers()):
        b_ema.copy_(b)  # BatchNorm statistics are copied, not averaged


def draw_timesteps(sched, b, generator, log_snr_normal=None):
    """b steps t: uniform on 1..T (DDPM), or with log_snr_normal = (mean, std) the steps nearest in log-SNR to
    draws from N(mean, std²), which spends the training on the noise levels around that SNR (as Karras et
    al. 2022 draw log σ from a normal)."""
    if log_snr_normal is None:
        return torch.randint(1, sched.timesteps + 1, (b,), generator=generator)
    mean, std = log_snr_normal
    return sched.nearest_t(mean + std * torch.randn(b, generator=generator)).cpu()


def perturbed_noise(noise, input_perturbation, generator):
    """The noise x_t is made with: ε itself, or with input_perturbation γ > 0, ε + γ ξ, ξ ~ N(0, I) drawn from
    `generator` (DDPM-IP, Ning et al. 2023); the target stays made with ε."""
    if not input_perturbation:
        return noise
    return noise + input_perturbation * torch.randn(noise.shape, generator=generator).to(noise.device)


def diffusion_loss(model, sched, x0, context, generator, context_dropout=0.0, precision="fp32",
                   log_snr_normal=None, input_perturbation=0.0):
    """One draw of the simple loss ‖y − f_θ(x_t, t/T, c)‖² for a batch x0 (B, C, H, W), where y is what the
    model predicts (``model.prediction``): the noise ε (DDPM's loss), the clean sprite x_0, or v; t as
    `draw_timesteps` draws it. With input_perturbation γ > 0 the network sees x_t made with ε + γ ξ, ξ ~ N(0, I),
    while y is made with ε alone (DDPM-IP, Ning et al. 2023): at sampling time its inputs drift from the
    training inputs (exposure bias), and training on a little extra noise teaches it to pull them back."""
    b, device = x0.shape[0], x0.device
    t = draw_timesteps(sched, b, generator, log_snr_normal).to(device)
    noise = torch.randn(x0.shape, generator=generator).to(device)
    if context is not None and context_dropout > 0:
        keep = (torch.rand(b, generator=generator) >= context_dropout).to(device)
        context = context * keep[:, None]  # dropped rows become the null context (zeros)
    x_t = sched.add_noise(x0, t, perturbed_noise(noise, input_perturbation, generator))
    with autocast(device, precision):
        pred = model(prepare_input(x_t, precision), t / sched.timesteps, context)
    return F.mse_loss(pred.float(), sched.target_of(_prediction(model), x0, t, noise))


def _prediction(model):
    """What `model` predicts, also through a DistributedDataParallel wrapper."""
    return getattr(model, "module", model).prediction


def _checkpoint(model, ema_model, optimizer, sched, cfg, step, losses, rng_states, n_images):
    """What a checkpoint holds; "rng" is rank 0's generator state, "rng_per_rank" every rank's."""
    return {"format": CHECKPOINT_FORMAT, "model_config": dict(model.config), "n_images": n_images,
            "schedule": {"timesteps": sched.timesteps, "kind": sched.kind,
                         "betas": sched.betas[1:].cpu()},
            "model": model.state_dict(), "ema": ema_model.state_dict(), "optimizer": optimizer.state_dict(),
            "step": step, "losses": list(losses), "rng": rng_states[0], "train_config": asdict(cfg),
            "world_size": len(rng_states), "rng_per_rank": list(rng_states)}


CHECKPOINT_KEYS = ("model_config", "schedule", "model", "ema", "optimizer", "step", "losses", "train_config")


def check_resume_path(resume):
    """FileNotFoundError, saying how checkpoints are written, unless `resume` is a file."""
    if not Path(resume).is_file():
        raise FileNotFoundError(f"no checkpoint at {resume}: resume takes the file an earlier run wrote with "
                                "checkpoint_path (--checkpoint PATH --checkpoint-every N on the command line)")


def load_checkpoint(path, world_size=1, map_location="cpu"):
    """A checkpoint that `train` wrote, checked: a training checkpoint (not weights), written by a run on
    `world_size` processes (None: any number). Checkpoints from before multi-process training count as one
    process."""
    check_resume_path(path)
    state = load_checked(path, map_location=map_location)
    kind = state.get("format") if isinstance(state, dict) else None
    if kind == WEIGHTS_FORMAT:
        raise ValueError(f"{path} is a weights file (what --out writes, for sampling), not a training checkpoint: "
                         "resume takes the checkpoint an earlier run wrote with checkpoint_path (--checkpoint "
                         "PATH on the command line), which also holds the optimizer and random state")
    if kind != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a course_lib training checkpoint ({CHECKPOINT_FORMAT}); resume takes the "
                         "file an earlier run wrote with checkpoint_path (--checkpoint PATH on the command line)")
    missing = [key for key in CHECKPOINT_KEYS if key not in state]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}, which every checkpoint train writes holds; the file "
                         "was damaged or edited: resume from another checkpoint, or train again")
    for weights in ("model", "ema"):  # their names, shapes and values: NaN weights would train or ship NaN
        rebuild_model(f"{path} ({weights})", state["model_config"], state[weights])
    written_by = state.get("world_size", 1)
    if world_size is not None and written_by != world_size:
        how = "without torchrun" if written_by == 1 else f"with torchrun --nproc_per_node {written_by}"
        raise ValueError(f"{path} was written by training on {written_by} process(es) and this run has "
                         f"{world_size}: a run resumes exactly only on as many, so start it {how}")
    return state


# what a resumed run must share with the run that wrote its checkpoint (the stopping rule, the learning
# rate and the precision may change: a run resumed with a larger max_steps goes on training)
SAME_RUN_FIELDS = ("batch_size", "seed", "context_dropout", "log_snr_normal", "input_perturbation", "ema_decay",
                   "lr_decay")


def check_same_run(state, model, sched, cfg, n_images, path):
    """ValueError naming every field in which the checkpoint `state` (from `path`) differs from this run:
    the network, the noise schedule, the data's size and SAME_RUN_FIELDS; and one whose step and loss
    history disagree."""
    def differences(saved, now, keys):
        return [f"{key} {saved.get(key)!r} there, {now.get(key)!r} here" for key in keys
                if _plain(saved.get(key)) != _plain(now.get(key))]

    config = dict(getattr(model, "module", model).config)
    found = differences(state["model_config"], config, sorted(set(state["model_config"]) | set(config)))
    found += differences(state["schedule"], {"timesteps": sched.timesteps, "kind": sched.kind}, ("timesteps", "kind"))
    if "n_images" in state:  # checkpoints from before this field was written lack it
        found += differences(state, {"n_images": n_images}, ("n_images",))
    saved_config = {"input_perturbation": 0.0, **state["train_config"]}  # checkpoints from before γ trained without it
    found += differences(saved_config, asdict(cfg), SAME_RUN_FIELDS)
    if found:
        raise ValueError(f"{path} was written by another run ({'; '.join(found)}): resume it with the settings "
                         "it was written with, or start a new run without --resume")
    step = state["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0 or step != len(state["losses"]):
        raise ValueError(f"{path} is inconsistent: step {step!r} but {len(state['losses'])} losses recorded; "
                         "it was edited or damaged, so resume from another checkpoint or start anew")


def _plain(value):
    """Tuples as lists, so that a config read back from a checkpoint compares equal to the one written."""
    return list(value) if isinstance(value, tuple) else value


def _diverged(cfg, step, what, saved_step):
    kept = ("this run wrote no checkpoint" if saved_step is None else
            f"{cfg.checkpoint_path} keeps the last checkpoint, whose weights were finite (step {saved_step})")
    return ValueError(f"training diverged: {what} at step {step} with learning rate {cfg.lr:g}, so it stopped; "
                      f"{kept}. Train (or resume) with a lower learning rate (--lr; the course uses 1e-3)")


def _weights_finite(model):
    return bool(torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all())


def train(model, sched, data, config=None, resume=None, callback=None, **overrides):
    """Train `model` to predict noise on `data`; returns a TrainResult.

    config: a TrainConfig; keyword overrides (e.g. ``epochs=2``) replace its fields.
    resume: a checkpoint path written by an earlier run with the same data, config and number of processes.
    callback: called as callback(result) at the end of every epoch (for plots and samples), on every rank.
    Under torchrun every process calls train() with the same arguments; batch_size is per process.
    Raises ValueError, keeping the last checkpoint written, if the loss or the weights become non-finite.
    """
    cfg = TrainConfig(**{**asdict(config or TrainConfig()), **overrides})
    check_config(cfg)
    images, labels = _images_and_labels(data, model)
    device = next(model.parameters()).device
    with process_group(device) as world:
        writes = cfg.checkpoint_path is not None and world.is_main
        with sole_writer(cfg.checkpoint_path) if writes else contextlib.nullcontext():
            return _train(model, sched, images, labels, cfg, resume, callback, device, world)


def _train(model, sched, images, labels, cfg, resume, callback, device, world):
    n = len(images)
    _check_data_size(n, world)
    sched = sched.to(device)
    precision = resolve_precision(cfg.precision, device)
    if precision != "fp32" or device.type == "cpu":  # on a CPU channels_last is faster in fp32 too
        model.to(memory_format=torch.channels_last)
    batch = min(cfg.batch_size, n // world.size)  # per process
    steps_per_epoch = n // (batch * world.size)
    limits = [s for s in (cfg.max_steps, cfg.epochs and cfg.epochs * steps_per_epoch) if s]
    planned = min(limits) if limits else None  # None: only the wall-clock budget stops training

    # with several processes, DDP averages the gradients; building it gives every rank rank 0's weights
    net = model if world.size == 1 else DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    ema_model = copy.deepcopy(model).eval().requires_grad_(False)
    generator = torch.Generator().manual_seed(_rank_seed(cfg.seed, world.rank))
    result = TrainResult(model=model, ema_model=ema_model, precision=precision)
    if resume is not None:
        state = load_checkpoint(resume, world.size, map_location=device)
        check_same_run(state, model, sched, cfg, n, resume)
        if cfg.max_steps is not None and state["step"] > cfg.max_steps:
            raise ValueError(f"{resume} is at step {state['step']}, past max_steps {cfg.max_steps} (--max-steps), so "
                             f"there is nothing to train: raise it above {state['step']} to train on, or ship the "
                             f"checkpoint as it is (`python -m course_lib export {resume} --out PATH`)")
        model.load_state_dict(state["model"])
        ema_model.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state.get("rng_per_rank", [state["rng"]])[world.rank].cpu())
        result.step, result.losses = state["step"], list(state["losses"])
    saved_step = None

    def save():
        """Refuse non-finite weights; then rank 0 writes the checkpoint, if there is a path for it."""
        nonlocal saved_step
        if not _weights_finite(model):  # the same on every rank: DDP keeps the weights equal
            raise _diverged(cfg, result.step, "the weights became non-finite", saved_step)
        if cfg.checkpoint_path:
            rng = generator.get_state()
            rng_states = [rng] if world.size == 1 else gather_from_ranks(rng, world, device)
            if world.is_main:
                save_atomic(_checkpoint(model, ema_model, optimizer, sched, cfg, result.step, result.losses,
                                        rng_states, n), cfg.checkpoint_path)
            saved_step = result.step

    net.train()
    start = time.perf_counter()
    shows_progress = cfg.progress and world.is_main
    if shows_progress and world.size > 1:
        print(f"world size {world.size}, {world.backend}", file=sys.stderr, flush=True)
    with tqdm(total=planned, initial=result.step, disable=not shows_progress, unit="step", desc="training") as bar:
        done = planned is not None and result.step >= planned
        while not done:
            epoch, offset = divmod(result.step, steps_per_epoch)
            share = rank_share(_epoch_order(n, cfg.seed, epoch), world.rank, world.size)
            for i in range(offset, steps_per_epoch):
                idx = share[i * batch:(i + 1) * batch]
                x0 = images[idx].to(device)
                context = labels[idx].to(device) if labels is not None else None
                for group in optimizer.param_groups:
                    group["lr"] = cfg.lr * (1 - result.step / planned) if cfg.lr_decay and planned else cfg.lr
                loss = diffusion_loss(net, sched, x0, context, generator, cfg.context_dropout, precision,
                                      cfg.log_snr_normal, cfg.input_perturbation)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                loss_value = loss.item()
                out_of_time = cfg.minutes is not None and time.perf_counter() - start > cfg.minutes * 60
                if world.size > 1:  # every rank gets the mean loss and stops when any one is out of time
                    loss_sum, late = sum_over_ranks([loss_value, float(out_of_time)], device)
                    loss_value, out_of_time = loss_sum / world.size, late > 0
                if not math.isfinite(loss_value):
                    raise _diverged(cfg, result.step + 1, f"the loss became {loss_value}", saved_step)
                optimizer.step()
                result.step += 1
                _update_ema(ema_model, model, min(cfg.ema_decay, (1 + result.step) / (10 + result.step)))
                result.losses.append(loss_value)
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
                if cfg.checkpoint_every and result.step % cfg.checkpoint_every == 0:
                    save()
                done = out_of_time or result.step == planned
                if done:
                    break
            result.epoch = result.step / steps_per_epoch
            result.seconds = time.perf_counter() - start
            if callback is not None and result.step % steps_per_epoch == 0:
                callback(result)
    if world.size > 1:  # DDP keeps the weights equal; the BatchNorm statistics become rank 0's
        broadcast_buffers(model)
        broadcast_buffers(ema_model)
    save()
    return result
