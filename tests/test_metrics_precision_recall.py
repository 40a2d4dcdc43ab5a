"""Improved precision/recall on point sets whose answer is known."""
import pytest
import torch

from tempguide.metrics.precision_recall import knn_radii, precision_recall


def gauss(n, d=4, seed=0, scale=1.0, shift=0.0):
    return shift + scale * torch.randn(n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_knn_radius_on_a_line():
    x = torch.tensor([[0.0], [1.0], [3.0], [6.0]])
    torch.testing.assert_close(knn_radii(x, 1), torch.tensor([1.0, 1.0, 2.0, 3.0], dtype=torch.float64))
    torch.testing.assert_close(knn_radii(x, 2), torch.tensor([3.0, 2.0, 3.0, 5.0], dtype=torch.float64))


def test_same_distribution_scores_high_on_both():
    p, r = precision_recall(gauss(1000, seed=0), gauss(1000, seed=1))
    assert p > 0.8 and r > 0.8


def test_collapsed_samples_keep_precision_lose_recall():
    """Samples shrunk towards the mean (a low temperature) stay on the data but cover little of it."""
    p, r = precision_recall(gauss(1000, seed=0), gauss(1000, seed=1, scale=0.2))
    assert p > 0.95 and r < 0.2


def test_far_samples_have_no_precision():
    p, r = precision_recall(gauss(500, seed=0), gauss(500, seed=1, shift=20.0))
    assert p == 0.0 and r == 0.0


def test_errors():
    with pytest.raises(ValueError, match="k must"):
        knn_radii(gauss(3), 3)
    with pytest.raises(ValueError, match="same F"):
        precision_recall(gauss(10, d=3), gauss(10, d=4))
