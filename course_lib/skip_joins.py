"""Skip connections that concatenate or add: the course says the U-Net's skips "concatenate (or add)"
the encoder's features into the decoder. The same U-Nets built both ways (``skip_join``), trained on the
same data from the same seeds, on both jobs of chapter 1: segmenting sprites and predicting noise.

Adding needs the two feature maps to have the same channels and leaves the decoder's first convolution
half as many inputs, so the additive U-Net is the smaller one; ``parameter_counts`` says by how much.
"""
import torch

from .backgrounds import make_composites
from .data import SpriteDataset, to_model_space
from .metrics import (context_accuracy, feature_stats, frechet_distance, load_classifier, reference_stats,
                      sample_in_batches)
from .model import SKIP_JOINS, count_parameters
from .schedule import NoiseSchedule
from .segmentation import TEST_SEED_OFFSET, SegmentationUnet, train_and_score
from .training import diffusion_loss, preset_config, preset_model, train

__all__ = ["parameter_counts", "segmentation_runs", "noise_runs", "held_out_loss", "spread"]


def noise_unet(n_feat, join):
    """The live preset's U-Net with skips joined by `join`, without the context's FiLM layers, as
    docs/results/skip_joins.md was measured (with context dropout 0.1)."""
    return preset_model("live", n_feat=n_feat, skip_join=join, context_film=False)


def parameter_counts(segmentation_feat=16, noise_feat=32):
    """{join: (segmentation U-Net's parameters, noise U-Net's)} at the widths the experiments use."""
    return {join: (count_parameters(SegmentationUnet(n_feat=segmentation_feat, skip_join=join)),
                   count_parameters(noise_unet(noise_feat, join)))
            for join in SKIP_JOINS}


def segmentation_runs(train_sizes=(8, 32, 128), seeds=(0, 1, 2), steps=200, n_feat=16, test_size=500):
    """One dict per (join, training-set size, seed): held-out IoU, the loss per step and the seconds.
    Every join sees the same composites, weights seed and batch order for a given seed."""
    rows = []
    for seed in seeds:
        train_images, train_masks, _ = make_composites(max(train_sizes), seed)
        test_images, test_masks, _ = make_composites(test_size, seed + TEST_SEED_OFFSET)
        test_x, test_masks = to_model_space(test_images), torch.from_numpy(test_masks)
        for n in train_sizes:
            x, y = to_model_space(train_images[:n]), torch.from_numpy(train_masks[:n])
            for join in SKIP_JOINS:
                _, score, fit = train_and_score(x, y, test_x, test_masks, n_feat=n_feat, steps=steps, seed=seed,
                                                skip_join=join)
                rows.append({"join": join, "train_size": n, "seed": seed, "losses": fit.losses, "iou": score,
                             "seconds": fit.seconds})
    return rows


def held_out_loss(model, sched, data, n=1000, seed=123):
    """The training loss on n fixed sprites at fixed t and noise (seeded): a like-for-like score of two
    networks that predict the same target."""
    generator = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(data), generator=generator)[:n]
    with torch.no_grad():
        return diffusion_loss(model.eval(), sched, data.images[pick], data.labels[pick], generator).item()


def noise_runs(seeds=(0, 1, 2), steps=500, n_feat=32, n_sprites=8000, n_eval=250, eval_steps=25):
    """One dict per (join, seed): the live recipe (notebook 02's) run for `steps` optimizer steps with each
    join. Scores: the held-out loss on sprites it did not train on, and FID and context accuracy of n_eval
    DDIM samples at guidance 2 against generated sprites."""
    sched = NoiseSchedule()
    held_out = SpriteDataset.generated(n=2000, seed=99)
    classifier = load_classifier()
    reference = reference_stats(classifier, n_eval)
    classes = torch.arange(n_eval) % 5
    rows = []
    for seed in seeds:
        data = SpriteDataset.generated(n=n_sprites, seed=seed)
        for join in SKIP_JOINS:
            torch.manual_seed(seed)
            model = noise_unet(n_feat, join)
            config = preset_config("live", max_steps=steps, seed=seed, context_dropout=0.1, progress=False)
            result = train(model, sched, data, config)
            images, _ = sample_in_batches(result.ema_model, sched, "ddim", torch.eye(5)[classes], 2.0, 0, batch=125,
                                          steps=eval_steps)
            rows.append({"join": join, "seed": seed, "losses": result.losses, "seconds": result.seconds,
                         "held_out_loss": held_out_loss(result.ema_model, sched, held_out),
                         "fid": frechet_distance(*feature_stats(classifier, images), *reference),
                         "accuracy": context_accuracy(classifier, images, classes)})
    return rows


def spread(rows, key, **where):
    """(mean, min, max) of `key` over the rows that match every field in `where`."""
    values = [row[key] for row in rows if all(row[k] == v for k, v in where.items())]
    if not values:
        raise ValueError(f"no rows match {where}")
    return sum(values) / len(values), min(values), max(values)
