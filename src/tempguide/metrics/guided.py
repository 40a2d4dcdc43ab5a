"""One report for class-conditional samples, shared by the guidance chapters (book: "Toolkit: metrics").

Chapters 3 and 4 sweep a guidance weight and report, per setting, the same
columns (Dhariwal & Nichol 2021, Table 4; Ho & Salimans 2021, Table 1):

    fidelity   accuracy of the evaluation classifier on the intended classes
    FID        MNIST-feature FID of the N samples against N real test digits,
               beside its floor: N other real test digits against the same N
    precision, recall   Kynkäänniemi et al. 2019, k = 3, against the same N real digits
    diversity  mean pairwise feature distance *within* each class, averaged over classes
    sharpness  mean variance of the Laplacian

Every number is computed with the independent evaluation classifier
``mnist_classifier`` (never a guide).
"""
from __future__ import annotations

import dataclasses

import torch

from ..data import load_mnist
from . import image
from .precision_recall import precision_recall


@dataclasses.dataclass
class RealReference:
    """N real test digits (their features) and the real-versus-real floor at size N."""

    n: int
    features: torch.Tensor  # (N, F) of the first N real digits
    fid_floor: float        # FID of N other real digits against them
    precision_floor: float
    recall_floor: float
    diversity: float        # per-class diversity of the real digits
    sharpness: float


def real_reference(classifier, n: int, *, source: str = "subset",
                   generator: torch.Generator | None = None) -> RealReference:
    """Draw 2n real test digits: n to compare samples with, n for the floor.  Needs 2n ≤ the test split."""
    images, labels = load_mnist("test", source=source, verbose=False)
    if not 2 <= 2 * n <= len(images):
        raise ValueError(f"n must be in [1, {len(images) // 2}] (2n real test digits are used), got {n}")
    perm = torch.randperm(len(images), generator=generator)[:2 * n]
    a, b = images[perm[:n]], images[perm[n:]]
    feats_a, feats_b = image.features(classifier, a), image.features(classifier, b)
    precision, recall = precision_recall(feats_a, feats_b)
    return RealReference(n, feats_a, image.fid_from_features(feats_b, feats_a), precision, recall,
                         _class_diversity(feats_b, labels[perm[n:]]), image.sharpness(b).mean().item())


def _class_diversity(feats: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over the classes present (with ≥ 2 samples) of the within-class mean pairwise distance."""
    values = [image.mean_pairwise_distance(feats[labels == c]) for c in labels.unique().tolist()
              if int((labels == c).sum()) >= 2]
    return float(torch.tensor(values).mean()) if values else float("nan")


def conditional_report(classifier, samples: torch.Tensor, labels: torch.Tensor,
                       reference: RealReference) -> dict[str, float]:
    """The chapter's columns (module docstring) for ``samples`` (N, 1, 28, 28) generated for ``labels`` (N,)."""
    labels = torch.as_tensor(labels).cpu()
    if labels.shape != (len(samples),):
        raise ValueError(f"labels must have shape ({len(samples)},), got {tuple(labels.shape)}")
    samples = samples.clamp(-1, 1)
    feats = image.features(classifier, samples)
    precision, recall = precision_recall(reference.features, feats)
    return {
        "fidelity": image.accuracy(classifier, samples, labels),
        "fid": image.fid_from_features(feats, reference.features),
        "fid_floor": reference.fid_floor,
        "precision": precision,
        "recall": recall,
        "diversity": _class_diversity(feats, labels),
        "sharpness": image.sharpness(samples).mean().item(),
    }
