"""`python -m course_lib bench --train`: a training preset run from random weights on this machine, its
speed (steps and sprites per second) and the training time it takes to reach a sprite FID target, so a
teacher can check a classroom laptop before class."""
import time

import torch

from .data import SpriteDataset
from .metrics import evaluate
from .schedule import NoiseSchedule
from .training import PRESETS, preset_config, preset_model, train

FID_TARGET = 2.0  # sprite FID at DDIM-50, guidance 2, n 250: the live run's target (docs/training_recipe.md)


def bench_recipe(preset="live", eval_every=250, n=250, target=FID_TARGET, seed=0, precision="auto",
                 max_steps=None, n_sprites=None, progress=False):
    """Train preset `preset` (seed `seed`) and score its EMA weights every `eval_every` steps (DDIM-50,
    n samples, guidance 0 and 2). Training seconds exclude the scoring. max_steps and n_sprites replace
    the preset's. Returns a dict: steps_per_second, sprites_per_second, seconds_to_target (training
    seconds until FID at guidance 2 first reached `target`; None if it never did) and one row per scoring."""
    config = preset_config(preset, seed=seed, precision=precision, progress=progress,
                           **({"max_steps": max_steps} if max_steps else {}))
    if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1:
        raise ValueError(f"eval_every must be a positive whole number of steps, got {eval_every!r}")
    torch.manual_seed(seed)
    data = SpriteDataset.generated(n_sprites or PRESETS[preset].n_sprites, seed=0)
    model, sched = preset_model(preset), NoiseSchedule()
    rows, scoring = [], {"seconds": 0.0, "next": eval_every}

    def training_seconds():
        return time.perf_counter() - start - scoring["seconds"]

    def score(result):
        started = time.perf_counter()
        row = {"step": result.step, "train_seconds": round(training_seconds(), 1)}
        for guidance in (0.0, 2.0):
            r = evaluate(result.ema_model, sched, steps=50, n=n, guidance=guidance, seed=0, precision=precision)
            row[f"fid_g{guidance:g}"], row[f"acc_g{guidance:g}"] = round(r["fid"], 2), round(r["context_acc"], 3)
        rows.append(row)
        scoring["seconds"] += time.perf_counter() - started

    def after_epoch(result):  # score at the first epoch end at or past each multiple of eval_every
        if result.step >= scoring["next"]:
            score(result)
            scoring["next"] = (result.step // eval_every + 1) * eval_every

    start = time.perf_counter()
    result = train(model, sched, data, config, callback=after_epoch)
    seconds = training_seconds()
    if not rows or rows[-1]["step"] != result.step:
        score(result)
    reached = next((row["train_seconds"] for row in rows if row["fid_g2"] <= target), None)
    return {"preset": preset, "seed": seed, "precision": result.precision, "steps": result.step,
            "batch_size": config.batch_size, "train_seconds": round(seconds, 1),
            "steps_per_second": round(result.step / seconds, 2),
            "sprites_per_second": round(result.step * config.batch_size / seconds, 1),
            "fid_target": target, "seconds_to_target": reached, "scores": rows}


def recipe_markdown(report, machine):
    """The report as a short markdown table a teacher can read."""
    lines = [f"Training preset `{report['preset']}` on {machine} ({report['precision']}): "
             f"{report['steps_per_second']} steps/s, {report['sprites_per_second']} sprites/s; "
             f"FID <= {report['fid_target']} (DDIM-50, guidance 2) after "
             + (f"{report['seconds_to_target']} s of training" if report["seconds_to_target"] is not None
                else "never, within this run"),
             "", "| step | training s | FID g0 | acc g0 | FID g2 | acc g2 |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['step']} | {r['train_seconds']} | {r['fid_g0']} | {r['acc_g0']} | {r['fid_g2']} | {r['acc_g2']} |"
              for r in report["scores"]]
    return "\n".join(lines)
