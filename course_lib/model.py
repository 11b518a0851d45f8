"""The course's context U-Net, with the course's block names, minus its two defects.

    x (B,3,16,16) -> init_conv -> down1 (B,F,8,8) -> down2 (B,2F,4,4) -> to_vec (B,2F,1,1)
                                                                          |
    out <- up2 (B,F,16,16) <- up1 (B,F,8,8) <- up0 (B,2F,4,4) <-----------+
           ^ skip: down1       ^ skip: down2

Time t/T and the context vector c enter the decoder: each up-block's input is scaled by the
context embedding and shifted by the time embedding, ``cemb * h + temb``.

With ``context_film=True`` (the caption model) the context also shifts each up-block's input,
``cemb * h + temb + cshift``, and scales and shifts the full-size (16x16) decoder features,
``(1 + γ) * up3 + β`` (FiLM, Perez et al. 2018): a colour word can then reach the 16x16 pixels
directly instead of only through the 4x4 and 8x8 features. Those layers start at zero, so adding
them to a trained model (``with_context_film``) leaves its predictions as they were.

Fixed relative to the course notebook: the residual shortcut of ``ResidualConvBlock`` is a
registered (and so trained and saved) 1x1 conv, where the course built a fresh random conv on
every forward; and ``to_vec`` averages the whole bottleneck, so any height divisible by 4 works.
"""
import math

import torch
from torch import nn

from .schedule import check_prediction

_SQRT2 = math.sqrt(2)


class ResidualConvBlock(nn.Module):
    """Two 3x3 conv + BatchNorm + GELU layers; with ``is_res``, adds the input back and rescales."""

    def __init__(self, in_channels, out_channels, is_res=False):
        super().__init__()
        self.is_res = is_res
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, 1, 1),
                                   nn.BatchNorm2d(out_channels), nn.GELU())
        self.conv2 = nn.Sequential(nn.Conv2d(out_channels, out_channels, 3, 1, 1),
                                   nn.BatchNorm2d(out_channels), nn.GELU())
        needs_projection = is_res and in_channels != out_channels
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1) if needs_projection else nn.Identity()

    def forward(self, x):
        h = self.conv2(self.conv1(x))
        if not self.is_res:
            return h
        return (self.shortcut(x) + h) / _SQRT2  # keeps the variance of the sum near 1


class UnetDown(nn.Module):
    """Encoder level: two conv blocks, then 2x2 max-pool (halves H and W)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.model = nn.Sequential(ResidualConvBlock(in_channels, out_channels),
                                   ResidualConvBlock(out_channels, out_channels), nn.MaxPool2d(2))

    def forward(self, x):
        return self.model(x)


SKIP_JOINS = ("concat", "add")


def check_skip_join(join):
    if join not in SKIP_JOINS:
        raise ValueError(f"skip_join must be 'concat' (the U-Net's: stack the encoder's channels beside the "
                         f"decoder's) or 'add' (sum them), got {join!r}")


def join_skip(x, skip, join):
    """The decoder's features and the encoder's skip features as one input: stacked along the channels
    (B, C_x + C_skip, H, W), or summed channel by channel (B, C, H, W)."""
    return torch.cat((x, skip), 1) if join == "concat" else x + skip


class UnetUp(nn.Module):
    """Decoder level: join the skip features (concatenate or add), 2x2 transposed conv (doubles H, W), two
    blocks. `in_channels` is what the transposed conv receives: C_x + C_skip when concatenating, C when adding."""

    def __init__(self, in_channels, out_channels, join="concat"):
        super().__init__()
        check_skip_join(join)
        self.join = join
        self.model = nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 2, 2),
                                   ResidualConvBlock(out_channels, out_channels),
                                   ResidualConvBlock(out_channels, out_channels))

    def forward(self, x, skip):
        return self.model(join_skip(x, skip, self.join))  # (B, in, H, W) -> (B, out, 2H, 2W)


class EmbedFC(nn.Module):
    """A two-layer MLP that embeds a vector (time or context) into `emb_dim` channels."""

    def __init__(self, input_dim, emb_dim):
        super().__init__()
        self.input_dim = input_dim
        self.model = nn.Sequential(nn.Linear(input_dim, emb_dim), nn.GELU(), nn.Linear(emb_dim, emb_dim))

    def forward(self, x):
        return self.model(x.reshape(-1, self.input_dim))  # (B, input_dim) -> (B, emb_dim)


class ContextUnet(nn.Module):
    """Predicts the noise ε in x_t from (x_t, t/T, context), or with ``prediction="x0"`` the clean sprite
    (``"v"``: the velocity; schedule.py converts between them). Output has the input's shape."""

    def __init__(self, in_channels=3, n_feat=64, n_cfeat=5, height=16, context_film=False, prediction="eps",
                 skip_join="concat"):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("n_cfeat", n_cfeat), ("height", height)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if height % 4:
            raise ValueError(f"height must be a positive multiple of 4 (two 2x down-samplings), got {height}")
        if isinstance(n_feat, bool) or not isinstance(n_feat, int) or n_feat < 8 or n_feat % 8:
            raise ValueError(f"n_feat must be a positive multiple of 8 (GroupNorm uses 8 groups), got {n_feat!r}")
        check_prediction(prediction)
        check_skip_join(skip_join)
        self.config = dict(in_channels=in_channels, n_feat=n_feat, n_cfeat=n_cfeat, height=height)
        if context_film:  # only then: the course's model keeps the course's four fields
            self.config["context_film"] = True
        if prediction != "eps":
            self.config["prediction"] = prediction
        if skip_join != "concat":
            self.config["skip_join"] = skip_join
        self.prediction, self.skip_join = prediction, skip_join
        self.in_channels, self.n_feat, self.n_cfeat, self.height = in_channels, n_feat, n_cfeat, height
        self.context_film = bool(context_film)

        self.init_conv = ResidualConvBlock(in_channels, n_feat, is_res=True)
        self.down1 = UnetDown(n_feat, n_feat)
        self.down2 = UnetDown(n_feat, 2 * n_feat)
        self.to_vec = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.GELU())

        self.timeembed1 = EmbedFC(1, 2 * n_feat)
        self.timeembed2 = EmbedFC(1, n_feat)
        self.contextembed1 = EmbedFC(n_cfeat, 2 * n_feat)
        self.contextembed2 = EmbedFC(n_cfeat, n_feat)
        if context_film:
            self.contextshift1 = _zero_start(EmbedFC(n_cfeat, 2 * n_feat))
            self.contextshift2 = _zero_start(EmbedFC(n_cfeat, n_feat))
            self.contextfilm3 = _zero_start(EmbedFC(n_cfeat, 2 * n_feat))  # γ and β for the 16x16 output

        side = height // 4
        self.up0 = nn.Sequential(nn.ConvTranspose2d(2 * n_feat, 2 * n_feat, side, side),
                                 nn.GroupNorm(8, 2 * n_feat), nn.ReLU())
        joined = 2 if skip_join == "concat" else 1  # channels after a join, in units of the skip's
        self.up1 = UnetUp(joined * 2 * n_feat, n_feat, skip_join)
        self.up2 = UnetUp(joined * n_feat, n_feat, skip_join)
        self.out = nn.Sequential(nn.Conv2d(joined * n_feat, n_feat, 3, 1, 1), nn.GroupNorm(8, n_feat), nn.ReLU(),
                                 nn.Conv2d(n_feat, in_channels, 3, 1, 1))

    def forward(self, x, t, c=None):
        """x: (B, C, H, W); t: t/T in [0, 1], shape (B,) or scalar; c: (B, n_cfeat) or None (null)."""
        self.check_images(x)
        b = x.shape[0]
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1, 1)  # (B, 1) or (1, 1)
        if t.shape[0] not in (1, b):
            raise ValueError(f"t must be a scalar or have one value per image ({b}), got {t.shape[0]} values")
        t = t.expand(b, 1)
        c = check_context(c, b, self.n_cfeat).to(device=x.device, dtype=x.dtype)

        x = self.init_conv(x)                   # (B, F, H, W)
        down1 = self.down1(x)                   # (B, F, H/2, W/2)
        down2 = self.down2(down1)               # (B, 2F, H/4, W/4)
        hidden = self.to_vec(down2)             # (B, 2F, 1, 1)

        cemb1 = self.contextembed1(c).view(b, 2 * self.n_feat, 1, 1)
        temb1 = self.timeembed1(t).view(b, 2 * self.n_feat, 1, 1)
        cemb2 = self.contextembed2(c).view(b, self.n_feat, 1, 1)
        temb2 = self.timeembed2(t).view(b, self.n_feat, 1, 1)

        if self.context_film:
            temb1 = temb1 + self.contextshift1(c).view(b, 2 * self.n_feat, 1, 1)
            temb2 = temb2 + self.contextshift2(c).view(b, self.n_feat, 1, 1)

        up1 = self.up0(hidden)                          # (B, 2F, H/4, W/4)
        up2 = self.up1(cemb1 * up1 + temb1, down2)      # (B, F, H/2, W/2)
        up3 = self.up2(cemb2 * up2 + temb2, down1)      # (B, F, H, W)
        if self.context_film:
            gamma, beta = self.contextfilm3(c).view(b, 2 * self.n_feat, 1, 1).chunk(2, dim=1)  # 2 x (B, F, 1, 1)
            up3 = (1 + gamma) * up3 + beta
        return self.out(join_skip(up3, x, self.skip_join))  # (B, C, H, W)

    def check_images(self, x):
        """Raise ValueError unless x is (B, in_channels, H, W) with H = W divisible by 4."""
        if not torch.is_tensor(x) or not x.dtype.is_floating_point:
            raise TypeError(f"images must be a float tensor (B, {self.in_channels}, H, W) in [-1, 1], "
                            f"got {type(x).__name__} {getattr(x, 'dtype', '')}")
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"images must have shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}; "
                             "for uint8 NHWC sprites use course_lib.data.to_model_space first")
        if x.shape[2] % 4 or x.shape[3] % 4:
            raise ValueError(f"image height and width must be divisible by 4, got {tuple(x.shape[2:])}; "
                             "pad or resize the sprites (16x16 is the course's size)")


def _zero_start(embed):
    """An EmbedFC whose output layer starts at zero, so that it adds nothing until trained."""
    nn.init.zeros_(embed.model[-1].weight)
    nn.init.zeros_(embed.model[-1].bias)
    return embed


def with_context_film(model):
    """A copy of a trained ContextUnet with the context's shift and FiLM layers added (at zero, so its
    predictions are unchanged): the start for training them on top of the weights it has."""
    if model.context_film:
        raise ValueError("this model already has context_film layers; train it as it is")
    wider = ContextUnet(**{**model.config, "context_film": True})
    missing, unexpected = wider.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected and all(k.startswith(("contextshift", "contextfilm")) for k in missing), (missing, unexpected)
    return wider.to(next(model.parameters()).device).train(model.training)


MAX_CONTEXT_WEIGHT = 10  # the model learnt 0 and 1; far beyond, its features overflow (hero=100000 gives NaN)


def check_context(c, batch, n_cfeat):
    """Validate a context: (batch, n_cfeat) or (n_cfeat,) for all, finite, in [0, MAX_CONTEXT_WEIGHT];
    None -> zeros."""
    if c is None:
        return torch.zeros(batch, n_cfeat)
    if isinstance(c, str):
        raise TypeError(f"context is a tensor of weights, (B, {n_cfeat}) or ({n_cfeat},), got the text {c!r}; "
                        "make one with widgets.make_context or data.parse_context")
    c = torch.as_tensor(c)
    if c.dim() == 1:
        c = c.unsqueeze(0).expand(batch, -1)  # (n_cfeat,) -> (batch, n_cfeat)
    if c.dim() != 2 or c.shape[1] != n_cfeat:
        raise ValueError(f"context must have shape (B, {n_cfeat}) or ({n_cfeat},), got {tuple(c.shape)}; "
                         "use one-hot rows, a mix of them, or None for no context")
    if c.shape[0] != batch:
        raise ValueError(f"context has {c.shape[0]} rows but there are {batch} images; "
                         "give one row per image or a single row for all")
    c = c.float()
    if not torch.isfinite(c).all():
        raise ValueError(f"context contains NaN or a value too large for float32; give weights in [0, "
                         f"{MAX_CONTEXT_WEIGHT}]")
    if (c < 0).any() or (c > MAX_CONTEXT_WEIGHT).any():
        raise ValueError(f"context weights must lie in [0, {MAX_CONTEXT_WEIGHT}], got {c.min().item():g} to "
                         f"{c.max().item():g}; the model learnt 0 and 1, mix classes with weights like "
                         "hero=1, food=0.6")
    return c


def count_parameters(module):
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def trace_shapes(model, x, t=None, c=None):
    """Run one forward pass and list (block name, output shape, parameters) for each top-level block."""
    rows, hooks = [], []
    for name, block in model.named_children():
        def record(module, args, output, name=name):
            rows.append((name, tuple(output.shape), count_parameters(module)))
        hooks.append(block.register_forward_hook(record))
    try:
        with torch.no_grad():
            model(x, torch.zeros(x.shape[0]) if t is None else t, c)
    finally:
        for h in hooks:
            h.remove()
    return rows
