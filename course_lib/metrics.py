"""Judging samples: a sprite classifier, the Fréchet distance of its features (a sprite FID), and
how often a sample shows the class its context asked for.

    features φ(x) ∈ R^128: the classifier's penultimate layer (global average of the last conv block)
    FID = ‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^{1/2})     (Heusel et al. 2017, eq. 6)
    context accuracy = share of samples made with context e_k that the classifier calls class k

The classifier is trained on clean generated sprites (``generate_sprites``), so both numbers say how
close samples come to that data. They are only comparable at the same n: FID is biased upwards at
small n; ``data_fid_floor`` gives the value for two independent sets of real sprites.
"""
import argparse
import itertools
import json
import math
import time
import weakref
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .arguments import list_of, seed_value
from .checkpoint import load_checked, save_atomic, sha256_of
from .data import to_model_space
from .memory import GENERATED_SPRITE_BYTES, check_fits_in_memory
from .precision import add_hardware_arguments, eval_mode, pick_device, resolve_precision
from .pretrained import WEIGHTS_DIR, expected_sha256, load_pretrained, load_weights, record_in_manifest
from .samplers import SAMPLER_LABELS, SAMPLERS, sampler_options
from .sprites import CLASS_NAMES, generate_sprites

__all__ = ["SpriteClassifier", "fit_classifier", "sample_in_batches", "train_classifier", "save_classifier",
           "load_classifier", "ship_classifier", "frechet_distance", "feature_stats", "sprite_fid", "context_accuracy", "evaluate", "reference_stats",
           "data_fid_floor", "load_quality", "quality_table", "add_evaluate_arguments", "run_evaluate"]

CLASSIFIER_FORMAT = "course_lib.classifier/1"
CLASSIFIER_FILE = "sprite_classifier.pt"
CLASSIFIER_SEED, HELDOUT_SEED = 1, 2  # sprites the classifier trains / is tested on
REFERENCE_SEED = 12345  # reference sprites for FID: neither the diffusion model's (seed 0) nor the classifier's
DEFAULT_STEPS = {"ddpm": 500, "ddim": 25, "dpm": 20}  # as `python -m course_lib sample`
QUALITY_FILE = Path(__file__).resolve().parent.parent / "docs" / "results" / "quality.jsonl"


# ---------------------------------------------------------------- the classifier

def _conv_block(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class SpriteClassifier(nn.Module):
    """(B, 3, 16, 16) sprites in [-1, 1] -> class logits (B, n_classes), through 3 conv blocks.

        x -> conv 32 (16x16) -> pool -> conv 64 (8x8) -> pool -> conv 128 (4x4) -> mean -> (B, 128) -> linear
    """

    def __init__(self, widths=(32, 64, 128), n_classes=len(CLASS_NAMES)):
        super().__init__()
        self.config = dict(widths=tuple(widths), n_classes=n_classes)
        w1, w2, w3 = widths
        self.body = nn.Sequential(_conv_block(3, w1), nn.MaxPool2d(2), _conv_block(w1, w2), nn.MaxPool2d(2),
                                  _conv_block(w2, w3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(w3, n_classes)

    def features(self, x):
        """The penultimate layer (B, D): the feature space of the sprite FID."""
        _check_images(x)
        return self.body(x)

    def forward(self, x):
        return self.head(self.features(x))


def _check_images(x):
    if not torch.is_tensor(x) or not x.dtype.is_floating_point:
        raise TypeError(f"images must be a float tensor (N, 3, H, W) in [-1, 1], got {type(x).__name__} "
                        f"{getattr(x, 'dtype', '')}; for uint8 (N, 16, 16, 3) sprites use "
                        "course_lib.data.to_model_space first")
    if x.dim() != 4 or x.shape[1] != 3 or len(x) == 0:
        raise ValueError(f"images must have shape (N, 3, H, W) with N >= 1, got {tuple(x.shape)}")


def _device_of(module):
    return next(module.parameters()).device


def _random_shift(x, generator, max_shift):
    """Each image moved by up to max_shift pixels in x and y; uncovered pixels are background (white)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, value=1.0)  # (N, 3, H + 2s, W + 2s)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None].expand(n, 3, h, w + 2 * max_shift)
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :].expand(n, 3, h, w)
    return padded.gather(2, rows).gather(3, cols)  # (N, 3, H, W)


@torch.no_grad()
def _predict(classifier, images, batch=1000):
    """Class indices (N,) the classifier assigns."""
    device = _device_of(classifier)
    with eval_mode(classifier):
        return torch.cat([classifier(chunk.to(device)).argmax(1).cpu() for chunk in images.split(batch)])


def fit_classifier(model, images, loss_of, generator, epochs, batch_size, lr, max_shift):
    """Train a classifier in place on images (N, 3, H, W): AdamW, one-cycle learning rate, each batch
    moved by up to ``max_shift`` pixels. ``loss_of(logits, idx)`` scores the logits of the sprites at
    ``idx``. Returns the last batch's loss; the model is left in eval mode."""
    n = len(images)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * (n // batch_size))
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for idx in order[:n // batch_size * batch_size].view(-1, batch_size):  # (steps per epoch, batch)
            x = images[idx]
            if max_shift:
                x = _random_shift(x, generator, max_shift)
            loss = loss_of(model(x), idx)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    return loss


def train_classifier(n=20_000, seed=CLASSIFIER_SEED, epochs=4, batch_size=128, lr=3e-3, max_shift=1,
                     heldout_n=5000, heldout_seed=HELDOUT_SEED):
    """Train a SpriteClassifier on n generated sprites (cross-entropy, AdamW, one-cycle learning rate).

    Returns (classifier in eval mode, info) with info["heldout_accuracy"] measured on heldout_n sprites of
    heldout_seed. Training sprites are moved by up to ``max_shift`` pixels: without that, sprites shifted
    by one pixel drop to ~81% accuracy. No noise or blur augmentation: it should judge clean sprites.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("heldout_n", heldout_n)):
        _check_positive_int(name, value, "")
    if isinstance(n, bool) or not isinstance(n, int) or n < batch_size:
        raise ValueError(f"n must be an integer >= batch_size ({batch_size}), got {n!r}; e.g. n=20_000")
    if seed == heldout_seed:
        raise ValueError(f"seed and heldout_seed are both {seed}: held-out sprites must come from another seed")
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the initial weights, without touching the caller's global RNG
        model = SpriteClassifier()
    sprites, labels = generate_sprites(n, seed=seed)
    images, targets = to_model_space(sprites), torch.from_numpy(labels).argmax(1)
    loss = fit_classifier(model, images, lambda logits, idx: F.cross_entropy(logits, targets[idx]), generator,
                          epochs, batch_size, lr, max_shift)
    heldout, heldout_labels = generate_sprites(heldout_n, seed=heldout_seed)
    accuracy = context_accuracy(model, to_model_space(heldout), torch.from_numpy(heldout_labels).argmax(1))
    info = {"heldout_accuracy": accuracy, "heldout_n": heldout_n, "heldout_seed": heldout_seed, "train_n": n,
            "seed": seed, "epochs": epochs, "max_shift": max_shift, "final_loss": round(loss.item(), 5),
            "train_seconds": round(time.perf_counter() - started, 1), "torch": str(torch.__version__)}
    return model, info


def save_classifier(model, path, meta=None):
    """Write the classifier's config and weights atomically; return the file's sha256."""
    save_atomic({"format": CLASSIFIER_FORMAT, "config": dict(model.config),
                 "state_dict": {k: v.contiguous() for k, v in model.state_dict().items()},
                 "meta": dict(meta or {})}, path)
    return sha256_of(path)


def load_classifier(path=None, sha256=None, device="cpu"):
    """A saved SpriteClassifier in eval mode; default: the shipped one, data/weights/sprite_classifier.pt.

    The file's sha256 is checked against ``sha256`` or else what manifest.json beside it records.
    """
    path = WEIGHTS_DIR / CLASSIFIER_FILE if path is None else Path(path)
    sha256 = sha256 or expected_sha256(path)
    if sha256 is None and path == WEIGHTS_DIR / CLASSIFIER_FILE:
        raise FileNotFoundError(f"{WEIGHTS_DIR / 'manifest.json'} records no sha256 for {CLASSIFIER_FILE}: "
                                "restore data/weights from git or run `python -m course_lib.metrics`")
    state = load_checked(path, sha256=sha256)
    if not isinstance(state, dict) or state.get("format") != CLASSIFIER_FORMAT:
        raise ValueError(f"{path} is not a sprite classifier file (format {CLASSIFIER_FORMAT}); "
                         "diffusion weights load with course_lib.pretrained.load_weights")
    model = SpriteClassifier(**state["config"])
    model.load_state_dict(state["state_dict"])
    return model.to(device).eval()


def ship_classifier(path=WEIGHTS_DIR / CLASSIFIER_FILE, **train_kwargs):
    """Train the classifier, write it to `path` and record its sha256 and metadata in the manifest."""
    model, info = train_classifier(**train_kwargs)
    meta = {"command": "python -m course_lib.metrics", **info}
    record_in_manifest(path, save_classifier(model, path, meta), meta)
    return meta


# ---------------------------------------------------------------- FID

def _sqrt_psd(m):
    """Square root of a symmetric positive semi-definite matrix; tiny negative eigenvalues count as 0."""
    values, vectors = torch.linalg.eigh(m)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T  # V diag(sqrt λ) Vᵀ


def frechet_distance(mu1, cov1, mu2, cov2):
    """‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^{1/2}), in float64.

    Tr((Σ1 Σ2)^{1/2}) is computed as Tr((Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2}): the same eigenvalues, but of a
    symmetric matrix, so eigh applies (no scipy, no complex parts).
    """
    mu1, mu2 = (torch.as_tensor(m, dtype=torch.float64).cpu() for m in (mu1, mu2))
    cov1, cov2 = (torch.as_tensor(c, dtype=torch.float64).cpu() for c in (cov1, cov2))
    d = mu1.shape[0] if mu1.dim() == 1 else None
    if d is None or mu2.shape != (d,) or cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError(f"expected means (D,) and covariances (D, D) of one size D, got {tuple(mu1.shape)}, "
                         f"{tuple(cov1.shape)}, {tuple(mu2.shape)}, {tuple(cov2.shape)}")
    root1 = _sqrt_psd(cov1)
    middle = root1 @ cov2 @ root1
    middle = (middle + middle.T) / 2  # symmetric up to rounding; make it exactly so for eigh
    tr_covmean = torch.linalg.eigvalsh(middle).clamp(min=0).sqrt().sum()
    return float((mu1 - mu2).square().sum() + cov1.trace() + cov2.trace() - 2 * tr_covmean)


@torch.no_grad()
def feature_stats(classifier, images, batch=1000):
    """Mean (D,) and covariance (D, D), float64 on the CPU, of the classifier's features of images."""
    _check_images(images)
    if len(images) < 2:
        raise ValueError(f"feature statistics need at least 2 images for a covariance, got {len(images)}")
    device = _device_of(classifier)
    with eval_mode(classifier):
        feats = torch.cat([classifier.features(chunk.to(device)).cpu() for chunk in images.split(batch)])
    feats = feats.double()  # (N, D)
    mu = feats.mean(0)
    centred = feats - mu  # (N, D)
    return mu, centred.T @ centred / (len(feats) - 1)


def sprite_fid(classifier, images_a, images_b, batch=1000):
    """FID between two sets of images (N, 3, H, W) in [-1, 1], in the classifier's feature space."""
    return frechet_distance(*feature_stats(classifier, images_a, batch), *feature_stats(classifier, images_b, batch))


def context_accuracy(classifier, images, class_indices):
    """Share of images the classifier assigns to the class asked for: class_indices (N,) integers."""
    _check_images(images)
    class_indices = torch.as_tensor(class_indices)
    if class_indices.shape != (len(images),) or class_indices.is_floating_point():
        raise ValueError(f"class_indices must be integers of shape ({len(images)},), one per image, got "
                         f"{class_indices.dtype} {tuple(class_indices.shape)}; for one-hot labels pass "
                         "labels.argmax(1)")
    return (_predict(classifier, images) == class_indices.cpu()).double().mean().item()


# ---------------------------------------------------------------- evaluating a diffusion model

_REFERENCE_STATS = weakref.WeakKeyDictionary()  # classifier -> {(n, seed): (mu, cov)}


def reference_stats(classifier, n, seed=REFERENCE_SEED, batch=1000):
    """Feature statistics of generate_sprites(n, seed), computed once per (classifier, n, seed)."""
    cache = _REFERENCE_STATS.setdefault(classifier, {})
    if (n, seed) not in cache:
        cache[n, seed] = feature_stats(classifier, to_model_space(generate_sprites(n, seed=seed)[0]), batch)
    return cache[n, seed]


@lru_cache(maxsize=None)
def _shipped_classifier(device):
    return load_classifier(device=device)


SPRITE_TENSOR_BYTES = 3 * 16 * 16 * 4  # one float32 sample, held until it is scored


def _check_positive_int(name, value, hint):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer{hint}, got {value!r}")


def sample_in_batches(model, sched, sampler, contexts, guidance, seed, batch, shares=None, **kwargs):
    """One sample per row of contexts (n, k), or (n, C, k) composed by shares (n, C), `batch` at a time
    from one generator seeded by `seed`.
    Returns (images (n, 3, H, W) clamped to [-1, 1] as saved pictures are, seconds spent sampling)."""
    _check_positive_int("batch", batch, " (samples drawn at once)")
    generator = torch.Generator().manual_seed(seed)
    images, seconds = [], 0.0
    if shares is not None and len(shares) != len(contexts):
        raise ValueError(f"shares must have one row per context, got {len(shares)} for {len(contexts)}")
    share_batches = itertools.repeat(None) if shares is None else shares.split(batch)
    for context, context_shares in zip(contexts.split(batch), share_batches):
        result = SAMPLERS[sampler](model, sched, n=len(context), context=context, guidance=guidance,
                                   generator=generator, context_shares=context_shares, **kwargs)
        images.append(result.images)
        seconds += result.seconds
    return torch.cat(images).clamp(-1, 1), seconds


def evaluate(model, sched, sampler="ddim", steps=25, n=1000, guidance=0.0, seed=0, eta=0.0,
             reference_seed=REFERENCE_SEED, classifier=None, batch=500, precision="auto"):
    """Sample n sprites, n/5 per class (one-hot contexts cycling through the classes, as the data's
    labels do), and score them: FID against n generated reference sprites, and context accuracy.

    classifier: default the shipped one. Samples come from torch.Generator().manual_seed(seed), drawn
    `batch` at a time (same seed and batch, same samples). "seconds" times the sampling loops only,
    after one untimed warm-up step. "fid_floor": what n real sprites score, FID's floor at this n.
    """
    classes = len(CLASS_NAMES)
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; use one of {sorted(SAMPLERS)}")
    _check_positive_int("n", n, f" multiple of {classes} (n/{classes} samples per class), e.g. 1000")
    if n % classes:
        raise ValueError(f"n must be a multiple of {classes} so that every class gets n/{classes} samples, "
                         f"got {n}; try {n - n % classes + classes}")
    _check_positive_int("batch", batch, " (samples drawn at once)")
    check_fits_in_memory(n * (GENERATED_SPRITE_BYTES + SPRITE_TENSOR_BYTES), f"evaluating {n:,} samples",
                         "ask for fewer (--n)")
    kwargs = {**sampler_options(sampler, steps, eta), "precision": precision}
    if model.n_cfeat != classes:
        raise ValueError(f"the model takes {model.n_cfeat} context features, but the classifier judges "
                         f"{classes} classes {CLASS_NAMES}; evaluate a model trained on the sprite classes")
    if (model.in_channels, model.height) != (3, 16):
        raise ValueError(f"the model makes {model.in_channels}x{model.height}x{model.height} images, but the "
                         "classifier judges 3x16x16 sprites; evaluate a model trained on the course's sprites")
    device = sched.alpha_bars.device
    classifier = _shipped_classifier(str(device)) if classifier is None else classifier
    asked = torch.arange(n) % classes  # (n,): the class each sample is asked for
    contexts = F.one_hot(asked, classes).float()  # (n, classes)
    # One untimed step first: a process's first CUDA calls load kernels (5x the time of a 25-step run).
    SAMPLERS[sampler](model, sched, n=min(n, batch), context=contexts[:batch], guidance=guidance,
                      generator=torch.Generator().manual_seed(seed), **{**kwargs, "steps": 1})
    images, seconds = sample_in_batches(model, sched, sampler, contexts, guidance, seed, batch, **kwargs)
    if not torch.isfinite(images).all():
        raise ValueError("the model made NaN or infinite sprites, which no score describes: its weights are "
                         "damaged or diverged; retrain it, or evaluate the shipped one")
    fid = frechet_distance(*feature_stats(classifier, images), *reference_stats(classifier, n, reference_seed))
    hits = (_predict(classifier, images) == asked).double()
    return {"sampler": sampler, "steps": steps, "eta": eta, "guidance": guidance, "n": n, "fid": fid,
            "fid_floor": data_fid_floor(n, seed_b=reference_seed, classifier=classifier),
            "precision": resolve_precision(precision, device),
            "context_acc": hits.mean().item(),
            "context_acc_by_class": {name: hits[k::classes].mean().item() for k, name in enumerate(CLASS_NAMES)},
            "seconds": seconds, "seconds_per_64": seconds / n * 64, "seed": seed, "reference_seed": reference_seed}


def load_quality(path=QUALITY_FILE):
    """The lines `python -m course_lib evaluate` printed, as dicts (one JSON object per line), or [] when
    the file does not exist. ValueError, naming the line, for a line that is not one evaluate prints."""
    path = Path(path)
    if not path.exists():
        return []
    if not path.is_file():
        raise ValueError(f"{path} is not a file; give the file evaluate's lines were written to")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not text; give the file evaluate's JSON lines were written to") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            rows.append(_quality_row(line, f"{path}, line {number}"))
    return rows


NUMBER_FIELDS = ("steps", "eta", "guidance", "n", "fid", "context_acc")  # what the tables format as numbers


def _quality_row(line, where):
    """One line of evaluate's output as a dict, checked: a JSON object with the fields a table needs and
    finite numbers."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where} is not JSON ({err.msg}); remove it, or make the file again with evaluate") from None
    needs = ("prompt_set", "sampler") if isinstance(row, dict) and "prompt_set" in row else \
        ("sampler", "steps", "fid", "context_acc")
    if not isinstance(row, dict) or any(key not in row for key in needs):
        raise ValueError(f"{where} is not a line evaluate prints (a JSON object with {', '.join(needs)}); "
                         "remove it, or make the file again with evaluate")
    wrong = [key for key in NUMBER_FIELDS if key in row and (isinstance(row[key], bool)
                                                            or not isinstance(row[key], (int, float)))]
    if wrong:
        raise ValueError(f"{where} holds {', '.join(f'{key} {row[key]!r}' for key in wrong)} where evaluate "
                         "writes a number; remove the line, or evaluate that setting again")
    if any(isinstance(value, float) and not math.isfinite(value) for value in row.values()):
        raise ValueError(f"{where} holds NaN or infinity, which no table can show; remove the line and "
                         "evaluate that setting again")
    return row


def quality_table(rows):
    """A markdown table of `evaluate` rows: a line per (sampler, steps, η), sprite FID and context accuracy
    per guidance w. A later row for the same setting replaces an earlier one."""
    names = {**SAMPLER_LABELS, "dpm": "DPM-Solver++ 2M"}
    results = {}  # (sampler, steps, eta) -> {guidance: row}
    for row in rows:
        key = (row["sampler"], int(row["steps"]), float(row.get("eta", 0.0)))
        results.setdefault(key, {})[float(row.get("guidance", 0.0))] = row
    guidances = sorted({g for by_guidance in results.values() for g in by_guidance})
    lines = ["| sampler | steps | " + " | ".join(f"FID, w = {g:g} | context acc., w = {g:g}" for g in guidances) + " |",
             "|---|---|" + "---|---|" * len(guidances)]
    def setting_order(setting):  # DDPM, DDIM, DPM-Solver++, others; then η; then steps
        sampler, steps, eta = setting
        return (list(names).index(sampler) if sampler in names else len(names), eta, steps)

    for sampler, steps, eta in sorted(results, key=setting_order):
        by_guidance = results[sampler, steps, eta]
        label = names.get(sampler, sampler) + (f" (η = {eta:g})" if sampler == "ddim" else "")
        cells = []
        for g in guidances:
            row = by_guidance.get(g)
            cells += [f"{row['fid']:.2f}", f"{100 * row['context_acc']:.1f}%"] if row else ["–", "–"]
        lines.append(f"| {label} | {steps} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def data_fid_floor(n=1000, seed_a=54321, seed_b=REFERENCE_SEED, classifier=None):
    """FID between two independent sets of n generated sprites: what a perfect model would score at n."""
    classifier = _shipped_classifier("cpu") if classifier is None else classifier
    return frechet_distance(*reference_stats(classifier, n, seed_a), *reference_stats(classifier, n, seed_b))


# ---------------------------------------------------------------- command line

def _samplers(text):
    names = text.split(",")
    unknown = [name for name in names if name not in SAMPLERS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown sampler(s) {unknown}; use names from {sorted(SAMPLERS)}, "
                                         "comma-separated, e.g. ddim,dpm")
    return names


def add_evaluate_arguments(parser):
    """The options of `evaluate`; lists give one evaluation (one JSON line) per combination."""
    parser.add_argument("--sampler", type=_samplers, default=["ddim"], help="ddpm, ddim, dpm or a list: ddim,dpm; default: ddim")
    parser.add_argument("--steps", type=list_of(int), default=[],
                        help="a number or a list (10,25,50); default: 500 for ddpm, 25 for ddim, 20 for dpm")
    parser.add_argument("--eta", type=float, default=0.0, help="ddim's stochasticity")
    parser.add_argument("--n", type=int, default=1000, help=f"samples, a multiple of {len(CLASS_NAMES)}")
    parser.add_argument("--guidance", type=list_of(float), default=[0.0], help="a number or a list (0,1,3); default: 0")
    parser.add_argument("--seed", type=seed_value, default=0, help="seed of the sampling noise")
    parser.add_argument("--reference-seed", type=seed_value, default=REFERENCE_SEED,
                        help="seed of the real sprites FID compares against")
    parser.add_argument("--batch", type=int, default=500, help="samples drawn at once")
    parser.add_argument("--weights", default=None, help=f"a weights file (default: the shipped one in {WEIGHTS_DIR})")
    return add_hardware_arguments(parser)


def check_eta_has_ddim(args):
    """--eta needs ddim among the --sampler list; it applies to ddim's runs alone."""
    if args.eta and "ddim" not in args.sampler:
        raise ValueError(f"--eta applies to ddim only; got --eta {args.eta} with --sampler {','.join(args.sampler)}")


def run_evaluate(args):
    """Evaluate every (sampler, steps, guidance) combination; print one JSON line each, return them."""
    check_eta_has_ddim(args)
    device = pick_device(args.device)
    if args.weights is None:
        model, sched = load_pretrained(device=device)
    else:
        model, sched = load_weights(args.weights, device=device)
    classifier = load_classifier(device=device)
    results = []
    for sampler, guidance in itertools.product(args.sampler, args.guidance):
        for steps in args.steps or [DEFAULT_STEPS[sampler]]:
            row = evaluate(model, sched, sampler=sampler, steps=steps, n=args.n, guidance=guidance, seed=args.seed,
                           eta=args.eta if sampler == "ddim" else 0.0, reference_seed=args.reference_seed,
                           classifier=classifier, batch=args.batch, precision=args.precision)
            print(json.dumps(row), flush=True)
            results.append(row)
    return results


if __name__ == "__main__":
    print(json.dumps(ship_classifier()))
