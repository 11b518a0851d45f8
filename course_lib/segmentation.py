"""The U-Net as it was invented (Ronneberger et al., 2015): a segmentation network that learns from few
examples. Built from the diffusion model's own blocks, in the same shape as ``ContextUnet``:

    x (B,3,16,16) -> init_conv -> down1 (B,F,8,8) -> down2 (B,2F,4,4) -> to_vec (B,2F,1,1)
                                                                          |
    out (B,1,16,16) <- up2 (B,F,16,16) <- up1 (B,F,8,8) <- up0 (B,2F,4,4) <+
    ^ skip: init_conv   ^ skip: down1         ^ skip: down2

with no time or context input and one output channel: the logit that a pixel belongs to the sprite.
Change that output to three channels of predicted noise, add ``t`` and the context, and it is the
diffusion model of the rest of the course.

``skips=False`` keeps every layer and shape but hands the decoder zeros where the encoder's feature
maps would come across, so all it knows is the 2F-number bottleneck.
"""
import json
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .arguments import seed_value
from .backgrounds import make_composites
from .data import to_model_space
from .memory import GENERATED_SPRITE_BYTES, check_fits_in_memory
from .model import ResidualConvBlock, UnetDown, UnetUp, check_skip_join, join_skip
from .precision import (autocast, cpu_threads, eval_mode, pick_device, prepare_input, resolve_precision,
                        threads_for)

__all__ = ["SegmentationUnet", "SegmentationResult", "train_segmentation", "predict_masks", "iou", "mask_images",
           "fit_threshold", "threshold_masks", "train_and_score", "run_segmentation"]

TEST_SEED_OFFSET = 1000  # held-out composites use seed + 1000


class SegmentationUnet(nn.Module):
    """Image (B, 3, H, W) in [-1, 1] -> mask logits (B, 1, H, W). ``skips=False``: skips carry zeros."""

    def __init__(self, in_channels=3, n_feat=16, height=16, skips=True, skip_join="concat"):
        super().__init__()
        if height % 4 or height < 4:
            raise ValueError(f"height must be a positive multiple of 4 (two 2x down-samplings), got {height}")
        if n_feat % 8 or n_feat < 8:
            raise ValueError(f"n_feat must be a positive multiple of 8 (GroupNorm uses 8 groups), got {n_feat}")
        check_skip_join(skip_join)
        self.config = dict(in_channels=in_channels, n_feat=n_feat, height=height, skips=skips, skip_join=skip_join)
        self.skips, self.skip_join = skips, skip_join

        self.init_conv = ResidualConvBlock(in_channels, n_feat, is_res=True)
        self.down1 = UnetDown(n_feat, n_feat)
        self.down2 = UnetDown(n_feat, 2 * n_feat)
        self.to_vec = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.GELU())

        side = height // 4
        self.up0 = nn.Sequential(nn.ConvTranspose2d(2 * n_feat, 2 * n_feat, side, side),
                                 nn.GroupNorm(8, 2 * n_feat), nn.ReLU())
        joined = 2 if skip_join == "concat" else 1  # channels after a join, in units of the skip's
        self.up1 = UnetUp(joined * 2 * n_feat, n_feat, skip_join)
        self.up2 = UnetUp(joined * n_feat, n_feat, skip_join)
        self.out = nn.Sequential(nn.Conv2d(joined * n_feat, n_feat, 3, 1, 1), nn.GroupNorm(8, n_feat), nn.ReLU(),
                                 nn.Conv2d(n_feat, 1, 3, 1, 1))

    def _skip(self, h):
        return h if self.skips else torch.zeros_like(h)

    def forward(self, x):
        x = self.init_conv(x)                                # (B, F, H, W)
        down1 = self.down1(x)                                # (B, F, H/2, W/2)
        down2 = self.down2(down1)                            # (B, 2F, H/4, W/4)
        hidden = self.to_vec(down2)                          # (B, 2F, 1, 1)
        up1 = self.up0(hidden)                               # (B, 2F, H/4, W/4)
        up2 = self.up1(up1, self._skip(down2))               # (B, F, H/2, W/2)
        up3 = self.up2(up2, self._skip(down1))               # (B, F, H, W)
        return self.out(join_skip(up3, self._skip(x), self.skip_join))  # (B, 1, H, W)


def iou(pred, target):
    """Intersection over union |P ∩ T| / |P ∪ T| of two boolean masks, over all their pixels together.

    Two empty masks agree perfectly: 1.0."""
    pred, target = torch.as_tensor(pred), torch.as_tensor(target)
    if pred.shape != target.shape or pred.dtype != torch.bool or target.dtype != torch.bool:
        raise ValueError(f"iou needs two boolean masks of one shape; got {pred.dtype} {tuple(pred.shape)} and "
                         f"{target.dtype} {tuple(target.shape)} (threshold logits first: logits > 0)")
    union = (pred | target).sum().item()
    return 1.0 if union == 0 else (pred & target).sum().item() / union


def dice_loss(logits, target):
    """1 − Dice of the predicted probabilities, per image, averaged: 1 − (2|P·T| + 1) / (|P| + |T| + 1).

    The +1 keeps an image without sprite pixels finite."""
    p = torch.sigmoid(logits).flatten(1)  # (B, H*W)
    t = target.flatten(1)
    return (1 - (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)).mean()


_CHANNEL_ORDERS = torch.tensor([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])


def augment(x, masks, generator):
    """Random flips (left-right, up-down), transposes and colour-channel orders of images (B, 3, H, W), each
    with its mask (B, 1, H, W) moved alike: 48 versions of every example, all with a true mask."""
    flip_x, flip_y, swap_axes = torch.rand(3, x.shape[0], generator=generator) < 0.5
    x, masks = x.clone(), masks.clone()
    for chosen, move in ((flip_x, lambda a: a.flip(-1)), (flip_y, lambda a: a.flip(-2)),
                         (swap_axes, lambda a: a.transpose(-1, -2))):
        x[chosen], masks[chosen] = move(x[chosen]), move(masks[chosen])
    order = _CHANNEL_ORDERS[torch.randint(len(_CHANNEL_ORDERS), (x.shape[0],), generator=generator)]  # (B, 3)
    return torch.gather(x, 1, order[:, :, None, None].expand_as(x).to(x.device)), masks


@dataclass
class SegmentationResult:
    losses: list = field(default_factory=list)  # BCE + Dice per step
    seconds: float = 0.0
    precision: str = "fp32"


def train_segmentation(model, images, masks, steps=200, batch_size=32, lr=3e-3, seed=0, precision="fp32"):
    """Train ``model`` on images (N, 3, H, W) in [-1, 1] and bool masks (N, H, W): BCE + Dice, AdamW with
    the learning rate decaying linearly to 0, each batch drawn at random and augmented. Returns a
    SegmentationResult."""
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive, got steps={steps}, batch_size={batch_size}")
    if len(images) != len(masks) or len(images) == 0:
        raise ValueError(f"need as many masks as images, at least one; got {len(images)} images, {len(masks)} masks")
    device = next(model.parameters()).device
    precision = resolve_precision(precision, device)
    generator = torch.Generator().manual_seed(seed)
    x_all, y_all = images.to(device), masks.to(device, torch.float32).unsqueeze(1)  # (N, 1, H, W)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    result = SegmentationResult(precision=precision)
    model.train()
    started = time.perf_counter()
    with cpu_threads(min(batch_size, len(x_all)), x_all.shape[-1], device):  # small batches: one CPU thread
        for _ in range(steps):
            pick = torch.randperm(len(x_all), generator=generator)[:batch_size].to(device)
            x, y = augment(x_all[pick], y_all[pick], generator)
            with autocast(device, precision):
                logits = model(prepare_input(x, precision)).float()
            loss = F.binary_cross_entropy_with_logits(logits, y) + dice_loss(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            result.losses.append(loss.item())
    result.seconds = time.perf_counter() - started
    model.eval()
    return result


def predict_masks(model, images, batch_size=500):
    """Bool masks (N, H, W): where the model's logit is positive."""
    device = next(model.parameters()).device
    with eval_mode(model), torch.inference_mode(), cpu_threads(min(batch_size, len(images)), images.shape[-1], device):
        parts = [model(images[i:i + batch_size].to(device))[:, 0] > 0 for i in range(0, len(images), batch_size)]
    return torch.cat(parts).cpu()


def mask_images(masks, truth=None):
    """Bool masks (N, H, W) as pictures (N, 3, H, W) in [-1, 1]: the sprite white on black. Given the true
    masks, wrong pixels are coloured: missed sprite red, background taken for sprite blue."""
    masks = torch.as_tensor(masks)
    truth = masks if truth is None else torch.as_tensor(truth)
    white, black, red, blue = (torch.tensor(c, dtype=torch.float32) for c in
                               ((1, 1, 1), (-1, -1, -1), (1, -0.5, -0.5), (-0.5, 0.25, 1)))
    rgb = torch.where(masks[..., None], torch.where(truth[..., None], white, blue),
                      torch.where(truth[..., None], red, black))  # (N, H, W, 3)
    return rgb.permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W)


# ---------------------------------------------------------------- the colour-threshold baseline

def background_distance(images):
    """Each pixel's colour distance from its image's border median, the background colour if it were plain.

    uint8 (N, H, W, 3) -> float (N, H, W)."""
    x = np.asarray(images, np.float32)
    border = np.concatenate([x[:, 0], x[:, -1], x[:, 1:-1, 0], x[:, 1:-1, -1]], axis=1)  # (N, 2H + 2W - 4, 3)
    return np.linalg.norm(x - np.median(border, axis=1)[:, None, None], axis=-1)


def threshold_masks(images, threshold):
    """The baseline: a pixel is sprite if its colour is farther than ``threshold`` from the border's."""
    return torch.from_numpy(background_distance(images) > threshold)


def fit_threshold(images, masks):
    """The threshold (0..441, in steps of 2) that gives the training images the highest IoU."""
    distance, masks = torch.from_numpy(background_distance(images)), torch.as_tensor(masks)
    return max(range(0, 442, 2), key=lambda tau: iou(distance > tau, masks))


# ---------------------------------------------------------------- the experiment

def train_and_score(train_x, train_masks, test_x, test_masks, skips=True, n_feat=16, steps=200, batch_size=32,
                    lr=3e-3, seed=0, precision="fp32", device="cpu", skip_join="concat"):
    """Train a fresh SegmentationUnet (weights seeded by ``seed``); returns (model, held-out IoU, SegmentationResult)."""
    torch.manual_seed(seed)
    model = SegmentationUnet(n_feat=n_feat, height=train_x.shape[-1], skips=skips, skip_join=skip_join).to(device)
    fit = train_segmentation(model, train_x, train_masks, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                             precision=precision)
    return model, iou(predict_masks(model, test_x), test_masks), fit


def run_segmentation(train_sizes=(8, 32, 128), seed=0, test_size=500, n_feat=16, steps=200, batch_size=32,
                     lr=3e-3, precision="fp32", device="cpu"):
    """For each training-set size: held-out IoU of the U-Net, of the same network with its skips cut, and of
    the colour threshold. Yields one dict per size; the training composites of a smaller size are the first
    ones of the larger."""
    sizes = [int(n) for n in train_sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"train sizes must be positive numbers of images, e.g. 8,32,128; got {train_sizes!r}")
    if test_size < 1:
        raise ValueError(f"test_size must be a positive number of images, got {test_size}")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive, got steps={steps}, batch_size={batch_size}")
    if not 0 < lr < math.inf:
        raise ValueError(f"lr (the learning rate, --lr) must be a positive finite number, got {lr!r}; 3e-3 works")
    check_fits_in_memory((max(sizes) + test_size) * GENERATED_SPRITE_BYTES,
                         f"{max(sizes) + test_size:,} composites", "ask for fewer (--train-sizes, --test-size)")
    device = pick_device(device)
    SegmentationUnet(n_feat=n_feat)  # checks n_feat before the work starts
    train_images, train_masks, _ = make_composites(max(sizes), seed)
    test_images, test_masks, _ = make_composites(test_size, seed + TEST_SEED_OFFSET)
    test_x, test_masks = to_model_space(test_images), torch.from_numpy(test_masks)
    for n in sizes:
        x, y = to_model_space(train_images[:n]), torch.from_numpy(train_masks[:n])
        row = {"train_size": n, "test_size": test_size}
        for skips, name in ((True, "unet"), (False, "no_skips")):
            _, score, fit = train_and_score(x, y, test_x, test_masks, skips=skips, n_feat=n_feat, steps=steps,
                                            batch_size=batch_size, lr=lr, seed=seed, precision=precision,
                                            device=device)
            row[f"iou_{name}"], row[f"seconds_{name}"] = round(score, 4), round(fit.seconds, 1)
        threshold = fit_threshold(train_images[:n], train_masks[:n])
        row["iou_threshold"] = round(iou(threshold_masks(test_images, threshold), test_masks), 4)
        row.update(threshold=threshold, n_feat=n_feat, steps=steps, batch_size=batch_size, precision=fit.precision,
                   seed=seed, cpu_threads=threads_for(min(batch_size, n)) if device.type == "cpu" else None)
        yield row


# ---------------------------------------------------------------- the command line

def _train_sizes(text):
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--train-sizes must be positive whole numbers, comma-separated (e.g. 8,32,128); got {text!r}")
    return sizes


def add_segment_arguments(parser):
    """The options of `python -m course_lib segment`."""
    parser.add_argument("--train-sizes", default="8,32,128", help="training-set sizes, comma-separated")
    parser.add_argument("--test-size", type=int, default=500, help="held-out composites scored")
    parser.add_argument("--n-feat", type=int, default=16, help="the U-Net's base width")
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps per training run")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step")
    parser.add_argument("--lr", type=float, default=3e-3, help="AdamW learning rate (decays linearly to 0)")
    parser.add_argument("--seed", type=seed_value, default=0, help="training composites, weights and order; "
                                                              f"the held-out ones use seed + {TEST_SEED_OFFSET}")
    parser.add_argument("--precision", default="fp32", choices=("auto", "fp32", "bf16"),
                        help="fp32: at these small sizes bf16 trained 6 to 10 times slower on the 2-core test CPU")
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N or mps")
    return parser


def run_segment_command(args):
    """Print one JSON line per training-set size."""
    rows = run_segmentation(_train_sizes(args.train_sizes), seed=args.seed, test_size=args.test_size,
                            n_feat=args.n_feat, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                            precision=args.precision, device=args.device)
    for row in rows:
        print(json.dumps(row), flush=True)
