"""Procedural 16x16 pixel-art sprites: the built-in stand-in for the course's sprite set.

Design. A sprite is drawn as *material ids*, not colours: ``body`` holds shaded shapes
(0 = background) and ``detail`` holds flat marks on top (eyes, glints, emblems). Each
material has one base colour, slightly varied per sprite. Colouring happens afterwards,
for many sprites at once, vectorised: pixels on a shape's top/left rim get the highlight
shade, pixels on its bottom rim or next to another material on their right get the shadow
shade (which also separates parts, e.g. arm from chest), and background pixels touching a
shape become a 1-pixel outline (near-black, or a dark shade of that shape). The drawing
functions only place rectangles, cached ellipse/polygon masks, lines and dots, so a sprite
costs a few dozen cheap numpy calls. Sprite ``i`` takes all its randomness from
``numpy.random.default_rng((seed, i))``: a prefix of a larger set equals the smaller set,
and any slice can be generated on its own.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["CLASS_NAMES", "COLOUR_NAMES", "KIND_CLASSES", "KIND_NAMES", "SIZE", "colour_index", "generate_sprites",
           "generate_sprite_attributes", "render_sprite"]

CLASS_NAMES = ("hero", "non-hero", "food", "spell", "side-facing")
SIZE = 16
COLOUR_NAMES = ("red", "orange", "yellow", "green", "teal", "blue", "purple", "pink", "brown", "grey", "white",
                "black")
_HUE_EDGES = (15, 40, 70, 160, 195, 255, 290, 340)  # degrees where the hue names of colour_index change
_HUE_NAMES = tuple(COLOUR_NAMES.index(k) for k in ("red", "orange", "yellow", "green", "teal", "blue", "purple",
                                                   "pink", "red"))

_MAX_MATERIALS = 32
_CHUNK = 4096  # sprites coloured per vectorised batch
_INK = (30, 22, 40)  # near-black outline
_Y, _X = np.mgrid[0:SIZE, 0:SIZE]


def _palette(*rgb):
    """Colours as an int16 array, one RGB row each."""
    return np.array(rgb, np.int16)


_SKIN = _palette((255, 214, 170), (240, 184, 140), (214, 150, 104), (160, 100, 64), (104, 66, 46), (255, 226, 200))
_HAIR = _palette((62, 42, 32), (124, 72, 34), (232, 192, 84), (206, 84, 40), (44, 44, 56), (226, 226, 230),
                 (150, 64, 170), (64, 112, 206), (230, 120, 160))
_CLOTH = _palette((206, 44, 54), (44, 96, 206), (44, 156, 74), (232, 174, 42), (144, 64, 176), (56, 174, 194),
                  (234, 116, 34), (96, 96, 118), (222, 96, 154), (120, 180, 60))
_DARK_CLOTH = _palette((60, 64, 110), (86, 60, 44), (50, 90, 60), (90, 40, 50), (70, 70, 80), (40, 60, 120))
_LEATHER = _palette((112, 72, 40), (82, 56, 40), (64, 52, 64), (150, 100, 60))
_METAL = _palette((170, 180, 194), (150, 160, 176), (214, 174, 64), (184, 120, 80))
_WOOD = _palette((152, 100, 52), (122, 80, 42), (176, 126, 70))
_GEM = _palette((230, 40, 60), (40, 200, 250), (120, 240, 80), (250, 220, 40), (200, 80, 250))
_EYE = _palette((36, 28, 44))
_WHITE = _palette((248, 248, 244))
_LEAF = _palette((70, 170, 60), (100, 190, 50), (50, 140, 70))
_SLIME = _palette((90, 200, 90), (80, 150, 240), (240, 110, 170), (170, 100, 230), (240, 160, 50), (70, 200, 190))
_PALE = _palette((236, 240, 248), (200, 230, 250), (214, 200, 246), (200, 244, 214), (246, 214, 230))
_BONE = _palette((238, 230, 206), (222, 222, 210), (214, 204, 170))
_FUR = _palette((150, 96, 54), (110, 110, 120), (214, 120, 40), (170, 60, 50), (90, 150, 70), (120, 80, 150),
                (70, 64, 76))
_CREAM = _palette((246, 226, 186), (236, 216, 200), (250, 240, 210))
_CAP = _palette((220, 50, 50), (150, 90, 200), (240, 150, 40), (60, 150, 220), (200, 160, 110))
_GLOW = _palette((250, 60, 60), (60, 240, 250), (120, 250, 90), (250, 220, 60), (250, 80, 220))
_RED = _palette((220, 40, 50), (200, 30, 70))
_FRUIT = _palette((220, 40, 50), (120, 200, 60), (240, 200, 50), (200, 30, 70))
_PEAR = _palette((200, 210, 70), (150, 200, 70), (220, 180, 80))
_ORANGE = _palette((240, 130, 30), (250, 150, 40))
_BREAD = _palette((214, 150, 74), (196, 126, 60), (226, 170, 96))
_MEAT = _palette((170, 84, 44), (150, 70, 40), (190, 100, 50))
_CHEESE = _palette((250, 206, 60), (246, 186, 50))
_DRINK = _palette((220, 60, 60), (60, 120, 230), (90, 210, 90), (200, 90, 230), (240, 160, 40))
_BEER = _palette((230, 160, 40), (120, 72, 40), (246, 236, 220), (200, 60, 60))
_GLASS = _palette((196, 226, 240), (210, 236, 226))
_CAKE = _palette((240, 196, 130), (130, 80, 50), (250, 220, 170))
_ICING = _palette((250, 200, 220), (250, 244, 236), (170, 110, 80), (200, 240, 210))
_YOLK = _palette((250, 190, 30), (250, 170, 40))

# Spell colour families: dark rim, base, light, core.
_SPELL_FAMILIES = (
    _palette((200, 40, 20), (246, 122, 30), (255, 210, 70), (255, 248, 200)),  # fire
    _palette((30, 80, 210), (50, 160, 250), (140, 226, 255), (232, 250, 255)),  # ice
    _palette((120, 40, 200), (186, 80, 250), (236, 160, 255), (255, 236, 255)),  # arcane
    _palette((30, 150, 60), (80, 216, 90), (180, 255, 150), (240, 255, 226)),  # nature
    _palette((220, 140, 20), (250, 206, 40), (255, 242, 140), (255, 255, 226)),  # holy
    _palette((200, 20, 100), (250, 70, 150), (255, 166, 210), (255, 238, 248)),  # charm
    _palette((20, 140, 160), (30, 210, 200), (150, 255, 236), (232, 255, 250)),  # water
)


# ---------------------------------------------------------------- cached shape masks

def _frozen(a):
    """Make a cached array read-only, so no caller can change it by mistake."""
    a.flags.writeable = False
    return a


@lru_cache(maxsize=4096)
def _oval_mask(cy, cx, ry, rx):
    """Pixels whose centre lies in the ellipse centred at (cy, cx) with radii (ry, rx)."""
    return _frozen(((_Y - cy) / ry) ** 2 + ((_X - cx) / rx) ** 2 <= 1.0)


@lru_cache(maxsize=1024)
def _ring_mask(cy, cx, r_in, r_out):
    """Pixels between two circles: a 1-2 pixel ring."""
    d2 = (_Y - cy) ** 2 + (_X - cx) ** 2
    return _frozen((d2 <= r_out ** 2) & (d2 > r_in ** 2))


@lru_cache(maxsize=4096)
def _poly_mask(pts):
    """Pixels whose centre lies inside the polygon ``pts`` ((y, x) vertices), even-odd rule."""
    inside = np.zeros((SIZE, SIZE), bool)
    for (y0, x0), (y1, x1) in zip(pts, pts[1:] + pts[:1]):
        if y0 == y1:
            continue
        crosses = (y0 > _Y) != (y1 > _Y)
        x_cross = x0 + (_Y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (_X < x_cross)
    return _frozen(inside)


@lru_cache(maxsize=4096)
def _line_points(y0, x0, y1, x1):
    """Integer pixels of the straight line between two points."""
    n = int(max(abs(y1 - y0), abs(x1 - x0))) + 1
    ys = np.rint(np.linspace(y0, y1, n)).astype(np.intp)
    xs = np.rint(np.linspace(x0, x1, n)).astype(np.intp)
    return _frozen(ys), _frozen(xs)


@lru_cache(maxsize=64)
def _spiral_points(turns, phase):
    """Pixels of an outward spiral around the centre, listed from the inside out."""
    t = np.linspace(0.0, turns * 2 * np.pi, 140)
    r = 0.8 + 5.8 * t / t[-1]
    ys = np.rint(7.5 + r * np.sin(t + phase)).astype(np.intp)
    xs = np.rint(7.5 + r * np.cos(t + phase)).astype(np.intp)
    keep = np.r_[True, (np.diff(ys) != 0) | (np.diff(xs) != 0)]
    return _frozen(ys[keep]), _frozen(xs[keep])


def _dilate(mask):
    """The mask grown by one pixel in the four axis directions."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


# ---------------------------------------------------------------- the canvas

class _Canvas:
    """One sprite under construction: two material-id layers and the material colours."""

    def __init__(self, rng):
        self.rng = rng
        self.body = np.zeros((SIZE, SIZE), np.uint8)
        self.detail = np.zeros((SIZE, SIZE), np.uint8)
        self.colors = np.zeros((_MAX_MATERIALS, 3), np.int16)
        self.flat = np.zeros(_MAX_MATERIALS, bool)
        self.ink = False
        self.uncoloured = np.zeros(_MAX_MATERIALS, bool)  # skin and eyes: not the sprite's colour
        self.kind = None  # what was drawn, e.g. "mushroom"; None where nothing more than the class
        self._jitter = rng.integers(-12, 13, (_MAX_MATERIALS, 3))
        self._count = 1

    def chance(self, p):
        return self.rng.random() < p

    def pick(self, options):
        return options[self.rng.integers(len(options))]

    def material(self, palette, flat=False):
        """A new material: a random colour of ``palette`` (or the one colour given), slightly varied."""
        m = self._count
        color = palette if palette.ndim == 1 else palette[self.rng.integers(len(palette))]
        self.colors[m] = color + self._jitter[m]
        self.flat[m] = flat
        self.uncoloured[m] = palette is _SKIN or palette is _EYE
        self._count += 1
        return m

    def same_as(self, m):
        """A new material with the colour of material ``m`` (a separately shaded part)."""
        return self.material(self.colors[m] - self._jitter[self._count], self.flat[m])

    def _layer(self, detail):
        return self.detail if detail else self.body

    def rect(self, m, y0, y1, x0, x1, detail=False):
        """Fill rows y0..y1 and columns x0..x1 (inclusive)."""
        self._layer(detail)[y0:y1 + 1, x0:x1 + 1] = m

    def sym_rect(self, m, y0, y1, half, detail=False):
        """A rectangle 2*half wide, centred on the sprite's vertical axis."""
        self._layer(detail)[y0:y1 + 1, 8 - half:8 + half] = m

    def oval(self, m, cy, cx, ry, rx=None, detail=False):
        self._layer(detail)[_oval_mask(cy, cx, ry, ry if rx is None else rx)] = m

    def ring(self, m, cy, cx, r_in, r_out, detail=False):
        self._layer(detail)[_ring_mask(cy, cx, r_in, r_out)] = m

    def poly(self, m, pts, detail=False):
        self._layer(detail)[_poly_mask(tuple(pts))] = m

    def fill(self, m, mask, detail=False):
        self._layer(detail)[mask] = m

    def line(self, m, y0, x0, y1, x1, detail=False):
        self._layer(detail)[_line_points(y0, x0, y1, x1)] = m

    def path(self, m, pts, detail=False):
        """Connected straight lines through the (y, x) points."""
        for (y0, x0), (y1, x1) in zip(pts, pts[1:]):
            self.line(m, y0, x0, y1, x1, detail)

    def dots(self, m, pts, detail=True):
        """Single (y, x) pixels; on the detail layer unless ``detail=False``."""
        layer = self._layer(detail)
        for y, x in pts:
            layer[y, x] = m

    def sym_dots(self, m, pts, detail=True):
        """Dots and their mirror images across the vertical axis."""
        self.dots(m, pts, detail)
        self.dots(m, [(y, 15 - x) for y, x in pts], detail)

    def clear(self, mask):
        self.body[mask] = 0
        self.detail[mask] = 0

    def halo(self, m):
        """Grow every shape by a one-pixel rim of material ``m`` (a glow)."""
        fg = (self.body > 0) | (self.detail > 0)
        self.body[_dilate(fg) & ~fg] = m

    def flip(self):
        self.body = self.body[:, ::-1]
        self.detail = self.detail[:, ::-1]

    def flip_vertical(self):
        self.body = self.body[::-1]
        self.detail = self.detail[::-1]

    def nudge(self, reach=1):
        """Move the drawing by up to ``reach`` pixels each way, keeping it inside the margin."""
        rows, cols = np.nonzero((self.body > 0) | (self.detail > 0))
        dy = int(self.rng.integers(max(1 - rows.min(), -reach), min(14 - rows.max(), reach) + 1))
        dx = int(self.rng.integers(max(1 - cols.min(), -reach), min(14 - cols.max(), reach) + 1))
        self.body = np.roll(self.body, (dy, dx), axis=(0, 1))
        self.detail = np.roll(self.detail, (dy, dx), axis=(0, 1))

    def keep_margin(self):
        """Clear the border pixels so every shape has room for its outline."""
        for layer in (self.body, self.detail):
            layer[[0, -1]] = 0
            layer[:, [0, -1]] = 0


# ---------------------------------------------------------------- heroes (front-facing)

def _hero(c):
    """A front-facing adventurer: big head, tunic/armour/robe, arms, legs, gear."""
    headgear = c.pick(("none", "none", "helmet", "wizard", "crown", "hood", "band"))
    y0 = 2 if headgear in ("wizard", "crown") else 1 + int(c.rng.integers(2))
    skin, hair = c.material(_SKIN), c.material(_HAIR)
    cloth, boots = c.material(_CLOTH), c.material(_LEATHER)
    outfit = c.pick(("tunic", "tunic", "armour", "robe"))
    half = 4 if outfit == "armour" else 3
    if c.chance(0.3):
        _hero_cape(c, c.material(_CLOTH), y0)
    if outfit == "robe":
        _hero_robe(c, cloth, boots, y0)
    else:
        _hero_legs(c, c.material(_DARK_CLOTH), boots, y0)
    torso = c.material(_METAL) if outfit == "armour" else cloth
    _hero_torso(c, torso, c.same_as(cloth), skin, half, y0)
    _hero_head(c, skin, hair, y0)
    _HEADGEAR[headgear](c, skin, y0)
    c.kind, weapon = c.pick(_WEAPONS)
    weapon(c, 8 + half, y0)
    if c.chance(0.35):
        _hero_shield(c, 7 - half, y0)
    if c.chance(0.5):
        c.flip()


def _hero_cape(c, cape, y0):
    """A cape behind the body, flaring out below the arms."""
    c.sym_rect(cape, y0 + 6, 13, 4)
    c.sym_rect(cape, 12, 13, 5)


def _hero_legs(c, pants, boots, y0):
    """Two legs with boots, a gap between them."""
    c.rect(pants, y0 + 10, 13, 5, 6)
    c.rect(pants, y0 + 10, 13, 9, 10)
    c.rect(boots, 13, 14, 4, 6)
    c.rect(boots, 13, 14, 9, 11)


def _hero_robe(c, cloth, boots, y0):
    """A long robe widening to the hem, with only the feet showing."""
    c.rect(boots, 14, 14, 5, 6)
    c.rect(boots, 14, 14, 9, 10)
    c.sym_rect(cloth, y0 + 6, 13, 3)
    c.sym_rect(cloth, y0 + 10, 13, 4)
    c.sym_rect(c.material(_CLOTH), 13, 13, 4)


def _hero_torso(c, torso, sleeve, skin, half, y0):
    """Chest, sleeves with hands at the sides, and a belt."""
    c.sym_rect(torso, y0 + 6, y0 + 9, half)
    if half == 4:
        c.sym_rect(c.material(_METAL), y0 + 6, y0 + 6, 5)
    for x in (7 - half, 8 + half):
        c.rect(sleeve, y0 + 6 + (half == 4), y0 + 7, x, x)
        c.rect(skin, y0 + 8, y0 + 8, x, x)
    c.sym_rect(c.material(_LEATHER), y0 + 9, y0 + 9, 3)
    if c.chance(0.6):
        c.rect(c.material(_METAL, flat=True), y0 + 9, y0 + 9, 7, 8, detail=True)


def _hero_head(c, skin, hair, y0):
    """A big round face with eyes, and one of several hair styles."""
    c.rect(skin, y0 + 1, y0 + 4, 4, 11)
    c.rect(skin, y0 + 5, y0 + 5, 5, 10)
    style = c.pick(("short", "short", "long", "spiky", "bald", "bun"))
    if style == "bald":
        c.rect(skin, y0, y0, 5, 10)
    else:
        c.rect(hair, y0, y0, 5, 10)
        c.rect(hair, y0 + 1, y0 + 1, 4, 11)
        c.rect(hair, y0 + 2, y0 + 2, 4, 4)
        c.rect(hair, y0 + 2, y0 + 2, 11, 11)
        c.rect(hair, y0 + 2, y0 + 2, *c.pick(((5, 6), (9, 10), (7, 8), (5, 5))))
    if style == "long":
        c.rect(hair, y0 + 2, y0 + 6, 3, 4)
        c.rect(hair, y0 + 2, y0 + 6, 11, 12)
    elif style == "spiky" and y0 == 2:
        c.dots(hair, [(1, 5), (1, 7), (1, 10)], detail=False)
    elif style == "bun" and y0 == 2:
        c.rect(hair, 1, 1, 7, 8)
    eye = c.material(_EYE, flat=True)
    c.sym_dots(eye, [(y0 + 3, 6)] + ([(y0 + 4, 6)] if c.chance(0.6) else []))
    if c.chance(0.2):
        c.rect(hair, y0 + 5, y0 + 5, 5, 10)
        c.rect(hair, y0 + 4, y0 + 4, 4, 4)
        c.rect(hair, y0 + 4, y0 + 4, 11, 11)
    elif c.chance(0.5):
        c.rect(c.material(_CAP[:1], flat=True), y0 + 5, y0 + 5, 7, 8, detail=True)


def _no_headgear(c, skin, y0):
    """Bare head."""


def _helmet(c, skin, y0):
    """A metal helmet with cheek guards; horns or a plume when there is room above."""
    metal = c.material(_METAL)
    c.rect(metal, y0, y0, 5, 10)
    c.rect(metal, y0 + 1, y0 + 1, 4, 11)
    c.rect(metal, y0 + 2, y0 + 4, 4, 4)
    c.rect(metal, y0 + 2, y0 + 4, 11, 11)
    if y0 == 2 and c.chance(0.5):
        c.sym_dots(c.material(_BONE), [(3, 3), (2, 3), (1, 4)], detail=False)
    elif y0 == 2:
        c.rect(c.material(_CLOTH), 1, 1, 7, 8)


def _wizard_hat(c, skin, y0):
    """A wide-brimmed pointed hat with a gem."""
    hat = c.material(_CLOTH)
    c.rect(hat, y0 + 1, y0 + 1, 2, 13)
    c.rect(hat, y0, y0, 5, 10)
    c.rect(hat, y0 - 1, y0 - 1, 6, 9 + int(c.rng.integers(2)))
    c.rect(c.material(_GEM, flat=True), y0, y0, 7, 8, detail=True)


def _crown(c, skin, y0):
    """A golden crown with three points and a gem."""
    gold = c.material(_METAL[2])
    c.rect(gold, y0, y0, 5, 10)
    c.sym_dots(gold, [(y0 - 1, 5), (y0 - 1, 7)], detail=False)
    c.dots(c.material(_GEM, flat=True), [(y0, 7 + int(c.rng.integers(2)))])


def _hood(c, skin, y0):
    """A hood around the face."""
    hood = c.material(_CLOTH)
    c.rect(hood, y0, y0 + 5, 4, 11)
    c.rect(hood, y0 + 2, y0 + 6, 3, 3)
    c.rect(hood, y0 + 2, y0 + 6, 12, 12)
    c.rect(skin, y0 + 2, y0 + 5, 5, 10)


def _headband(c, skin, y0):
    """A headband whose tails flutter to one side."""
    band = c.material(_CLOTH)
    c.rect(band, y0 + 1, y0 + 1, 4, 11)
    c.dots(band, [(y0 + 2, 12), (y0 + 3, 13)], detail=False)


_HEADGEAR = {"none": _no_headgear, "helmet": _helmet, "wizard": _wizard_hat, "crown": _crown, "hood": _hood,
             "band": _headband}


def _sword(c, hx, y0):
    """A sword held upright beside the hand at column ``hx``."""
    c.rect(c.material(_METAL), y0 + 2, y0 + 6, hx + 1, hx + 1)
    c.rect(c.material(_METAL[2:]), y0 + 7, y0 + 7, hx, hx + 2)
    c.rect(c.material(_LEATHER), y0 + 8, y0 + 9, hx + 1, hx + 1)


def _staff(c, hx, y0):
    """A tall staff topped by a gem."""
    c.rect(c.material(_WOOD), y0 + 3, 13, hx + 1, hx + 1)
    gem = c.material(_GEM)
    c.rect(gem, y0, y0 + 2, hx + 1, hx + 1)
    c.rect(gem, y0 + 1, y0 + 1, hx, hx + 2)


def _bow(c, hx, y0):
    """A bow with its string."""
    wood = c.material(_WOOD)
    c.rect(wood, y0 + 6, y0 + 10, hx + 2, hx + 2)
    c.dots(wood, [(y0 + 5, hx + 1), (y0 + 11, hx + 1)], detail=False)
    c.rect(c.material(_BONE, flat=True), y0 + 6, y0 + 10, hx + 1, hx + 1)


def _spear(c, hx, y0):
    """A long spear with a barbed tip."""
    c.rect(c.material(_WOOD), y0 + 2, 13, hx + 1, hx + 1)
    metal = c.material(_METAL)
    c.rect(metal, y0, y0 + 2, hx + 1, hx + 1)
    c.dots(metal, [(y0 + 2, hx), (y0 + 2, hx + 2)], detail=False)


def _hammer(c, hx, y0):
    """A war hammer."""
    c.rect(c.material(_WOOD), y0 + 6, y0 + 11, hx + 1, hx + 1)
    c.rect(c.material(_METAL), y0 + 3, y0 + 5, hx + 1, hx + 2)


def _no_weapon(c, hx, y0):
    """Empty hands."""


_WEAPONS = (("sword", _sword), ("staff", _staff), ("bow", _bow), ("spear", _spear), ("hammer", _hammer),
            (None, _no_weapon))


def _hero_shield(c, x, y0):
    """A round shield with a rim and an emblem, on the arm at column ``x``."""
    c.oval(c.material(_METAL), y0 + 8, x, 2.6, 2.1)
    c.oval(c.material(_CLOTH), y0 + 8, x, 1.6, 1.1)
    c.dots(c.material(_GEM, flat=True), [(y0 + 8, x)])


# ---------------------------------------------------------------- non-heroes (front-facing creatures)

def _slime(c):
    """A bulging blob of goo with a flat bottom, big shiny eyes and a highlight."""
    goo = c.material(_SLIME)
    h = 6 + int(c.rng.integers(5))
    cy = 14 - int(0.35 * h)
    c.oval(goo, cy, 7.5, 0.65 * h + 0.5, 4.6 + int(c.rng.integers(3)))
    top = 14 - h
    eye, white = c.material(_EYE, flat=True), c.material(_WHITE, flat=True)
    ex = 5 + int(c.rng.integers(2))
    c.sym_dots(eye, [(cy - 1, ex), (cy, ex), (cy - 1, ex + 1), (cy, ex + 1)] if ex == 5 else [(cy - 1, ex), (cy, ex)])
    c.sym_dots(white, [(cy - 1, ex)])
    if c.chance(0.6):
        c.rect(eye, cy + 1, cy + 1, 7, 8, detail=True)
    c.dots(white, [(top + 1, 5), (top + 2, 4)])
    if top >= 3 and c.chance(0.4):
        leaf = c.material(_LEAF)
        c.dots(leaf, [(top, 7), (top - 1, 8), (top - 1, 9)], detail=False)
    elif top >= 3 and c.chance(0.3):
        gold = c.material(_METAL[2])
        c.sym_rect(gold, top, top, 2)
        c.sym_dots(gold, [(top - 1, 6)], detail=False)


def _ghost(c):
    """A floating sheet: round top, straight sides, wavy hem, stubby arms."""
    pale = c.material(_PALE)
    top, half = 1 + int(c.rng.integers(2)), 4 + int(c.rng.integers(2))
    c.oval(pale, top + 4, 7.5, 4.4, half - 0.5)
    c.sym_rect(pale, top + 4, 12, half)
    c.sym_dots(pale, [(13, 8 - half), (13, 9 - half), (13, 6), (14, 8 - half)], detail=False)
    arm_y = top + 5 + int(c.rng.integers(2))
    c.sym_dots(pale, [(arm_y, 7 - half), (arm_y - 1, 6 - half)], detail=False)
    eye = c.material(_EYE, flat=True)
    c.sym_dots(eye, [(top + 3, 6), (top + 4, 6)])
    if c.chance(0.5):
        c.rect(eye, top + 6, top + 7, 7, 8, detail=True)
    else:
        c.sym_dots(c.material(_CAP[:1], flat=True), [(top + 5, 5)])


def _skeleton(c):
    """A big skull with dark sockets over a ribcage of bones."""
    bone = c.material(_BONE)
    c.oval(bone, 5, 7.5, 3.6, 4.4)
    c.sym_rect(bone, 8, 9, 3)
    hole = c.material(_EYE, flat=True)
    c.sym_dots(hole, [(4, 5), (4, 6), (5, 5), (5, 6), (7, 7), (9, 6)])
    if c.chance(0.5):
        c.sym_dots(c.material(_GLOW, flat=True), [(5, 6)])
    c.sym_rect(bone, 10, 10, 3)
    c.sym_rect(bone, 12, 12, 3)
    c.sym_rect(bone, 11, 13, 1)
    c.sym_dots(bone, [(10, 4), (11, 3), (12, 3), (13, 2), (14, 6), (13, 6)], detail=False)
    if c.chance(0.4):
        c.rect(c.material(_METAL), 9, 13, 13, 13)
        c.rect(c.material(_LEATHER), 13, 14, 13, 13)
    if c.chance(0.3):
        hat = c.material(_CLOTH)
        c.sym_rect(hat, 1, 2, 3)
        c.sym_rect(hat, 3, 3, 5)


def _bat(c):
    """A small furry body with ears and wide scalloped wings."""
    fur, wing = c.material(_FUR), c.material(_FUR)
    lift = int(c.rng.integers(-1, 2))
    left = ((5.5, 6.5), (2.5 + lift, 3.5), (2.5 + lift, 0.6), (9.5, 0.6), (8.5, 2.5), (10.5, 3.5), (9.5, 5.5),
            (10.5, 6.5))
    c.poly(wing, left)
    c.poly(wing, tuple((y, 15 - x) for y, x in left))
    c.oval(fur, 8, 7.5, 3.3, 2.7)
    c.sym_dots(fur, [(4, 5), (3, 5), (4, 6)], detail=False)
    c.sym_dots(c.material(_GLOW[:1], flat=True), [(7, 6)])
    c.sym_dots(c.material(_WHITE, flat=True), [(10, 7)])
    c.sym_dots(fur, [(12, 6)], detail=False)


def _beast(c):
    """A big furry face with ears or horns, a muzzle and fangs."""
    fur, muzzle = c.material(_FUR), c.material(_CREAM)
    c.oval(fur, 8.5, 7.5, 5.3, 6.3)
    ears = c.pick(("pointy", "round", "horns"))
    if ears == "pointy":
        c.poly(fur, ((0.6, 2.6), (5.5, 2.6), (4.5, 6.5)))
        c.poly(fur, ((0.6, 12.4), (5.5, 12.4), (4.5, 8.5)))
    elif ears == "round":
        c.oval(fur, 3.5, 3.5, 1.8)
        c.oval(fur, 3.5, 11.5, 1.8)
    else:
        c.sym_dots(c.material(_BONE), [(4, 3), (3, 2), (2, 2), (1, 3)], detail=False)
    c.oval(muzzle, 11, 7.5, 2.2, 3.2)
    white, eye = c.material(_WHITE, flat=True), c.material(_EYE, flat=True)
    c.sym_dots(white, [(7, 4), (7, 5), (8, 4), (8, 5)])
    c.sym_dots(eye, [(8, 5), (10, 7)])
    if c.chance(0.5):
        c.sym_dots(eye, [(6, 4), (6, 5)])
    c.sym_dots(white, [(12, 6)])
    c.sym_dots(fur, [(14, 4), (14, 5)], detail=False)


def _robot(c):
    """A boxy metal head with antenna and glowing eyes, body, arms and legs or treads."""
    metal, dark = c.material(_METAL), c.material(_DARK_CLOTH)
    glow = c.material(_GLOW, flat=True)
    c.rect(dark, 1, 2, 7, 8)
    c.rect(glow, 1, 1, 7, 8, detail=True)
    c.sym_rect(metal, 3, 7, 4)
    if c.chance(0.5):
        c.rect(glow, 5, 5, 5, 10, detail=True)
    else:
        c.sym_dots(glow, [(4, 5), (4, 6), (5, 5), (5, 6)])
    c.sym_dots(dark, [(5, 3)], detail=False)
    c.sym_rect(metal, 8, 11, 5)
    c.sym_dots(glow, [(9, 6)] if c.chance(0.5) else [(9, 5), (10, 5)])
    c.sym_dots(dark, [(8, 2), (9, 2), (10, 2), (11, 1), (11, 3)], detail=False)
    if c.chance(0.5):
        c.sym_rect(dark, 12, 14, 5)
        c.sym_dots(metal, [(13, 4), (13, 6)])
    else:
        c.rect(dark, 12, 14, 4, 6)
        c.rect(dark, 12, 14, 9, 11)


def _eyeball(c):
    """One huge eye with lids, an iris that looks around, and tentacles."""
    flesh, white = c.material(_SLIME), c.material(_WHITE)
    iris, eye = c.material(_GLOW), c.material(_EYE, flat=True)
    c.oval(flesh, 7, 7.5, 5.6, 6.4)
    for x in (4, 7, 8, 11):
        c.line(flesh, 11, x, 14, x + (1 if x > 7 else -1) * int(c.rng.integers(2)))
    c.oval(white, 7, 7.5, 4.2, 5.2)
    gy, gx = int(c.rng.integers(-1, 2)), int(c.rng.integers(-1, 2))
    c.oval(iris, 7 + gy, 7.5 + gx, 2.5)
    c.rect(eye, 7 + gy, 8 + gy, 7 + gx, 8 + gx, detail=True)
    c.dots(c.material(_WHITE, flat=True), [(6 + gy, 6 + gx)])


def _spider(c):
    """A round abdomen, a small head with many eyes, and eight bent legs."""
    shell = c.material(_FUR)
    for knee, foot in (((4, 3), (1, 2)), ((6, 2), (5, 1)), ((8, 2), (11, 1)), ((11, 3), (14, 2))):
        c.path(shell, ((8, 6), knee, foot))
        c.path(shell, ((8, 9), (knee[0], 15 - knee[1]), (foot[0], 15 - foot[1])))
    c.oval(shell, 6, 7.5, 3.6, 3.6)
    c.oval(c.same_as(shell), 10.5, 7.5, 2.3, 2.7)
    glow = c.material(_GLOW[:1], flat=True)
    c.sym_dots(glow, [(10, 6), (11, 7)] if c.chance(0.5) else [(10, 6), (10, 7), (11, 5)])
    c.sym_rect(c.material(_GLOW, flat=True), 5, 6, 1, detail=True)


def _mushroom(c):
    """A walking mushroom: spotted cap over a pale stem with a face."""
    cap, stem = c.material(_CAP), c.material(_CREAM)
    c.sym_rect(stem, 7, 12, 3)
    c.sym_rect(stem, 13, 14, 1)
    c.rect(stem, 13, 14, 4, 5)
    c.rect(stem, 13, 14, 10, 11)
    c.oval(cap, 6.5, 7.5, 4.6, 6.6)
    c.clear(_Y > 7)
    c.sym_rect(stem, 8, 12, 3)
    c.rect(stem, 13, 14, 5, 6)
    c.rect(stem, 13, 14, 9, 10)
    white, eye = c.material(_WHITE, flat=True), c.material(_EYE, flat=True)
    c.sym_dots(white, [(3, 4), (4, 4), (2, 7)] if c.chance(0.5) else [(4, 3), (3, 6), (5, 6)])
    c.sym_dots(eye, [(9, 6), (10, 6)])


_CREATURES = (("slime", _slime), ("ghost", _ghost), ("skeleton", _skeleton), ("bat", _bat), ("beast", _beast),
              ("robot", _robot), ("eyeball", _eyeball), ("spider", _spider), ("mushroom", _mushroom))


def _creature(c):
    """One of the front-facing creature body plans, nudged off-centre a little."""
    c.kind, draw = c.pick(_CREATURES)
    draw(c)
    c.keep_margin()
    c.nudge()


# ---------------------------------------------------------------- food

def _apple(c):
    """A round apple with stem, maybe a leaf and a bite taken out."""
    fruit = c.material(_FRUIT)
    r = 4 + int(c.rng.integers(2))
    cy = 14.2 - r
    c.oval(fruit, cy, 7.5, r + 0.4, r + 0.9)
    top = int(np.ceil(cy - r - 0.4))
    c.dots(0, [(top, 7), (top, 8)], detail=False)
    c.line(c.material(_WOOD), top - 2, 8, top, 7)
    if c.chance(0.7):
        c.oval(c.material(_LEAF), top - 1.5, 10, 1, 1.6)
    c.dots(c.material(_WHITE, flat=True), [(top + 2, 5), (top + 3, 4)])
    if c.chance(0.25):
        c.clear(_oval_mask(cy, 13.5, 2.2, 2.2))


def _cherries(c):
    """Two cherries on stems joined at a leaf."""
    stem, fruit = c.material(_LEAF), c.material(_RED)
    tx = 8 + int(c.rng.integers(3))
    c.line(stem, 2, tx, 9, 4)
    c.line(stem, 2, tx, 9, 11)
    c.oval(fruit, 11, 4.5, 2.5)
    c.oval(c.material(_RED), 11.5, 10.5, 2.5)
    c.oval(c.material(_LEAF), 2, tx + 2, 1, 1.8)
    c.dots(c.material(_WHITE, flat=True), [(10, 3), (10, 9)])


def _banana(c):
    """A curved banana with brown tips."""
    peel = c.material(_CHEESE)
    c.fill(peel, _oval_mask(5.5, 5.5, 7.8, 7.8) & ~_oval_mask(-1.5, -1.5, 13.5, 13.5) & (_X < 15))
    c.dots(c.material(_LEATHER), [(2, 12), (3, 12), (13, 4), (13, 5)], detail=False)
    c.dots(c.material(_CREAM, flat=True), [(8, 9), (9, 8), (10, 7)])


def _pear(c):
    """A pear: small top bulb on a big bottom one."""
    skin = c.material(_PEAR)
    c.oval(skin, 10.5, 7.5, 3.8, 4.3)
    c.oval(skin, 6, 7.5, 2.8, 2.4)
    c.line(c.material(_WOOD), 1, 9, 3, 8)
    c.dots(c.material(_WHITE, flat=True), [(5, 6), (9, 5)])
    if c.chance(0.5):
        c.oval(c.material(_LEAF), 2, 10.5, 0.9, 1.6)


def _carrot(c):
    """A diagonal carrot with leafy top and ridges."""
    root, leaf = c.material(_ORANGE), c.material(_LEAF)
    for x in (10, 12, 14):
        c.line(leaf, 4, 11, 1, x - 1)
    c.poly(root, ((2.5, 9.5), (6.5, 13.5), (14.5, 1.5)))
    ridge = c.material(_MEAT, flat=True)
    c.dots(ridge, [(6, 9), (7, 10), (9, 6), (11, 4)])


def _bread(c):
    """A loaf with scored crust."""
    crust = c.material(_BREAD)
    c.oval(crust, 8.5, 7.5, 3.6, 6.4)
    c.rect(crust, 8, 12, 2, 13)
    c.rect(c.material(_LEATHER, flat=True), 12, 12, 2, 13)
    cut = c.material(_CREAM, flat=True)
    for x in (4, 7, 10):
        c.dots(cut, [(7, x), (6, x + 1)])


def _drumstick(c):
    """A meaty drumstick with a bone handle."""
    meat, bone = c.material(_MEAT), c.material(_BONE)
    c.line(bone, 9, 7, 12, 4)
    c.line(bone, 9, 8, 12, 5)
    c.oval(bone, 13, 3, 1)
    c.oval(bone, 12, 2, 1)
    c.oval(meat, 6, 9.5, 4.5, 4.2)
    c.dots(c.material(_CREAM, flat=True), [(4, 8), (3, 9), (5, 7)])


def _cheese(c):
    """A cheese wedge with holes."""
    top, side = c.material(_CHEESE), c.material(_CHEESE)
    c.poly(top, ((3.5, 10.5), (7.5, 13.5), (7.5, 1.5)))
    c.rect(side, 8, 12, 2, 13)
    hole = c.material(_ORANGE, flat=True)
    c.dots(hole, [(9, 4), (10, 4), (11, 9), (9, 11), (10, 11)] if c.chance(0.5) else [(10, 6), (9, 10), (11, 12)])


def _potion(c):
    """A round-bottomed bottle of coloured drink with a cork."""
    glass, liquid = c.material(_GLASS), c.material(_DRINK)
    c.rect(glass, 3, 6, 6, 9)
    c.oval(glass, 10, 7.5, 4, 4.5)
    c.fill(liquid, _oval_mask(10, 7.5, 4, 4.5) & (_Y >= 9))
    c.rect(c.material(_WOOD), 1, 2, 6, 9)
    c.dots(c.material(_WHITE, flat=True), [(8, 5), (9, 4)])


def _mug(c):
    """A wooden mug of drink with a handle and foam."""
    cup, drink = c.material(_WOOD), c.material(_BEER)
    c.rect(cup, 4, 13, 11, 13)
    c.rect(0, 6, 11, 12, 12)
    c.rect(cup, 4, 13, 3, 10)
    c.rect(drink, 5, 12, 4, 9)
    c.rect(cup, 5, 12, 6, 6)
    foam = c.material(_CREAM)
    c.rect(foam, 2, 4, 3, 10)
    c.dots(foam, [(1, 5), (1, 6), (1, 9), (5, 4), (6, 4)], detail=False)


def _cake(c):
    """A layered cake topped with a cherry or a candle."""
    sponge, icing = c.material(_CAKE), c.material(_ICING)
    c.rect(sponge, 7, 13, 2, 13)
    c.rect(icing, 5, 7, 2, 13)
    c.rect(icing, 10, 10, 2, 13)
    c.dots(icing, [(8, 3), (8, 7), (9, 7), (8, 11)], detail=False)
    if c.chance(0.5):
        c.oval(c.material(_RED), 3, 7.5, 1.6)
    else:
        c.rect(c.material(_CLOTH), 2, 4, 7, 8)
        c.dots(c.material(_SPELL_FAMILIES[4][1], flat=True), [(1, 7), (1, 8)], detail=False)


def _egg(c):
    """A fried egg."""
    white, yolk = c.material(_WHITE), c.material(_YOLK)
    c.oval(white, 8, 7.5, 5, 6.2)
    c.oval(white, 10, 4.5, 3, 3)
    c.oval(white, 5, 11, 3, 3)
    c.oval(yolk, 7, 7, 2.3)
    c.dots(c.material(_WHITE, flat=True), [(6, 6)])


_FOODS = (("apple", _apple), ("cherries", _cherries), ("banana", _banana), ("pear", _pear), ("carrot", _carrot),
          ("bread", _bread), ("drumstick", _drumstick), ("cheese", _cheese), ("potion", _potion), ("mug", _mug),
          ("cake", _cake), ("egg", _egg))


def _food(c):
    """One food item, maybe mirrored, nudged off-centre a little."""
    c.kind, draw = c.pick(_FOODS)
    draw(c)
    c.keep_margin()
    if c.chance(0.5):
        c.flip()
    c.nudge()


# ---------------------------------------------------------------- spells

def _spell_colors(c, n=4):
    """Flat materials dark..light from one random spell colour family."""
    family = c.pick(_SPELL_FAMILIES)
    return [c.material(family[k], flat=True) for k in range(n)]


def _fireball(c):
    """A glowing ball with a tapering tail of flame."""
    dark, mid, light, core = _spell_colors(c)
    cy, cx = 10 + int(c.rng.integers(2)), 5 + int(c.rng.integers(2))
    ty, tx = c.pick(((1.0, 14.0), (2.0, 14.5), (4.0, 14.5)))
    dy, dx = ty - cy, tx - cx
    norm = np.hypot(dy, dx)
    for m, r, reach in ((dark, 3.4, 1.0), (mid, 2.4, 0.6), (light, 1.4, 0.3)):
        py, px = -dx / norm * r * 0.9, dy / norm * r * 0.9
        c.oval(m, cy, cx, r)
        c.poly(m, ((round(cy + py, 1), round(cx + px, 1)), (round(cy + dy * reach, 1), round(cx + dx * reach, 1)),
                   (round(cy - py, 1), round(cx - px, 1))))
    c.dots(core, [(cy, cx), (cy - 1, cx), (cy, cx + 1)])
    _orient(c)


def _star_points(cy, cx, ly, lx, inner):
    """Vertices of a four-pointed star with arms ly (vertical) and lx (horizontal)."""
    return ((cy - ly, cx), (cy - inner, cx + inner), (cy, cx + lx), (cy + inner, cx + inner), (cy + ly, cx),
            (cy + inner, cx - inner), (cy, cx - lx), (cy - inner, cx - inner))


def _sparkle(c):
    """A four-pointed star with a bright core and small twinkles around it."""
    dark, mid, light, core = _spell_colors(c)
    cy, cx = 7 + int(c.rng.integers(2)), 7 + int(c.rng.integers(2))
    ly, lx = 5.5 + int(c.rng.integers(2)), 4.5 + int(c.rng.integers(3))
    c.poly(mid, _star_points(cy, cx, ly, lx, 1.6))
    c.poly(light, _star_points(cy, cx, ly - 2, lx - 2, 0.9))
    c.dots(core, [(cy, cx)])
    c.halo(dark)
    for y, x in (((2, 2), (12, 12), (2, 12), (12, 2))[k] for k in c.rng.permutation(4)[:2]):
        c.dots(mid, [(y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)], detail=False)
        c.dots(light, [(y, x)], detail=False)


def _lightning(c):
    """A zig-zag bolt with a white-hot core."""
    dark, mid, light, core = _spell_colors(c)
    s = int(c.rng.integers(-1, 2))
    bolt = ((0.6, 6.5 + s), (0.6, 12.5), (5.5, 9.5), (5.5, 12.5), (14.5, 3.5 + s), (8.5, 7.5), (8.5, 4.5))
    c.poly(mid, bolt)
    c.path(light, ((1, 9 + s), (6, 7), (7, 11), (13, 5 + s)))
    c.halo(dark)
    c.dots(core, [(1, 10), (6, 8), (7, 10)])
    if c.chance(0.5):
        c.flip()


def _orb(c):
    """A shaded magic orb inside a dotted halo ring."""
    dark, mid, light, core = _spell_colors(c)
    r = 3 + int(c.rng.integers(2))
    c.oval(dark, 7.5, 7.5, r + 0.4)
    c.oval(mid, 7, 7, r - 0.4)
    c.oval(light, 6.5, 6.5, max(r - 1.6, 0.9))
    c.dots(core, [(6, 6), (5, 6)])
    ring = _ring_mask(7.5, 7.5, r + 1.6, r + 2.6)
    if c.chance(0.5):
        ring = ring & (np.abs(np.abs(_Y - 7.5) - np.abs(_X - 7.5)) > 1)
    c.fill(light, ring)


def _rune(c):
    """A glowing magic circle with a rune drawn inside."""
    family = c.pick(_SPELL_FAMILIES)
    ring, glyph, glow = (c.material(family[k], flat=True) for k in (1, 0, 3))
    c.oval(glow, 7.5, 7.5, 6.5)
    c.ring(ring, 7.5, 7.5, 5.3, 6.5)
    shape = c.pick(("triangle", "star", "cross", "diamond", "eye"))
    if shape == "triangle":
        c.path(glyph, ((3, 7), (11, 3), (11, 12), (3, 8)), detail=True)
    elif shape == "star":
        c.path(glyph, ((3, 7), (11, 4), (5, 12), (5, 3), (11, 11), (3, 8)), detail=True)
    elif shape == "cross":
        c.rect(glyph, 3, 12, 7, 8, detail=True)
        c.rect(glyph, 7, 8, 3, 12, detail=True)
    elif shape == "diamond":
        c.path(glyph, ((3, 7), (7, 3), (8, 3), (12, 7), (12, 8), (8, 12), (7, 12), (3, 8), (3, 7)), detail=True)
    else:
        c.path(glyph, ((7, 3), (5, 6), (5, 9), (7, 12), (9, 9), (9, 6), (7, 3)), detail=True)
        c.rect(glyph, 6, 8, 7, 8, detail=True)
    c.sym_dots(ring, [(1, 7), (14, 7)], detail=False)


def _swirl(c):
    """A spiral vortex, bright at the centre and darker outwards."""
    dark, mid, light, core = _spell_colors(c)
    ys, xs = _spiral_points(c.pick((1.5, 1.75, 2.0)), float(c.rng.integers(4)) * np.pi / 2)
    third = len(ys) // 3
    for m, part in ((light, slice(0, third)), (mid, slice(third, 2 * third)), (dark, slice(2 * third, None))):
        c.body[ys[part], xs[part]] = m
    c.dots(core, [(7, 7), (8, 8)])
    if c.chance(0.5):
        c.flip()


def _crystal(c):
    """Faceted ice/gem shards: a tall diamond flanked by small ones."""
    dark, mid, light, core = _spell_colors(c)
    w = 3 + int(c.rng.integers(2))
    c.poly(mid, ((0.6, 7.5), (7.5, 7.5 + w), (14.4, 7.5), (7.5, 7.5 - w)))
    c.poly(light, ((0.6, 7.5), (7.5, 7.5), (14.4, 7.5), (7.5, 7.5 - w)))
    c.poly(dark, ((9.5, 2.5), (11.5, 3.5), (13.5, 1.5), (11.5, 0.5)))
    c.poly(dark, ((2.5, 12.5), (4.5, 14.5), (6.5, 13.5), (4.5, 11.5)))
    c.dots(core, [(4, 7), (5, 7)])
    if c.chance(0.5):
        c.flip()


def _orient(c):
    """Point a diagonal effect in one of four directions."""
    if c.chance(0.5):
        c.flip()
    if c.chance(0.5):
        c.flip_vertical()


_SPELLS = (("fireball", _fireball), ("sparkle", _sparkle), ("lightning", _lightning), ("orb", _orb), ("rune", _rune),
           ("swirl", _swirl), ("crystal", _crystal))


def _spell(c):
    """One spell effect, nudged off-centre a little."""
    c.kind, draw = c.pick(_SPELLS)
    draw(c)
    c.keep_margin()
    c.nudge()


# ---------------------------------------------------------------- side-facing characters

def _side_character(c):
    """A walker (or an animal) in profile, facing left or right."""
    if c.chance(0.7):
        _walker(c)
    else:
        c.kind, draw = c.pick(_ANIMALS)
        draw(c)
    if c.chance(0.5):
        c.flip()


def _walker(c):
    """A person in profile facing right, mid-stride, maybe carrying something."""
    y0 = 1 + int(c.rng.integers(2))
    skin, cloth = c.material(_SKIN), c.material(_CLOTH)
    back = c.pick(("none", "none", "pack", "cape"))
    if back == "cape":
        c.poly(c.material(_CLOTH), ((y0 + 5.5, 6.5), (13.5, 1.5), (13.5, 6.5)))
    _walker_legs(c, c.material(_DARK_CLOTH), c.material(_LEATHER), y0)
    c.line(c.same_as(cloth), y0 + 6, 5, y0 + 8, 4)
    c.dots(skin, [(y0 + 9, 4)], detail=False)
    c.rect(cloth, y0 + 6, y0 + 8, 6, 9)
    c.rect(c.material(_LEATHER), y0 + 8, y0 + 8, 6, 9)
    if back == "pack":
        c.rect(c.material(_LEATHER), y0 + 6, y0 + 9, 3, 5)
    _profile_head(c, skin, y0)
    c.kind, hold = c.pick(_HELD)
    hold(c, c.same_as(cloth), skin, y0)


def _walker_legs(c, pants, boots, y0):
    """Two legs apart in a walking stride, feet pointing forward."""
    front, rear = 10 + int(c.rng.integers(2)), 3 + int(c.rng.integers(2))
    c.rect(pants, y0 + 9, y0 + 9, 6, 9)
    for x in (0, 1):
        c.line(pants, y0 + 9, 8 + x, 13, front - 1 + x)
        c.line(pants, y0 + 9, 6 + x, 13, rear + x)
    c.rect(boots, 13, 14, front - 1, front)
    c.dots(boots, [(14, front + 1)], detail=False)
    c.rect(boots, 13, 14, rear, rear + 1)
    c.dots(boots, [(14, rear + 2)], detail=False)


def _profile_head(c, skin, y0):
    """A big head looking right: hair at the back, eye and nose at the front, maybe a hat."""
    hat = c.pick(("none", "none", "cap", "helmet", "pointy", "hood"))
    hair = c.material(_CLOTH if hat == "hood" else _HAIR)
    c.rect(hair, y0, y0, 5, 9)
    c.rect(hair, y0 + 1, y0 + 1, 4, 10)
    for dy, x1 in ((2, 7), (3, 6), (4, 5), (5, 5)):
        c.rect(hair, y0 + dy, y0 + dy, 3 + (dy == 5), x1)
    for dy, x0, x1 in ((2, 8, 11), (3, 7, 11), (4, 6, 12), (5, 6, 11)):
        c.rect(skin, y0 + dy, y0 + dy, x0, x1)
    if c.chance(0.4) or hat == "hood":
        c.rect(hair, y0 + 5, y0 + 7, 3, 4)
    eye = c.material(_EYE, flat=True)
    c.dots(eye, [(y0 + 3, 10)] + ([(y0 + 4, 10)] if c.chance(0.5) else []))
    if c.chance(0.5):
        c.dots(c.material(_CAP[:1], flat=True), [(y0 + 5, 11)])
    if hat == "cap":
        cap = c.material(_CLOTH)
        c.rect(cap, y0, y0 + 1, 4, 10)
        c.rect(cap, y0 + 1, y0 + 1, 11, 12)
    elif hat == "helmet":
        metal = c.material(_METAL)
        c.rect(metal, y0, y0 + 1, 4, 10)
        c.rect(metal, y0 + 2, y0 + 4, 3, 4)
    elif hat == "pointy":
        cap = c.material(_CLOTH)
        c.rect(cap, y0 + 1, y0 + 1, 3, 12)
        c.rect(cap, y0, y0, 5, 9)
        if y0 == 2:
            c.rect(cap, 1, 1, 3, 7)


def _empty_hand(c, sleeve, skin, y0):
    """The front arm swinging forward."""
    c.line(sleeve, y0 + 6, 9, y0 + 8, 10)
    c.dots(skin, [(y0 + 9, 10)], detail=False)


def _held_sword(c, sleeve, skin, y0):
    """The front arm holding a sword out in front."""
    c.line(sleeve, y0 + 6, 9, y0 + 7, 10)
    c.dots(skin, [(y0 + 8, 11)], detail=False)
    c.rect(c.material(_METAL), y0 + 8, y0 + 8, 12, 14)
    c.rect(c.material(_METAL[2:]), y0 + 7, y0 + 9, 12, 12)


def _held_torch(c, sleeve, skin, y0):
    """The front arm holding up a burning torch."""
    c.line(sleeve, y0 + 6, 9, y0 + 7, 10)
    c.dots(skin, [(y0 + 7, 11)], detail=False)
    c.rect(c.material(_WOOD), y0 + 5, y0 + 9, 12, 12)
    fire = c.material(_SPELL_FAMILIES[0][1], flat=True)
    c.rect(fire, y0 + 2, y0 + 4, 12, 12)
    c.dots(fire, [(y0 + 3, 13), (y0 + 4, 13), (y0 + 1, 12)], detail=False)
    c.dots(c.material(_SPELL_FAMILIES[0][2], flat=True), [(y0 + 4, 12), (y0 + 3, 12)], detail=False)


def _held_staff(c, sleeve, skin, y0):
    """The front arm holding a tall staff with a gem."""
    c.line(sleeve, y0 + 6, 9, y0 + 7, 10)
    c.rect(c.material(_WOOD), y0 + 2, 14, 12, 12)
    c.dots(skin, [(y0 + 7, 11)], detail=False)
    gem = c.material(_GEM)
    c.rect(gem, y0, y0 + 1, 12, 13)


def _held_shield(c, sleeve, skin, y0):
    """The front arm behind a shield carried in front."""
    c.line(sleeve, y0 + 6, 9, y0 + 7, 10)
    c.rect(c.material(_METAL), y0 + 5, y0 + 10, 11, 12)
    c.rect(c.material(_CLOTH), y0 + 7, y0 + 8, 12, 12)


_HELD = ((None, _empty_hand), ("sword", _held_sword), ("torch", _held_torch), ("staff", _held_staff),
         ("shield", _held_shield))


def _quadruped(c):
    """A four-legged animal walking right: body, head with snout and ear, tail, legs."""
    fur = c.material(_FUR)
    for top, bottom in (((11, 3), (14, 2)), ((11, 5), (14, 6)), ((11, 9), (14, 8)), ((11, 11), (14, 12))):
        c.line(fur, *top, *bottom)
    c.oval(fur, 9, 6.5, 2.6, 4.8)
    c.oval(fur, 5.5, 10.5, 2.5, 2.5)
    c.rect(fur, 6, 7, 12, 14)
    if c.chance(0.5):
        c.poly(fur, ((0.6, 9.5), (3.6, 8.5), (3.6, 11.5)))
    else:
        c.rect(c.material(_FUR), 4, 6, 9, 9)
    tail = c.pick((((8, 2), (5, 1)), ((8, 2), (10, 1)), ((8, 2), (6, 1), (4, 2))))
    c.path(fur, tail)
    eye = c.material(_EYE, flat=True)
    c.dots(eye, [(5, 11), (6, 14)])
    if c.chance(0.5):
        c.rect(c.material(_CREAM), 10, 10, 5, 9)


def _bird(c):
    """A round bird in profile: beak, wing, tail feathers and thin legs."""
    feather, beak = c.material(_SLIME), c.material(_ORANGE)
    wing = c.material(c.colors[feather] * 0.7)
    c.line(beak, 11, 6, 14, 6)
    c.line(beak, 11, 8, 14, 8)
    c.dots(beak, [(14, 9), (14, 7)], detail=False)
    c.poly(wing, ((6.5, 3.5), (5.5, 0.6), (7.5, 0.6), (10.5, 3.5)))
    c.oval(feather, 8.5, 6.5, 3.6, 4.6)
    c.oval(feather, 5, 10, 2.8, 2.8)
    c.poly(beak, ((3.5, 12.5), (5.5, 14.5), (6.5, 12.5)))
    c.oval(wing, 9, 5.5, 1.6, 3.2)
    c.dots(c.material(_EYE, flat=True), [(4, 11)])
    if c.chance(0.5):
        c.rect(c.material(_CREAM), 10, 11, 8, 10)


_ANIMALS = (("animal", _quadruped), ("bird", _bird))


# ---------------------------------------------------------------- colouring and the public API

_DRAW = (_hero, _creature, _food, _spell, _side_character)


_KIND_TABLES = {"hero": (_WEAPONS,), "non-hero": (_CREATURES,), "food": (_FOODS,), "spell": (_SPELLS,),
                "side-facing": (_HELD, _ANIMALS)}
KIND_NAMES = tuple(dict.fromkeys(kind for tables in _KIND_TABLES.values() for table in tables
                                 for kind, _ in table if kind))
KIND_CLASSES = {kind: tuple(name for name, tables in _KIND_TABLES.items()
                            if any(kind == k for table in tables for k, _ in table)) for kind in KIND_NAMES}


def _draw(class_index, rng):
    """Draw one sprite of the class as a canvas of material ids."""
    c = _Canvas(rng)
    c.ink = c.chance(0.2 if class_index == 3 else 0.5)
    _DRAW[class_index](c)
    c.keep_margin()
    return c


def _shade_tables(colors, flat, ink):
    """Per-material shades (outline, shadow, base, highlight) as uint8, shape (N, M, 4, 3)."""
    base = np.clip(colors, 0, 250).astype(np.float32)
    shadow = base * np.float32([0.66, 0.66, 0.76])
    highlight = base + (250 - base) * np.float32([0.45, 0.42, 0.34])
    shadow = np.where(flat[..., None], base, shadow)
    highlight = np.where(flat[..., None], base, highlight)
    outline = np.where(ink[:, None, None], np.float32(_INK), base * np.float32([0.3, 0.3, 0.38]))
    return np.clip(np.stack([outline, shadow, base, highlight], axis=2), 0, 250).astype(np.uint8)


def _neighbours(a):
    """The up, down, left and right neighbours of every pixel of (N, H, W) ids; 0 past the edge."""
    p = np.pad(a, ((0, 0), (1, 1), (1, 1)))
    return p[:, :-2, 1:-1], p[:, 2:, 1:-1], p[:, 1:-1, :-2], p[:, 1:-1, 2:]


def _colorize(body, detail, colors, flat, ink):
    """Turn material-id canvases into RGB sprites: shading, outlines, white background."""
    up, down, left, right = _neighbours(body)
    lit = (up == 0) | (left == 0)
    dim = (down == 0) | (right != body)
    shade = 2 + (lit & ~dim).astype(np.int8) - (dim & ~lit).astype(np.int8)
    ids = np.where(detail > 0, detail, body)
    shade[detail > 0] = 2
    fg = ids > 0
    near = np.maximum.reduce(_neighbours(ids))
    outline = ~fg & (near > 0)
    ids = np.where(outline, near, ids)
    shade[outline] = 0
    table = _shade_tables(colors, flat, ink)
    rgb = table[np.arange(len(body))[:, None, None], ids, shade]
    rgb[~fg & ~outline] = 255
    return rgb


def _check_class(class_index):
    """The class index as an int, or a ValueError naming the allowed range."""
    if isinstance(class_index, bool) or not isinstance(class_index, (int, np.integer)) \
            or not 0 <= class_index < len(CLASS_NAMES):
        raise ValueError(f"class index must be an int in 0..{len(CLASS_NAMES) - 1} "
                         f"({', '.join(f'{i}={name}' for i, name in enumerate(CLASS_NAMES))}); got {class_index!r}")
    return int(class_index)


def render_sprite(class_index, rng):
    """One 16x16 RGB uint8 sprite of class ``class_index`` (0..4, see CLASS_NAMES).

    ``rng`` is a ``numpy.random.Generator`` (or a seed for one); all randomness comes from it.
    """
    c = _draw(_check_class(class_index), np.random.default_rng(rng))
    return _colorize(c.body[None], c.detail[None], c.colors[None], c.flat[None], np.array([c.ink]))[0]


def colour_index(rgb):
    """Index into COLOUR_NAMES of each RGB colour (..., 3), from its hue, saturation and value.

    Value v = max/255 and saturation s = (max - min)/max decide black (v < 0.25), white and grey
    (s < 0.2, white where v > 0.85) and brown (a red-to-yellow hue with v < 0.7 and s > 0.3);
    the rest is named by hue in degrees (red < 15 <= orange < 40 <= yellow < 70 <= green < 160 <=
    teal < 195 <= blue < 255 <= purple < 290 <= pink < 340 <= red).
    """
    rgb = np.asarray(rgb, np.float32) / 255
    hi, lo = rgb.max(-1), rgb.min(-1)
    span = np.maximum(hi - lo, 1e-6)
    r, g, b = np.moveaxis(rgb, -1, 0)
    hue = np.where(hi == r, (g - b) / span % 6, np.where(hi == g, (b - r) / span + 2, (r - g) / span + 4)) * 60
    sat = (hi - lo) / np.maximum(hi, 1e-6)
    name = np.searchsorted(_HUE_EDGES, hue, side="right")
    name = np.asarray(_HUE_NAMES)[name]
    name = np.where((hue < 70) & (hi < 0.7) & (sat > 0.3), COLOUR_NAMES.index("brown"), name)
    name = np.where(sat < 0.2, np.where(hi > 0.85, COLOUR_NAMES.index("white"), COLOUR_NAMES.index("grey")), name)
    return np.where(hi < 0.25, COLOUR_NAMES.index("black"), name)


def _main_colours(ids, colors, uncoloured):
    """Per sprite, the COLOUR_NAMES index covering most pixels (skin, eyes and outlines not counted)."""
    n = len(ids)
    pixels = np.bincount((np.arange(n)[:, None] * _MAX_MATERIALS + ids.reshape(n, -1)).ravel(),
                         minlength=n * _MAX_MATERIALS).reshape(n, _MAX_MATERIALS)  # (n, materials)
    pixels[:, 0] = 0  # background
    pixels[uncoloured] = 0
    votes = np.zeros((n, len(COLOUR_NAMES)), np.int64)
    np.add.at(votes, (np.arange(n)[:, None], colour_index(colors)), pixels)
    return votes.argmax(1)


def _generate(n, seed, classes):
    """Sprites with everything known about them: images, class indices, kinds, colour indices."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int (the number of sprites, e.g. 89400); got {n!r}")
    classes = tuple(range(len(CLASS_NAMES))) if classes is None else tuple(_check_class(k) for k in classes)
    if not classes:
        raise ValueError(f"classes must name at least one class index in 0..{len(CLASS_NAMES) - 1}")
    n = int(n)
    body = np.zeros((n, SIZE, SIZE), np.uint8)
    detail = np.zeros((n, SIZE, SIZE), np.uint8)
    colors = np.zeros((n, _MAX_MATERIALS, 3), np.int16)
    flat = np.zeros((n, _MAX_MATERIALS), bool)
    uncoloured = np.zeros((n, _MAX_MATERIALS), bool)
    ink = np.zeros(n, bool)
    kinds = np.full(n, "", dtype=object)
    label_index = np.array([classes[i % len(classes)] for i in range(n)], np.intp)
    for i in range(n):
        c = _draw(label_index[i], np.random.default_rng((seed, i)))
        body[i], detail[i], colors[i], flat[i], ink[i] = c.body, c.detail, c.colors, c.flat, c.ink
        uncoloured[i], kinds[i] = c.uncoloured, c.kind or ""
    images = np.empty((n, SIZE, SIZE, 3), np.uint8)
    colours = np.empty(n, np.intp)
    for lo in range(0, n, _CHUNK):  # colour in chunks to bound the memory of the index arrays
        part = slice(lo, lo + _CHUNK)
        images[part] = _colorize(body[part], detail[part], colors[part], flat[part], ink[part])
        ids = np.where(detail[part] > 0, detail[part], body[part])
        colours[part] = _main_colours(ids, colors[part], uncoloured[part])
    return images, label_index, kinds, colours


def generate_sprites(n, seed=0, classes=None):
    """``n`` sprites and their labels, like the course's sprite files.

    Returns ``(images, labels)``: uint8 ``(n, 16, 16, 3)`` (NHWC) and float32 one-hot ``(n, 5)``.
    Sprite ``i`` has class ``classes[i % len(classes)]`` (all five classes by default, so they are
    exactly balanced) and uses only ``numpy.random.default_rng((seed, i))``: the same seed gives the
    same sprites, and the first k sprites of a larger set equal ``generate_sprites(k, seed)``.
    """
    images, label_index, _, _ = _generate(n, seed, classes)
    return images, np.eye(len(CLASS_NAMES), dtype=np.float32)[label_index]


def generate_sprite_attributes(n, seed=0, classes=None):
    """The sprites of ``generate_sprites(n, seed, classes)`` and what the generator drew in each.

    Returns ``(images, attributes)``: uint8 ``(n, 16, 16, 3)`` and a dict of ``(n,)`` arrays:
    ``"class"`` (index into CLASS_NAMES), ``"kind"`` (a KIND_NAMES word, or "" where the sprite is
    only its class, e.g. an unarmed hero) and ``"colour"`` (a COLOUR_NAMES word: the colour of most
    of its pixels, skin, eyes and outline not counted, named by ``colour_index``).
    """
    images, label_index, kinds, colours = _generate(n, seed, classes)
    return images, {"class": label_index, "kind": kinds.astype(str), "colour": np.asarray(COLOUR_NAMES)[colours]}
