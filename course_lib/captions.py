"""Captions: the words for what the generator drew, and the context vector a caption becomes.

    caption of a sprite = its class word, its kind and its main colour, e.g. "non-hero mushroom red"
    encode_caption(text) = c / ‖c‖₂,   c = Σ_p w_p b_p / ‖b_p‖₂   (b_p: the bag of words of part p)

A bag of words over one fixed vocabulary: the network sees which words were typed, not their
order, and the division by the length makes a one-word caption and a three-word caption the same
size, as the one-hot class vectors of the course are. Parts separated by commas are captions mixed
with their weights ("red mushroom=1, blue ghost=0.7"); the weights are relative, since the result is
rescaled to length 1.

    hybrid of A and B = A's top (or left) half beside B's bottom (or right) half, captioned "A, B"

    conditions of "A=w_A, B=w_B" at compose s: encode_caption of it, share 1 − s, and A and B alone,
    shares s w_A / (w_A + w_B) and s w_B / (w_A + w_B)   (samplers.guided_eps composes them)

Hybrids are what a two-part caption names: one sprite that is both things, the course's "pineapple
chair". The generator draws no such sprite, so caption_dataset can add some (``hybrids``).
"""
import difflib

import numpy as np
import torch

from .data import SpriteDataset, to_model_space
from .memory import GENERATED_SPRITE_BYTES, check_fits_in_memory
from .sprites import CLASS_NAMES, COLOUR_NAMES, KIND_NAMES, generate_sprite_attributes

__all__ = ["VOCABULARY", "CAPTION_COLOURS", "HELD_OUT", "MIX_GUIDANCE", "MIX_COMPOSE", "encode_caption",
           "caption_words", "check_compose", "is_mix", "caption_conditions", "stack_conditions", "caption_of",
           "hybrid_sprites", "join_halves", "caption_dataset", "check_repeat_words", "word_class_matrix",
           "widen_context"]

CAPTION_COLOURS = tuple(c for c in COLOUR_NAMES if c != "black")  # black: under 1,000 of the 89,400 sprites
VOCABULARY = CLASS_NAMES + KIND_NAMES + CAPTION_COLOURS
HELD_OUT = (("blue", "mushroom"), ("green", "potion"), ("pink", "slime"), ("purple", "fireball"))
WORD_KEEP = 0.75  # each word of a training caption is kept with this probability
MIX_GUIDANCE, MIX_COMPOSE = 3.0, 0.5  # the caption mixer's settings: both kinds found most often (README)
_LISTING = "`python -m course_lib vocabulary` lists them"


def _did_you_mean(word):
    """"did you mean 'staff'? " for a word close to vocabulary words, else ""."""
    close = difflib.get_close_matches(str(word), VOCABULARY, n=3, cutoff=0.7)
    return f"did you mean {' or '.join(repr(w) for w in close)}? " if close else ""


def _check_word(word, text):
    if word in VOCABULARY:
        return VOCABULARY.index(word)
    raise ValueError(f"{word!r} is not in the vocabulary (caption {text!r}); {_did_you_mean(word)}{_LISTING}")


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


def check_compose(compose):
    """A ValueError unless compose is a number in [0, 1]."""
    if isinstance(compose, bool) or not isinstance(compose, (int, float)) or not 0 <= compose <= 1:
        raise ValueError(f"compose must be a number in [0, 1] (0: mix the caption vectors, 1: each caption "
                         f"guides on its own), got {compose!r}")


def is_mix(text):
    """True for a caption of two or more parts of weight > 0, the captions that compose acts on."""
    return sum(weight > 0 for _, weight in caption_words(text)) > 1


def caption_conditions(text, compose=0.0):
    """What the samplers get for a caption: (context, context_shares).

    A caption of two or more parts with weights w_p, at ``compose`` s > 0, is C conditions (C, V): its
    mixed vector encode_caption(text) with share 1 − s, then each part alone with share s w_p / Σ_q w_q
    (parts of weight 0 and shares of 0 left out). s = 0 is the course's mix of vectors, s = 1 lets each
    caption guide on its own. Any other caption, or s = 0, is encode_caption(text) (V,) and shares None.
    """
    check_compose(compose)
    mixed = encode_caption(text)
    if compose == 0 or not is_mix(text):
        return mixed, None
    parts = [(" ".join(words), weight) for words, weight in caption_words(text) if weight > 0]
    total = sum(weight for _, weight in parts)
    conditions = [(mixed, 1 - compose)] + [(encode_caption(words), compose * weight / total)
                                           for words, weight in parts]
    conditions = [(vector, share) for vector, share in conditions if share > 0]
    return torch.stack([vector for vector, _ in conditions]), torch.tensor([share for _, share in conditions])


def stack_conditions(captions, compose=0.0):
    """caption_conditions of each caption, one row each: (contexts (n, V), None) when none is composed,
    else (contexts (n, C, V), shares (n, C)), C the most conditions of any caption; rows with fewer are
    padded with null contexts of share 0 (which the network still runs on: sample plain captions apart
    from composed ones where speed matters)."""
    conditions = [caption_conditions(text, compose) for text in captions]
    if all(shares is None for _, shares in conditions):
        return torch.stack([vector for vector, _ in conditions]), None
    conditions = [(vector[None], torch.ones(1)) if shares is None else (vector, shares)
                  for vector, shares in conditions]  # each (C_row, V) and (C_row,)
    width = max(len(shares) for _, shares in conditions)
    contexts = torch.zeros(len(captions), width, len(VOCABULARY))
    shares = torch.zeros(len(captions), width)
    for row, (vectors, row_shares) in enumerate(conditions):
        contexts[row, :len(vectors)], shares[row, :len(row_shares)] = vectors, row_shares
    return contexts, shares


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


def hybrid_sprites(n, seed=0):
    """n hybrids of two generated sprites of different kinds: the first one's top half over the second
    one's bottom half (even i) or its left half beside the second one's right half (odd i).

    Returns (images uint8 (n, 16, 16, 3), first, second): the attribute dicts of the two sources, as
    generate_sprite_attributes gives them. Sources of a HELD_OUT colour-kind pair are not used.
    """
    images, attributes = generate_sprite_attributes(3 * n, seed=seed)
    usable = np.flatnonzero((attributes["kind"] != "") & ~is_held_out(attributes))
    half = len(usable) // 2
    first, second = usable[:half], usable[half:2 * half]  # candidate pairs: (m,) and (m,) sprite indices
    pairs = np.flatnonzero(attributes["kind"][first] != attributes["kind"][second])
    if len(pairs) < n:
        raise RuntimeError(f"only {len(pairs)} hybrid pairs among {3 * n} sprites; draw more")
    first, second = first[pairs[:n]], second[pairs[:n]]
    sources = [{key: values[rows] for key, values in attributes.items()} for rows in (first, second)]
    return join_halves(images[first], images[second]), *sources


def join_halves(first, second):
    """Hybrids of two uint8 image stacks (n, H, W, 3): first's top half over second's bottom half at
    even i, first's left half beside second's right half at odd i."""
    half = first.shape[1] // 2
    hybrids = first.copy()
    hybrids[0::2, half:] = second[0::2, half:]  # even: bottom rows from the second sprite
    hybrids[1::2, :, half:] = second[1::2, :, half:]  # odd: right columns from the second sprite
    return hybrids


def _caption_vectors(attributes, keep):
    """(n, len(VOCABULARY)) bags of each sprite's words that `keep` (n, len(VOCABULARY)) keeps, of length
    1 (0 where no word is left)."""
    bags = _word_presence(attributes) * keep
    norms = np.linalg.norm(bags, axis=1, keepdims=True)
    return np.divide(bags, norms, out=np.zeros_like(bags), where=norms > 0)


def _hybrid_labels(first, second, rng, word_keep):
    """The caption vectors of hybrids: encode_caption of "A, B", A and B each source's words, each word
    kept with probability `word_keep` but the kind always kept (a hybrid is named by both its kinds)."""
    parts = []
    for attributes in (first, second):
        keep = rng.random((len(attributes["kind"]), len(VOCABULARY))) < word_keep
        keep[:, [VOCABULARY.index(k) for k in KIND_NAMES]] = True
        parts.append(_caption_vectors(attributes, keep))
    mixed = parts[0] + parts[1]
    return mixed / np.linalg.norm(mixed, axis=1, keepdims=True)


def check_repeat_words(repeat_words):
    """{word: copies} with every word in VOCABULARY and every count a whole number of at least 1."""
    if not isinstance(repeat_words, dict):
        raise ValueError(f"repeat_words is a dict of word: copies, e.g. {{'staff': 3}}, got {repeat_words!r}")
    for word, copies in repeat_words.items():
        if word not in VOCABULARY:
            raise ValueError(f"repeat_words names {word!r}, which is not in the vocabulary; "
                             f"{_did_you_mean(word)}{_LISTING}")
        if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
            raise ValueError(f"repeat_words[{word!r}] must be a whole number of copies, 1 or more (e.g. 2), "
                             f"got {copies!r}")
    return repeat_words


def _copies(attributes, repeat_words):
    """(n,) how many times each sprite goes into the data: the largest count of repeat_words among its words."""
    present = _word_presence(attributes)
    counts = np.ones(len(VOCABULARY), np.int64)
    for word, copies in repeat_words.items():
        counts[VOCABULARY.index(word)] = copies
    return (present * counts).max(1).astype(np.int64)  # every sprite has its class word, so max >= 1


def caption_dataset(n=89_400, seed=0, word_keep=WORD_KEEP, held_out=True, hybrids=0.0, repeat_words=None):
    """Generated sprites with caption vectors as labels: the training set of the caption model.

    Each sprite keeps each of its words with probability ``word_keep`` (drawn once, from ``seed``),
    so the network sees "mushroom", "red mushroom", "non-hero red" ...; a sprite left with no word
    gets the null context. With ``held_out``, sprites of the HELD_OUT colour-kind pairs are removed.
    ``hybrids`` adds round(hybrids * n) hybrid_sprites (of seed + 1), labelled as the two-part caption
    "A, B" of their sources' words. ``repeat_words``, e.g. {"staff": 3}, puts every sprite described by
    such a word in that many times (hybrids once), each copy with its own draw of kept words: more training
    on words the model draws less well.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive number of sprites (the course has 89400), got {n!r}")
    if not 0 <= hybrids <= 1:
        raise ValueError(f"hybrids is a share of n between 0 and 1 (e.g. 0.2), got {hybrids!r}")
    images, attributes = generate_sprite_attributes(n, seed=seed)
    if repeat_words:
        copies = _copies(attributes, check_repeat_words(repeat_words))  # (n,)
        total = int(copies.sum())
        check_fits_in_memory(total * GENERATED_SPRITE_BYTES, f"{total:,} sprites with their repeated copies",
                             "repeat fewer words, or each fewer times")
        rows = np.repeat(np.arange(n), copies)  # (n + extra copies,)
        images, attributes = images[rows], {key: values[rows] for key, values in attributes.items()}
    keep = np.random.default_rng((seed, 101)).random((len(images), len(VOCABULARY))) < word_keep
    labels = _caption_vectors(attributes, keep)
    rows = ~is_held_out(attributes) if held_out else np.ones(len(images), bool)
    images, labels = images[rows], labels[rows]
    n_hybrids = round(hybrids * n)
    if n_hybrids:
        mixed, first, second = hybrid_sprites(n_hybrids, seed=seed + 1)
        images = np.concatenate([images, mixed])
        labels = np.concatenate([labels, _hybrid_labels(first, second, np.random.default_rng((seed, 102)), word_keep)])
    return SpriteDataset(to_model_space(images), torch.from_numpy(labels), VOCABULARY)


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
