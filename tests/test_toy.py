"""The exact mixture against autograd, Tweedie's formula and brute-force numerics."""
import math

import pytest
import torch

from tempguide import toy


@pytest.fixture(params=["1d", "2d", "3d-unlabelled"])
def mix(request):
    if request.param == "1d":
        return toy.mixture_1d()
    if request.param == "2d":
        return toy.mixture_2d()
    return toy.GaussianMixture([1.0, 2.0, 3.0], torch.randn(3, 3, generator=torch.Generator().manual_seed(1)),
                               [0.3, 1.0, 0.7])


@pytest.mark.parametrize("t", [0.0, 1e-3, 0.5, 4.0, torch.tensor(25.0, dtype=torch.float64)])
@pytest.mark.seed("003-03")
def test_score_is_autograd_of_exact_log_density(mix, t):
    z = (3 * torch.randn(50, mix.dim, dtype=torch.float64)).requires_grad_()
    (grad,) = torch.autograd.grad(mix.log_prob_t(z, t).sum(), z)
    torch.testing.assert_close(mix.score(z.detach(), t), grad, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("t", [1e-3, 0.5, 4.0])
@pytest.mark.seed("002-06")
def test_denoiser_satisfies_tweedie(mix, t):
    z = 3 * torch.randn(50, mix.dim, dtype=torch.float64)
    torch.testing.assert_close((mix.denoise(z, t) - z) / t, mix.score(z, t), rtol=1e-9, atol=1e-11)


@pytest.mark.seed("002-06")
def test_denoiser_is_posterior_mean_by_monte_carlo():
    """E[y | z] equals the average clean sample among pairs with z in a small bin (1-D)."""
    mix, t = toy.mixture_1d(), 1.0
    g = torch.Generator().manual_seed(0)
    y = mix.sample(400_000, generator=g)
    z = y + math.sqrt(t) * torch.randn(y.shape, dtype=torch.float64, generator=g)
    for z0 in (-2.0, 0.0, 1.0):
        near = (z[:, 0] - z0).abs() < 0.02
        mc = y[near, 0].mean()
        stderr = y[near, 0].std() / near.sum().sqrt()
        exact = mix.denoise(torch.tensor([[z0]], dtype=torch.float64), t)[0, 0]
        assert abs(mc - exact) < 4 * stderr + 0.01


def test_log_prob_normalises_in_1d():
    mix = toy.mixture_1d()
    grid = torch.linspace(-12, 12, 48001, dtype=torch.float64)[:, None]
    for t in (0.0, 2.0):
        mass = torch.trapezoid(mix.log_prob_t(grid, t).exp(), grid[:, 0])
        assert abs(mass.item() - 1.0) < 1e-8


def test_sampling_moments_match():
    mix = toy.mixture_2d()
    y, k = mix.sample(200_000, generator=torch.Generator().manual_seed(3), return_components=True)
    freq = torch.bincount(k, minlength=4).double() / len(k)
    assert (freq - mix.weights).abs().max() < 0.005
    torch.testing.assert_close(y.mean(0), (mix.weights[:, None] * mix.means).sum(0), atol=0.01, rtol=0)
    for j in range(4):
        assert abs(y[k == j].std(0).mean().item() - mix.stds[j].item()) < 0.01


@pytest.mark.seed("000-17", "002-04", "004-05")
def test_posterior_and_class_posterior_are_bayes():
    mix = toy.mixture_2d()
    z = torch.randn(20, 2, dtype=torch.float64)
    r = mix.posterior(z, 0.3)
    torch.testing.assert_close(r.sum(1), torch.ones(20, dtype=torch.float64))
    cp = mix.class_posterior(z, 0.3)
    # p(c | z) = p(c) p_t(z | c) / p_t(z)
    for c in range(2):
        bayes = (mix.class_prior()[c].log() + mix.condition(c).log_prob_t(z, 0.3) - mix.log_prob_t(z, 0.3)).exp()
        torch.testing.assert_close(cp[:, c], bayes, rtol=1e-10, atol=1e-12)


@pytest.mark.seed("000-17", "001-06", "004-05")
def test_conditional_score_is_score_plus_classifier_gradient():
    """∇ ln p_t(z | c) = ∇ ln p_t(z) + ∇ ln p_t(c | z): the identity behind classifier guidance."""
    mix, t, c = toy.mixture_2d(), 0.7, 1
    z = torch.randn(30, 2, dtype=torch.float64).requires_grad_()
    (g,) = torch.autograd.grad(mix.class_posterior(z, t)[:, c].log().sum(), z)
    torch.testing.assert_close(mix.condition(c).score(z.detach(), t), mix.score(z.detach(), t) + g,
                               rtol=1e-9, atol=1e-11)


def test_per_point_noise_levels_and_float32():
    mix = toy.mixture_2d()
    z = torch.randn(5, 2, dtype=torch.float64)
    ts = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5], dtype=torch.float64)
    rows = torch.cat([mix.score(z[i:i + 1], ts[i].item()) for i in range(5)])
    torch.testing.assert_close(mix.score(z, ts), rows)
    assert mix.denoise(z.float(), 0.5).dtype == torch.float32


@pytest.mark.parametrize("kwargs, match", [
    (dict(weights=[1.0, -1.0], means=[[0.0], [1.0]], stds=[1.0, 1.0]), "weights"),
    (dict(weights=[1.0, 1.0], means=[[0.0]], stds=[1.0, 1.0]), "means"),
    (dict(weights=[1.0, 1.0], means=[[0.0], [1.0]], stds=[1.0, 0.0]), "stds"),
    (dict(weights=[1.0], means=[[0.0]], stds=[1.0], labels=[-1]), "labels"),
])
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        toy.GaussianMixture(**kwargs)


def test_bad_inputs_raise():
    mix = toy.mixture_2d()
    with pytest.raises(ValueError, match="shape"):
        mix.score(torch.zeros(3, 3, dtype=torch.float64), 1.0)
    with pytest.raises(ValueError, match="t"):
        mix.score(torch.zeros(3, 2, dtype=torch.float64), -1.0)
    with pytest.raises(ValueError, match="class"):
        mix.condition(5)
