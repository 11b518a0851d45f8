"""The context's embedding space (chapter 3): what the decoder receives from a context vector, seen in 2-D.

``ContextUnet`` turns a context c into vectors with small MLPs: ``contextembed1`` (2F numbers that scale the
decoder's 4x4 features) and ``contextembed2`` (F numbers for its 8x8 ones); the caption model's FiLM layers
(``contextshift1``, ``contextshift2``, ``contextfilm3``) add shifts and a scale. `context_embedding`
concatenates all of them: everything the decoder learns from c. `fit_pca` finds the two directions in which
a set of such vectors varies most, so that they can be drawn as points on a page.
"""
from dataclasses import dataclass

import torch

from .model import check_context

__all__ = ["CONTEXT_LAYERS", "context_embedding", "Projection", "fit_pca"]

CONTEXT_LAYERS = ("contextembed1", "contextembed2", "contextshift1", "contextshift2", "contextfilm3")


@torch.no_grad()
def context_embedding(model, contexts):
    """Contexts (n, n_cfeat) -> what the decoder gets from them, (n, D): the outputs of every context layer
    of `model`, concatenated (D = 3F for the one-hot model, F its width)."""
    contexts = torch.as_tensor(contexts, dtype=torch.float32)
    contexts = check_context(contexts, len(contexts), model.n_cfeat)
    device = next(model.parameters()).device
    parts = [getattr(model, name)(contexts.to(device)) for name in CONTEXT_LAYERS if hasattr(model, name)]
    return torch.cat(parts, 1).cpu()  # (n, D)


@dataclass
class Projection:
    """A 2-D principal-component projection: x -> (x − mean) · axesᵀ. ``explained``: the share of the fitted
    vectors' variance along each axis (the rest is what the picture leaves out)."""
    mean: torch.Tensor      # (D,)
    axes: torch.Tensor      # (2, D), orthonormal rows
    explained: torch.Tensor  # (2,)

    def __call__(self, vectors):
        return (torch.as_tensor(vectors, dtype=self.mean.dtype) - self.mean) @ self.axes.T  # (n, 2)


def fit_pca(vectors):
    """The two principal axes of `vectors` (n, D), n >= 3, from the SVD of the centred vectors; each axis
    signed so that its largest component is positive (the same picture on every machine)."""
    vectors = torch.as_tensor(vectors, dtype=torch.float64)
    if vectors.dim() != 2 or len(vectors) < 3 or vectors.shape[1] < 2:
        raise ValueError(f"fit_pca needs at least 3 vectors of 2 or more numbers, got shape {tuple(vectors.shape)}")
    mean = vectors.mean(0)
    _, s, v = torch.linalg.svd(vectors - mean, full_matrices=False)
    axes = v[:2]  # (2, D)
    signs = torch.sign(axes.gather(1, axes.abs().argmax(1, keepdim=True)))  # (2, 1)
    variance = s ** 2
    return Projection(mean=mean, axes=axes * signs, explained=variance[:2] / variance.sum())
