"""Command line: `python -m course_lib {sample,train,evaluate,report,bench,vocabulary,export,...} --help`."""
import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .arguments import list_of, seed_value, word_counts
from .bench import add_bench_arguments, run_bench_command
from .caption_metrics import PROMPT_SETS, caption_table, evaluate_prompts, score_real_sprites
from .captions import (CAPTION_COLOURS, HELD_OUT, MIX_COMPOSE, MIX_GUIDANCE, VOCABULARY, caption_conditions,
                       caption_dataset, check_compose, check_repeat_words, is_mix, widen_context)
from .checkpoint import (check_outputs_spare_inputs, check_room, check_writable_file, load_checked,
                         tensor_bytes)
from .data import CLASS_NAMES, SpriteDataset, parse_context
from .demo import add_demo_arguments, run_demo_command
from .distributed import local_device, process_group
from .metrics import (DEFAULT_STEPS, QUALITY_FILE, add_evaluate_arguments, check_eta_has_ddim, load_quality,
                      quality_table, run_evaluate)
from .model import ContextUnet, with_context_film
from .precision import add_hardware_arguments, pick_device
from .progress_snapshots import SnapshotRecorder
from .pretrained import (WEIGHTS_DIR, context_names, expected_sha256, load_pretrained, load_weights, losses_path,
                         manifest_entry, rebuild_model, ship_weights)
from .sample_files import MAX_SCALE, check_output, write_samples
from .samplers import SAMPLERS, sampler_options
from .schedule import PREDICTION_TARGETS, NoiseSchedule
from .segmentation import add_segment_arguments, run_segment_command
from .sprites import KIND_CLASSES, KIND_NAMES
from .training import PRESETS, TrainConfig, check_config, check_generated_sprites_fit, load_checkpoint, train


def _load_model(weights, device, captions=False):
    """The model to sample from: `weights`, or the shipped caption model (`captions`) or one-hot model."""
    if weights is None:
        return load_pretrained("captions" if captions else "classes", device=device)
    model, sched = load_weights(weights, device=device)
    if captions and model.n_cfeat != len(VOCABULARY):
        raise ValueError(f"--prompt needs a caption model (context of {len(VOCABULARY)} words), but {weights} "
                         f"takes {model.n_cfeat} context values; leave out --weights to use the shipped one")
    return model, sched


def sampler_kwargs(sampler, steps, eta):
    """The keyword arguments a sampler takes from the command line's --steps and --eta."""
    if sampler != "ddim" and eta:
        raise ValueError(f"--eta applies to ddim only; got --eta {eta} with --sampler {sampler}")
    return sampler_options(sampler, steps, eta)


def cmd_sample(args):
    out = check_output(args.out, args.n, args.nrow, args.scale, args.batch_size)  # before the long work
    check_outputs_spare_inputs({"--out": args.out}, {"--weights": args.weights})
    if not args.context.strip():
        raise ValueError('--context "" names no class; give a class, a mix like "hero=1,food=0.6", or "none"')
    kwargs = sampler_kwargs(args.sampler, args.steps, args.eta)
    device = pick_device(args.device)
    if args.weights is not None and expected_sha256(args.weights) is None:
        print(f"note: no manifest.json beside {args.weights} records it, so its sha256 is not checked",
              file=sys.stderr)
    shares = None
    if args.prompt is not None:  # a typo fails before the model loads
        if args.compose and not is_mix(args.prompt):
            raise ValueError(f"--compose acts on a mixed --prompt of two parts or more (\"mushroom, ghost\"); on "
                             f"{args.prompt!r} it would do nothing: drop it")
        caption, shares = caption_conditions(args.prompt, args.compose)
    elif args.compose:
        raise ValueError("--compose acts on mixed captions: give --prompt \"mushroom, ghost\" with it")
    model, sched = _load_model(args.weights, device, captions=args.prompt is not None)
    context = parse_context(args.context, context_names(model)) if args.prompt is None else caption

    def sample(n, generator):
        return SAMPLERS[args.sampler](model, sched, n=n, context=context, guidance=args.guidance,
                                      generator=generator, precision=args.precision, context_shares=shares, **kwargs)

    seconds, timesteps = write_samples(out, sample, args.n, args.batch_size, torch.Generator().manual_seed(args.seed),
                                       nrow=args.nrow, scale=args.scale)
    print(f"wrote {args.n} sprites to {out} ({args.sampler}, {len(timesteps) - 1} steps, {seconds:.2f} s)")


def _initial_model(path, n_cfeat, height, context_film=None):
    """The model to start training from: the weights at `path`, their context layers widened from the
    course's 5 classes to the caption vocabulary where `n_cfeat` asks for it, and with the context's
    FiLM layers added (at zero) where `context_film` asks for them and the weights lack them (None: as
    the weights are)."""
    model, _ = load_weights(path)
    if (model.in_channels, model.height) != (3, height):
        raise ValueError(f"--init {path} makes {model.in_channels}x{model.height}x{model.height} images but the "
                         f"data are 3x{height}x{height}; start from weights trained on pictures of that size")
    if model.n_cfeat == len(CLASS_NAMES) and n_cfeat == len(VOCABULARY):
        model = widen_context(model)
    elif model.n_cfeat != n_cfeat:
        raise ValueError(f"--init {path} has a context of {model.n_cfeat} values but the data has {n_cfeat}; "
                         "start from weights trained on the same labels, or from the course's 5-class model "
                         "with --data captions")
    if context_film and not model.context_film:
        model = with_context_film(model)
    if context_film is False and model.context_film:
        raise ValueError(f"--no-context-film would do nothing with --init: the weights in {path} have the context's "
                         "FiLM layers, and training keeps them; drop it, or train from random weights")
    return model.train()


def _apply_preset(args):
    """Fill the train options left unset from --preset (or from the course's defaults without one)."""
    if args.init is not None:
        given = [option for option, value in (("--n-feat", args.n_feat), ("--prediction", args.prediction))
                 if value is not None]
        if given:
            raise ValueError(f"{' and '.join(given)} would do nothing with --init: the weights in {args.init} fix the "
                             "network's width and prediction target; drop them, or train from random weights")
    if args.preset is None:  # no preset: the course's network, and TrainConfig's defaults
        unset = {"n_feat": 64, "prediction": "eps", "context_film": False if args.init is None else None,
                 "batch_size": TrainConfig.batch_size, "lr": TrainConfig.lr,
                 "context_dropout": TrainConfig.context_dropout}
    else:
        preset = PRESETS[args.preset]
        unset = {"n_feat": preset.n_feat, "prediction": preset.prediction,
                 "context_film": preset.context_film if args.init is None else None,  # None: the weights' own
                 "context_dropout": preset.config.get("context_dropout", TrainConfig.context_dropout),
                 **{key: preset.config[key] for key in ("batch_size", "lr", "log_snr_normal")}}
        if args.data == "sprites":  # the preset's share of the generator; other data is taken whole
            unset["n"] = preset.n_sprites
        if args.epochs is None and args.max_steps is None and args.minutes is None:
            unset.update(epochs=preset.config["epochs"], max_steps=preset.config["max_steps"])
    for name, value in unset.items():
        if getattr(args, name) is None:
            setattr(args, name, value)


def _check_weights_out(out):
    """Before any work: --out, the loss history beside it and the manifest that will record it can be
    written (a manifest that cannot be read is refused now, not after the training)."""
    check_writable_file(out, "--out", (".pt",))
    check_writable_file(losses_path(out), "the loss history beside --out")
    manifest_entry(out)


def _check_train_files(args):
    """Before any work: the files train writes can be written, and none of them replaces an input."""
    _check_weights_out(args.out)
    if args.checkpoint is not None:
        check_writable_file(args.checkpoint, "--checkpoint")
    if args.snapshots is not None:
        check_writable_file(args.snapshots, "--snapshots", (".npz",))
    outputs = {"--out": args.out, "the loss history beside --out": losses_path(args.out),
               "--snapshots": args.snapshots}
    data = args.data if Path(args.data).exists() else None  # not the generator's names
    check_outputs_spare_inputs({**outputs, "--checkpoint": args.checkpoint}, {"--data": data, "--init": args.init})
    check_outputs_spare_inputs(outputs, {"--resume": args.resume})  # --checkpoint may be --resume: it goes on
    _check_checkpoint_is_not_another_run(args.checkpoint, args.resume)


def _check_checkpoint_is_not_another_run(checkpoint, resume):
    """ValueError unless --checkpoint is new or the --resume file: a checkpoint holds a run's progress, and
    starting again on its path without --resume would write over it."""
    if checkpoint is None or not Path(checkpoint).exists():
        return
    if resume is not None and Path(resume).resolve() == Path(checkpoint).resolve():
        return
    raise ValueError(f"--checkpoint {checkpoint} already holds a checkpoint, which this run would write over; "
                     f"continue that run with --resume {checkpoint}, or give a new --checkpoint path (or delete "
                     "the file) to start again")


def cmd_train(args):
    _apply_preset(args)
    _check_train_files(args)
    if args.init is None and (args.n_feat < 8 or args.n_feat % 8):
        raise ValueError(f"--n-feat must be a positive multiple of 8 (the U-Net's GroupNorm uses 8 groups; "
                         f"the course's width is 64), got {args.n_feat}")
    if args.hybrids and args.data != "captions":
        raise ValueError(f"--hybrids adds hybrid sprites to caption training: use it with --data captions, "
                         f"not --data {args.data}")
    if args.repeat_words:
        if args.data != "captions":
            raise ValueError(f"--repeat-words repeats sprites by their caption words: use it with --data captions, "
                             f"not --data {args.data}")
        check_repeat_words(args.repeat_words)  # before generating the data
    epochs = args.epochs
    if epochs is None and args.minutes is None and args.max_steps is None:
        epochs = TrainConfig.epochs  # with --max-steps or --minutes alone, the steps or the clock decide
    cfg = TrainConfig(epochs=epochs, minutes=args.minutes, max_steps=args.max_steps,
                      batch_size=args.batch_size, lr=args.lr, context_dropout=args.context_dropout,
                      seed=args.seed, precision=args.precision,
                      log_snr_normal=args.log_snr_normal and tuple(args.log_snr_normal),
                      input_perturbation=args.input_perturbation,
                      checkpoint_every=args.checkpoint_every, checkpoint_path=args.checkpoint)
    check_config(cfg)  # before generating or loading the data, which may take minutes
    if args.data in ("sprites", "captions"):
        check_generated_sprites_fit(89_400 if args.n is None else args.n)
    device = local_device(pick_device(args.device))
    with process_group(device) as world:
        if args.resume is not None:
            load_checkpoint(args.resume, world.size)  # also before the data
        torch.manual_seed(args.seed)
        if args.data == "captions":
            data = caption_dataset(89_400 if args.n is None else args.n, seed=args.seed, hybrids=args.hybrids,
                                   repeat_words=args.repeat_words)
        else:
            data = SpriteDataset.load(args.data, n=args.n, seed=args.seed)
        if args.init is None:
            model = ContextUnet(n_feat=args.n_feat, n_cfeat=data.labels.shape[1], height=data.images.shape[-1],
                                context_film=args.context_film, prediction=args.prediction)
        else:
            model = _initial_model(args.init, data.labels.shape[1], data.images.shape[-1], args.context_film)
        model = model.to(device)
        if world.is_main:
            _check_room_for_weights(model, args.out, args.checkpoint)
        sched = NoiseSchedule(timesteps=args.timesteps)
        recorder = None
        if args.snapshots and world.is_main:
            resume_step = load_checked(args.resume)["step"] if args.resume else 0
            recorder = SnapshotRecorder(args.snapshots, sched, resume_step)
        started = time.perf_counter()
        try:
            result = train(model, sched, data, cfg, resume=args.resume, callback=recorder)
        except KeyboardInterrupt:
            if world.is_main:
                _explain_interrupted_training(args.checkpoint)
            raise SystemExit(130) from None
        seconds = time.perf_counter() - started
        if not world.is_main:
            return
    meta = {"command": " ".join(["python -m course_lib"] + sys.argv[1:]), "preset": args.preset, "steps": result.step,
            "epochs": round(result.epoch, 3), "train_seconds": round(seconds, 1), "device": str(device),
            "precision": result.precision, "torch": str(torch.__version__), "data": args.data,
            "n_sprites": len(data), "final_loss_mean_100": float(np.mean(result.losses[-100:])),
            "class_names": list(data.class_names)}  # what --context names; see pretrained.context_names
    if world.size > 1:
        meta["processes"] = world.size
    _ship(result.ema_model, sched, args.out, meta, result.losses)


def _check_room_for_weights(model, out, checkpoint=None):
    """Before training: the disk (and ulimit -f) can take the weights file, and a checkpoint, which holds
    the model, its EMA copy and Adam's two moments."""
    size = tensor_bytes(model.state_dict())
    check_room(out, size, "--out", "free some space on that disk or choose an --out on another one")
    if checkpoint is not None:
        check_room(checkpoint, 4 * size, "--checkpoint",
                   "free some space on that disk or choose a --checkpoint on another one")


def _ship(model, sched, out, meta, losses):
    """Write the weights, their manifest entry and the loss history beside them; print what was written."""
    sha = ship_weights(model, sched, out, meta, losses)
    print(json.dumps({"out": str(out), "sha256": sha, **meta}))


def _explain_interrupted_training(checkpoint):
    """On Ctrl-C: where the last complete checkpoint is and how to continue from it."""
    if checkpoint and Path(checkpoint).is_file():
        step = load_checked(checkpoint)["step"]
        hint = f"{checkpoint} holds step {step}; continue with the same command plus --resume {checkpoint}"
    else:
        hint = "no checkpoint was written (--checkpoint PATH --checkpoint-every N writes them as it goes)"
    print(f"training interrupted, nothing else written: {hint}", file=sys.stderr)


def cmd_export(args):
    """The EMA weights of a training checkpoint as a weights file with its manifest entry: what a run that
    outlasts a working day ships, while the checkpoint stays for --resume."""
    _check_weights_out(args.out)
    check_outputs_spare_inputs({"--out": args.out, "the loss history beside --out": losses_path(args.out)},
                               {"the checkpoint": args.checkpoint})
    if not Path(args.checkpoint).exists():
        raise FileNotFoundError(f"no checkpoint at {args.checkpoint}: export takes the file that "
                                "`python -m course_lib train --checkpoint PATH --checkpoint-every N` wrote")
    state = load_checkpoint(args.checkpoint, world_size=None)
    model = rebuild_model(args.checkpoint, state.get("model_config"), state.get("ema"))
    _check_room_for_weights(model, args.out)
    sched = NoiseSchedule(timesteps=state["schedule"]["timesteps"], kind=state["schedule"]["kind"])
    planned = state["train_config"].get("max_steps")
    step, losses = state["step"], state["losses"]
    meta = {"command": " ".join(["python -m course_lib"] + sys.argv[1:]), "steps": step, "planned_steps": planned,
            "lr": state["train_config"]["lr"], "batch_size": state["train_config"]["batch_size"],
            "torch": str(torch.__version__), "final_loss_mean_100": float(np.mean(losses[-100:])),
            "from_checkpoint": str(args.checkpoint)}
    names = {len(VOCABULARY): VOCABULARY, len(CLASS_NAMES): CLASS_NAMES}.get(model.n_cfeat)
    if names is not None:
        meta["class_names"] = list(names)
    if planned and step < planned:
        meta["status"] = f"partial: {step} of {planned} planned steps; resume from {args.checkpoint}"
    if args.note:
        meta["note"] = args.note
    _ship(model, sched, args.out, meta, losses)


def cmd_evaluate(args):
    """One-hot evaluation (FID, context accuracy), or with --prompt/--prompt-set the caption model's."""
    if not (args.prompt or args.prompt_set):
        if args.real_sprites:
            raise ValueError("--real-sprites scores real sprites of captions: give --prompt-set or --prompt too")
        if args.compose != [0.0]:
            raise ValueError("--compose is for the caption model's mixes: give --prompt-set or --prompt too")
        return run_evaluate(args)
    for compose in args.compose:
        check_compose(compose)
    check_eta_has_ddim(args)
    runs = [(prompt, [prompt]) for prompt in args.prompt] + [(name, PROMPT_SETS[name]) for name in args.prompt_set]
    if args.real_sprites:
        for name, prompts in runs:
            print(json.dumps({"prompt_set": name, **score_real_sprites(prompts, n=args.n)}), flush=True)
        return
    device = pick_device(args.device)
    model, sched = _load_model(args.weights, device, captions=True)
    done = set()
    for guidance, compose, sampler in itertools.product(args.guidance, args.compose, args.sampler):
        for steps in args.steps or [DEFAULT_STEPS[sampler]]:
            for name, prompts in runs:
                compose_here = compose if any(is_mix(p) for p in prompts) else 0.0  # compose acts on mixes only
                if (guidance, compose_here, sampler, steps, name) in done:
                    continue  # the same sprites as a line already printed
                done.add((guidance, compose_here, sampler, steps, name))
                row = evaluate_prompts(model, sched, prompts, n=args.n, guidance=guidance, sampler=sampler,
                                       steps=steps, seed=args.seed, batch=args.batch, precision=args.precision,
                                       compose=compose_here, eta=args.eta if sampler == "ddim" else 0.0)
                print(json.dumps({"prompt_set": name, **row}), flush=True)


def cmd_vocabulary(args):
    print("classes:", " ".join(CLASS_NAMES))
    print("kinds:", " ".join(f"{kind} ({'/'.join(KIND_CLASSES[kind])})" for kind in KIND_NAMES))
    print("colours:", " ".join(CAPTION_COLOURS))
    print("held out of training:", ", ".join(f"{colour} {kind}" for colour, kind in HELD_OUT))


def cmd_report(args):
    make = (f"make them with, e.g., `python -m course_lib evaluate --sampler ddim --steps 10,25 --guidance 0,2 "
            f">> {args.file}`")
    if not Path(args.file).exists():
        raise FileNotFoundError(f"no file at {args.file}: report reads the lines evaluate printed; {make}")
    rows = load_quality(args.file)
    if not rows:
        raise ValueError(f"no evaluate lines in {args.file}; {make}")
    one_hot = [row for row in rows if "prompt_set" not in row]
    captioned = [row for row in rows if "prompt_set" in row]  # caption models' lines, scored per prompt set
    tables = []
    if one_hot:
        tables.append(quality_table(one_hot))
    if captioned:
        tables.append(caption_table(captioned))
    print("\n\n".join(tables))


class _DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """--help shows each option's default, where it has a plain one and the help does not already say it."""

    def _get_help_string(self, action):
        plain = not (action.default is None or action.default is False or isinstance(action.default, list))
        if not plain or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m course_lib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    helpful = {"formatter_class": _DefaultsHelp}
    s = sub.add_parser("sample", help="generate sprites with the shipped (or given) model", **helpful)
    s.add_argument("--sampler", choices=sorted(SAMPLERS), default="ddim", help="ddpm, ddim or dpm (DPM-Solver++)")
    s.add_argument("--steps", type=int, default=None, help="default: 500 for ddpm, 25 for ddim, 20 for dpm")
    s.add_argument("--eta", type=float, default=0.0, help="ddim's stochasticity, 0 to 1")
    s.add_argument("--n", type=int, default=32, help="number of sprites")
    s.add_argument("--batch-size", type=int, default=256, help="sprites sampled at once (bounds the memory)")
    what = s.add_mutually_exclusive_group()
    what.add_argument("--context", default="none",
                      help=f'a class of the model (the shipped one: {", ".join(CLASS_NAMES)}; one trained on a '
                           'folder: its subfolder names), a mix like "hero=1,food=0.6", or "none" ("" is refused)')
    what.add_argument("--prompt", default=None,
                      help='a caption for the caption model: "red potion", a mix "mushroom, ghost=0.7" '
                           "(`vocabulary` lists the words)")
    s.add_argument("--guidance", type=float, default=0.0, help="classifier-free guidance w (0: none; 2 is good)")
    s.add_argument("--compose", type=float, default=0.0,
                   help="for a mixed --prompt: the share of guidance each caption gets on its own, 0 to 1 (0: the "
                        f"mixed vector only; {MIX_COMPOSE:g} with --guidance {MIX_GUIDANCE:g} finds both kinds most often)")
    s.add_argument("--seed", type=seed_value, default=0, help="same seed, same sprites")
    s.add_argument("--weights", default=None, help=f"a weights file (default: the shipped one in {WEIGHTS_DIR})")
    s.add_argument("--out", required=True, help="FILE.png (grid) or FILE.npy (uint8 (n,16,16,3))")
    s.add_argument("--nrow", type=int, default=8, help="sprites per row of the PNG grid")
    s.add_argument("--scale", type=int, default=4, help=f"pixel size of the PNG grid, 1 to {MAX_SCALE}")
    add_hardware_arguments(s)
    s.set_defaults(func=cmd_sample)

    t = sub.add_parser("train", help="train a context model to predict noise", **helpful)
    t.add_argument("--data", default="sprites",
                   help='"sprites", "captions" (sprites with caption vectors), a sprites .npy file, '
                        'or a folder of class folders')
    t.add_argument("--init", default=None, help="start from these weights instead of random ones")
    t.add_argument("--n", "--n-sprites", dest="n", type=int, default=None,
                   help="number of sprites (default: 89,400 generated, or all); under torchrun write --n-sprites, "
                        "as torchrun reads a bare --n as one of its own options")
    t.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="a whole recipe; options given as well override its values. "
                        + "; ".join(f"{name}: {preset.about}" for name, preset in PRESETS.items()).replace("%", "%%"))
    t.add_argument("--epochs", type=int, default=None,
                   help=f"passes over the data (default: {TrainConfig.epochs}, unless --max-steps or --minutes is given)")
    t.add_argument("--minutes", type=float, default=None, help="wall-clock budget; stops early when spent")
    t.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps")
    t.add_argument("--batch-size", type=int, default=None, help=f"sprites per step (default: the preset's, else {TrainConfig.batch_size})")
    t.add_argument("--lr", type=float, default=None,
                   help=f"AdamW learning rate, decays linearly (default: the preset's, else {TrainConfig.lr:g})")
    t.add_argument("--context-dropout", type=float, default=None,
                   help="share of sprites trained with the null context, which guidance needs "
                        f"(default: the preset's, else {TrainConfig.context_dropout:g})")
    t.add_argument("--n-feat", type=int, default=None, help="the U-Net's base width (default: the preset's, else the course's 64)")
    t.add_argument("--log-snr-normal", type=list_of(float), default=None, metavar="MEAN,STD",
                   help="draw each sprite's noise level t by its log-SNR ~ N(MEAN, STD^2) instead of uniformly "
                        "(the live preset's 0,2 centres it where signal and noise are equal)")
    t.add_argument("--input-perturbation", type=float, default=0.0, metavar="GAMMA",
                   help="the network sees each noisy sprite made with ε + GAMMA ξ, and learns the target made with ε "
                        "alone: extra noise against the drift of sampling from training (Ning et al. 2023 use 0.1; "
                        "default 0: off)")
    t.add_argument("--prediction", choices=PREDICTION_TARGETS, default=None,
                   help="what the network learns to output: eps, the noise (the course's); x0, the clean sprite; "
                        "v, the velocity (default: the preset's, else eps)")
    t.add_argument("--context-film", action=argparse.BooleanOptionalAction, default=None,
                   help="the context also shifts the decoder and scales/shifts its 16x16 stage (the caption model "
                        "and the live preset's network; with --init, adds those layers to weights without them)")
    t.add_argument("--hybrids", type=float, default=0.0,
                   help='with --data captions: add this share of hybrid sprites (half one kind, half another), '
                        'captioned "A, B", so that mixed captions have sprites to learn from (e.g. 0.2)')
    t.add_argument("--repeat-words", type=word_counts, default=None, metavar="WORD=COPIES,...",
                   help="with --data captions: put every sprite that a listed word describes in the data that many "
                        "times (e.g. staff=3,bow=2), for words the model draws less well")
    t.add_argument("--timesteps", type=int, default=500, help="T, the number of noise levels")
    t.add_argument("--seed", type=seed_value, default=0, help="weights, data order and noise")
    t.add_argument("--checkpoint", default=None, help="checkpoint file for resuming")
    t.add_argument("--checkpoint-every", type=int, default=0, help="steps between checkpoints (0: none)")
    t.add_argument("--resume", default=None, help="continue from this checkpoint")
    t.add_argument("--snapshots", default=None, metavar="FILE.npz",
                   help="after every epoch, sample the same noise (two sprites per class) and keep the grids here")
    t.add_argument("--out", required=True, help="weights file to write (EMA weights)")
    add_hardware_arguments(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="sprite FID and context accuracy; one JSON line per setting", **helpful)
    add_evaluate_arguments(e)
    e.add_argument("--prompt", action="append", default=[],
                   help='evaluate the caption model on this caption (repeat for more): per-attribute accuracy')
    e.add_argument("--prompt-set", action="append", default=[], choices=sorted(PROMPT_SETS),
                   help="evaluate the caption model on a set of captions: " + "; ".join(
                       f"{name}: {' | '.join(prompts)}" for name, prompts in PROMPT_SETS.items()))
    e.add_argument("--compose", type=list_of(float), default=[0.0],
                   help="for mixed captions: a share or a list (0,0.5) of guidance each caption gets on its own; "
                        "default: 0")
    e.add_argument("--real-sprites", action="store_true",
                   help="score real sprites that show each caption instead of samples: the classifier's ceiling "
                        "(not for mixes)")
    e.set_defaults(func=cmd_evaluate)

    x = sub.add_parser("export", help="a training checkpoint's EMA weights as a weights file (with its sha256 "
                       "in the manifest beside it), e.g. to ship a run that will be resumed later", **helpful)
    x.add_argument("checkpoint", help="a checkpoint that train wrote (--checkpoint PATH)")
    x.add_argument("--out", required=True, help="the weights file to write, e.g. data/weights/caption_unet.pt")
    x.add_argument("--note", help="free text kept in the manifest entry (machine, wall time, ...)")
    x.set_defaults(func=cmd_export)

    v = sub.add_parser("vocabulary", help="the words a caption may use", **helpful)
    v.set_defaults(func=cmd_vocabulary)

    r = sub.add_parser("report", help="the quality table (markdown) from the lines evaluate printed; from "
                                      "lines of `evaluate --prompt-set`, the caption table", **helpful)
    r.add_argument("file", nargs="?", default=str(QUALITY_FILE), help="a file of evaluate's JSON lines")
    r.set_defaults(func=cmd_report)

    b = sub.add_parser("bench", help="speed: fp32 eager NCHW against the fast path, side by side", **helpful)
    add_bench_arguments(b)
    b.set_defaults(func=run_bench_command)

    g = sub.add_parser("segment", help="chapter 1: the U-Net as a segmentation network; held-out IoU per "
                       "training-set size, without skips, and a colour threshold", **helpful)
    add_segment_arguments(g)
    g.set_defaults(func=run_segment_command)

    d = sub.add_parser("demo", help="the classroom demo: the course's best moments as one web page, code hidden "
                       "(Voilà)", **helpful)
    add_demo_arguments(d)
    d.set_defaults(func=run_demo_command)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if getattr(args, "steps", 0) is None:
        args.steps = {"ddpm": 500, "ddim": 25, "dpm": 20}[args.sampler]
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # train says where its checkpoint is; files are written whole or not at all
        print("interrupted: every file written so far is whole, and none was half-written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader stopped (`... | head`): stop quietly, as a shell tool does on SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141
    return 0


if __name__ == "__main__":
    sys.exit(main())
