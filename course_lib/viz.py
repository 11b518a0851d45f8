"""Pictures: sprite grids (as arrays, PNG files or matplotlib figures) and denoising animations.

Display maps [-1, 1] to [0, 1] with (x + 1) / 2 and clips, never per-image stretching.
"""
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from .data import to_uint8


def grid_array(images, nrow=8, pad=1, scale=1):
    """Tile float images (N, 3, H, W) in [-1, 1] into one uint8 picture (rows·H, cols·W, 3), white gaps."""
    pixels = to_uint8(images)  # (N, H, W, 3)
    n, h, w, _ = pixels.shape
    ncol = min(nrow, max(n, 1))
    nrows = -(-n // ncol)
    grid = np.full((nrows * (h + pad) + pad, ncol * (w + pad) + pad, 3), 255, np.uint8)
    for i, sprite in enumerate(pixels):
        r, c = divmod(i, ncol)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = sprite
    return grid.repeat(scale, 0).repeat(scale, 1)  # nearest-neighbour up-scaling keeps the pixels crisp


def save_png(array, path):
    """Write a uint8 (H, W, 3) picture to `path` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        Image.fromarray(array).save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---- chapters 3 and 4
