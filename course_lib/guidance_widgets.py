"""Chapter 3's guidance by a loss in the notebook: an ipywidgets view over ``loss_guidance`` (pick a colour
and a strength; the same noises sampled without and with the pull toward it). Nothing in the library
imports this module."""
import torch
from matplotlib.colors import to_hex

from .data import CLASS_NAMES
from .loss_guidance import colour_distance, steered_rows
from .widgets import WORKING, sprites_png


def colour_guidance_explorer(model, sched, colour="#2060e0", strength=100, n=8, steps=25, scale=5):
    """A colour picker, a strength and a class ("every class" cycles the five); shows n sprites from the
    same noises without steering (top row) and steered toward the colour (bottom row), with how far each
    row's figures are from the colour.

    Returns a VBox with CSS class "course-colour-guidance"; ``.colour``, ``.strength``, ``.sprite_class``,
    ``.seed``, ``.image`` and ``.info`` give access to its parts."""
    import ipywidgets as w

    picker = w.ColorPicker(value=colour, description="colour", concise=False)
    strength_slider = w.IntSlider(value=strength, min=0, max=300, step=10, description="strength",
                                  continuous_update=False)
    sprite_class = w.Dropdown(options=[("every class", -1)] + [(name, i) for i, name in enumerate(CLASS_NAMES)],
                              value=-1, description="class")
    seed_box = w.BoundedIntText(value=0, min=0, max=2**31 - 1, description="seed")
    image, info = w.Image(format="png"), w.HTML()

    def render(*_):
        colour = to_hex(picker.value)  # the picker also takes typed CSS names, e.g. "teal"
        info.value = WORKING
        classes = torch.arange(n) % len(CLASS_NAMES) if sprite_class.value < 0 else torch.full((n,), sprite_class.value)
        images, seconds = steered_rows(model, sched, colour, (0, strength_slider.value), torch.eye(5)[classes],
                                       n=n, steps=steps, seed=seed_box.value)
        before, after = colour_distance(images, colour).view(2, n).mean(1).tolist()
        image.value = sprites_png(images, nrow=n, scale=scale)
        info.value = (f"top: no steering, figures {before:.2f} from the colour &middot; bottom: strength "
                      f"{strength_slider.value}, {after:.2f} from it &middot; DDIM {steps} steps in {seconds[0]:.1f} s "
                      f"and {seconds[1]:.1f} s")

    for control in (picker, strength_slider, sprite_class, seed_box):
        control.observe(render, names="value")
    render()
    box = w.VBox([w.HBox([w.VBox([picker, strength_slider]), w.VBox([sprite_class, seed_box])]), image, info])
    box.add_class("course-colour-guidance")
    box.colour, box.strength, box.sprite_class, box.seed, box.image, box.info = (
        picker, strength_slider, sprite_class, seed_box, image, info)
    box.render = render
    return box
