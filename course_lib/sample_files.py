"""The files `python -m course_lib sample` writes: checked before sampling starts, sampled in batches
(memory bounded by the batch, whatever --n is), written whole through atomic_write or not at all.

A .npy file is streamed batch by batch; a .png grid of n sprites is built whole in memory, so an n or
--scale whose grid cannot fit in the memory left is refused up front, as is a .npy that cannot fit on
the disk.
"""
from pathlib import Path

import numpy as np
import torch

from .checkpoint import atomic_write, check_room, file_size
from .data import to_uint8
from .memory import available_memory

MAX_SCALE = 32  # screen pixels per sprite pixel: a 16x16 sprite becomes at most 512x512
SUFFIXES = (".png", ".npy")


def check_output(out, n, nrow, scale, batch_size, height=16):
    """ValueError, before any sampling, for an --out that cannot be written or an output too big to fit;
    returns `out` as a Path."""
    from .viz import check_grid_layout
    if not str(out).strip():
        raise ValueError("--out is empty; name the file to write, e.g. --out sprites.png or --out sprites.npy")
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; name a file in it, e.g. --out {out / 'sprites.png'}")
    if out.suffix.lower() not in SUFFIXES:
        raise ValueError(f"--out must end in .png (a grid picture) or .npy (uint8 (n,16,16,3)), got {out}")
    for name, value in (("--n", n), ("--batch-size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer number of sprites, got {value!r}")
    check_grid_layout(nrow, scale)
    if scale > MAX_SCALE:
        raise ValueError(f"--scale {scale} would draw each sprite pixel as {scale}x{scale} screen pixels; "
                         f"use 1 to {MAX_SCALE} (4 is the default)")
    if out.suffix.lower() == ".npy":
        check_room(out, 128 + n * height * height * 3, "--out", "lower --n or choose an --out on a disk with more space")
    else:
        needed, free = _png_memory(n, nrow, scale, height), available_memory()
        if free is not None and needed > free:
            raise ValueError(f"--n {n} at --scale {scale} makes a PNG grid that needs about {file_size(needed)} of "
                             f"memory, but {file_size(free)} is available; lower --n or --scale, or write a .npy "
                             "file (streamed, any --n)")
    return out


def write_samples(out, sample, n, batch_size, generator, nrow=8, scale=4):
    """Sample n sprites in batches of at most `batch_size` with ``sample(batch, generator)`` (a
    SampleResult) and write them to `out` (.png grid or .npy). All batches draw from one `generator`,
    so the first `batch_size` sprites are those of one call with n = batch_size. The temporary file is
    made before sampling, so a folder that cannot be written fails at once; a batch holding NaN stops
    it, writing nothing. Returns (seconds, timesteps)."""
    out = Path(out)
    png = out.suffix.lower() == ".png"
    seconds, timesteps, images = 0.0, None, []
    with atomic_write(out) as f:
        for start in range(0, n, batch_size):
            res = sample(min(batch_size, n - start), generator)
            seconds, timesteps = seconds + res.seconds, res.timesteps
            if not torch.isfinite(res.images).all():
                raise ValueError("the sprites came out as NaN or infinity: the network's values overflowed, at "
                                 "settings inside their ranges, so the weights may be damaged: retrain them "
                                 "or use the shipped ones")
            if png:
                images.append(res.images)
                continue
            pixels = to_uint8(res.images)  # (batch, H, W, 3)
            if start == 0:
                np.lib.format.write_array_header_1_0(
                    f, {"descr": "|u1", "fortran_order": False, "shape": (n,) + pixels.shape[1:]})
            f.write(pixels.tobytes())
        if png:
            from PIL import Image

            from .viz import grid_array
            Image.fromarray(grid_array(torch.cat(images), nrow=nrow, scale=scale)).save(f, format="PNG")
    return seconds, timesteps


def _png_memory(n, nrow, scale, height):
    """Peak bytes of a PNG grid of n sprites: the float sprites and their copy, the grid before and after
    scaling, and PIL's copy of it."""
    ncol = min(nrow, n)
    rows = -(-n // ncol)
    grid = ((rows * (height + 1) + 1) * scale) * ((ncol * (height + 1) + 1) * scale) * 3
    return 2 * n * 3 * height * height * 4 + 3 * grid
