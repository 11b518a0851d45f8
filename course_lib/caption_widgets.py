"""Captions in the notebook: pictures and ipywidgets views over ``captions.encode_caption`` and the
samplers (a caption's vector as bars, sprites from typed words, two captions mixed by a slider).

Like ``widgets``, each view calls a pure function the tests call directly; nothing in the library
imports this module.
"""
import matplotlib.pyplot as plt
import torch

from .captions import (CAPTION_COLOURS, MIX_COMPOSE, MIX_GUIDANCE, VOCABULARY, caption_conditions, encode_caption,
                       stack_conditions)
from .sprites import CLASS_NAMES, KIND_NAMES
from .widgets import WORKING, context_rows, sample_grid, sprites_png

_GROUPS = (("class", CLASS_NAMES, "tab:blue"), ("kind", KIND_NAMES, "tab:orange"),
           ("colour", CAPTION_COLOURS, "tab:green"))


def mix_caption(first, second, weight):
    """The caption "first=1−w, second=w" for a weight w in [0, 1] on the second caption."""
    if not 0 <= weight <= 1:
        raise ValueError(f"the mixing weight must be in [0, 1] (0: only {first!r}, 1: only {second!r}), got {weight}")
    return f"{first}={1 - weight:g}, {second}={weight:g}"


def plot_caption_vector(caption, ax=None):
    """A bar per vocabulary word: the context vector the network gets for ``caption``."""
    vector = encode_caption(caption).numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 2.8))
    start = 0
    for label, words, colour in _GROUPS:
        ax.bar(range(start, start + len(words)), vector[start:start + len(words)], color=colour, label=label)
        start += len(words)
    ax.set_xticks(range(len(VOCABULARY)), VOCABULARY, rotation=90, fontsize=8)
    ax.set_xlim(-0.7, len(VOCABULARY) - 0.3)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("weight")
    ax.set_title(f"encode_caption({caption!r}): {len(VOCABULARY)} numbers, length 1")
    ax.legend(loc="upper right", ncols=3, fontsize=8)
    return ax.figure


def caption_rows(model, sched, captions, per_row=8, steps=10, seed=0, guidance=2.0, compose=0.0):
    """One row of per_row sprites per caption, every row from the same per_row noises x_T; mixes are
    composed as captions.caption_conditions does at ``compose``."""
    contexts, shares = stack_conditions(captions, compose)  # (rows, V), or (rows, C, V) and (rows, C)
    return context_rows(model, sched, contexts, per_row=per_row, steps=steps, seed=seed, guidance=guidance,
                        context_shares=shares)


def _view(model, sched, controls, caption_of, n, steps, guidance, compose, eta, seed, scale, css_class):
    """A box of caption controls, guidance, compose, η and seed over n sprites made by DDIM from the same noise."""
    import ipywidgets as w

    guidance_slider = w.FloatSlider(value=guidance, min=0.0, max=4.0, step=0.5, description="guidance",
                                    continuous_update=False)
    compose_slider = w.FloatSlider(value=compose, min=0.0, max=1.0, step=0.25, description="compose",
                                   continuous_update=False)
    eta_slider = w.FloatSlider(value=eta, min=0.0, max=1.0, step=0.25, description="η (noise)",
                               continuous_update=False)
    seed_box = w.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="seed")
    image = w.Image(format="png")
    info = w.HTML()

    def render(*_):
        info.value = WORKING
        try:
            caption = caption_of()
            context, shares = caption_conditions(caption, compose_slider.value)
        except ValueError as err:  # a typo: say what is wrong, keep the last sprites
            info.value = f"<b>{err}</b>"
            return
        res = sample_grid(model, sched, context, steps=steps, seed=seed_box.value, guidance=guidance_slider.value,
                          n=n, eta=eta_slider.value, context_shares=shares)
        image.value = sprites_png(res.images, nrow=n, scale=scale)
        mixed = encode_caption(caption)
        words = ", ".join(f"{VOCABULARY[i]} {mixed[i]:.2f}" for i in torch.nonzero(mixed).flatten())
        composed = "" if shares is None else f" &middot; {len(shares)} conditions composed"
        info.value = (f"<code>{caption}</code> &rarr; <code>{words}</code> &middot; guidance "
                      f"{guidance_slider.value:g}{composed} &middot; DDIM {steps} steps, η {eta_slider.value:g}, "
                      f"in {res.seconds:.2f} s")

    for control in (*controls, guidance_slider, compose_slider, eta_slider, seed_box):
        control.observe(render, names="value")
    render()
    box = w.VBox([w.HBox([w.VBox(list(controls)), w.VBox([guidance_slider, compose_slider, eta_slider, seed_box])]),
                  image, info])
    box.add_class(css_class)
    box.guidance, box.compose, box.eta, box.seed = guidance_slider, compose_slider, eta_slider, seed_box
    box.image, box.info = image, info
    box.render = render
    return box


def caption_box(model, sched, caption="red potion", n=8, steps=10, seed=0, guidance=2.0, compose=MIX_COMPOSE,
                scale=4, eta=0.0):
    """Type a caption (Enter to sample): n sprites from the same noise, so only the words change them.
    ``compose`` acts on typed mixes ("mushroom, ghost"), as in caption_mixer; ``eta`` is DDIM's η (at η = 1
    and 25 steps the model's weakest words, staff, spear and red, are drawn right more often: docs/captions.md).

    Returns a VBox with CSS class "course-caption-box"; ``.text``, ``.guidance``, ``.compose``, ``.eta``,
    ``.seed``, ``.image`` and ``.info`` give access to its parts.
    """
    import ipywidgets as w

    text = w.Text(value=caption, description="caption", continuous_update=False,
                  placeholder="e.g. red potion, or mushroom=1, ghost=0.5")
    box = _view(model, sched, [text], lambda: text.value, n, steps, guidance, compose, eta, seed, scale,
                "course-caption-box")
    box.text = text
    return box


def caption_mixer(model, sched, first="mushroom", second="ghost", weight=0.5, n=8, steps=10, seed=0,
                  guidance=MIX_GUIDANCE, compose=MIX_COMPOSE, scale=4, eta=0.0):
    """Two captions and a weight slider: the caption is ``mix_caption(first, second, weight)``, its
    conditions captions.caption_conditions(caption, compose).

    Returns a VBox with CSS class "course-caption-mixer"; ``.first``, ``.second``, ``.weight``,
    ``.guidance``, ``.compose``, ``.eta``, ``.seed``, ``.image`` and ``.info`` give access to its parts.
    """
    import ipywidgets as w

    first_text = w.Text(value=first, description="caption 1", continuous_update=False)
    second_text = w.Text(value=second, description="caption 2", continuous_update=False)
    weight_slider = w.FloatSlider(value=weight, min=0.0, max=1.0, step=0.1, description="weight of 2",
                                  continuous_update=False)
    controls = [first_text, second_text, weight_slider]
    box = _view(model, sched, controls, lambda: mix_caption(first_text.value, second_text.value, weight_slider.value),
                n, steps, guidance, compose, eta, seed, scale, "course-caption-mixer")
    box.first, box.second, box.weight = first_text, second_text, weight_slider
    return box
