"""Chapter 4's editing in the notebook: ipywidgets views over ``editing`` (edit a sprite's class,
turn a sketch into a sprite, inpaint part of a sprite).

As in ``widgets``, each view calls pure functions the tests call directly (``sketch_image``,
``keep_mask``, the ``editing`` functions); nothing in the library imports this module. The sketch pad
is a grid of plain ipywidgets buttons, so it runs wherever ipywidgets does (JupyterLab, Colab, Voilà).
"""
import numpy as np
import torch

from .data import CLASS_NAMES
from .editing import decode_ddim, figure_masks, inpaint, invert_ddim, sdedit, start_step
from .widgets import WORKING, sprites_png

PALETTE = {  # colour name -> RGB; the sketch pad's paints
    "white": (255, 255, 255), "black": (30, 30, 30), "grey": (140, 140, 150), "red": (200, 40, 40),
    "orange": (230, 130, 30), "yellow": (240, 210, 60), "green": (60, 160, 60), "blue": (50, 90, 210),
    "purple": (140, 70, 170), "brown": (120, 75, 40), "skin": (235, 185, 150),
}
KEEP_MASKS = ("keep the figure", "keep the background", "keep the left half", "keep the top half")


def starter_sketch(size=16):
    """A rough potion as colour names (size, size): a red round flask with a brown cork, on white."""
    y, x = np.mgrid[:size, :size]
    c = (size - 1) / 2
    sketch = np.full((size, size), "white", dtype=object)
    sketch[(y - c - 2) ** 2 + (x - c) ** 2 <= (size / 3.2) ** 2] = "red"
    sketch[(y >= size // 8) & (y < size // 3) & (abs(x - c) <= 1.5)] = "red"
    sketch[(y >= size // 16) & (y < size // 8 + 1) & (abs(x - c) <= 1.5)] = "brown"
    return sketch


def sketch_image(sketch):
    """Colour names (H, W) -> one picture (1, 3, H, W) in [-1, 1], what the model takes."""
    sketch = np.asarray(sketch, dtype=object)
    unknown = set(sketch.flat) - set(PALETTE)
    if unknown:
        raise ValueError(f"unknown colours {sorted(unknown)}; the palette has {', '.join(PALETTE)}")
    rgb = np.array([[PALETTE[name] for name in row] for row in sketch], dtype=np.float32)  # (H, W, 3)
    return torch.from_numpy(rgb / 127.5 - 1).permute(2, 0, 1).unsqueeze(0)  # (1, 3, H, W)


def keep_mask(kind, images):
    """Which pixels an inpainting keeps: one of KEEP_MASKS, for images (n, 3, H, W) -> bool (n, H, W)."""
    n, _, h, w = images.shape
    if kind == "keep the figure":
        return figure_masks(images)
    if kind == "keep the background":
        return ~figure_masks(images)
    keep = torch.zeros(n, h, w, dtype=torch.bool)
    if kind == "keep the left half":
        keep[..., : w // 2] = True
    elif kind == "keep the top half":
        keep[:, : h // 2] = True
    else:
        raise ValueError(f"kind must be one of {KEEP_MASKS}, got {kind!r}")
    return keep


def _class_menu(w, description, value=0, names=CLASS_NAMES):
    return w.Dropdown(options=[(name, i) for i, name in enumerate(names)], value=value, description=description)


def _labels(names, scale):
    """HTML captions, one per sprite of a grid row of `len(names)` sprites shown `scale` times enlarged."""
    width = 16 * scale + 1
    cells = "".join(f'<div style="width:{width}px;text-align:center;font-size:14px">{name}</div>' for name in names)
    return f'<div style="display:flex;padding-left:1px">{cells}</div>'


def edit_explorer(model, sched, sprites, contexts, steps=25, scale=6):
    """Pick a sprite, a new class and a strength: the sprite inverted by DDIM part-way up the chain and
    decoded under the new class, beside SDEdit (the same, from random noise) and the inverted x_t.

    Returns a VBox with CSS class "course-edit-explorer"; ``.sprite``, ``.target``, ``.strength``,
    ``.guidance``, ``.image`` and ``.info`` give access to its parts."""
    import ipywidgets as w

    sprite = w.IntSlider(value=0, min=0, max=len(sprites) - 1, description="sprite", continuous_update=False)
    start_class = (int(contexts[0].argmax()) + 1) % len(CLASS_NAMES)
    target = _class_menu(w, "new class", start_class)
    strength = w.FloatSlider(value=0.6, min=0.1, max=1.0, step=0.1, description="strength", continuous_update=False)
    guidance = w.FloatSlider(value=2.0, min=0.0, max=4.0, step=0.5, description="guidance", continuous_update=False)
    image, labels, info = w.Image(format="png"), w.HTML(), w.HTML()

    def render(*_):
        info.value = WORKING
        i = sprite.value
        x0, c = sprites[i:i + 1], contexts[i:i + 1]
        new = torch.eye(len(CLASS_NAMES))[[target.value]]
        t0, k = start_step(sched, strength.value, steps)
        x_t = invert_ddim(model, sched, x0, k, context=c, guidance=guidance.value, t_end=t0).images
        edited = decode_ddim(model, sched, x_t, t0, k, context=new, guidance=guidance.value).images  # edit_context
        noised = sdedit(model, sched, x0, strength.value, steps, new, guidance.value,
                        generator=torch.Generator().manual_seed(0)).images
        image.value = sprites_png(torch.cat([x0, x_t.clamp(-1, 1), edited, noised]), nrow=4, scale=scale)
        labels.value = _labels([CLASS_NAMES[int(c.argmax())], f"inverted x_{t0}", CLASS_NAMES[target.value],
                                "SDEdit"], scale)
        info.value = f"t<sub>0</sub> = {t0} of {sched.timesteps}: {k} DDIM steps up, {k} down"

    for control in (sprite, target, strength, guidance):
        control.observe(render, names="value")
    render()
    box = w.VBox([w.HBox([w.VBox([sprite, target]), w.VBox([strength, guidance])]), image, labels, info])
    box.add_class("course-edit-explorer")
    box.sprite, box.target, box.strength, box.guidance, box.image, box.info = (
        sprite, target, strength, guidance, image, info)
    box.render = render
    return box


def sketch_pad(model, sched, steps=25, n=4, scale=6, cell_px=22):
    """A 16x16 grid of buttons to paint on, a class, a strength and a button: the sketch is SDEdited into
    `n` sprites (from n draws of noise, seed 0). Starts from a rough potion.

    Returns a VBox with CSS class "course-sketch-pad"; ``.cells`` (the 256 buttons, row by row),
    ``.paint``, ``.target``, ``.strength``, ``.make``, ``.clear``, ``.image`` and ``.sketch`` (the colour
    names) give access to its parts."""
    import ipywidgets as w

    size = model.height
    sketch = starter_sketch(size)
    paint = w.ToggleButtons(options=list(PALETTE), value="red", description="paint",
                            style={"button_width": "72px"})
    cells = []
    for y in range(size):
        for x in range(size):
            cell = w.Button(layout=w.Layout(width=f"{cell_px}px", height=f"{cell_px}px", padding="0", margin="0",
                                            border="1px solid #d8d8d8"))
            cell.style.button_color = "#%02x%02x%02x" % PALETTE[sketch[y, x]]
            cell.position = (y, x)
            cells.append(cell)
    grid = w.GridBox(cells, layout=w.Layout(grid_template_columns=f"repeat({size}, {cell_px}px)", grid_gap="1px"))
    target = _class_menu(w, "class", CLASS_NAMES.index("food"))
    strength = w.FloatSlider(value=0.6, min=0.1, max=1.0, step=0.1, description="strength", continuous_update=False)
    make = w.Button(description="Make it a sprite", button_style="primary")
    clear = w.Button(description="Clear")
    image, labels = w.Image(format="png"), w.HTML()

    def colour(cell, name):
        sketch[cell.position] = name
        cell.style.button_color = "#%02x%02x%02x" % PALETTE[name]

    def render(*_):
        labels.value = WORKING
        x0 = sketch_image(sketch).expand(n, -1, -1, -1)
        context = torch.eye(len(CLASS_NAMES))[[target.value] * n]
        out = sdedit(model, sched, x0, strength.value, steps, context, guidance=2.0,
                     generator=torch.Generator().manual_seed(0)).images
        image.value = sprites_png(torch.cat([x0[:1], out]), nrow=n + 1, scale=scale)
        labels.value = _labels(["your sketch"] + [f"sprite {j + 1}" for j in range(n)], scale)

    for cell in cells:
        cell.on_click(lambda cell: colour(cell, paint.value))
    clear.on_click(lambda _: [colour(cell, "white") for cell in cells])
    make.on_click(render)
    for control in (target, strength):
        control.observe(render, names="value")
    render()
    box = w.VBox([paint, w.HBox([grid, w.VBox([target, strength, w.HBox([make, clear]), image, labels])])])
    box.add_class("course-sketch-pad")
    box.cells, box.paint, box.target, box.strength, box.make, box.clear, box.image, box.sketch = (
        cells, paint, target, strength, make, clear, image, sketch)
    box.render = render
    return box


def inpaint_explorer(model, sched, sprites, contexts, steps=25, n=4, scale=6):
    """Pick a sprite, which pixels to keep and the class of the rest: RePaint regenerates the rest n times
    (n draws of noise, seed 0), with ``resample`` rounds per step.

    Returns a VBox with CSS class "course-inpaint-explorer"; ``.sprite``, ``.keep``, ``.target``,
    ``.resample``, ``.image`` give access to its parts."""
    import ipywidgets as w

    sprite = w.IntSlider(value=0, min=0, max=len(sprites) - 1, description="sprite", continuous_update=False)
    keep = w.Dropdown(options=KEEP_MASKS, value="keep the background", description="mask")
    target = _class_menu(w, "fill with", int(contexts[0].argmax()))
    resample = w.IntSlider(value=2, min=1, max=5, description="resample", continuous_update=False)
    image, labels, info = w.Image(format="png"), w.HTML(), w.HTML()

    def render(*_):
        info.value = WORKING
        i = sprite.value
        x0 = sprites[i:i + 1].expand(n, -1, -1, -1)
        mask = keep_mask(keep.value, x0)
        context = torch.eye(len(CLASS_NAMES))[[target.value] * n]
        res = inpaint(model, sched, x0, mask, steps, context=context, guidance=2.0, resample=resample.value,
                      generator=torch.Generator().manual_seed(0))
        shown = torch.where(mask[:1, None], x0[:1], torch.full_like(x0[:1], -0.6))  # kept pixels on grey
        image.value = sprites_png(torch.cat([x0[:1], shown, res.images]), nrow=n + 2, scale=scale)
        labels.value = _labels(["original", "kept"] + [f"{CLASS_NAMES[target.value]} {j}" for j in range(n)], scale)
        info.value = f"{steps * resample.value} network calls ({steps} steps × resample {resample.value}): " \
                     f"{res.seconds:.1f} s"

    for control in (sprite, keep, target, resample):
        control.observe(render, names="value")
    render()
    box = w.VBox([w.HBox([w.VBox([sprite, keep]), w.VBox([target, resample])]), image, labels, info])
    box.add_class("course-inpaint-explorer")
    box.sprite, box.keep, box.target, box.resample, box.image, box.info = sprite, keep, target, resample, image, info
    box.render = render
    return box
