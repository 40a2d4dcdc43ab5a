"""Image metrics for generated digits (book: "Toolkit: metrics").

All classifier-based metrics use the independent evaluation classifier
``tempguide.pretrained.load("mnist_classifier")`` (clean data only, a different
architecture from every generator and guide), on images (B, 1, 28, 28) in [−1, 1].

fidelity      accuracy: the fraction of samples generated for class c that the
              classifier assigns to c (the "classification accuracy" of
              conditional samples, e.g. Ho & Salimans 2021; Dhariwal & Nichol 2021).
diversity     mean pairwise Euclidean distance of the classifier's penultimate
              features within a set (per class for conditional samples); it falls
              as guidance or a low temperature collapse samples onto few modes.
FID           Fréchet distance between Gaussians fitted to the features of two sets
              (Heusel et al. 2017, Eq. 6), here in the MNIST classifier's features
              instead of Inception's:
                  d² = ‖μ₁ − μ₂‖² + Tr(C₁ + C₂ − 2 (C₁^{1/2} C₂ C₁^{1/2})^{1/2}).
              FID is biased upwards at finite sample size (Chong & Forsyth 2020),
              so report it beside its *floor*: the FID between two disjoint sets of
              real images of the same sizes (``fid_floor``).
sharpness     variance of the Laplacian of each image (Pech-Pacheco et al. 2000);
              blurry, over-smoothed samples (e.g. low temperature) score lower.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_images(images: torch.Tensor, name: str = "images") -> None:
    if images.dim() != 4 or images.shape[1] != 1:
        raise ValueError(f"{name} must have shape (B, 1, H, W), got {tuple(images.shape)}")


@torch.no_grad()
def predict(classifier, images: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """Predicted classes (B,) of the evaluation classifier (argmax of its logits)."""
    _check_images(images)
    device = next(classifier.parameters()).device
    return torch.cat([classifier(x.to(device)).argmax(1).cpu() for x in images.split(batch_size)])


@torch.no_grad()
def features(classifier, images: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """Penultimate features (B, F) of the evaluation classifier, float64 on the CPU."""
    _check_images(images)
    device = next(classifier.parameters()).device
    return torch.cat([classifier.features(x.to(device)).double().cpu() for x in images.split(batch_size)])


def accuracy(classifier, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 500) -> float:
    """Fidelity: fraction of ``images`` the classifier assigns to their intended ``labels``."""
    labels = torch.as_tensor(labels).cpu()
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},), got {tuple(labels.shape)}")
    return (predict(classifier, images, batch_size=batch_size) == labels).double().mean().item()


def accuracy_per_class(classifier, images: torch.Tensor, labels: torch.Tensor, *,
                       num_classes: int = 10) -> torch.Tensor:
    """Fidelity for each class c (num_classes,), NaN for a class with no samples."""
    labels = torch.as_tensor(labels).cpu()
    correct = (predict(classifier, images) == labels).double()
    return torch.stack([correct[labels == c].mean() if (labels == c).any() else torch.tensor(float("nan"),
                        dtype=torch.float64) for c in range(num_classes)])


def mean_pairwise_distance(feats: torch.Tensor) -> float:
    """Mean Euclidean distance ‖f_i − f_j‖ over pairs i ≠ j (NaN for fewer than two rows)."""
    n = len(feats)
    if n < 2:
        return float("nan")
    d = torch.cdist(feats.double(), feats.double())  # (n, n), zero diagonal
    return (d.sum() / (n * (n - 1))).item()


def diversity(classifier, images: torch.Tensor, labels: torch.Tensor | None = None, *,
              num_classes: int = 10) -> float | torch.Tensor:
    """Mean pairwise feature distance of ``images``; with ``labels``, per class (num_classes,)."""
    f = features(classifier, images)
    if labels is None:
        return mean_pairwise_distance(f)
    labels = torch.as_tensor(labels).cpu()
    return torch.tensor([mean_pairwise_distance(f[labels == c]) for c in range(num_classes)], dtype=torch.float64)


def gaussian_stats(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (F,) and unbiased covariance (F, F) of features (N, F), float64."""
    if feats.dim() != 2 or len(feats) < 2:
        raise ValueError(f"feats must have shape (N, F) with N >= 2, got {tuple(feats.shape)}")
    feats = feats.double()
    dim = feats.shape[1]
    return feats.mean(0), torch.cov(feats.T).reshape(dim, dim)  # reshape: torch.cov of one variable is 0-d


def _sqrt_psd(c: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a positive semi-definite matrix by eigh (negative rounding clipped)."""
    w, v = torch.linalg.eigh((c + c.T) / 2)
    return (v * w.clamp_min(0).sqrt()) @ v.T


def frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    """d² between N(mu1, cov1) and N(mu2, cov2) (module docstring), in float64.

    Tr (C₁C₂)^{1/2} = Tr (C₁^{1/2} C₂ C₁^{1/2})^{1/2}: the inner matrix is
    symmetric PSD, so both roots come from ``eigh``.
    """
    mu1, cov1, mu2, cov2 = (torch.as_tensor(a, dtype=torch.float64) for a in (mu1, cov1, mu2, cov2))
    s1 = _sqrt_psd(cov1)
    cross = torch.linalg.eigvalsh(s1 @ cov2 @ s1).clamp_min(0).sqrt().sum()
    return ((mu1 - mu2).pow(2).sum() + cov1.trace() + cov2.trace() - 2 * cross).item()


def fid_from_features(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets."""
    return frechet_distance(*gaussian_stats(feats_a), *gaussian_stats(feats_b))


def fid(classifier, images_a: torch.Tensor, images_b: torch.Tensor) -> float:
    """MNIST-feature FID between two image sets (features of the evaluation classifier)."""
    return fid_from_features(features(classifier, images_a), features(classifier, images_b))


def fid_floor(classifier, real: torch.Tensor, *, generator: torch.Generator | None = None) -> float:
    """FID between two disjoint random halves of ``real``: what identical distributions score at size N/2.

    Report it next to any FID of ``N/2`` generated images against ``N/2`` real ones.
    """
    if len(real) < 4:
        raise ValueError(f"real needs at least 4 images, got {len(real)}")
    perm = torch.randperm(len(real), generator=generator)
    half = len(real) // 2
    f = features(classifier, real)
    return fid_from_features(f[perm[:half]], f[perm[half:2 * half]])


LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def sharpness(images: torch.Tensor) -> torch.Tensor:
    """Variance of the Laplacian of each image (B,): the 3×3 discrete Laplacian, valid positions only."""
    _check_images(images)
    kernel = LAPLACIAN.to(images)[None, None]  # (1, 1, 3, 3)
    return F.conv2d(images, kernel).flatten(1).var(dim=1)
