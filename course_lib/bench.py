"""`python -m course_lib bench`: the course's way of running (fp32, eager, NCHW) against the fast path,
side by side in one run, with FLOPs per image-step and the machine's measured matmul peak."""
import json
import platform
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from .arguments import seed_value
from .checkpoint import atomic_write, check_writable_file
from .latency import latency_markdown, run_latency
from .model import ContextUnet
from .precision import autocast, cpu_has_fast_bf16, fold_batchnorm, pick_device, resolve_precision
from .pretrained import load_pretrained
from .recipe_bench import FID_TARGET, bench_recipe, recipe_markdown
from .samplers import sample_ddim, sample_ddpm, sample_dpm_solver
from .schedule import NoiseSchedule
from .training import PRESETS, diffusion_loss


def machine_description():
    """CPU model, cores and torch build, as one line."""
    name = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    isa = torch.backends.cpu.get_cpu_capability()
    return (f"{name}, {torch.get_num_threads()} threads, {isa}, fast bf16: {cpu_has_fast_bf16()}, "
            f"torch {torch.__version__}")


def _best_seconds(fn, repeats):
    """Best wall time of `repeats` calls after one warm-up call (the minimum is the least noisy)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_peak_gflops(dtype, n=2048, repeats=5):
    """Achieved GFLOP/s of an n x n x n matrix product: the practical ceiling for this network."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    return 2 * n ** 3 / _best_seconds(lambda: a @ b, repeats) / 1e9


def forward_flops(model, batch=1):
    """FLOPs of one network evaluation (one image-step) per image, counted by torch.utils.flop_counter."""
    x = torch.zeros(batch, model.in_channels, model.height, model.height)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x, torch.zeros(batch), torch.zeros(batch, model.n_cfeat))
    return counter.get_total_flops() / batch


def bench_sampling(model, sched, sampler, steps, batch, precision, repeats):
    """Seconds for one whole sampling run of `batch` sprites (best of `repeats`)."""
    kwargs = {"steps": steps, "precision": precision, "n": batch,
              "context": torch.eye(model.n_cfeat)[torch.arange(batch) % model.n_cfeat]}
    run = lambda: sampler(model, sched, generator=torch.Generator().manual_seed(0), **kwargs)  # noqa: E731
    return _best_seconds(run, repeats)


def bench_training(model, sched, batch, precision, steps, channels_last=False):
    """Images per second of training steps (forward, loss, backward, AdamW) at `batch`; with channels_last,
    the weights in that layout, as the trainer keeps them on a CPU."""
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x0 = torch.rand(batch, 3, model.height, model.height) * 2 - 1
    context = torch.eye(model.n_cfeat)[torch.arange(batch) % model.n_cfeat]
    generator = torch.Generator().manual_seed(0)

    def step():
        loss = diffusion_loss(model, sched, x0, context, generator, 0.1, precision)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    model.train()
    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


def bench_compile(model, batch, precision, repeats=5):
    """torch.compile on the fast path: compile seconds, forward seconds eager and compiled, and how many
    forward passes it takes to win back the compile time (a notebook makes a few thousand)."""
    net = fold_batchnorm(model).to(memory_format=torch.channels_last)
    x = torch.randn(batch, model.in_channels, model.height, model.height).contiguous(
        memory_format=torch.channels_last)
    t, c = torch.full((batch,), 0.5), torch.eye(model.n_cfeat)[torch.arange(batch) % model.n_cfeat]

    def forward(f):
        with torch.inference_mode(), autocast("cpu", precision):
            return f(x, t, c)

    start = time.perf_counter()
    compiled = torch.compile(net)
    forward(compiled)
    compile_seconds = time.perf_counter() - start
    eager = _best_seconds(lambda: forward(net), repeats)
    fast = _best_seconds(lambda: forward(compiled), repeats)
    gain = eager - fast
    return {"batch": batch, "compile_seconds": compile_seconds, "eager_forward_s": eager,
            "compiled_forward_s": fast, "break_even_forwards": compile_seconds / gain if gain > 0 else None}


SAMPLER_SETTINGS = (("DDPM", sample_ddpm, 500), ("DDIM", sample_ddim, 10), ("DDIM", sample_ddim, 25),
                    ("DDIM", sample_ddim, 50), ("DDIM", sample_ddim, 100), ("DPM-Solver++", sample_dpm_solver, 10),
                    ("DPM-Solver++", sample_dpm_solver, 20))


def seconds_for_64(model, sched, guidances=(0.0, 2.0)):
    """Wall seconds to sample 64 sprites (one-hot contexts) on the default path, per sampler setting."""
    context = torch.eye(model.n_cfeat)[torch.arange(64) % model.n_cfeat]
    rows = []
    for label, sampler, steps in SAMPLER_SETTINGS:
        row = {"sampler": label, "steps": steps}
        for w in guidances:
            result = sampler(model, sched, n=64, steps=steps, context=context, guidance=w,
                             generator=torch.Generator().manual_seed(0))
            row[f"seconds_w{w:g}"] = result.seconds
        rows.append(row)
    return rows


def run_bench(batches=(32, 128), ddpm_steps=500, ddim_steps=25, train_batch=100, train_steps=10, repeats=2,
              compile_check=False, per_64=False):
    """Measure everything once; returns a dict of rows (also what --json writes)."""
    device = pick_device("cpu")
    fast = resolve_precision("auto", device)
    model, sched = load_pretrained(device=device)
    flops = forward_flops(model)
    rows = []
    for label, sampler, steps in (("DDIM", sample_ddim, ddim_steps), ("DDPM", sample_ddpm, ddpm_steps)):
        for batch in batches:
            base = bench_sampling(model, sched, sampler, steps, batch, "fp32", repeats)
            quick = bench_sampling(model, sched, sampler, steps, batch, "auto", repeats)  # folded even in fp32
            rows.append({"what": f"sample {label}-{steps}", "batch": batch, "fp32_seconds": base,
                         "fast_seconds": quick, "fp32_image_steps_per_s": batch * steps / base,
                         "fast_image_steps_per_s": batch * steps / quick,
                         "fp32_sprites_per_s": batch / base, "fast_sprites_per_s": batch / quick,
                         "speedup": base / quick})
    train_model = lambda: ContextUnet(**model.config).to(device)  # noqa: E731
    torch.manual_seed(0)
    base = bench_training(train_model(), NoiseSchedule(), train_batch, "fp32", train_steps)
    torch.manual_seed(0)
    quick = bench_training(train_model(), NoiseSchedule(), train_batch, fast, train_steps, channels_last=True)
    rows.append({"what": "train", "batch": train_batch, "fp32_images_per_s": base, "fast_images_per_s": quick,
                 "speedup": quick / base})
    return {"machine": machine_description(), "fast_precision": fast, "flops_per_image_step": flops,
            "matmul_gflops_fp32": matmul_peak_gflops(torch.float32),
            "matmul_gflops_bf16": matmul_peak_gflops(torch.bfloat16), "rows": rows,
            "compile": bench_compile(model, batches[0], fast) if compile_check else None,
            "seconds_for_64": seconds_for_64(model, sched) if per_64 else None}


def markdown(report):
    """The bench report as a markdown table (what the README quotes)."""
    gf = report["flops_per_image_step"] / 1e9
    autocast_words = "" if report["fast_precision"] == "fp32" else " autocast"
    lines = [f"Machine: {report['machine']}",
             f"Fast path: {report['fast_precision']}{autocast_words}, channels_last, BatchNorm folded (sampling)",
             f"Network: {gf:.3f} GFLOP per image-step; matmul peak here: "
             f"{report['matmul_gflops_fp32']:.0f} GFLOP/s fp32, {report['matmul_gflops_bf16']:.0f} GFLOP/s bf16",
             "",
             "| what | batch | fp32 eager NCHW | fast path | speed-up | fp32 GFLOP/s | fast GFLOP/s |",
             "|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        if row["what"] == "train":
            f32, fst = row["fp32_images_per_s"], row["fast_images_per_s"]
            lines.append(f"| train step (fwd+bwd+AdamW) | {row['batch']} | {f32:.0f} img/s | {fst:.0f} img/s | "
                         f"{row['speedup']:.2f}x | {3 * gf * f32:.0f} | {3 * gf * fst:.0f} |")
        else:
            f32, fst = row["fp32_image_steps_per_s"], row["fast_image_steps_per_s"]
            lines.append(f"| {row['what']} | {row['batch']} | {f32:.0f} img-steps/s, "
                         f"{row['fp32_sprites_per_s']:.1f} sprites/s | {fst:.0f} img-steps/s, "
                         f"{row['fast_sprites_per_s']:.1f} sprites/s | {row['speedup']:.2f}x | "
                         f"{gf * f32:.0f} | {gf * fst:.0f} |")
    lines.append("\n(training FLOPs counted as 3x the forward pass)")
    if report["compile"]:
        c = report["compile"]
        lines.append(f"\ntorch.compile (fast path, batch {c['batch']}): compile {c['compile_seconds']:.1f} s; forward "
                     f"{1e3 * c['eager_forward_s']:.1f} ms eager, {1e3 * c['compiled_forward_s']:.1f} ms compiled; "
                     f"pays back after {c['break_even_forwards'] or float('inf'):.0f} forward passes")
    if report["seconds_for_64"]:
        lines += ["", "Seconds for 64 sprites on the default path:", "",
                  "| sampler | steps | guidance 0 | guidance 2 |", "|---|---|---|---|"]
        lines += [f"| {r['sampler']} | {r['steps']} | {r['seconds_w0']:.2f} s | {r['seconds_w2']:.2f} s |"
                  for r in report["seconds_for_64"]]
    return "\n".join(lines)


def add_bench_arguments(parser):
    parser.add_argument("--batches", default="32,128", help="sampling batch sizes, comma-separated")
    parser.add_argument("--ddpm-steps", type=int, default=500, help="DDPM steps timed (each costs the same)")
    parser.add_argument("--ddim-steps", type=int, default=25, help="DDIM steps timed")
    parser.add_argument("--train-steps", type=int, default=10, help="timed training steps per mode")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed runs per setting (default 2, the best kept; with --latency 5, the median)")
    parser.add_argument("--per-64", action="store_true", help="also time 64 sprites for every sampler setting")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile and its payback")
    parser.add_argument("--latency", action="store_true",
                        help="instead: the widgets' calls (8 sprites) idle and under a competing load, with the "
                             "library's thread choice and torch's default (--repeats calls each, median)")
    parser.add_argument("--train", action="store_true",
                        help="instead: train preset --preset from random weights and time it to the FID target "
                             f"({FID_TARGET}, DDIM-50, guidance 2), scoring every --eval-every steps")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="with --train: the recipe (default: live)")
    parser.add_argument("--eval-every", type=int, help="with --train: steps between scorings (default: 250)")
    parser.add_argument("--seed", type=seed_value, help="with --train: weights, data and noise (default: 0)")
    parser.add_argument("--json", default=None, help="also write the raw numbers to this file")
    return parser


def check_bench_arguments(args):
    """ValueError, naming the option, for a count that would time nothing or fail part-way, or an option
    that would do nothing; fills in --train's defaults."""
    counts = {"--repeats": args.repeats, "--train-steps": args.train_steps, "--ddpm-steps": args.ddpm_steps,
              "--ddim-steps": args.ddim_steps, "--eval-every": args.eval_every}
    for option, value in counts.items():
        if value is not None and value < 1:
            raise ValueError(f"{option} must be a whole number >= 1, got {value}")
    try:
        batches = [int(b) for b in args.batches.split(",")]
    except ValueError:
        batches = []
    if not batches or min(batches) < 1:
        raise ValueError(f"--batches takes sampling batch sizes >= 1, comma-separated (e.g. 32,128), "
                         f"got {args.batches!r}")
    if args.latency and args.train:
        raise ValueError("--latency and --train are two different benches: run one, then the other")
    train_only = {"--preset": ("preset", "live"), "--eval-every": ("eval_every", 250), "--seed": ("seed", 0)}
    given = [option for option, (name, _) in train_only.items() if getattr(args, name) is not None]
    if given and not args.train:
        raise ValueError(f"{' and '.join(given)} would do nothing without --train; add --train, or drop them")
    for name, default in train_only.values():
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.json is not None:
        check_writable_file(args.json, "--json", (".json",))  # before minutes of timing
    return batches


def run_bench_command(args):
    batches = check_bench_arguments(args)
    if args.train:
        report = {"machine": machine_description(),
                  **bench_recipe(args.preset, eval_every=args.eval_every, seed=args.seed, progress=True)}
        print(recipe_markdown(report, report["machine"]))
    elif args.latency:
        report = {"machine": machine_description(), **run_latency(repeats=args.repeats or 5)}
        print(latency_markdown(report))
    else:
        report = _run_speed_bench(args, batches)
    if args.json:
        with atomic_write(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return report


def _run_speed_bench(args, batches):
    report = run_bench(batches=tuple(batches), ddpm_steps=args.ddpm_steps,
                       ddim_steps=args.ddim_steps, train_steps=args.train_steps, repeats=args.repeats or 2,
                       compile_check=args.compile, per_64=args.per_64)
    print(markdown(report))
    return report
