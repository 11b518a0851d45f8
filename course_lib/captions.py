"""Captions: the words for what the generator drew, and the context vector a caption becomes.

    caption of a sprite = its class word, its kind and its main colour, e.g. "non-hero mushroom red"
    encode_caption(text) = c / ‖c‖₂,   c = Σ_p w_p b_p / ‖b_p‖₂   (b_p: the bag of words of part p)

A bag of words over one fixed vocabulary: the network sees which words were typed, not their
order, and the division by the length makes a one-word caption and a three-word caption the same
size, as the one-hot class vectors of the course are. Parts separated by commas are captions mixed
with their weights ("red mushroom=1, blue ghost=0.7"); the weights are relative, since the result is
rescaled to length 1.
"""
import difflib

import numpy as np
import torch

from .data import SpriteDataset, to_model_space
from .sprites import CLASS_NAMES, COLOUR_NAMES, KIND_NAMES, generate_sprite_attributes

__all__ = ["VOCABULARY", "CAPTION_COLOURS", "HELD_OUT", "encode_caption", "caption_words", "caption_of",
           "caption_dataset", "word_class_matrix", "widen_context"]

CAPTION_COLOURS = tuple(c for c in COLOUR_NAMES if c != "black")  # black: under 1,000 of the 89,400 sprites
VOCABULARY = CLASS_NAMES + KIND_NAMES + CAPTION_COLOURS
HELD_OUT = (("blue", "mushroom"), ("green", "potion"), ("pink", "slime"), ("purple", "fireball"))
WORD_KEEP = 0.75  # each word of a training caption is kept with this probability
_LISTING = "`python -m course_lib vocabulary` lists them"


def _check_word(word, text):
    if word in VOCABULARY:
        return VOCABULARY.index(word)
    close = difflib.get_close_matches(word, VOCABULARY, n=3, cutoff=0.7)
    hint = f"did you mean {' or '.join(repr(w) for w in close)}? " if close else ""
    raise ValueError(f"{word!r} is not in the vocabulary (caption {text!r}); {hint}{_LISTING}")


def caption_words(text):
    """The parts of a caption as (words, weight) pairs: "red mushroom=1, ghost=0.7" ->
    [(["red", "mushroom"], 1.0), (["ghost"], 0.7)]. Words are lower-cased."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"a caption must be words from the vocabulary, e.g. 'red potion', got {text!r}; {_LISTING}")
    parts = []
    for part in text.lower().split(","):
        words, _, value = part.partition("=")
        words = words.split()
        if not words:
            raise ValueError(f"empty part in caption {text!r}; write words between the commas, "
                             "e.g. 'red mushroom=1, ghost=0.7'")
        try:
            weight = float(value) if value.strip() else 1.0
        except ValueError:
            raise ValueError(f"weight {value.strip()!r} in caption {text!r} is not a number") from None
        if not np.isfinite(weight) or weight < 0:
            raise ValueError(f"weights in a caption must be finite and >= 0, got {weight} in {text!r}")
        parts.append((words, weight))
    return parts


def encode_caption(text):
    """The context vector (len(VOCABULARY),) of a caption, of length 1: c = Σ_p w_p b_p/‖b_p‖, rescaled,
    where b_p is the bag of words of part p (comma-separated) and w_p its weight (default 1).

    "red potion" has 0.71 on red and on potion; "potion=1, ghost=0.5" has 0.89 and 0.45;
    "red mushroom, ghost" mixes the two captions equally. A word not in VOCABULARY is a ValueError
    that names the nearest words.
    """
    vector = torch.zeros(len(VOCABULARY))
    for words, weight in caption_words(text):
        bag = torch.zeros(len(VOCABULARY))
        for word in words:
            bag[_check_word(word, text)] += 1
        vector += weight * bag / bag.norm()
    norm = vector.norm()
    if norm == 0:
        raise ValueError(f"caption {text!r} has all weights 0; give at least one part a weight > 0")
    return vector / norm


def caption_of(attributes, i):
    """The full caption of sprite ``i`` of ``generate_sprite_attributes``: class, kind, colour words."""
    words = [CLASS_NAMES[attributes["class"][i]], attributes["kind"][i], attributes["colour"][i]]
    return " ".join(w for w in words if w in VOCABULARY)


def _word_presence(attributes):
    """(n, len(VOCABULARY)) 0/1: which vocabulary words describe each sprite."""
    n = len(attributes["class"])
    present = np.zeros((n, len(VOCABULARY)), np.float32)
    present[np.arange(n), attributes["class"]] = 1
    index = {w: VOCABULARY.index(w) for w in VOCABULARY}
    for key in ("kind", "colour"):
        col = np.array([index.get(w, -1) for w in attributes[key]])  # (n,), -1 where no vocabulary word
        present[np.nonzero(col >= 0)[0], col[col >= 0]] = 1
    return present


def is_held_out(attributes):
    """(n,) bool: sprites whose colour and kind form one of the HELD_OUT pairs."""
    return np.isin([f"{c} {k}" for c, k in zip(attributes["colour"], attributes["kind"])],
                   [f"{c} {k}" for c, k in HELD_OUT])


def caption_dataset(n=89_400, seed=0, word_keep=WORD_KEEP, held_out=True):
    """Generated sprites with caption vectors as labels: the training set of the caption model.

    Each sprite keeps each of its words with probability ``word_keep`` (drawn once, from ``seed``),
    so the network sees "mushroom", "red mushroom", "non-hero red" ...; a sprite left with no word
    gets the null context. With ``held_out``, sprites of the HELD_OUT colour-kind pairs are removed.
    """
    images, attributes = generate_sprite_attributes(n, seed=seed)
    present = _word_presence(attributes)
    keep = np.random.default_rng((seed, 101)).random(present.shape) < word_keep
    bags = present * keep
    norms = np.linalg.norm(bags, axis=1, keepdims=True)
    labels = np.divide(bags, norms, out=np.zeros_like(bags), where=norms > 0)
    rows = ~is_held_out(attributes) if held_out else np.ones(n, bool)
    return SpriteDataset(to_model_space(images[rows]), torch.from_numpy(labels[rows]), VOCABULARY)


def word_class_matrix(n=20_000, seed=0):
    """(5, len(VOCABULARY)): column w is the average one-hot class of the sprites described by word w."""
    _, attributes = generate_sprite_attributes(n, seed=seed)
    present = _word_presence(attributes)
    one_hot = np.eye(len(CLASS_NAMES), dtype=np.float32)[attributes["class"]]
    return torch.from_numpy(one_hot.T @ present / present.sum(0).clip(min=1))


def widen_context(one_hot_model, n_words=len(VOCABULARY), mapping=None):
    """A ContextUnet for captions that starts from a one-hot model: same weights everywhere, and the
    first layer of each context embedding W (E, 5) becomes W @ M (E, n_words), M = word_class_matrix(),
    so at the start a word acts as the classes it is drawn in."""
    from .model import ContextUnet
    mapping = word_class_matrix() if mapping is None else mapping
    model = ContextUnet(**{**one_hot_model.config, "n_cfeat": n_words})
    state = one_hot_model.state_dict()
    for name in ("contextembed1", "contextembed2"):
        key = f"{name}.model.0.weight"
        state[key] = state[key] @ mapping  # (E, 5) @ (5, n_words) -> (E, n_words)
    model.load_state_dict(state)
    return model.to(next(one_hot_model.parameters()).device)
