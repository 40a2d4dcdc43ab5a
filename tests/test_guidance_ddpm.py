"""The seed's two DDPM algorithms (``tempguide.guidance.ddpm``), exactly, in float64, on the toy mixtures.

Algorithm 2 (ε-correction) is classifier guidance seen through the ε-adapters, pointwise;
Algorithm 1 (mean shift) at γ = 0 is DDPM itself, bit for bit; and the two algorithms,
driven by the same noise, agree to first order in the step size.
"""
import math

import pytest
import torch

from tempguide import toy
from tempguide.diffusion import (ddpm_alpha_bars, denoiser_from_eps, eps_from_denoiser, sample_ddpm)
from tempguide.guidance import classifier_guided, eps_classifier_guided, sample_ddpm_mean_shift

F64 = dict(dtype=torch.float64)
EXACT = dict(rtol=1e-10, atol=1e-10)
MIXTURES = {"1d": toy.mixture_1d, "2d": toy.mixture_2d}


def exact_classifier(mixture):
    return lambda z, t: mixture.class_posterior(z, t).log()


def levels(stride):
    """DDPM's 1000-level schedule at every ``stride``-th level, noisiest first, then clean (ᾱ = 1)."""
    return torch.cat([ddpm_alpha_bars()[stride - 1::stride].flip(0), torch.ones(1, **F64)])


def points(mixture, n=48, seed=0):
    return 2.0 * torch.randn(n, mixture.dim, generator=torch.Generator().manual_seed(seed), **F64)


# -- Algorithm 2 is classifier guidance through the adapters -----------------------------------------
@pytest.mark.parametrize("name", MIXTURES)
@pytest.mark.parametrize("gamma", [0.0, 1.0, 3.0, torch.linspace(-1, 4, 48, **F64)])
@pytest.mark.seed("001-08", "003-20", "003-21")
def test_eps_correction_is_classifier_guidance_through_the_adapters(name, gamma):
    mix = MIXTURES[name]()
    eps_net, lp = eps_from_denoiser(mix.denoise), exact_classifier(mix)
    labels = torch.arange(48) % mix.num_classes
    z = points(mix)
    guided = classifier_guided(mix.denoise, lp, labels, gamma)
    eps_tilde = eps_classifier_guided(eps_net, lp, gamma)
    for t in [torch.tensor(t0, **F64) for t0 in (1e-3, 0.1, 1.0, 10.0, 1e3)] + [torch.logspace(-3, 3, 48, **F64)]:
        # denoiser side: D of ε̃ equals D_γ
        torch.testing.assert_close(denoiser_from_eps(eps_tilde, labels)(z, t), guided(z, t), **EXACT)
        # ε side: ε̃(x, t, c) equals the ε of D_γ, at x = z/√(1+t)
        t_b = t.reshape(-1, 1) if t.ndim else t
        x = z / (1 + t_b).sqrt()
        torch.testing.assert_close(eps_tilde(x, t, labels), eps_from_denoiser(guided)(x, t), **EXACT)


def test_eps_correction_at_gamma_one_is_the_conditional_eps():
    """γ = 1 with the exact classifier: ε̃ is the ε-prediction of p(y | c), i.e. Algorithm 2 is exact Bayes."""
    mix = toy.mixture_2d()
    x, t = points(mix), torch.tensor(2.0, **F64)
    for c in range(2):
        eps_tilde = eps_classifier_guided(eps_from_denoiser(mix.denoise), exact_classifier(mix), 1.0)
        torch.testing.assert_close(eps_tilde(x, t, torch.full((48,), c)),
                                   eps_from_denoiser(mix.condition(c).denoise)(x, t), **EXACT)


def test_eps_correction_under_no_grad():
    mix = toy.mixture_1d()
    eps_tilde = eps_classifier_guided(eps_from_denoiser(mix.denoise), exact_classifier(mix), 2.0)
    x, t, labels = points(mix), torch.tensor(0.5, **F64), torch.ones(48, dtype=torch.long)
    with torch.no_grad():
        out = eps_tilde(x, t, labels)
    assert not out.requires_grad
    torch.testing.assert_close(out, eps_tilde(x, t, labels), rtol=0, atol=0)


# -- Algorithm 1 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", MIXTURES)
@pytest.mark.parametrize("stride", [3, 100])
@pytest.mark.seed("003-18")
def test_mean_shift_at_gamma_zero_is_ddpm_bit_for_bit(name, stride):
    mix = MIXTURES[name]()
    eps_net = eps_from_denoiser(mix.denoise)
    x = torch.randn(64, mix.dim, generator=torch.Generator().manual_seed(0), **F64)
    ab = levels(stride)
    a = sample_ddpm_mean_shift(eps_net, x, ab, exact_classifier(mix), 1, 0.0,
                               generator=torch.Generator().manual_seed(5))
    b = sample_ddpm(eps_net, x, ab, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


@pytest.mark.seed("001-07", "003-16", "003-17", "003-18")
def test_mean_shift_one_step_is_the_gaussian_product_with_the_linearised_classifier():
    """One step by hand: x = μ + γ β̃ g(μ) + √β̃ ε, g = ∇_x ln p(c | x) at μ (classifier at the next level)."""
    mix = toy.mixture_1d()
    eps_net, lp = eps_from_denoiser(mix.denoise), exact_classifier(mix)
    ab = torch.tensor([0.2, 0.5, 1.0], **F64)
    x = points(mix, n=16)
    gamma, c = 2.5, 1
    out = sample_ddpm_mean_shift(eps_net, x, ab[:2], lp, c, gamma, generator=torch.Generator().manual_seed(9))
    # by hand, in the course's variable: z = x/√ᾱ; the DDPM step's mean μ is the unguided ancestral mean
    mu = sample_ddpm(eps_net, x, ab[:2], generator=torch.Generator().manual_seed(9), temperature=0.0)
    s = (1 - ab[1]) / ab[1]                                              # noise variance of the next level
    beta_tilde = (1 - ab[1]) / (1 - ab[0]) * (1 - ab[0] / ab[1])
    mu_ = mu.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(lp(mu_ * (1 + s).sqrt(), s)[:, c].sum(), mu_)    # ∇_x ln p_s(c | z = x√(1+s))
    eps = torch.randn(16, 1, generator=torch.Generator().manual_seed(9), **F64)
    torch.testing.assert_close(out, mu + gamma * beta_tilde * g + beta_tilde.sqrt() * eps, **EXACT)


def median_gap(mix, c, gamma, stride, n=400):
    eps_net, lp = eps_from_denoiser(mix.denoise), exact_classifier(mix)
    labels = torch.full((n,), c)
    x = torch.randn(n, mix.dim, generator=torch.Generator().manual_seed(0), **F64)
    ab = levels(stride)
    alg1 = sample_ddpm_mean_shift(eps_net, x, ab, lp, labels, gamma, generator=torch.Generator().manual_seed(1))
    alg2 = sample_ddpm(eps_classifier_guided(eps_net, lp, gamma), x, ab, labels=labels,
                       generator=torch.Generator().manual_seed(1))
    return (alg1 - alg2).norm(dim=1).median().item()


@pytest.mark.parametrize("gamma", [1.0, 4.0])
@pytest.mark.seed("003-24")
def test_algorithms_one_and_two_agree_to_first_order_in_the_step(gamma):
    """Same start, same noise: the median distance between the two algorithms' samples halves when the
    number of steps doubles (slope of log gap against log steps ≈ −1).  The median, because a fraction
    O(Δ) of paths (the ones near the boundary between the modes) may end in different modes."""
    mix = toy.mixture_1d()
    strides = [40, 20, 10, 5]                                  # 25, 50, 100, 200 steps
    gaps = [median_gap(mix, 1, gamma, k) for k in strides]
    steps = [1000 // k for k in strides]
    assert all(a > b for a, b in zip(gaps, gaps[1:])), gaps
    slope = (math.log(gaps[-1]) - math.log(gaps[0])) / (math.log(steps[-1]) - math.log(steps[0]))
    assert -1.25 < slope < -0.75, (slope, gaps)


@pytest.mark.seed("003-24")
def test_the_two_algorithms_differ_at_finite_steps():
    """They are different algorithms: at 25 steps the gap is far above rounding."""
    assert median_gap(toy.mixture_1d(), 1, 1.0, 40, n=100) > 1e-3


# -- ValueErrors -------------------------------------------------------------------------------------------
def mean_shift(labels=1, gamma=1.0, log_prob=None, eps_net=None, x=None, ab=None):
    mix = toy.mixture_2d()
    return sample_ddpm_mean_shift(eps_net or eps_from_denoiser(mix.denoise), points(mix, n=4) if x is None else x,
                                  levels(250) if ab is None else ab, log_prob or exact_classifier(mix), labels, gamma)


@pytest.mark.parametrize("labels", [-1, 2, torch.tensor([0, 1, 2, 0])])
def test_mean_shift_label_out_of_range_raises(labels):
    with pytest.raises(ValueError, match=r"in \[0, 2\)"):
        mean_shift(labels=labels)


@pytest.mark.parametrize("labels", [torch.tensor([0, 1]), torch.tensor([[0], [1], [1], [0]])])
def test_mean_shift_labels_of_the_wrong_shape_raise(labels):
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        mean_shift(labels=labels)


def test_mean_shift_float_labels_raise():
    with pytest.raises(ValueError, match="integer class indices"):
        mean_shift(labels=torch.tensor([0.0, 1.0, 1.0, 0.0]))


@pytest.mark.parametrize("gamma", [math.inf, math.nan, torch.tensor([1.0, math.nan, 1.0, 1.0])])
def test_mean_shift_non_finite_gamma_raises(gamma):
    with pytest.raises(ValueError, match="gamma"):
        mean_shift(gamma=gamma)


def test_mean_shift_log_prob_of_the_wrong_shape_raises():
    with pytest.raises(ValueError, match=r"log_prob must return \(B, C\)"):
        mean_shift(log_prob=lambda z, t: z.sum(1))


def test_mean_shift_eps_net_of_the_wrong_shape_raises():
    with pytest.raises(ValueError, match="eps_net returned shape"):
        mean_shift(eps_net=lambda x, t, labels: x[:, :1])


@pytest.mark.parametrize("ab", [torch.tensor([0.5, 0.2, 1.0], **F64), torch.tensor([0.0, 0.5, 1.0], **F64),
                                torch.tensor([0.5, 1.5], **F64), torch.tensor([0.5], **F64)])
def test_mean_shift_bad_schedule_raises(ab):
    with pytest.raises(ValueError, match="alpha_bars"):
        mean_shift(ab=ab)


def test_mean_shift_integer_start_raises():
    with pytest.raises(ValueError, match="floating-point"):
        mean_shift(x=torch.zeros(4, 2, dtype=torch.long))


@pytest.mark.parametrize("gamma", [math.inf, math.nan])
def test_eps_correction_non_finite_gamma_raises(gamma):
    mix = toy.mixture_1d()
    with pytest.raises(ValueError, match="gamma"):
        eps_classifier_guided(eps_from_denoiser(mix.denoise), exact_classifier(mix), gamma)


def test_eps_correction_without_labels_raises():
    mix = toy.mixture_1d()
    eps_tilde = eps_classifier_guided(eps_from_denoiser(mix.denoise), exact_classifier(mix), 1.0)
    with pytest.raises(ValueError, match="labels are required"):
        eps_tilde(points(mix, n=4), torch.tensor(1.0, **F64))


@pytest.mark.parametrize("labels, match", [(torch.tensor([0, 1, 2, 0]), r"in \[0, 2\)"),
                                           (torch.tensor([0.0, 1.0, 1.0, 0.0]), "integer class indices"),
                                           (torch.tensor([0, 1]), r"shape \(4,\)")])
def test_eps_correction_bad_labels_raise(labels, match):
    mix = toy.mixture_1d()
    eps_tilde = eps_classifier_guided(eps_from_denoiser(mix.denoise), exact_classifier(mix), 1.0)
    with pytest.raises(ValueError, match=match):
        eps_tilde(points(mix, n=4), torch.tensor(1.0, **F64), labels)
