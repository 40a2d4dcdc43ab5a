"""Image metrics on cases with known answers: Gaussian closed forms, identical sets, blur, real vs noise."""
import math

import pytest
import torch

from tempguide import pretrained
from tempguide.data import load_mnist
from tempguide.metrics import image


def test_frechet_distance_commuting_gaussians_closed_form():
    # Diagonal covariances: d² = ‖μ₁ − μ₂‖² + Σ_i (√a_i − √b_i)²   (Dowson & Landau 1982)
    g = torch.Generator().manual_seed(0)
    mu1, mu2 = torch.randn(5, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)
    a, b = torch.rand(5, generator=g, dtype=torch.float64) + 0.1, torch.rand(5, generator=g, dtype=torch.float64) + 0.1
    expected = ((mu1 - mu2) ** 2).sum() + ((a.sqrt() - b.sqrt()) ** 2).sum()
    assert image.frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b)) == pytest.approx(expected.item(), rel=1e-10)


def test_frechet_distance_general_gaussians_vs_scipy_sqrtm():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    g = torch.Generator().manual_seed(1)
    A, B = (torch.randn(6, 6, generator=g, dtype=torch.float64) for _ in range(2))
    c1, c2 = A @ A.T + 0.1 * torch.eye(6), B @ B.T + 0.1 * torch.eye(6)  # non-commuting
    mu1, mu2 = torch.randn(6, generator=g, dtype=torch.float64), torch.zeros(6, dtype=torch.float64)
    cross = scipy_linalg.sqrtm(c1.numpy() @ c2.numpy()).real.trace()
    expected = ((mu1 - mu2) ** 2).sum().item() + c1.trace().item() + c2.trace().item() - 2 * cross
    assert image.frechet_distance(mu1, c1, mu2, c2) == pytest.approx(expected, rel=1e-9)


def test_fid_of_samples_converges_to_exact_gaussian_distance():
    # Features drawn from two known Gaussians: the plug-in FID approaches the closed form as N grows.
    g = torch.Generator().manual_seed(2)
    n, d = 20000, 4
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = 2.0 * torch.randn(n, d, generator=g, dtype=torch.float64) + 1.0  # N(1, 4I)
    exact = d * 1.0 + d * (1.0 - 2.0) ** 2  # ‖μ‖² + Σ(σ₁ − σ₂)²
    assert image.fid_from_features(x, y) == pytest.approx(exact, rel=0.05)
    assert abs(image.fid_from_features(x, x)) < 1e-9  # identical sets


def test_sharpness_blur_and_exact_cases():
    g = torch.Generator().manual_seed(3)
    sharp = torch.rand(4, 1, 28, 28, generator=g) * 2 - 1
    blurred = torch.nn.functional.avg_pool2d(sharp, 3, stride=1, padding=1)
    assert (image.sharpness(blurred) < image.sharpness(sharp)).all()
    # The discrete Laplacian of a quadratic ramp is constant, so its variance is 0.
    i = torch.arange(28.0)
    quad = (0.001 * (i[:, None] ** 2 + 2 * i[None, :] ** 2)).expand(1, 1, 28, 28)
    assert image.sharpness(quad).item() == pytest.approx(0.0, abs=1e-8)
    # A single bright pixel: Laplacian values −4 (once) and 1 (four times) among 26² positions.
    dot = torch.zeros(1, 1, 28, 28)
    dot[0, 0, 14, 14] = 1.0
    vals = torch.zeros(26 * 26)
    vals[:5] = torch.tensor([-4.0, 1, 1, 1, 1])
    assert image.sharpness(dot).item() == pytest.approx(vals.var().item(), rel=1e-6)


def test_mean_pairwise_distance_brute_force():
    g = torch.Generator().manual_seed(4)
    f = torch.randn(7, 3, generator=g, dtype=torch.float64)
    brute = sum((f[i] - f[j]).norm() for i in range(7) for j in range(7) if i != j) / (7 * 6)
    assert image.mean_pairwise_distance(f) == pytest.approx(brute.item(), rel=1e-12)
    assert image.mean_pairwise_distance(f[:1].repeat(5, 1)) == 0.0
    assert math.isnan(image.mean_pairwise_distance(f[:1]))


class PixelClassifier(torch.nn.Module):
    """A stub 'classifier': class = index of the brightest of the first 10 pixels; features = those pixels."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def features(self, images):
        return images.flatten(1)[:, :10]

    def forward(self, images):
        return self.features(images)


def test_accuracy_and_diversity_with_stub_classifier():
    images = -torch.ones(6, 1, 28, 28)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    for k, c in enumerate([0, 1, 2, 0, 1, 5]):  # the last image is "generated wrong"
        images[k, 0, 0, c] = 1.0
    clf = PixelClassifier()
    assert image.accuracy(clf, images, labels) == pytest.approx(5 / 6)
    per_class = image.accuracy_per_class(clf, images, labels)
    assert per_class[:3].tolist() == [1.0, 1.0, 0.5] and per_class[3:].isnan().all()
    div = image.diversity(clf, images, labels)
    assert div[0] == 0 and div[1] == 0 and div[2] == pytest.approx(math.sqrt(8))  # (±2 in two coordinates)
    with pytest.raises(ValueError, match="labels must have shape"):
        image.accuracy(clf, images, labels[:3])


@pytest.fixture(scope="module")
def evaluation():
    clf = pretrained.load("mnist_classifier", device="cpu")
    test_x, test_y = load_mnist("test", source="subset", verbose=False)
    return clf, test_x, test_y


def test_evaluation_classifier_accuracy_on_test_split(evaluation):
    clf, test_x, test_y = evaluation
    assert image.accuracy(clf, test_x, test_y) >= 0.97


def test_fid_floor_small_and_noise_large(evaluation):
    clf, test_x, _ = evaluation
    g = torch.Generator().manual_seed(5)
    floor = image.fid_floor(clf, test_x, generator=g)
    f_real = image.features(clf, test_x[:500])
    noise = torch.rand(500, 1, 28, 28, generator=g) * 2 - 1
    blurred = torch.nn.functional.avg_pool2d(test_x[500:], 5, stride=1, padding=2)
    to_noise = image.fid_from_features(f_real, image.features(clf, noise))
    to_blur = image.fid_from_features(f_real, image.features(clf, blurred))
    assert 0 < floor < 0.05 * to_noise
    assert floor < to_blur < to_noise  # blur is a milder corruption than pure noise
    # identical sets: 0 up to the round-off of the matrix square roots
    assert abs(image.fid_from_features(f_real, f_real)) < 1e-6 * f_real.var(0).sum().item()
