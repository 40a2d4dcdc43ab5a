"""Improved precision and recall of generated samples (Kynkäänniemi et al. 2019) (book: "Diffusion temperature").

Each set of features is turned into a manifold estimate: the union of balls
around its points, each ball's radius the distance to that point's k-th nearest
neighbour in the same set.

    precision = fraction of generated points inside the real manifold   (fidelity)
    recall    = fraction of real points inside the generated manifold   (coverage)

Dhariwal & Nichol (2021) report both for guidance and for reduced temperature
(their Table 4 and Appendix G).  Here the features are the evaluation
classifier's (``tempguide.metrics.image.features``).
"""
from __future__ import annotations

import torch


def knn_radii(feats: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row, (N,)."""
    if not 1 <= k < len(feats):
        raise ValueError(f"k must be in [1, {len(feats) - 1}] for {len(feats)} points, got {k}")
    d = torch.cdist(feats.double(), feats.double())
    return d.kthvalue(k + 1, dim=1).values  # k + 1: the point itself is at distance 0


def coverage_fraction(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> float:
    """Fraction of ``points`` within radius_j of some centre_j."""
    d = torch.cdist(points.double(), centres.double())  # (n, m)
    return (d <= radii[None, :]).any(dim=1).double().mean().item()


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of ``fake`` against ``real`` feature sets (N, F), k-NN balls (paper default k = 3)."""
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake must be (N, F) with the same F, got {tuple(real.shape)}, {tuple(fake.shape)}")
    precision = coverage_fraction(fake, real, knn_radii(real, k))
    recall = coverage_fraction(real, fake, knn_radii(fake, k))
    return precision, recall
