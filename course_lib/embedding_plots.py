"""Chapter 3's embedding space drawn: the one-hot classes, their mixes and paths, and the caption words, as
points in the 2-D principal-component plane of `embedding_space`, with a box that places a typed caption.

Like ``widgets``, a view over pure functions; nothing in the library imports this module.
"""
import matplotlib.pyplot as plt
import torch

from .captions import CAPTION_COLOURS, VOCABULARY, encode_caption
from .data import CLASS_NAMES
from .embedding_space import context_embedding, fit_pca
from .sprites import KIND_NAMES
from .viz import figure_png

WORD_GROUPS = (("class", CLASS_NAMES, "tab:blue"), ("kind", KIND_NAMES, "tab:orange"),
               ("colour", CAPTION_COLOURS, "tab:green"))


def _axis_labels(ax, projection):
    ax.set_xlabel(f"principal axis 1 ({float(projection.explained[0]):.0%} of the variance)")
    ax.set_ylabel(f"principal axis 2 ({float(projection.explained[1]):.0%})")
    ax.grid(alpha=0.3)


def class_paths(first, second, points=11, n_classes=len(CLASS_NAMES)):
    """One-hot contexts (points, n_classes) from class `first` to class `second`, in equal steps."""
    a, b = torch.eye(n_classes)[[CLASS_NAMES.index(first), CLASS_NAMES.index(second)]]
    w = torch.linspace(0, 1, points)[:, None]  # (points, 1)
    return (1 - w) * a + w * b


def plot_class_space(model, paths=(("hero", "food"), ("non-hero", "spell")), ax=None):
    """The five one-hot contexts, the null context and the straight paths between pairs of classes, as
    the decoder receives them, projected on the principal plane of all these points. Returns the figure."""
    n = model.n_cfeat
    classes = torch.eye(n)
    path_contexts = [class_paths(a, b, n_classes=n) for a, b in paths]
    everything = torch.cat([classes, torch.zeros(1, n)] + path_contexts)
    projection = fit_pca(context_embedding(model, everything))
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 5))
    for (a, b), contexts in zip(paths, path_contexts):
        xy = projection(context_embedding(model, contexts))
        ax.plot(xy[:, 0], xy[:, 1], ".-", color="grey", lw=1, label=f"{a} → {b}, weights in steps of 0.1")
    xy = projection(context_embedding(model, classes))
    ax.scatter(xy[:, 0], xy[:, 1], s=80, color="tab:blue", zorder=3)
    for name, (x, y) in zip(CLASS_NAMES, xy.tolist()):
        ax.annotate(name, (x, y), xytext=(5, 5), textcoords="offset points", fontsize=11)
    x, y = projection(context_embedding(model, torch.zeros(1, n)))[0].tolist()
    ax.scatter([x], [y], s=80, marker="x", color="black", zorder=3)
    ax.annotate("null context (guidance's ∅)", (x, y), xytext=(5, -12), textcoords="offset points", fontsize=10)
    _axis_labels(ax, projection)
    ax.legend(loc="best", fontsize=8, frameon=False)
    ax.set_title("what the decoder receives from each context")
    return ax.figure


def word_projection(model):
    """Every vocabulary word alone as a caption, its embedding (len(VOCABULARY), D), and their principal plane."""
    embeddings = context_embedding(model, torch.stack([encode_caption(word) for word in VOCABULARY]))
    return embeddings, fit_pca(embeddings)


def plot_word_space(model, captions=(), projection=None, embeddings=None, ax=None):
    """The caption model's words, each alone, coloured by kind of word, and `captions` as stars, on the
    words' principal plane. Returns the figure."""
    if projection is None:
        embeddings, projection = word_projection(model)
    xy = projection(embeddings)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 6.5))
    for label, words, colour in WORD_GROUPS:
        idx = [VOCABULARY.index(w) for w in words]
        ax.scatter(xy[idx, 0], xy[idx, 1], s=25, color=colour, label=f"{label} words")
        for i in idx:
            ax.annotate(VOCABULARY[i], xy[i].tolist(), xytext=(3, 3), textcoords="offset points", fontsize=8,
                        color=colour)
    for caption in captions:
        x, y = projection(context_embedding(model, encode_caption(caption)[None]))[0].tolist()
        ax.scatter([x], [y], s=160, marker="*", color="black", zorder=3)
        ax.annotate(caption, (x, y), xytext=(6, -12), textcoords="offset points", fontsize=11, weight="bold")
    _axis_labels(ax, projection)
    ax.legend(loc="best", fontsize=9)
    ax.set_title("the caption model's words, each alone as a caption")
    return ax.figure


def word_space_widget(model, caption="blue potion"):
    """Type a caption (Enter): it appears as a star among the words. Returns a VBox with CSS class
    "course-word-space"; ``.text``, ``.image`` and ``.info`` give access to its parts."""
    import ipywidgets as w

    embeddings, projection = word_projection(model)
    text = w.Text(value=caption, description="caption", continuous_update=False)
    image, info = w.Image(format="png"), w.HTML()

    def render(*_):
        try:
            encode_caption(text.value)
        except ValueError as err:  # a word outside the vocabulary: say so, keep the last picture
            info.value = f"<b>{err}</b>"
            return
        info.value = ""
        image.value = figure_png(plot_word_space(model, [text.value], projection, embeddings))

    text.observe(render, names="value")
    render()
    box = w.VBox([text, image, info])
    box.add_class("course-word-space")
    box.text, box.image, box.info, box.render = text, image, info, render
    return box
