"""The noise schedule and the forward process q(x_t | x_0).

Time is an integer t = 1..T; t = 0 is clean data. Every tensor here has length T + 1 so that
index t means step t, with ``alpha_bars[0] = 1`` (nothing added yet).

    beta_t       the variance of the noise added at step t
    alpha_t      = 1 - beta_t
    alpha_bar_t  = prod_{s=1..t} alpha_s            (ᾱ_t in the papers)
    x_t          = sqrt(ᾱ_t) x_0 + sqrt(1 - ᾱ_t) ε     (DDPM eq. 4, reparametrised)

What a network predicts (its prediction target) is one of three equivalent views of x_t:
    "eps"  the noise ε (DDPM, the course)
    "x0"   the clean sprite x_0
    "v"    the velocity v = sqrt(ᾱ_t) ε − sqrt(1 − ᾱ_t) x_0   (Salimans & Ho 2022, eq. 9 with α = sqrt(ᾱ))
`target_of` says what to train a network on; `eps_from` turns any network's output back into ε, the
one thing the samplers use.
"""
import math

import torch
from torch import nn

SCHEDULE_KINDS = ("linear", "cosine")
PREDICTION_TARGETS = ("eps", "x0", "v")


MAX_TIMESTEPS = 100_000  # DDPM used 1,000; far beyond, the buffers only cost memory (100,000: 1.2 MB)


def _check_timesteps(timesteps):
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or not 1 <= timesteps <= MAX_TIMESTEPS:
        raise ValueError(f"timesteps must be an integer from 1 to {MAX_TIMESTEPS:,} (the course uses 500, DDPM "
                         f"1,000), got {timesteps!r}")


def linear_betas(timesteps, beta1=1e-4, beta2=0.02):
    """DDPM's schedule: betas rising linearly from beta1 at t = 1 to beta2 at t = T."""
    if not 0 < beta1 <= beta2 < 1:  # also refuses NaN
        raise ValueError(f"need 0 < beta1 <= beta2 < 1, got beta1={beta1}, beta2={beta2}")
    return torch.linspace(beta1, beta2, timesteps, dtype=torch.float64)


def cosine_betas(timesteps, offset=0.008, max_beta=0.999):
    """Nichol & Dhariwal (2021) eq. 17: ᾱ_t = cos²((t/T + s)/(1 + s) · π/2) / ᾱ(0), betas capped."""
    t = torch.arange(timesteps + 1, dtype=torch.float64)
    f = torch.cos((t / timesteps + offset) / (1 + offset) * math.pi / 2) ** 2
    alpha_bars = f / f[0]
    return (1 - alpha_bars[1:] / alpha_bars[:-1]).clamp(max=max_beta)


class NoiseSchedule(nn.Module):
    """Betas, alphas and ᾱ as buffers (length T + 1, index = step), so `.to(device)` moves them."""

    def __init__(self, timesteps=500, beta1=1e-4, beta2=0.02, kind="linear"):
        super().__init__()
        _check_timesteps(timesteps)
        if kind == "linear":
            betas = linear_betas(timesteps, beta1, beta2)
        elif kind == "cosine":
            if (beta1, beta2) != (1e-4, 0.02):
                raise ValueError("beta1 and beta2 set the linear schedule; the cosine one has none (drop them)")
            betas = cosine_betas(timesteps)
        else:
            raise ValueError(f"kind must be one of {SCHEDULE_KINDS}, got {kind!r}")
        self.timesteps = timesteps
        self.kind = kind
        # float32 throughout, as the course and diffusers compute them, so the oracle tests compare
        # step formulas, not schedule roundings (float64 differs by at most 3e-7 relative).
        betas = torch.cat([torch.zeros(1), betas.float()])  # (T + 1,), beta_0 = 0
        self.register_buffer("betas", betas)
        self.register_buffer("alphas", 1 - betas)
        self.register_buffer("alpha_bars", torch.cumprod(1 - betas, 0))

    def extra_repr(self):
        return f"timesteps={self.timesteps}, kind={self.kind!r}"

    def check_t(self, t, allow_zero=False):
        """Validate integer steps t (a LongTensor or int) and return them as a LongTensor."""
        t = torch.as_tensor(t, device=self.alpha_bars.device)
        if t.dtype.is_floating_point or t.dtype == torch.bool:
            raise ValueError(f"t must hold integer steps 1..{self.timesteps}, got dtype {t.dtype}; "
                             "pass a LongTensor (the network itself takes t / T)")
        low = 0 if allow_zero else 1
        if t.numel() and (int(t.min()) < low or int(t.max()) > self.timesteps):
            raise ValueError(f"t must lie in {low}..{self.timesteps}, got values from "
                             f"{int(t.min())} to {int(t.max())}")
        return t.long()

    def add_noise(self, x0, t, noise):
        """Sample q(x_t | x_0): sqrt(ᾱ_t)·x0 + sqrt(1 − ᾱ_t)·ε, for a batch of steps t (B,)."""
        t = self.check_t(t)
        if noise.shape != x0.shape:
            raise ValueError(f"noise has shape {tuple(noise.shape)} but x0 has {tuple(x0.shape)}; "
                             "draw it with torch.randn_like(x0)")
        ab = self.alpha_bars[t].view(-1, *([1] * (x0.dim() - 1)))  # (B, 1, 1, 1)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def snr(self, t):
        """Signal-to-noise ratio ᾱ_t / (1 − ᾱ_t)."""
        ab = self.alpha_bars[self.check_t(t)]
        return ab / (1 - ab)

    def nearest_t(self, log_snr):
        """The integer steps 1..T whose log-SNR, log(ᾱ_t / (1 − ᾱ_t)), lies nearest each value of `log_snr`."""
        table = self.snr(torch.arange(1, self.timesteps + 1, device=self.alpha_bars.device)).log()  # (T,), falling
        return (table[None, :] - log_snr.to(table)[:, None]).abs().argmin(1) + 1  # (B,)

    def _signal_and_noise(self, t, like):
        """sqrt(ᾱ_t) and sqrt(1 − ᾱ_t) at integer steps t, shaped to broadcast against images `like`."""
        ab = self.alpha_bars[self.check_t(t)].to(like.device).view(-1, *([1] * (like.dim() - 1)))  # (B, 1, 1, 1)
        return ab.sqrt(), (1 - ab).sqrt()

    def target_of(self, prediction, x0, t, noise):
        """What a network that predicts `prediction` ("eps", "x0" or "v") should output for
        x_t = add_noise(x0, t, noise)."""
        check_prediction(prediction)
        if prediction == "eps":
            return noise
        if prediction == "x0":
            return x0
        signal, sigma = self._signal_and_noise(t, x0)
        return signal * noise - sigma * x0  # v

    def eps_from(self, prediction, x_t, t, output):
        """ε implied by a network's `output` at x_t, t, whatever it predicts:
            x0:  ε = (x_t − sqrt(ᾱ_t) x̂_0) / sqrt(1 − ᾱ_t)
            v:   ε = sqrt(1 − ᾱ_t) x_t + sqrt(ᾱ_t) v̂
        Affine in `output` at a given x_t and t, so classifier-free guidance, whose weights (1 + w) and −w
        sum to one, gives the same ε whether it combines the outputs or their ε's."""
        check_prediction(prediction)
        if prediction == "eps":
            return output
        signal, sigma = self._signal_and_noise(t, x_t)
        if prediction == "x0":
            return (x_t - signal * output) / sigma
        return sigma * x_t + signal * output


def check_prediction(prediction):
    """ValueError unless `prediction` is one of PREDICTION_TARGETS."""
    if prediction not in PREDICTION_TARGETS:
        raise ValueError(f"prediction must be one of {PREDICTION_TARGETS} (what the network outputs: the noise, "
                         f"the clean sprite or the velocity), got {prediction!r}")
