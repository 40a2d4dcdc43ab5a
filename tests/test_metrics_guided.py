"""The guidance chapters' report (``tempguide.metrics.guided``) and ``image.fid`` with a stub classifier (issue 20).

The stub's features are the first ten pixels and its class is the brightest of
them, so every number is known by hand or from the toolkit's exactly-tested parts.
"""
from __future__ import annotations

import math

import pytest
import torch

from tempguide.metrics import guided, image
from tempguide.metrics.precision_recall import precision_recall
from test_metrics_image import PixelClassifier  # class = brightest of the first 10 pixels; features = those pixels


def digits(pixels: list[list[float]]) -> torch.Tensor:
    """Images (B, 1, 28, 28) at −1 whose first pixels are ``pixels[b]``."""
    images = -torch.ones(len(pixels), 1, 28, 28)
    for b, row in enumerate(pixels):
        images[b, 0, 0, :len(row)] = torch.tensor(row)
    return images


def test_fid_of_images_is_the_fid_of_their_features():
    # pixel 0: {−1, 1} (mean 0, variance 2) against {0, 1} (mean 1/2, variance 1/2); d² = 1/4 + (√2 − √½)² = 3/4
    assert image.fid(PixelClassifier(), digits([[-1], [1]]), digits([[0], [1]])) == pytest.approx(0.75, abs=1e-12)


def test_class_diversity_averages_classes_with_two_or_more_samples():
    feats = torch.tensor([[0.0], [2.0], [0.0], [6.0], [100.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 2])  # class 2 has one sample: no pairs, left out
    assert guided._class_diversity(feats, labels) == pytest.approx((2 + 6) / 2)
    assert math.isnan(guided._class_diversity(feats[:1], labels[:1]))


def reference_of(real: torch.Tensor) -> guided.RealReference:
    return guided.RealReference(n=len(real), features=PixelClassifier().features(real).double(), fid_floor=0.25,
                                precision_floor=0.5, recall_floor=0.75, diversity=1.0, sharpness=2.0)


def test_conditional_report_columns():
    real = digits([[1, -1, -1], [0.5, -1, -1], [-1, 1, -1], [-1, 0.5, 0.5]])
    # generated for classes 0, 0, 1, 2, 3: the third is a 0 (a wrong digit), the fourth is out of [−1, 1],
    # the last is far from every real digit (and a 0 by the tie rule of argmax); pixels at −3 and 3 are clamped
    samples = digits([[1, -1, -1], [0.9, -1, -1], [1, 0.5, -1, -1, -1, -3], [-1, -1, 3], [1] * 10])
    labels = torch.tensor([0, 0, 1, 2, 3])
    clf, clamped = PixelClassifier(), samples.clamp(-1, 1)
    reference = reference_of(real)
    report = guided.conditional_report(clf, samples, labels, reference)
    feats = clf.features(clamped).double()
    precision, recall = precision_recall(reference.features, feats)
    assert precision != recall  # the test can tell them apart
    assert report == {
        "fidelity": 0.6,
        "fid": pytest.approx(image.fid_from_features(feats, reference.features), abs=1e-12),
        "fid_floor": 0.25,
        "precision": precision,
        "recall": recall,
        "diversity": pytest.approx(0.1),  # class 0 only: ‖(1, …) − (0.9, …)‖
        "sharpness": pytest.approx(image.sharpness(clamped).mean().item()),
    }
    assert report["sharpness"] != pytest.approx(image.sharpness(samples).mean().item())  # the clamp matters
    with pytest.raises(ValueError, match=r"labels must have shape \(5,\)"):
        guided.conditional_report(clf, samples, labels[:3], reference)


def test_real_reference_splits_2n_test_digits(monkeypatch):
    images = digits([[float(i) / 10, (-1) ** i] for i in range(10)])
    labels = torch.tensor([0, 1] * 5)
    calls = []

    def load_mnist(*args, **kwargs):
        calls.append((args, kwargs))
        return images, labels

    monkeypatch.setattr(guided, "load_mnist", load_mnist)
    clf = PixelClassifier()
    ref = guided.real_reference(clf, 4, generator=torch.Generator().manual_seed(0))
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(0))[:8]
    a, b = images[perm[:4]], images[perm[4:]]
    fa, fb = clf.features(a).double(), clf.features(b).double()
    assert calls == [(("test",), {"source": "subset", "verbose": False})]  # the test split, quietly
    assert ref.n == 4 and torch.equal(ref.features, fa)
    assert ref.fid_floor == pytest.approx(image.fid_from_features(fb, fa), abs=1e-12)
    assert (ref.precision_floor, ref.recall_floor) == precision_recall(fa, fb)
    assert ref.diversity == pytest.approx(guided._class_diversity(fb, labels[perm[4:]]))
    assert ref.sharpness == pytest.approx(image.sharpness(b).mean().item())
    for n in (0, 6):
        with pytest.raises(ValueError, match=r"n must be in \[1, 5\].*got " + str(n)):
            guided.real_reference(clf, n)
    assert guided.real_reference(clf, 5).n == 5  # 2n = all 10 digits
    with pytest.raises(ValueError, match="k must be in"):  # n = 1 is in range; precision/recall's k = 3 is not
        guided.real_reference(clf, 1)


def test_fid_floor_splits_two_disjoint_halves_with_the_generator():
    real = digits([[v] for v in (-1.0, 0.0, 1.0, 0.5, -0.5)])  # N = 5: halves of 2, one image left out
    clf = PixelClassifier()
    f = clf.features(real).double()
    perm = torch.randperm(5, generator=torch.Generator().manual_seed(0))
    expected = image.fid_from_features(f[perm[:2]], f[perm[2:4]])
    assert image.fid_floor(clf, real, generator=torch.Generator().manual_seed(0)) == pytest.approx(expected, abs=1e-12)
    assert math.isfinite(image.fid_floor(clf, real[:4]))  # 4 images are enough
    with pytest.raises(ValueError, match="^real needs at least 4 images, got 3$"):
        image.fid_floor(clf, real[:3])


def test_gaussian_stats_refuses_one_dimensional_features():
    with pytest.raises(ValueError, match=r"^feats must have shape \(N, F\) with N >= 2, got \(3,\)$"):
        image.gaussian_stats(torch.zeros(3))
