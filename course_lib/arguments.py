"""Argparse types shared by the subcommands: each turns bad text into a usage error that names the option."""
import argparse

MAX_SEED = 2**63 - 1  # torch.manual_seed and numpy take seeds from 0 up to here


def list_of(kind):
    """An argparse type: "10,25,50" -> [10, 25, 50]."""
    def parse(text):
        try:
            return [kind(part) for part in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__} values, got {text!r}")
    return parse


def word_counts(text):
    """An argparse type: "staff=3,bow=2" -> {"staff": 3, "bow": 2}."""
    counts = {}
    for part in text.split(","):
        word, _, count = part.partition("=")
        try:
            counts[word.strip().lower()] = int(count)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated WORD=COUNT pairs (e.g. staff=3,bow=2), "
                                             f"got {text!r}") from None
    return counts


def seed_value(text):
    """An argparse type: a whole number from 0 to MAX_SEED."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed is a whole number from 0 to 2**63 - 1, got {text!r}")
    return value
