"""Reverse-process samplers: DDPM, DDIM and DPM-Solver++ (2M), with classifier-free guidance.

| code               | paper symbol                                  |
|--------------------|-----------------------------------------------|
| ``alpha_bars``     | ᾱ_t (cumulative product of 1 - β)             |
| ``eps``            | ε_θ(x_t, t, c), the network's noise estimate  |
| ``x0_hat``         | x̂_0 = (x_t − sqrt(1 − ᾱ_t) ε) / sqrt(ᾱ_t)    |
| ``eta``            | η, DDIM's stochasticity (0: deterministic)    |
| ``guidance``       | w in ε = (1 + w) ε(x, c) − w ε(x, ∅)          |
| ``context_shares`` | a_i in ε(x, c) = Σ_i a_i ε(x, c_i)            |
| ``t``, ``t_prev``  | integer steps, T ≥ t > t_prev ≥ 0             |

All step arithmetic runs in float32, whatever precision the network ran in. A network that predicts x_0
or v (``model.prediction``) has its output turned into ε by ``sched.eps_from`` once per step, so every
sampler takes a network of any prediction target.
"""
import time
from dataclasses import dataclass, field

import torch

from .model import check_context
from .precision import eval_mode, inference_context, prepare_input


@dataclass
class SampleResult:
    """Output of a sampling loop. ``frames``/``x0_frames``: (F, n, C, H, W) at ``frame_steps``."""
    images: torch.Tensor
    timesteps: list
    seconds: float
    frames: torch.Tensor | None = None
    x0_frames: torch.Tensor | None = None
    frame_steps: list = field(default_factory=list)


def _ab(sched, t, like):
    """ᾱ at integer steps t, shaped to broadcast against images `like`."""
    t = torch.as_tensor(t, device=sched.alpha_bars.device).long().reshape(-1)
    return sched.alpha_bars[t].to(like.device).view(-1, 1, 1, 1)  # (B or 1, 1, 1, 1)


def predict_x0(sched, x_t, t, eps):
    """x̂_0 = (x_t − sqrt(1 − ᾱ_t) ε) / sqrt(ᾱ_t)   (DDPM eq. 15 / DDIM eq. 9)."""
    ab = _ab(sched, t, x_t)
    return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()


def ddpm_step(sched, x_t, t, eps, noise, t_prev=None):
    """One ancestral step x_t -> x_{t_prev} with σ_t² = β_t (DDPM Algorithm 2, "fixed large").

    The mean is DDPM eq. 7, the posterior mean given x̂_0, which equals eq. 11's
    (x_t − β_t / sqrt(1 − ᾱ_t) · ε) / sqrt(α_t):
        μ = sqrt(ᾱ_prev) β_t / (1 − ᾱ_t) · x̂_0 + sqrt(α_t) (1 − ᾱ_prev) / (1 − ᾱ_t) · x_t,
    with α_t = ᾱ_t / ᾱ_prev so that jumps t -> t_prev < t − 1 work too. x_prev = μ + sqrt(β_t) z,
    and no noise is added on the step into t = 0.
    """
    t = int(t)
    t_prev = t - 1 if t_prev is None else int(t_prev)
    ab_t, ab_prev = sched.alpha_bars[t], sched.alpha_bars[t_prev]
    alpha = ab_t / ab_prev
    beta = 1 - alpha
    x0_hat = (x_t - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()
    mean = (ab_prev.sqrt() * beta / (1 - ab_t)) * x0_hat + (alpha.sqrt() * (1 - ab_prev) / (1 - ab_t)) * x_t
    if t_prev == 0 or noise is None:
        return mean
    return mean + beta.sqrt() * noise


def ddim_step(sched, x_t, t, t_prev, eps, eta=0.0, noise=None):
    """One DDIM step (DDIM eq. 12):

    x_prev = sqrt(ᾱ_prev) x̂_0 + sqrt(1 − ᾱ_prev − σ²) ε + σ z,
    σ = η · sqrt((1 − ᾱ_prev) / (1 − ᾱ_t)) · sqrt(1 − ᾱ_t / ᾱ_prev)    (DDIM eq. 16).

    At η = 0 the same formula with t_prev > t runs the chain upwards: DDIM inversion (editing.invert_ddim).
    """
    _check_eta(eta)
    ab_t, ab_prev = sched.alpha_bars[int(t)], sched.alpha_bars[int(t_prev)]
    x0_hat = (x_t - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()
    sigma = eta * ((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)).clamp(min=0).sqrt()  # 0 going up
    x_prev = ab_prev.sqrt() * x0_hat + (1 - ab_prev - sigma ** 2).clamp(min=0).sqrt() * eps
    if eta == 0 or int(t_prev) == 0:  # σ = 0: nothing to add
        return x_prev
    if noise is None:
        raise ValueError("ddim_step with eta > 0 needs noise: pass noise=torch.randn_like(x_t)")
    return x_prev + sigma * noise


def _dpm_coefficients(sched, t):
    """α_t = sqrt(ᾱ_t) and σ_t = sqrt(1 − ᾱ_t), in float64 (λ_t = log(α_t / σ_t) is built from them)."""
    ab = sched.alpha_bars[int(t)].double()
    return ab.sqrt(), (1 - ab).sqrt()


def dpm_solver_step(sched, x_t, t, t_prev, x0_hat, prev=None):
    """One DPM-Solver++(2M) step in data prediction (Lu et al. 2022, Algorithm 2, midpoint form).

    x_prev = (σ_prev/σ_t) x_t + α_prev (1 − e^{−h}) D, h = λ_prev − λ_t, with D = x̂_0 (first order)
    or D = x̂_0 + (x̂_0 − x̂_0') / (2 r), r = h' / h, using `prev` = (t', x̂_0') from the last step.
    The step into t_prev = 0 (σ = 0) is first order and returns x̂_0.
    """
    a_t, s_t = _dpm_coefficients(sched, t)
    a_p, s_p = _dpm_coefficients(sched, t_prev)
    exp_neg_h = (s_p * a_t) / (a_p * s_t)  # e^{-h}, finite even when σ_prev = 0
    d = x0_hat
    if prev is not None and t_prev > 0:
        t_last, x0_last = prev
        a_l, s_l = _dpm_coefficients(sched, t_last)
        h = torch.log(a_p / s_p) - torch.log(a_t / s_t)
        h_last = torch.log(a_t / s_t) - torch.log(a_l / s_l)
        d = x0_hat + (x0_hat - x0_last) * float(h / h_last) / 2  # (1/(2r)) (D0 − D1), r = h'/h
    return float(s_p / s_t) * x_t + float(a_p * (1 - exp_neg_h)) * d


def sampling_timesteps(sched, steps, t_start=None):
    """`steps` distinct descending steps evenly spaced from t_start (default T, "trailing"), then the final 0.

    t_i = round(t_start (steps − i) / steps) for i = 0..steps−1, e.g. 10 steps at T = 500:
    [500, 450, ..., 50, 0]. Rounding is half-to-even, as numpy and diffusers do. A chain that starts
    part-way (SDEdit, an edit from an inverted sprite) takes ``t_start`` < T.
    """
    T = sched.timesteps
    if t_start is None:
        t_start = T
    elif isinstance(t_start, bool) or not isinstance(t_start, int) or not 1 <= t_start <= T:
        raise ValueError(f"t_start must be an integer step from 1 to {T}, got {t_start!r}")
    _check_steps(steps, t_start)
    return [round(t_start * (steps - i) / steps) for i in range(steps)] + [0]


def _check_steps(steps, T):
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise ValueError(f"steps must be an integer from 1 to {T}, got {steps!r}")
    if not 1 <= steps <= T:
        raise ValueError(f"steps must be from 1 to {T} (the steps the chain spans), got {steps}; "
                         f"DDPM uses all {T}, DDIM looks good with 25 to 50")


def _check_eta(eta):
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0 <= eta <= 1:
        raise ValueError(f"eta must be a number in [0, 1] (0: deterministic DDIM, 1: DDPM-like), got {eta!r}")


MAX_GUIDANCE = 20  # shipped model, DDIM-10: 9% of colour values saturate at w = 0, 37% at 20, 65% at 50


def _check_guidance(guidance):
    if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not 0 <= guidance <= MAX_GUIDANCE:
        raise ValueError(f"guidance must be a number from 0 to {MAX_GUIDANCE} (0: no guidance, 1 to 3 is typical; "
                         f"beyond, the colours saturate), got {guidance!r}")


def guided_eps(model, x, t_frac, context, guidance, shares=None):
    """ε = (1 + w) ε(x, c) − w ε(x, ∅), all network calls in one batched forward pass.

    With ``shares`` (n, C), the a_i, ``context`` (n, C, k) holds C conditions per sprite, composed as
    ε(x, c) = Σ_i a_i ε(x, c_i), Σ_i a_i = 1. Then ε = ε(x, ∅) + Σ_i (1 + w) a_i (ε(x, c_i) − ε(x, ∅)),
    the conjunction (AND) of Composable Diffusion (Liu et al. 2022) with weights (1 + w) a_i.
    """
    if shares is not None:
        return _composed_eps(model, x, t_frac, context, guidance, shares)
    if guidance == 0 or context is None:
        return model(x, t_frac, context).float()
    n = x.shape[0]
    both = model(torch.cat([x, x]), torch.cat([t_frac, t_frac]),
                 torch.cat([context, torch.zeros_like(context)])).float()  # (2n, C, H, W)
    eps_c, eps_null = both[:n], both[n:]
    return (1 + guidance) * eps_c - guidance * eps_null


def _composed_eps(model, x, t_frac, context, guidance, shares):
    """guided_eps for C conditions per sprite: context (n, C, k), shares (n, C)."""
    weights = (1 + guidance) * shares  # (n, C)
    if guidance:
        context = torch.cat([context, torch.zeros_like(context[:, :1])], 1)  # (n, C + 1, k): ∅ last
        weights = torch.cat([weights, torch.full_like(shares[:, :1], -guidance)], 1)  # (n, C + 1)
    n, m, k = context.shape
    eps = model(torch.cat([x] * m), t_frac.repeat(m),  # cat keeps x's memory layout (channels_last in bf16)
                context.transpose(0, 1).reshape(m * n, k)).float()  # (m n, channels, H, W), condition-major
    eps = eps.view(m, n, *x.shape[1:])  # (m, n, channels, H, W)
    return (weights.T.reshape(m, n, 1, 1, 1).to(eps) * eps).sum(0)


def check_conditions(context, shares, n, n_cfeat):
    """Composed conditions: context (n, C, k), or (C, k) for every sprite, and shares (n, C) or (C,),
    each row >= 0 and summing to 1. Returns both as float tensors of n rows."""
    if context is None:
        raise ValueError("context_shares weigh conditions: give the context (n, C, k) they belong to")
    context, shares = torch.as_tensor(context), torch.as_tensor(shares, dtype=torch.float32)
    if context.dim() == 2:
        context = context.unsqueeze(0).expand(n, -1, -1)  # (C, k) -> (n, C, k)
    if shares.dim() == 1:
        shares = shares.unsqueeze(0).expand(n, -1)  # (C,) -> (n, C)
    if context.dim() != 3 or context.shape[2] != n_cfeat or shares.shape != context.shape[:2] or len(shares) != n:
        raise ValueError(f"composed conditions need a context (n, C, {n_cfeat}) or (C, {n_cfeat}) and shares (n, C) "
                         f"or (C,) for n={n} sprites, got context {tuple(context.shape)} and shares "
                         f"{tuple(shares.shape)}; captions.caption_conditions makes them")
    if not torch.isfinite(shares).all() or (shares < 0).any():
        raise ValueError(f"context_shares must be finite and >= 0, got a minimum of {shares.min():g}")
    sums = shares.sum(1)
    if not torch.allclose(sums, torch.ones_like(sums)):
        raise ValueError(f"context_shares must sum to 1 over each sprite's conditions, got sums from {sums.min():g} "
                         f"to {sums.max():g}; divide each row by its sum")
    c = context.shape[1]
    flat = check_context(context.reshape(n * c, n_cfeat), n * c, n_cfeat)  # (n C, k)
    return flat.view(n, c, n_cfeat), shares


def _sample(model, sched, n, steps, update, *, generator, x_T, **chain):
    """The samplers' common start: draw (or check) x_T, then run the chain from T down to 0."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer number of sprites, got {n!r}")
    _check_generator(generator)
    timesteps = sampling_timesteps(sched, steps)
    shape = (n, model.in_channels, model.height, model.height)
    if x_T is None:
        x_T = torch.randn(shape, generator=generator)  # drawn on the CPU: same on every device
    else:
        x_T = torch.as_tensor(x_T)
        if tuple(x_T.shape) != shape:
            raise ValueError(f"x_T must have shape {shape} for n={n}, got {tuple(x_T.shape)}")
        if not torch.isfinite(x_T).all():
            raise ValueError("x_T holds NaN or infinity; start from torch.randn noise")
    return run_chain(model, sched, x_T, timesteps, update, generator=generator, **chain)


def _check_generator(generator):
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, e.g. torch.Generator().manual_seed(0), or None; got "
                        f"{generator!r}")


def _check_model_input(model, x):
    """x as a float32 tensor (n, C, H, H) the model takes, or a ValueError that says what is wrong."""
    x = torch.as_tensor(x)
    shape = (model.in_channels, model.height, model.height)
    if x.dim() != 4 or tuple(x.shape[1:]) != shape or len(x) == 0:
        raise ValueError(f"the chain's start must have shape (n, {', '.join(map(str, shape))}), got {tuple(x.shape)}")
    x = x.float()
    if not torch.isfinite(x).all():
        raise ValueError("the chain's start holds NaN or infinity; start from torch.randn noise or a sprite in [-1, 1]")
    return x


def _check_timesteps(timesteps, T):
    if len(timesteps) < 2 or any(isinstance(t, bool) or not isinstance(t, int) or not 0 <= t <= T for t in timesteps):
        raise ValueError(f"timesteps must list two or more integer steps from 0 to {T}, got {list(timesteps)[:8]}; "
                         "sampling_timesteps makes them")


def run_chain(model, sched, x, timesteps, update, *, context=None, guidance=0.0, generator=None, record_every=0,
              precision="auto", needs_noise=False, context_shares=None, network_on_ascent=True, callback=None,
              steer=None):
    """The loop every sampler and editor shares: x <- update(x, t, t_next, eps, noise) for each pair of
    `timesteps`, with eps the (guided) network's noise estimate at (x, t).

    Descending pairs denoise. Ascending pairs (t_next > t) run up the chain: DDIM inversion asks the
    network (``network_on_ascent=True``); RePaint's re-noising jumps do not, and get ``eps=None``.
    The network has no time 0 (there ᾱ = 1 leaves ε undefined), so a step from t = 0 asks it at t_next.
    ``noise`` is fresh N(0, I) from `generator` when ``needs_noise`` and t_next > 0, else None.
    ``callback``, if given, is called after every step with a dict (as k-diffusion's samplers do):
    "i" (the step's index), "t" (the step reached), "x" (x at t) and "x0_hat" (the guess of x_0 the step
    used, clamped to [-1, 1]; None on a step that did not ask the network).
    ``steer``, if given, replaces each step's ε by ``steer(eps_at, x, t)``, where ``eps_at(x)`` is the
    guided network's ε at that step: guidance by a loss (loss_guidance.py) takes its gradient through it.
    """
    _check_guidance(guidance)
    if guidance and context is None:
        raise ValueError(f"guidance {guidance:g} needs a context to guide toward (it steers away from the null "
                         "context); give a context, or guidance 0")
    _check_generator(generator)
    _check_timesteps(timesteps, sched.timesteps)
    if steer is not None and not callable(steer):
        raise TypeError(f"steer must be a function steer(eps_at, x, t) -> eps, e.g. loss_guidance.loss_steer(...); "
                        f"got {steer!r}")
    if isinstance(record_every, bool) or not isinstance(record_every, int) or record_every < 0:
        raise ValueError(f"record_every must be an integer >= 0 (0 keeps no frames), got {record_every!r}")
    dtypes = {p.dtype for p in model.parameters()} - {torch.float32}
    if dtypes:
        raise ValueError(f"the samplers take a float32 model, got parameters of {sorted(map(str, dtypes))}; call "
                         "model.float() (precision='bf16' or 'fp16' runs it in lower precision)")
    device = sched.alpha_bars.device
    x = _check_model_input(model, x).to(device)
    n, shape = len(x), tuple(x.shape)
    if context_shares is not None:
        context, context_shares = check_conditions(context, context_shares, n, model.n_cfeat)
        context, context_shares = context.to(device), context_shares.to(device)
    elif context is not None:
        context = check_context(context, n, model.n_cfeat).to(device)
    frames, x0_frames, frame_steps = [], [], []
    prediction = getattr(model, "prediction", "eps")
    start = time.perf_counter()
    conditions = 1 if context_shares is None else context.shape[1]
    batch = n * (conditions + 1) if guidance and context is not None else n * conditions  # c (and ∅) in one batch
    last = len(timesteps) - 2
    with eval_mode(model), inference_context(model, device, precision, sprites=batch,
                                                          gradients=steer is not None) as (net, precision):
        for i, (t, t_next) in enumerate(zip(timesteps[:-1], timesteps[1:])):
            eps = None
            if t_next < t or network_on_ascent:
                t_net = t or t_next
                t_frac = torch.full((n,), t_net / sched.timesteps, device=device)

                def eps_at(x_in):
                    output = guided_eps(net, prepare_input(x_in, precision), t_frac, context, guidance,
                                        context_shares)
                    return sched.eps_from(prediction, x_in, t_net, output)  # the network may predict x_0 or v

                eps = eps_at(x) if steer is None else steer(eps_at, x, t_net)
            noise = torch.randn(shape, generator=generator).to(device) if needs_noise and t_next > 0 else None
            x_new = update(x, t, t_next, eps, noise)
            record = record_every and eps is not None and (i % record_every == 0 or i == last)
            x0_hat = predict_x0(sched, x, t, eps).clamp(-1, 1) if eps is not None and (record or callback) else None
            if record:
                frames.append(x.cpu())
                x0_frames.append(x0_hat.cpu())
                frame_steps.append(t)
            x = x_new
            if callback is not None:
                callback({"i": i, "t": t_next, "x": x, "x0_hat": x0_hat})
    seconds = time.perf_counter() - start
    result = SampleResult(images=x.cpu(), timesteps=list(timesteps), seconds=seconds)
    if record_every:
        frames.append(x.cpu())
        # a chain that ends at 0 ends clean; one that ends in noise (inversion) has no newer x̂_0 than its last
        x0_frames.append(x.cpu() if timesteps[-1] == 0 else x0_frames[-1])
        result.frames = torch.stack(frames)  # (F, n, C, H, W)
        result.x0_frames = torch.stack(x0_frames)  # (F, n, C, H, W)
        result.frame_steps = frame_steps + [timesteps[-1]]
    return result


def sample_ddpm(model, sched, n=16, steps=None, context=None, guidance=0.0, generator=None, x_T=None,
                record_every=0, precision="auto", add_noise=True, context_shares=None, callback=None, steer=None):
    """Ancestral DDPM sampling (Algorithm 2), all T steps by default.

    ``add_noise=False`` drops the σ_t z term: the course's demonstration of why it is needed.
    """
    steps = sched.timesteps if steps is None else steps

    def update(x, t, t_prev, eps, noise):
        return ddpm_step(sched, x, t, eps, noise, t_prev=t_prev)

    return _sample(model, sched, n, steps, update, context=context, guidance=guidance, generator=generator,
                   x_T=x_T, record_every=record_every, precision=precision, needs_noise=add_noise,
                   context_shares=context_shares, callback=callback, steer=steer)


def sample_ddim(model, sched, n=16, steps=25, eta=0.0, context=None, guidance=0.0, generator=None, x_T=None,
                record_every=0, precision="auto", context_shares=None, callback=None, steer=None):
    """DDIM sampling (eq. 12) on `steps` evenly spaced steps; deterministic given x_T when eta = 0."""
    _check_eta(eta)

    def update(x, t, t_prev, eps, noise):
        return ddim_step(sched, x, t, t_prev, eps, eta=eta, noise=noise)

    return _sample(model, sched, n, steps, update, context=context, guidance=guidance, generator=generator,
                   x_T=x_T, record_every=record_every, precision=precision, needs_noise=eta > 0,
                   context_shares=context_shares, callback=callback, steer=steer)


def sample_dpm_solver(model, sched, n=16, steps=20, context=None, guidance=0.0, generator=None, x_T=None,
                      record_every=0, precision="auto", context_shares=None, callback=None, steer=None):
    """DPM-Solver++(2M) sampling: second-order multistep, first order on the first and last steps."""
    history = []

    def update(x, t, t_prev, eps, noise):
        x0_hat = predict_x0(sched, x, t, eps)
        x_prev = dpm_solver_step(sched, x, t, t_prev, x0_hat, prev=history[-1] if history else None)
        history.append((t, x0_hat))
        return x_prev

    return _sample(model, sched, n, steps, update, context=context, guidance=guidance, generator=generator,
                   x_T=x_T, record_every=record_every, precision=precision, needs_noise=False,
                   context_shares=context_shares, callback=callback, steer=steer)


SAMPLERS = {"ddpm": sample_ddpm, "ddim": sample_ddim, "dpm": sample_dpm_solver}
SAMPLER_LABELS = {"ddpm": "DDPM", "ddim": "DDIM", "dpm": "DPM-Solver++"}  # names for menus, plots and tables


def sampler_options(sampler, steps, eta=0.0):
    """The keyword arguments SAMPLERS[sampler] takes for a step count and η (DDIM's alone)."""
    if sampler != "ddim" and eta:
        raise ValueError(f"eta applies to ddim only; got eta={eta} with sampler {sampler!r}")
    return {"steps": steps, **({"eta": eta} if sampler == "ddim" else {})}
