"""Segmentation data: each sprite's true mask, and sprites pasted on pixel-art backgrounds.

The mask comes free with the generator. ``sprites.py`` clips every colour it draws (shapes,
shading, the 1-pixel outline) to 0..250 in each channel and fills every pixel it did not draw with
exactly (255, 255, 255). So the drawn pixels are exactly those that are not pure white:
``sprite_masks`` (tests/test_segmentation.py checks this against the drawing itself).

On white the mask is a colour threshold. Pasted on grass, stone, water, random noise or a plain
colour close to the sprite's own, it is not: a network has to learn what a sprite looks like.
Composite ``i`` takes all its randomness from ``numpy.random.default_rng((seed, i, 1))`` (the
sprite from ``(seed, i)``, as in ``generate_sprites``), so a prefix of a larger set equals the
smaller set.
"""
import numpy as np

from .sprites import SIZE, generate_sprites

__all__ = ["BACKGROUND_KINDS", "composite", "make_composites", "render_background", "sprite_masks"]

BACKGROUND_KINDS = ("grass", "stone", "water", "noise", "solid")
_WHITE = 255
_X = np.arange(SIZE)


def sprite_masks(sprites):
    """The drawn pixels of generated sprites: uint8 (N, H, W, 3) on white -> bool (N, H, W)."""
    sprites = np.asarray(sprites)
    if sprites.dtype != np.uint8 or sprites.ndim != 4 or sprites.shape[-1] != 3:
        raise ValueError(f"sprite_masks expects uint8 sprites (N, H, W, 3) from generate_sprites; got "
                         f"{sprites.dtype} {sprites.shape}")
    return (sprites != _WHITE).any(axis=-1)


def composite(sprites, masks, backgrounds):
    """Sprite pixels where the mask is set, background pixels elsewhere; all uint8 (N, H, W, 3)."""
    return np.where(masks[..., None], sprites, backgrounds)


def _shades(rng, base, spread, n):
    """``n`` colours around ``base`` (RGB), each channel moved by up to ``spread``, as int arrays."""
    return np.clip(np.asarray(base) + rng.integers(-spread, spread + 1, (n, 3)), 0, 255)


def _grass(rng, sprite):
    """Green ground with darker tufts, light blades and now and then a flower."""
    base = np.array([rng.integers(40, 120), rng.integers(110, 190), rng.integers(20, 80)])
    dark, light = base * 0.7, np.minimum(base * 1.25 + 20, 255)
    out = np.empty((SIZE, SIZE, 3))
    out[:] = base
    out[rng.random((SIZE, SIZE)) < 0.25] = dark
    for y, x in rng.integers(0, SIZE, (10, 2)):
        out[max(y - 1, 0):y + 1, x] = light  # a blade, two pixels tall
    for y, x in rng.integers(0, SIZE, (rng.integers(0, 3), 2)):
        out[y, x] = (rng.choice([250, 240, 220]), rng.integers(60, 250), rng.integers(40, 250))
    return out


def _stone(rng, sprite):
    """Bricks in offset rows, each its own shade of a tinted grey, with dark mortar between them."""
    grey = rng.integers(90, 190) + rng.integers(-15, 16, 3)
    mortar = grey * 0.55
    height, width = rng.integers(3, 6), rng.integers(4, 8)
    row_of = (_X + rng.integers(height)) // height  # the brick row of each pixel row
    out = np.empty((SIZE, SIZE, 3))
    for row in np.unique(row_of):
        ys = np.flatnonzero(row_of == row)
        col_of = (_X + rng.integers(width)) // width  # the brick of each column, offset per row
        out[ys] = _shades(rng, grey, 18, col_of.max() + 1)[col_of]
        out[ys[:, None], np.flatnonzero(np.diff(col_of, prepend=col_of[0]))] = mortar  # left edge of each brick
        out[ys[0]] = mortar  # the joint above the row
    return out


def _water(rng, sprite):
    """Blue water with light wave crests along each row and a few glints."""
    base = np.array([rng.integers(20, 80), rng.integers(80, 170), rng.integers(160, 240)])
    out = np.empty((SIZE, SIZE, 3))
    out[:] = base
    phase, step = rng.uniform(0, 2 * np.pi, SIZE), rng.uniform(0.5, 1.1)
    crest = np.sin(_X[None] * step + phase[:, None]) > 0.75  # (H, W)
    trough = np.sin(_X[None] * step + phase[:, None]) < -0.8
    out[crest] = np.minimum(base * 1.3 + 40, 255)
    out[trough] = base * 0.75
    for y, x in rng.integers(0, SIZE, (rng.integers(0, 4), 2)):
        out[y, x] = 245
    return out


def _noise(rng, sprite):
    """Random colours, per pixel or in 2x2 blocks."""
    block = rng.choice([1, 2])
    cells = rng.integers(0, 256, (SIZE // block, SIZE // block, 3))
    return cells.repeat(block, 0).repeat(block, 1)


def _solid(rng, sprite):
    """One colour close to a colour of the sprite, with a little dither."""
    drawn = sprite[(sprite != _WHITE).any(-1)]
    colour = drawn[rng.integers(len(drawn))] if len(drawn) else rng.integers(0, 256, 3)
    colour = np.clip(colour.astype(int) + rng.integers(-30, 31, 3), 0, 255)
    out = np.empty((SIZE, SIZE, 3))
    out[:] = colour
    dither = rng.random((SIZE, SIZE)) < 0.1
    out[dither] = np.clip(colour + rng.integers(-12, 13, 3), 0, 255)
    return out


_RENDER = {"grass": _grass, "stone": _stone, "water": _water, "noise": _noise, "solid": _solid}


def render_background(kind, rng, sprite=None):
    """One 16x16 uint8 background of ``kind`` (see BACKGROUND_KINDS); "solid" takes its colour from ``sprite``."""
    if kind not in _RENDER:
        raise ValueError(f"unknown background kind {kind!r}; use one of {BACKGROUND_KINDS}")
    if sprite is None:
        sprite = np.full((SIZE, SIZE, 3), _WHITE, np.uint8)
    return np.clip(_RENDER[kind](np.random.default_rng(rng), sprite), 0, 255).astype(np.uint8)


def make_composites(n, seed=0, kinds=BACKGROUND_KINDS):
    """``n`` generated sprites pasted on backgrounds: ``(images, masks, kinds)``.

    ``images`` uint8 (n, 16, 16, 3), ``masks`` bool (n, 16, 16) (True where the sprite drew),
    ``kinds`` the background kind of each, a tuple of names. Same seed, same composites.
    """
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in _RENDER]
    if not kinds or unknown:
        raise ValueError(f"kinds must name at least one of {BACKGROUND_KINDS}; got {kinds!r}")
    sprites, _ = generate_sprites(n, seed)
    masks = sprite_masks(sprites)
    chosen, backgrounds = [], np.empty_like(sprites)
    for i in range(len(sprites)):
        rng = np.random.default_rng((seed, i, 1))
        chosen.append(kinds[rng.integers(len(kinds))])
        backgrounds[i] = render_background(chosen[-1], rng, sprites[i])
    return composite(sprites, masks, backgrounds), masks, tuple(chosen)
