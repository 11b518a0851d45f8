"""`python -m course_lib bench --latency`: how long a widget waits for its sprites (8 sprites, DDIM 10
and 25 steps, one-hot and mixed context), on an idle CPU and on one this benchmark keeps busy itself,
with the library's thread choice (precision.threads_for) and with torch's default thread count, side
by side in one run."""
import contextlib
import os
import statistics
import subprocess
import sys
import time

import torch

from .precision import SMALL_CALL_SPRITES, set_threads, threads_for
from .pretrained import load_pretrained
from .samplers import sample_ddim

WIDGET_SPRITES = 8
TARGET_IDLE_SECONDS = 0.3  # 8 sprites, DDIM 10 steps, idle
TARGET_BUSY_RATIO = 3.0    # busy / idle, with the library's choice
_SPIN = ("import os, sys, time\nend, parent = time.monotonic() + float(sys.argv[1]), os.getppid()\n"
         "while time.monotonic() < end and os.getppid() == parent:\n    pass\n")  # stops when its parent dies


@contextlib.contextmanager
def competing_load(processes=None, seconds=600.0):
    """`processes` (default: one per CPU core) Python processes that keep a core busy each, as other
    programs would; each stops by itself after `seconds` or when this process dies, and all are killed
    when the block ends. Yields the list of processes."""
    processes = (os.cpu_count() or 1) if processes is None else processes
    spinners = [subprocess.Popen([sys.executable, "-c", _SPIN, str(seconds)]) for _ in range(processes)]
    try:
        time.sleep(0.5)  # let the scheduler give them their share before anything is timed
        yield spinners
    finally:
        for spinner in spinners:
            spinner.kill()
        for spinner in spinners:
            spinner.wait()


def widget_calls(model, sched, steps_list=(10, 25)):
    """{label: call} for the calls a notebook widget makes: 8 sprites, DDIM at 10 and 25 steps, with
    one-hot contexts (the five classes in turn) and with one mixed context (hero 1, food 0.6)."""
    n = WIDGET_SPRITES
    contexts = {"one-hot": torch.eye(model.n_cfeat)[torch.arange(n) % model.n_cfeat],  # (8, 5)
                "mixed": torch.tensor([1.0, 0.0, 0.6, 0.0, 0.0])}
    calls = {}
    for steps in steps_list:
        for name, context in contexts.items():
            calls[f"DDIM-{steps}, {name}"] = (lambda steps=steps, context=context: sample_ddim(
                model, sched, n=n, steps=steps, context=context, generator=torch.Generator().manual_seed(0)))
    return calls


def median_seconds(fn, repeats):
    """Median wall time of `repeats` calls after one warm-up call (a widget's user waits for the typical call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_latency(repeats=5, load_processes=None, model=None, sched=None, steps_list=(10, 25)):
    """Time every widget call with each thread choice, idle and then under `competing_load`, with `model`
    (default: the shipped one); returns a dict with one row per (call, threads) (also what --json writes)."""
    if model is None:
        model, sched = load_pretrained()
    calls = widget_calls(model, sched, steps_list)
    torch_threads = torch.get_num_threads()
    choices = {"library": None, "torch default": torch_threads}
    seconds, thread_counts = {}, {}
    load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # others' jobs make "idle" less so
    for phase, load in (("idle", contextlib.nullcontext([])), ("busy", competing_load(load_processes))):
        with load as spinners:
            for label, call in calls.items():
                for choice, threads in choices.items():
                    set_threads(threads)
                    try:
                        thread_counts[phase, label, choice] = threads_for(WIDGET_SPRITES)  # what the call will use
                        seconds[phase, label, choice] = median_seconds(call, repeats)
                    finally:
                        set_threads(None)
            load_ran_throughout = all(spinner.poll() is None for spinner in spinners)
    rows = [{"call": label, "threads": choice,
             "idle_threads": thread_counts["idle", label, choice], "busy_threads": thread_counts["busy", label, choice],
             "idle_s": seconds["idle", label, choice], "busy_s": seconds["busy", label, choice],
             "busy_over_idle": seconds["busy", label, choice] / seconds["idle", label, choice]}
            for label in calls for choice in choices]
    return {"sprites": WIDGET_SPRITES, "repeats": repeats, "cpu_count": os.cpu_count(),
            "load_processes": load_processes or os.cpu_count(), "load_ran_throughout": load_ran_throughout,
            "load_average_at_start": load_average,
            "torch_default_threads": torch_threads, "small_call_sprites": SMALL_CALL_SPRITES,
            "course_threads_env": os.environ.get("COURSE_THREADS"), "rows": rows}


def latency_markdown(report):
    """The latency report as markdown: the table, then the targets, met or missed."""
    lines = [f"Machine: {report['machine']}",
             f"Widget calls: {report['sprites']} sprites, median of {report['repeats']} calls after a warm-up; "
             f"busy: {report['load_processes']} competing processes, one per core, started and stopped by the "
             f"benchmark (ran throughout: {report['load_ran_throughout']}); the machine's 1-minute load average "
             f"at the start: {report.get('load_average_at_start')}", "",
             "| call | threads | idle (threads) | busy (threads) | busy / idle |", "|---|---|---|---|---|"]
    for r in report["rows"]:
        lines.append(f"| {r['call']} | {r['threads']} | {r['idle_s']:.3f} s ({r['idle_threads']}) | "
                     f"{r['busy_s']:.3f} s ({r['busy_threads']}) | {r['busy_over_idle']:.1f}x |")
    row = {(r["call"], r["threads"]): r for r in report["rows"]}
    lib, default = row["DDIM-10, one-hot", "library"], row["DDIM-10, one-hot", "torch default"]
    worst = max((r for r in report["rows"] if r["threads"] == "library"), key=lambda r: r["busy_over_idle"])
    met = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    lines += ["",
              f"- idle, DDIM-10 one-hot, library's choice: {lib['idle_s']:.3f} s (target < {TARGET_IDLE_SECONDS} s): "
              f"{met(lib['idle_s'] < TARGET_IDLE_SECONDS)}",
              f"- busy / idle, library's choice: at most {worst['busy_over_idle']:.1f}x ({worst['call']}; "
              f"target <= {TARGET_BUSY_RATIO:g}x): {met(worst['busy_over_idle'] <= TARGET_BUSY_RATIO)}",
              f"- busy, DDIM-10 one-hot: torch's default {default['busy_s']:.3f} s against the library's "
              f"{lib['busy_s']:.3f} s, {default['busy_s'] / lib['busy_s']:.1f}x; idle: {default['idle_s']:.3f} s "
              f"against {lib['idle_s']:.3f} s, {default['idle_s'] / lib['idle_s']:.2f}x"]
    return "\n".join(lines)
