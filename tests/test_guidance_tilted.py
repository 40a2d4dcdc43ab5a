"""The tilted target p(y)·p(c | y)^γ (``guidance.tilted``) and the guided noisy marginals
p_t(z)·p_t(c | z)^γ / Z_t (``guidance.guided_marginals``), exactly, in float64, on the toy mixtures.
"""
import math

import pytest
import torch

from tempguide import toy
from tempguide.guidance import classifier_gradient, classifier_guided, tilted_log_density, tilted_probabilities
from tempguide.guidance.guided_marginals import (guided_log_density, guided_normaliser, log_class_posterior,
                                                 noise_on_grid_1d)

F64 = dict(dtype=torch.float64)
MIXTURES = {"1d": toy.mixture_1d, "2d": toy.mixture_2d}


def grid(mixture, lo=-7.0, hi=7.0, n1=1401, n2=201):
    axis = torch.linspace(lo, hi, n1 if mixture.dim == 1 else n2, **F64)
    return torch.stack(torch.meshgrid(*[axis] * mixture.dim, indexing="ij"), -1).reshape(-1, mixture.dim)


# -- the tilted target ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", MIXTURES)
@pytest.mark.parametrize("c", [0, 1])
@pytest.mark.seed("000-18")
def test_gamma_one_is_the_conditional_law(name, c):
    mix = MIXTURES[name]()
    y = grid(mix)
    expected = torch.softmax(mix.condition(c).log_prob(y), 0)
    torch.testing.assert_close(tilted_probabilities(mix, y, c, 1.0), expected, rtol=1e-10, atol=1e-14)
    # and the unnormalised log density is ln p(y | c) + ln p(c) exactly (Bayes)
    torch.testing.assert_close(tilted_log_density(mix, y, c, 1.0),
                               mix.condition(c).log_prob(y) + mix.class_prior()[c].log(), rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("name", MIXTURES)
@pytest.mark.parametrize("c", [0, 1])
@pytest.mark.seed("000-18")
def test_gamma_zero_is_the_unconditional_law(name, c):
    mix = MIXTURES[name]()
    y = grid(mix)
    assert torch.equal(tilted_log_density(mix, y, c, 0.0), mix.log_prob(y))
    torch.testing.assert_close(tilted_probabilities(mix, y, c, 0.0), torch.softmax(mix.log_prob(y), 0),
                               rtol=1e-12, atol=1e-15)


def test_far_from_the_class_the_log_density_stays_finite():
    """Regression: ln p(c | y) was class_posterior(y, 0).log(), which underflows to −∞ twenty widths from
    class c; then γ = 0 gave 0·(−∞) = NaN and γ = 1 gave −∞ where p(y | c) is positive."""
    mix = toy.mixture_1d()
    y = torch.linspace(-60, 60, 241, **F64)[:, None]
    assert (mix.class_posterior(y, 0.0) == 0).any()              # the old computation's −∞
    for gamma in [0.0, 0.5, 1.0, 4.0]:
        assert torch.isfinite(tilted_log_density(mix, y, 1, gamma)).all(), gamma
    torch.testing.assert_close(tilted_log_density(mix, y, 1, 1.0),
                               mix.condition(1).log_prob(y) + math.log(0.3), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("gamma", [2.0, 4.0, 8.0])
@pytest.mark.seed("000-18", "002-08")
def test_gamma_above_one_sharpens_the_class_posterior_and_keeps_the_class(gamma):
    """(T) ∝ p(y|c)·p(c|y)^{γ−1}: on the 2-D toy, where the classes overlap, mass leaves the boundary."""
    mix = toy.mixture_2d()
    y = grid(mix)
    p1, pg = tilted_probabilities(mix, y, 0, 1.0), tilted_probabilities(mix, y, 0, gamma)
    post = mix.class_posterior(y, 0.0)[:, 0]
    assert (pg * post).sum() > (p1 * post).sum()                  # more confident on average
    ratio = tilted_log_density(mix, y, 0, gamma) - tilted_log_density(mix, y, 0, 1.0)
    torch.testing.assert_close(ratio, (gamma - 1) * log_class_posterior(mix)(y, 0.0)[:, 0], rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("c", [-1, 2, 1.0, 0.5, True, torch.tensor([1]), torch.tensor(1.0)])
def test_tilted_bad_class_raises(c):
    """A class index out of range, a float (was silently truncated: c = 1.5 meant class 1), a bool, a vector."""
    mix = toy.mixture_1d()
    with pytest.raises(ValueError, match="c must be"):
        tilted_log_density(mix, grid(mix)[:5], c, 1.0)


@pytest.mark.parametrize("c", [0, 1, torch.tensor(1)])
def test_tilted_integer_classes_are_accepted(c):
    mix = toy.mixture_1d()
    assert tilted_log_density(mix, grid(mix)[:5], c, 1.0).shape == (5,)


@pytest.mark.parametrize("gamma", [math.inf, -math.inf, math.nan, "two"])
def test_tilted_non_finite_gamma_raises(gamma):
    mix = toy.mixture_1d()
    with pytest.raises(ValueError, match="gamma"):
        tilted_probabilities(mix, grid(mix)[:5], 1, gamma)


# -- the exact noise-aware classifier --------------------------------------------------------------------
@pytest.mark.parametrize("name", MIXTURES)
@pytest.mark.parametrize("t", [0.0, 0.01, 1.0, 100.0])
def test_log_class_posterior_is_the_log_of_class_posterior(name, t):
    mix = MIXTURES[name]()
    z = 3 * torch.randn(50, mix.dim, generator=torch.Generator().manual_seed(0), **F64)
    lp = log_class_posterior(mix)(z, t)
    torch.testing.assert_close(lp, mix.class_posterior(z, t).log(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(lp.exp().sum(1), torch.ones(50, **F64))


def test_log_class_posterior_per_example_t_and_far_points():
    mix = toy.mixture_2d()
    z = torch.tensor([[60.0, -60.0], [0.0, 0.0], [-2.0, -1.0]], **F64)
    t = torch.tensor([1e-3, 1.0, 10.0], **F64)
    lp = log_class_posterior(mix)(z, t)
    for i in range(3):
        torch.testing.assert_close(lp[i], log_class_posterior(mix)(z[i:i + 1], t[i])[0])
    assert torch.isfinite(lp).all() and (mix.class_posterior(z[:1], 1e-3) == 0).any()
    grad = classifier_gradient(log_class_posterior(mix), z, t, torch.tensor([0, 1, 0]))
    assert torch.isfinite(grad).all()


# -- the guided noisy marginals q_t = p_t p_t(c|z)^γ / Z_t ----------------------------------------------
@pytest.mark.parametrize("name", MIXTURES)
@pytest.mark.parametrize("gamma", [0.0, 1.0, 3.0])
@pytest.mark.seed("003-22")
def test_the_guided_score_is_the_score_of_the_guided_density(name, gamma):
    """∇_z [ln p_t + γ ln p_t(c|z)] = (D_γ − z)/t: Z_t carries no z-dependence into the score."""
    mix = MIXTURES[name]()
    z = 2 * torch.randn(30, mix.dim, generator=torch.Generator().manual_seed(1), **F64)
    for t in [0.05, 1.0, 20.0]:
        z_ = z.clone().requires_grad_(True)
        (score,) = torch.autograd.grad(guided_log_density(mix, z_, t, 1, gamma).sum(), z_)
        d_gamma = classifier_guided(mix.denoise, log_class_posterior(mix), 1, gamma)(z, torch.tensor(t, **F64))
        torch.testing.assert_close(score, (d_gamma - z) / t, rtol=1e-9, atol=1e-9)


def test_guided_log_density_at_t_zero_is_the_tilted_target():
    mix = toy.mixture_2d()
    y = grid(mix)
    torch.testing.assert_close(guided_log_density(mix, y, 0.0, 1, 2.5), tilted_log_density(mix, y, 1, 2.5))


@pytest.mark.parametrize("name", MIXTURES)
@pytest.mark.parametrize("t", [0.0, 0.3, 3.0])
def test_normaliser_at_gamma_one_is_the_class_prior_and_at_gamma_zero_one(name, t):
    mix = MIXTURES[name]()
    axis = torch.linspace(-20, 20, 4001 if mix.dim == 1 else 401, **F64)
    for c in range(2):
        torch.testing.assert_close(guided_normaliser(mix, t, c, 1.0, axis), mix.class_prior()[c], rtol=1e-8, atol=0)
    torch.testing.assert_close(guided_normaliser(mix, t, 0, 0.0, axis), torch.tensor(1.0, **F64), rtol=1e-8, atol=0)


@pytest.mark.parametrize("gamma", [0.5, 2.0, 4.0])
@pytest.mark.seed("003-23")
def test_normaliser_depends_on_t_unless_gamma_is_one(gamma):
    """Z_t = E_{p_t}[p_t(c|z)^γ]: ≈ p(c) at t = 0 (the classes of the 1-D toy overlap by ~1e-4), → p(c)^γ
    as t → ∞, monotone between (p_t(c|z) is a martingale in the noise; x^γ is convex for γ > 1, concave below)."""
    mix = toy.mixture_1d()
    axis = torch.linspace(-400, 400, 40001, **F64)
    ts = [0.0, 0.1, 1.0, 10.0, 1e3, 1e4]
    Z = torch.stack([guided_normaliser(mix, t, 1, gamma, axis) for t in ts])
    p_c = mix.class_prior()[1]
    torch.testing.assert_close(Z[0], p_c, rtol=1e-3, atol=0)
    torch.testing.assert_close(Z[-1], p_c**gamma, rtol=1e-2, atol=0)
    diffs = Z.diff()
    assert (diffs < 0).all() if gamma > 1 else (diffs > 0).all(), Z


def test_normaliser_bad_arguments_raise():
    mix = toy.mixture_1d()
    axis = torch.linspace(-5, 5, 101, **F64)
    with pytest.raises(ValueError, match="uniformly spaced"):
        guided_normaliser(mix, 1.0, 1, 2.0, axis**3)
    with pytest.raises(ValueError, match="at least 3 points"):
        guided_normaliser(mix, 1.0, 1, 2.0, axis[:2])
    with pytest.raises(ValueError, match="c must be"):
        guided_normaliser(mix, 1.0, 2, 2.0, axis)
    with pytest.raises(ValueError, match="one number"):
        guided_normaliser(mix, 1.0, 1, torch.ones(3), axis)
    with pytest.raises(ValueError, match="gamma"):
        guided_normaliser(mix, 1.0, 1, math.nan, axis)


# -- blurring a law on a grid; the guided marginals are not a blurred law -----------------------------
@pytest.mark.seed("003-03")
def test_noise_on_grid_is_the_exact_noisy_marginal():
    """Blurring p(y) on the grid by N(0, t) gives p_t(z) = Σ π_k N(μ_k, s_k² + t)."""
    mix = toy.mixture_1d()
    axis = torch.linspace(-30, 30, 3001, **F64)
    h = (axis[1] - axis[0]).item()
    p0 = mix.log_prob(axis[:, None]).exp() * h
    for t in [0.0, 0.2, 2.0, 20.0]:
        torch.testing.assert_close(noise_on_grid_1d(p0, axis, t), mix.log_prob_t(axis[:, None], t).exp() * h,
                                   rtol=1e-8, atol=1e-14)


@pytest.mark.seed("003-23")
def test_guided_marginals_are_the_noised_target_only_at_gamma_one():
    """q_t = p_t p_t(c|·)^γ / Z_t against q_0 ∗ N(0, t): equal at γ = 1 (both p_t(z|c)), different otherwise."""
    mix = toy.mixture_1d()
    axis = torch.linspace(-25, 25, 2501, **F64)

    def q(t, gamma):
        return torch.softmax(guided_log_density(mix, axis[:, None], t, 1, gamma), 0)

    for t in [2.0, 8.0]:
        tv1 = 0.5 * (q(t, 1.0) - noise_on_grid_1d(q(0.0, 1.0), axis, t)).abs().sum()
        tv4 = 0.5 * (q(t, 4.0) - noise_on_grid_1d(q(0.0, 4.0), axis, t)).abs().sum()
        assert tv1 < 1e-8 and tv4 > 0.2, (t, tv1, tv4)


def test_noise_on_grid_bad_arguments_raise():
    axis = torch.linspace(-1, 1, 11, **F64)
    with pytest.raises(ValueError, match="one mass per grid point"):
        noise_on_grid_1d(torch.ones(10, **F64) / 10, axis, 1.0)
    for t in [-1.0, math.inf, math.nan]:
        with pytest.raises(ValueError, match="noise variance"):
            noise_on_grid_1d(torch.ones(11, **F64) / 11, axis, t)
