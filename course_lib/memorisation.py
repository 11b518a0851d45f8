"""Why diffusion models need many examples: the same network and budget trained on 16 to 8,000 sprites,
its samples set beside their nearest training sprites.

A sample counts as a **copy** when it lies closer to its nearest training sprite than the two closest
distinct training sprites lie to each other (pixel L2 in [-1, 1] units): nothing the data itself
holds is that alike, so the network reproduced a training sprite rather than drew a new one. The same
neighbours are also found in the sprite classifier's feature space (the space of the sprite FID), where
"alike" means "the same kind of sprite" rather than "the same pixels".
"""
import torch

from .data import SpriteDataset
from .metrics import feature_stats, frechet_distance, load_classifier, reference_stats, sample_in_batches
from .schedule import NoiseSchedule
from .training import preset_config, preset_model, train

__all__ = ["pixel_distances", "nearest_training", "closest_pair", "copy_share", "train_on_subset",
           "memorisation_row", "DATA_SIZES"]

DATA_SIZES = (16, 128, 1024, 8000)
NEW_SPRITES_SEED = 777  # sprites no run trains on (the training sprites are the generator's seed 0)


def pixel_distances(a, b):
    """L2 distances (n, m) between a (n, ...) and b (m, ...), over all their values (pixels or features)."""
    return torch.cdist(a.flatten(1).double(), b.flatten(1).double())  # (n, m)


def nearest_training(samples, training, classifier=None):
    """For each sample, the index (n,) of its nearest training sprite and the distance (n,): by pixels,
    or in `classifier`'s feature space when one is given."""
    if classifier is not None:
        with torch.no_grad():
            samples, training = classifier.features(samples), classifier.features(training)  # (n, D), (m, D)
    nearest = pixel_distances(samples, training).min(1)  # over (n, m) distances
    return nearest.indices, nearest.values


def closest_pair(training):
    """The pixel distance between the two closest distinct sprites of `training` (m, C, H, W), m >= 2."""
    distances = pixel_distances(training, training)  # (m, m)
    distances.fill_diagonal_(float("inf"))  # a sprite and itself
    distances[distances < 1e-3] = float("inf")  # exact duplicates (one level of one pixel is 2/255 = 0.008 apart)
    return distances.min().item()


def copy_share(samples, training):
    """The share of samples closer to a training sprite than the closest distinct training pair."""
    _, distance = nearest_training(samples, training)
    return _share_below(distance, closest_pair(training))


def _share_below(distance, threshold):
    """The share of nearest-training distances (n,) under the copy threshold."""
    return (distance < threshold).double().mean().item()


def train_on_subset(n_sprites, steps=1250, seed=0):
    """The live recipe (notebook 02's) run for `steps` steps on the first n_sprites sprites of the generator's
    seed `seed` (batches of 64, or of n_sprites when fewer), as docs/results/memorisation.md was measured:
    without the context's FiLM layers, context dropout 0.1. Returns (EMA model, the training sprites (n, 3, 16, 16))."""
    data = SpriteDataset.generated(n=n_sprites, seed=seed)
    torch.manual_seed(seed)
    model = preset_model("live", context_film=False)
    config = preset_config("live", max_steps=steps, seed=seed, context_dropout=0.1, progress=False)
    result = train(model, NoiseSchedule(), data, config)
    return result.ema_model, data.images


def memorisation_row(model, training, n=250, steps=50, guidance=2.0, seed=0):
    """Samples of `model` (n, n/5 per class, DDIM) scored against its training sprites: the share of
    copies and the mean distance to the nearest training sprite (each beside the same for n sprites of
    the generator that no run saw: what a new sprite scores), and FID against generated sprites.
    Returns (row dict, samples (n, 3, 16, 16))."""
    classifier = load_classifier()
    classes = torch.arange(n) % 5
    samples, _ = sample_in_batches(model, NoiseSchedule(), "ddim", torch.eye(5)[classes], guidance, seed, batch=125,
                                   steps=steps)
    _, distance = nearest_training(samples, training)
    _, new_distance = nearest_training(SpriteDataset.generated(n=n, seed=NEW_SPRITES_SEED).images, training)
    pair = closest_pair(training)  # the copy threshold, once, for the distances already found
    row = {"n_sprites": len(training), "copies": _share_below(distance, pair),
           "new_sprites_copies": _share_below(new_distance, pair),
           "nearest_pixel_distance": distance.mean().item(), "new_sprites_nearest": new_distance.mean().item(),
           "closest_training_pair": pair,
           "fid": frechet_distance(*feature_stats(classifier, samples), *reference_stats(classifier, n))}
    return row, samples
