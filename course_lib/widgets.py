"""Widgets: thin ipywidgets views over pure functions.

Each interactive picture in the notebooks is split in two:

* a *pure* function (``render_noising``, ``feature_maps``, ...) that takes tensors and numbers and
  returns arrays or data: the tests call these directly and check values;
* a *view* (``noising_widget``, ``feature_map_widget``, ...) that wires sliders to the pure function
  and shows the result in an ``ipywidgets.Image`` (PNG bytes) or ``Output``.

Nothing in the library imports this module; only notebooks, the CLI and the gallery do.
"""

from contextlib import contextmanager

import ipywidgets as widgets
import numpy as np
import torch

from .data import CLASS_NAMES as _CLASS_NAMES, parse_context as _parse_context
from .samplers import SAMPLER_LABELS, SAMPLERS as _SAMPLERS, predict_x0, sampler_options
from .viz import feature_grid, figure_png, grid_array, plot_schedule, png_bytes

WORKING = "<i>working…</i>"  # what a view shows while it computes (a slider move on a busy CPU can take seconds)

# The top-level blocks of ContextUnet whose outputs are feature maps (C, h, w), in forward order.
FEATURE_BLOCKS = ("init_conv", "down1", "down2", "to_vec", "up0", "up1", "up2", "out")
# Each skip connection, named by the encoder block whose output it carries, and where it goes.
SKIPS = {"init_conv": "out", "down1": "up2", "down2": "up1"}


def _steps(t, n, device):
    return torch.full((n,), int(t), dtype=torch.long, device=device)


# ---- chapter 1: the U-Net

def feature_maps(model, x, block_name, t=0.0, context=None):
    """The output of block `block_name` for the first image of x: a tensor (C, h, w).

    x: (B, 3, H, W) (usually a noised sprite x_t); t: t/T as a float; context: (B, n_cfeat) or None.
    Uses a forward hook, so it works on any ContextUnet without changing its code.
    """
    if block_name not in FEATURE_BLOCKS:
        raise ValueError(f"block_name must be one of {FEATURE_BLOCKS} (a block whose output is a feature map), "
                         f"got {block_name!r}")
    captured = {}
    hook = getattr(model, block_name).register_forward_hook(
        lambda module, args, output: captured.setdefault("out", output.detach()))
    try:
        with torch.no_grad():
            model(x, torch.full((x.shape[0],), float(t), device=x.device), context)
    finally:
        hook.remove()
    return captured["out"][0].float().cpu()  # (C, h, w)


def render_feature_maps(x_t, maps, n_channels=16, ncol=8, scale=6):
    """The input x_t (1, 3, H, W) on the left and the first `n_channels` of `maps` (C, h, w) on the right.

    Returns a uint8 picture; tiles are scaled so every block's maps come out about the same size.
    """
    maps = maps[:n_channels]
    tiles = feature_grid(maps, ncol=ncol, scale=max(1, 96 // maps.shape[-1]))  # tiles of about 96 pixels
    sprite = grid_array(x_t[:1], nrow=1, scale=scale * 2)
    height = max(tiles.shape[0], sprite.shape[0])
    canvas = np.full((height, sprite.shape[1] + 12 + tiles.shape[1], 3), 255, np.uint8)
    canvas[:sprite.shape[0], :sprite.shape[1]] = sprite
    canvas[:tiles.shape[0], sprite.shape[1] + 12:] = tiles
    return canvas


def noised(x0, t, sched, noise):
    """x_t for sprites x0 (N, 3, H, W) with the given noise; t = 0 returns x0 itself."""
    if int(t) == 0:
        return x0
    return sched.add_noise(x0, _steps(t, len(x0), x0.device), noise.to(x0.device))


def feature_map_widget(model, sched, sprites, noise=None, block_name="down1", t=0):
    """Pick a block, a sprite and a noise level; see x_t and the block's first 16 feature maps.
    Returns a VBox with CSS class "course-feature-maps"."""
    if noise is None:
        noise = torch.randn(sprites.shape, generator=torch.Generator().manual_seed(0))
    device = next(model.parameters()).device
    block = widgets.Dropdown(options=FEATURE_BLOCKS, value=block_name, description="block")
    index = widgets.IntSlider(0, 0, len(sprites) - 1, description="sprite")
    step = widgets.IntSlider(t, 0, sched.timesteps, step=10, description="t", continuous_update=False)
    image = widgets.Image(format="png")
    caption = widgets.HTML()

    def update(*_):
        i = index.value
        x_t = noised(sprites[i:i + 1].to(device), step.value, sched, noise[i:i + 1])
        maps = feature_maps(model, x_t, block.value, step.value / sched.timesteps)  # (C, h, w)
        image.value = png_bytes(render_feature_maps(x_t, maps))
        caption.value = (f"<b>{block.value}</b> at t = {step.value}: {maps.shape[0]} channels of "
                         f"{maps.shape[1]}×{maps.shape[2]}; showing the first {min(16, maps.shape[0])} "
                         "(dark low, yellow high; one colour scale for all tiles)")

    for control in (block, index, step):
        control.observe(update, "value")
    update()
    box = widgets.VBox([widgets.HBox([block, index, step]), caption, image])
    box.add_class("course-feature-maps")
    return box


@contextmanager
def cut_skips(model, skips=tuple(SKIPS)):
    """Within the block, the named skip connections carry zeros instead of encoder features.

    Only the copy sent across to the decoder is zeroed; the encoder path itself (down1 -> down2 ->
    to_vec) is untouched. skips: names from SKIPS (the encoder block whose output is skipped).
    """
    unknown = [s for s in skips if s not in SKIPS]
    if unknown:
        raise ValueError(f"unknown skip connections {unknown}; choose from {list(SKIPS)}")
    hooks = []
    for source in skips:
        target = getattr(model, SKIPS[source])
        if source == "init_conv":  # `out` gets cat((up-path, init_conv features)) as one tensor
            def zero_half(module, args, n=model.n_feat):
                h = args[0].clone()
                h[:, n:] = 0  # channels n.. are the init_conv features
                return (h,)
            hooks.append(target.register_forward_pre_hook(zero_half))
        else:  # UnetUp.forward(x, skip)
            hooks.append(target.register_forward_pre_hook(lambda module, args: (args[0], torch.zeros_like(args[1]))))
    try:
        yield model
    finally:
        for h in hooks:
            h.remove()


def skip_ablation(model, sched, x0, t, noise, context=None, skips=tuple(SKIPS)):
    """Predict the noise in x_t with the U-Net intact and with `skips` cut; returns a dict of tensors.

    Keys: ``x_t``; ``eps`` and ``x0_hat`` (intact); ``eps_cut`` and ``x0_hat_cut`` (skips zeroed);
    ``mse`` and ``mse_cut``: the mean squared error of each noise prediction against the true noise.
    """
    device = next(model.parameters()).device
    x0, noise = x0.to(device), noise.to(device)
    steps = _steps(t, len(x0), device)
    x_t = sched.add_noise(x0, steps, noise)
    t_frac = steps.float() / sched.timesteps
    with torch.no_grad():
        eps = sched.eps_from(model.prediction, x_t, steps, model(x_t, t_frac, context).float())
        with cut_skips(model, skips):
            eps_cut = sched.eps_from(model.prediction, x_t, steps, model(x_t, t_frac, context).float())
    return {"x_t": x_t.cpu(), "eps": eps.cpu(), "eps_cut": eps_cut.cpu(),
            "x0_hat": predict_x0(sched, x_t, t, eps).clamp(-1, 1).cpu(),
            "x0_hat_cut": predict_x0(sched, x_t, t, eps_cut).clamp(-1, 1).cpu(),
            "mse": float(((eps - noise) ** 2).mean()), "mse_cut": float(((eps_cut - noise) ** 2).mean())}


def render_skip_ablation(result, nrow=None, scale=4):
    """Rows: clean sprite is not shown; x_t, x̂_0 intact, x̂_0 with skips cut. uint8 picture."""
    n = len(result["x_t"])
    rows = torch.cat([result["x_t"], result["x0_hat"], result["x0_hat_cut"]])
    return grid_array(rows, nrow=nrow or n, scale=scale)


def skip_widget(model, sched, sprites, noise=None, context=None, t=200):
    """Tick which skip connections to cut and pick t; see x_t, x̂_0 intact and x̂_0 with the cut."""
    if noise is None:
        noise = torch.randn(sprites.shape, generator=torch.Generator().manual_seed(0))
    boxes = {name: widgets.Checkbox(True, description=f"cut {name} → {SKIPS[name]}", indent=False)
             for name in SKIPS}
    step = widgets.IntSlider(t, 1, sched.timesteps, step=10, description="t", continuous_update=False)
    image = widgets.Image(format="png")
    caption = widgets.HTML()

    def update(*_):
        cut = tuple(name for name, box in boxes.items() if box.value)
        result = skip_ablation(model, sched, sprites, step.value, noise, context=context, skips=cut)
        image.value = png_bytes(render_skip_ablation(result))
        caption.value = (f"rows: x_t at t = {step.value}; x̂_0 intact (noise MSE {result['mse']:.3f}); "
                         f"x̂_0 with {', '.join(cut) or 'no'} skips cut (noise MSE {result['mse_cut']:.3f})")

    for control in (*boxes.values(), step):
        control.observe(update, "value")
    update()
    return widgets.VBox([widgets.HBox([*boxes.values(), step]), caption, image])


def time_embeddings(model, ts, context=None):
    """The decoder's scale and shift for each t/T in `ts`: dict of arrays (len(ts), channels).

    ``temb1``/``temb2``: timeembed1/2 outputs (the shifts); ``cemb1``/``cemb2``: contextembed1/2 outputs
    for `context` (n_cfeat,) or the null context (the scales).
    """
    ts = torch.as_tensor(ts, dtype=torch.float32).reshape(-1, 1)
    c = torch.zeros(len(ts), model.n_cfeat) if context is None else torch.as_tensor(context).float().expand(len(ts), -1)
    device = next(model.parameters()).device
    ts, c = ts.to(device), c.to(device)
    with torch.no_grad():
        return {"temb1": model.timeembed1(ts).cpu().numpy(), "temb2": model.timeembed2(ts).cpu().numpy(),
                "cemb1": model.contextembed1(c).cpu().numpy(), "cemb2": model.contextembed2(c).cpu().numpy()}


# ---- chapter 2: the forward process

def noising_stats(sched, t):
    """ᾱ_t, the signal and noise scales sqrt(ᾱ_t) and sqrt(1 − ᾱ_t), and the SNR at integer step t."""
    ab = float(sched.alpha_bars[int(t)])
    return {"t": int(t), "alpha_bar": ab, "signal_scale": ab ** 0.5, "noise_scale": (1 - ab) ** 0.5,
            "snr": ab / (1 - ab) if ab < 1 else float("inf")}


def render_noising(x0, t, sched, noise=None, scale=5):
    """x_t = sqrt(ᾱ_t) x0 + sqrt(1 − ᾱ_t) ε for sprites x0 (N, 3, H, W) and fixed noise: uint8 (rows, cols, 3).

    t = 0 gives the clean sprites; the same `noise` for every t, so a slider shows one path
    (None: noise drawn with seed 0, the same on every call).
    """
    if noise is None:
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    return grid_array(noised(x0, t, sched, noise), nrow=len(x0), scale=scale)


def noising_widget(sprites, sched, noise=None, t=100):
    """A t slider over the forward process: x_t for the sprites, ᾱ_t and the SNR, and where t sits on ᾱ.
    Returns a VBox with CSS class "course-noising"."""
    if noise is None:
        noise = torch.randn(sprites.shape, generator=torch.Generator().manual_seed(0))
    step = widgets.IntSlider(t, 0, sched.timesteps, description="t", continuous_update=True)
    image = widgets.Image(format="png")
    curve = widgets.Image(format="png", width=420)
    caption = widgets.HTML()

    def update(*_):
        s = noising_stats(sched, step.value)
        image.value = png_bytes(render_noising(sprites, step.value, sched, noise))
        curve.value = figure_png(plot_schedule(sched, t=step.value), dpi=70)
        caption.value = (f"t = {s['t']}: ᾱ_t = {s['alpha_bar']:.4f}, x_t = {s['signal_scale']:.3f}·x_0 + "
                         f"{s['noise_scale']:.3f}·ε, SNR = {s['snr']:.4g}")

    step.observe(update, "value")
    update()
    box = widgets.VBox([step, caption, image, curve])
    box.add_class("course-noising")
    return box


# ---- chapters 3 and 4

# Chapters 3 (context) and 4 (DDPM against DDIM): pure functions first, then the two views.

CONTEXT_PRESETS = {  # name -> weights per class; the context mixer's "preset" menu
    "hero": {"hero": 1.0},
    "non-hero": {"non-hero": 1.0},
    "food": {"food": 1.0},
    "spell": {"spell": 1.0},
    "side-facing": {"side-facing": 1.0},
    "hero + food": {"hero": 1.0, "food": 1.0},
    "hero + spell": {"hero": 1.0, "spell": 1.0},
    "non-hero + side-facing": {"non-hero": 1.0, "side-facing": 1.0},
    "food + spell": {"food": 1.0, "spell": 1.0},
    "half hero": {"hero": 0.5},
    "half hero, half food": {"hero": 0.5, "food": 0.5},
    "none (unconditional)": {},
}


def make_context(spec, class_names=_CLASS_NAMES):
    """A context vector (n_classes,) from a class name, "hero=1,food=0.6", a dict {name: weight} or a
    sequence of weights; a tensor is passed on, of any width (a caption vector has 53; the sampler
    checks it against the model). None (or "none") -> None, the null context."""
    if spec is None:
        return None
    if isinstance(spec, str):
        return _parse_context(spec, class_names)
    if isinstance(spec, dict):
        unknown = [name for name in spec if name not in class_names]
        if unknown:
            raise ValueError(f"unknown class name(s) {unknown} in context {spec}; use names from {list(class_names)}")
        spec = [float(spec.get(name, 0.0)) for name in class_names]
    c = torch.as_tensor(spec, dtype=torch.float32)
    width_ok = torch.is_tensor(spec) or c.shape[-1:] == (len(class_names),)  # a tensor's width: the sampler checks
    if c.dim() not in (1, 2) or not width_ok:
        raise ValueError(f"a context needs {len(class_names)} weights ({', '.join(class_names)}), got shape "
                         f"{tuple(c.shape)}")
    if not torch.isfinite(c).all() or (c < 0).any():
        raise ValueError(f"context weights must be finite and non-negative, got {c.tolist()}")
    return c


def _noise(n, seed, model):
    """x_T for n sprites from a seeded generator (drawn on the CPU, as the samplers draw it)."""
    return torch.randn((n, model.in_channels, model.height, model.height),
                       generator=torch.Generator().manual_seed(seed))


def _run(model, sched, sampler, n, steps, context, guidance, seed, eta=0.0, x_T=None, context_shares=None):
    if sampler not in _SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; use one of {sorted(_SAMPLERS)}")
    options = sampler_options(sampler, steps, eta)
    generator = torch.Generator().manual_seed(seed)
    if x_T is None:
        x_T = torch.randn((n, model.in_channels, model.height, model.height), generator=generator)
    return _SAMPLERS[sampler](model, sched, n=n, context=context, guidance=guidance, generator=generator, x_T=x_T,
                              context_shares=context_shares, **options)


def sample_grid(model, sched, context=None, steps=25, seed=0, guidance=0.0, sampler="ddim", n=8, eta=0.0,
                context_shares=None):
    """Sample n sprites with one context (anything `make_context` takes) -> SampleResult.

    The starting noise x_T comes from ``seed``: the same seed and settings give the same sprites, and
    changing only the context (or the steps) starts from the same noise. With ``context_shares`` (C,),
    context holds C conditions (C, k) that guidance composes (samplers.guided_eps).
    """
    return _run(model, sched, sampler, n, steps, make_context(context), guidance, seed, eta,
                context_shares=context_shares)


def context_rows(model, sched, contexts, per_row=8, steps=25, seed=0, guidance=0.0, sampler="ddim",
                 context_shares=None):
    """One row of per_row sprites per context, every row from the same per_row noises x_T, sampled
    as one batch. contexts: a list of anything `make_context` takes (None: the null context) or a
    tensor (rows, k), or (rows, C, k) composed by context_shares (rows, C).
    Returns images (rows * per_row, C, H, W): row r, column j is context r from noise j."""
    if not torch.is_tensor(contexts):
        contexts = torch.stack([torch.zeros(model.n_cfeat) if c is None else make_context(c) for c in contexts])
    if contexts.dim() != (2 if context_shares is None else 3):
        raise ValueError(f"contexts must be a list of contexts or a (rows, {model.n_cfeat}) tensor (with "
                         f"context_shares: (rows, C, {model.n_cfeat})), got shape {tuple(contexts.shape)}")
    if context_shares is not None and tuple(context_shares.shape) != tuple(contexts.shape[:2]):
        raise ValueError(f"context_shares must be (rows, C) = {tuple(contexts.shape[:2])}, one share per condition "
                         f"of each row, got {tuple(context_shares.shape)}")
    rows = len(contexts)
    x_T = _noise(per_row, seed, model).repeat(rows, 1, 1, 1)  # (rows * per_row, C, H, W)
    context = contexts.repeat_interleave(per_row, 0)  # (rows * per_row, k) or (rows * per_row, C, k)
    shares = None if context_shares is None else context_shares.repeat_interleave(per_row, 0)  # (rows * per_row, C)
    return _run(model, sched, sampler, rows * per_row, steps, context, guidance, seed, x_T=x_T,
                context_shares=shares).images


def class_grid(model, sched, per_class=8, steps=25, seed=0, guidance=0.0, sampler="ddim"):
    """One row per class (one-hot context), every row from the same per_class noises x_T.

    Returns images (n_classes * per_class, C, H, W): row k, column j is class k from noise j.
    """
    return context_rows(model, sched, torch.eye(model.n_cfeat), per_class, steps, seed, guidance, sampler)


def interpolate_contexts(c1, c2, n=8):
    """n contexts (n, k) from c1 to c2: (1 − a) c1 + a c2 for a evenly spaced in [0, 1]; also returns a."""
    c1, c2 = make_context(c1), make_context(c2)
    if c1 is None or c2 is None or c1.dim() != 1 or c1.shape != c2.shape:
        raise ValueError("interpolate between two single contexts of the same length, e.g. 'hero' and 'food'")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (both ends are included), got {n!r}")
    a = torch.linspace(0, 1, n)  # (n,)
    return (1 - a)[:, None] * c1 + a[:, None] * c2, a  # (n, k), (n,)


def interpolation_rows(model, sched, pairs, n=8, steps=25, seed=0, guidance=0.0):
    """For each pair (c1, c2), a row of n sprites along the line from c1 to c2, every sprite from ONE
    starting noise, with DDIM at η = 0: along a row, only the context changes. All rows are sampled as
    one batch. Returns (images (len(pairs) * n, C, H, W), a (n,))."""
    lines = [interpolate_contexts(c1, c2, n) for c1, c2 in pairs]
    contexts, a = torch.cat([c for c, _ in lines]), lines[0][1]  # (rows * n, k), (n,)
    return context_rows(model, sched, contexts, per_row=1, steps=steps, seed=seed, guidance=guidance), a


def interpolation_row(model, sched, c1, c2, n=8, steps=25, seed=0, guidance=0.0):
    """Sprites along the line from context c1 to c2 from one starting noise (see `interpolation_rows`).
    Returns (images (n, C, H, W), a (n,))."""
    return interpolation_rows(model, sched, [(c1, c2)], n, steps, seed, guidance)


def guidance_rows(model, sched, context, scales=(0, 1, 2, 4), n=6, steps=25, seed=0):
    """One row of n sprites per guidance scale w, every row from the same n noises and context.

    ε = (1 + w) ε(x, c) − w ε(x, ∅). Returns images (len(scales) * n, C, H, W), row i at scales[i].
    """
    context = make_context(context)
    x_T = _noise(n, seed, model)
    return torch.cat([_run(model, sched, "ddim", n, steps, context, float(w), seed, x_T=x_T).images
                      for w in scales])


def compare_samplers(model, sched, runs=(("ddpm", 500), ("ddim", 10), ("ddim", 25), ("ddim", 50)), n=8,
                     seed=0, context=None, guidance=0.0):
    """Run each (sampler, steps) from the same starting noise x_T; a list of dicts with sampler, steps,
    network_calls (steps, doubled with guidance), seconds, images and timesteps, in the order given."""
    context = make_context(context)
    x_T = _noise(n, seed, model)
    rows = []
    for sampler, steps in runs:
        res = _run(model, sched, sampler, n, steps, context, guidance, seed, x_T=x_T)
        calls = steps * (2 if guidance and context is not None else 1)
        rows.append({"sampler": sampler, "steps": steps, "network_calls": calls, "seconds": res.seconds,
                     "images": res.images, "timesteps": res.timesteps})
    return rows


def format_table(rows, columns, formats=None):
    """A plain-text (markdown) table of dicts: header, rule, one line per row; `formats`: {column: spec};
    a column a row lacks shows "–"."""
    formats = formats or {}
    cells = [[format(row[c], formats.get(c, "")) if c in row else "–" for c in columns] for row in rows]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(v.rjust(w) for v, w in zip(line, widths)) + " |" for line in cells]
    return "\n".join(lines)


def quality_curves(rows, metric="fid", guidance=0.0, eta=0.0):
    """{sampler: (steps, values)} sorted by steps, from rows with sampler, steps, guidance and `metric`;
    only rows at the given guidance and DDIM η (rows without these keys count as 0)."""
    curves = {}
    for row in rows:
        same = float(row.get("guidance", 0.0)) == float(guidance) and float(row.get("eta", 0.0)) == float(eta)
        if same and metric in row:
            curves.setdefault(row["sampler"], []).append((int(row["steps"]), float(row[metric])))
    return {s: tuple(map(list, zip(*sorted(points)))) for s, points in sorted(curves.items())}


def sprites_png(images, nrow=8, scale=4):
    """PNG bytes of a sprite grid (images (N, C, H, W) in [-1, 1]), for an ipywidgets.Image."""
    return png_bytes(grid_array(images, nrow=nrow, scale=scale))


def _context_text(c, class_names=_CLASS_NAMES):
    if c is None or not float(c.sum()):
        return "the null context (all zeros): unconditional"
    return ", ".join(f"{name} {w:.2f}" for name, w in zip(class_names, c.tolist()) if w)


def context_mixer(model, sched, n=8, steps=25, seed=0, guidance=0.0, start="hero", scale=4):
    """A slider per class (the context's weights), presets, guidance and seed; shows n sprites made by
    DDIM from the same noise, so moving a slider changes only the context.

    Returns a VBox with CSS class "course-context-mixer"; ``.sliders`` ({class name: FloatSlider}),
    ``.preset``, ``.guidance``, ``.seed``, ``.image`` and ``.info`` give access to its parts.
    """
    import ipywidgets as w

    names = _CLASS_NAMES[:model.n_cfeat]
    sliders = {name: w.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description=name,
                                   continuous_update=False, readout_format=".2f") for name in names}
    preset = w.Dropdown(options=list(CONTEXT_PRESETS), value=start, description="preset")
    guidance_slider = w.FloatSlider(value=guidance, min=0.0, max=4.0, step=0.5, description="guidance",
                                    continuous_update=False)
    seed_box = w.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="seed")
    image = w.Image(format="png")
    info = w.HTML()
    holding = {"on": False}

    def render(*_):
        if holding["on"]:
            return
        info.value = WORKING
        c = make_context({name: s.value for name, s in sliders.items()})
        res = sample_grid(model, sched, c, steps=steps, seed=seed_box.value, guidance=guidance_slider.value, n=n)
        image.value = sprites_png(res.images, nrow=n, scale=scale)
        info.value = (f"<code>context: {_context_text(c, names)}</code> &middot; guidance {guidance_slider.value:g}"
                      f" &middot; DDIM {steps} steps in {res.seconds:.2f} s")

    def apply_preset(change):
        holding["on"] = True
        try:
            weights = CONTEXT_PRESETS[change["new"]]
            for name, slider in sliders.items():
                slider.value = weights.get(name, 0.0)
        finally:
            holding["on"] = False
        render()

    holding["on"] = True
    for name, slider in sliders.items():
        slider.value = CONTEXT_PRESETS[start].get(name, 0.0)
    holding["on"] = False
    preset.observe(apply_preset, names="value")
    for control in (*sliders.values(), guidance_slider, seed_box):
        control.observe(render, names="value")
    render()
    box = w.VBox([w.HBox([w.VBox(list(sliders.values())), w.VBox([preset, guidance_slider, seed_box])]),
                  image, info])
    box.add_class("course-context-mixer")
    box.sliders, box.preset, box.guidance, box.seed, box.image, box.info = (
        sliders, preset, guidance_slider, seed_box, image, info)
    box.render = render
    return box


def sampler_explorer(model, sched, n=8, steps=25, seed=0, context="hero", scale=4):
    """Pick a sampler, a step count, DDIM's η and a seed; shows the n sprites and how long they took.

    Returns a VBox with CSS class "course-sampler-explorer"; ``.sampler``, ``.steps`` (IntSlider
    "steps"), ``.eta``, ``.seed``, ``.context``, ``.image`` and ``.info`` give access to its parts.
    """
    import ipywidgets as w

    sampler = w.Dropdown(options=[(label, key) for key, label in SAMPLER_LABELS.items()], value="ddim",
                         description="sampler")
    steps_slider = w.IntSlider(value=steps, min=1, max=sched.timesteps, description="steps",
                               continuous_update=False)
    eta = w.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.1, description="eta (η)", continuous_update=False)
    seed_box = w.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="seed")
    context_menu = w.Dropdown(options=list(_CLASS_NAMES[:model.n_cfeat]) + ["none"], value=context,
                              description="context")
    image = w.Image(format="png")
    info = w.HTML()

    def render(*_):
        eta.disabled = sampler.value != "ddim"
        res = sample_grid(model, sched, None if context_menu.value == "none" else context_menu.value,
                          steps=steps_slider.value, seed=seed_box.value, sampler=sampler.value, n=n,
                          eta=eta.value if sampler.value == "ddim" else 0.0)
        image.value = sprites_png(res.images, nrow=n, scale=scale)
        info.value = (f"<b>{SAMPLER_LABELS[sampler.value]}</b>, {steps_slider.value} network calls: "
                      f"{res.seconds:.2f} s for {n} sprites")

    for control in (sampler, steps_slider, eta, seed_box, context_menu):
        control.observe(render, names="value")
    render()
    box = w.VBox([w.HBox([w.VBox([sampler, steps_slider, eta]), w.VBox([seed_box, context_menu])]), image, info])
    box.add_class("course-sampler-explorer")
    box.sampler, box.steps, box.eta, box.seed, box.context, box.image, box.info = (
        sampler, steps_slider, eta, seed_box, context_menu, image, info)
    box.render = render
    return box
