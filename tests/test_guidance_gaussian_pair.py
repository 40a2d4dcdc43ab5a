"""CFG on a pair of Gaussians: the closed forms of ``tempguide.guidance.gaussian_pair`` against
exact arithmetic, the unguided closed forms of chapter 2, and simulations.

For each sampler the guided process is linear, so its end point is Gaussian.  We check

1. the simulated mean and variance (``sample_ode_heun`` / ``sample_reverse_sde`` driven by
   ``cfg_denoisers`` on the two exact Gaussians) equal the exact *discrete-time* recursion
   of the same steps, computed here independently, within 5 standard errors
   (SE of a mean √(v/n), of a variance v·√(2/(n−1)));
2. on a fine grid the recursion converges to the continuous-time law ``cfg_law``
   (Gauss–Legendre quadrature of the linear ODEs for mean and variance);
3. w = 1 and w = 0 give the conditional and the unconditional exactly, equal variances
   give one Gaussian with the mean μ_∅ + w(μ_c − μ_∅), and the ODE's variance is the
   geometric interpolation s_∅^{2(1−w)} s_c^{2w}, not the target's harmonic one.
"""
import math

import numpy as np
import pytest
import torch

from tempguide.diffusion import geometric_ts, linear_reverse_moments, sample_ode_heun, sample_reverse_sde
from tempguide.guidance import cfg_denoisers
from tempguide.guidance.gaussian_pair import (GaussianPair, cfg_law, guided_coefficients, guided_denoiser,
                                              ode_limit_variance, target)

# the moments of toy.mixture_1d: class 1 is N(2, 0.5²); the whole mixture has mean −0.8 and variance 3.61
PAIR = GaussianPair(mu_c=2.0, s_c=0.5, mu_u=-0.8, s_u=1.9)
N = 20_000
T0, TN = 100.0, 1e-3


def pair_denoiser(pair, w):
    return cfg_denoisers(pair.unconditional.denoise, pair.conditional.denoise, w)


# -- the guided score and the target -----------------------------------------------------------

@pytest.mark.parametrize("pair", [PAIR, GaussianPair([1.0, -2.0], 0.3, [0.0, 0.5], 1.2)], ids=["1d", "2d"])
@pytest.mark.parametrize("w", [0.0, 1.0, 3.0, -0.5])
def test_guided_denoiser_is_cfg_of_the_two_gaussians(pair, w):
    z = torch.randn(50, len(pair.means[0]), dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for t in (0.0, 0.05, 1.0, 40.0):
        torch.testing.assert_close(guided_denoiser(pair, w)(z, t), pair_denoiser(pair, w)(z, t),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("w", [0.0, 1.0, 2.5, 6.0, -0.05])
@pytest.mark.seed("000-24")
def test_target_is_the_normalised_product_on_a_grid(w):
    y = torch.linspace(-80, 80, 800_001, dtype=torch.float64)[:, None]
    log_q = w * PAIR.conditional.log_prob(y) + (1 - w) * PAIR.unconditional.log_prob(y)
    q = torch.softmax(log_q, 0)
    mean = (q * y[:, 0]).sum()
    var = (q * (y[:, 0] - mean) ** 2).sum()
    m, v = target(PAIR, w)
    assert m.item() == pytest.approx(mean.item(), abs=1e-9)
    assert v == pytest.approx(var.item(), rel=1e-8)


def test_target_endpoints_and_not_normalisable():
    assert target(PAIR, 1.0)[0].item() == 2.0 and target(PAIR, 1.0)[1] == pytest.approx(0.25, rel=1e-15)
    assert target(PAIR, 0.0)[0].item() == pytest.approx(-0.8) and target(PAIR, 0.0)[1] == pytest.approx(3.61)
    # precision w/0.25 + (1 − w)/3.61 < 0 for w < −0.0744
    with pytest.raises(ValueError, match="not normalisable at w=-0.5"):
        target(PAIR, -0.5)


# -- the continuous-time law against closed forms --------------------------------------------------

@pytest.mark.parametrize("sampler,lam,nu", [("ode", 0.5, 0.0), ("sde", 1.0, 1.0)])
def test_w_one_and_zero_are_the_unguided_closed_forms(sampler, lam, nu):
    """w = 1 runs the conditional, w = 0 the unconditional: chapter 2's single-Gaussian solution."""
    for w, mu, s in ((1.0, 2.0, 0.5), (0.0, -0.8, 1.9)):
        m, v = cfg_law(PAIR, w, sampler=sampler, t0=T0, tN=TN)
        m_ref, v_ref = linear_reverse_moments(s * s, T0, TN, -mu, T0, score_scale=lam, noise=nu)
        assert m.item() - mu == pytest.approx(m_ref, abs=1e-12)
        assert v == pytest.approx(v_ref, rel=1e-12)
        # from t_0 = ∞ to t = 0: the Gaussian itself, exactly
        m, v = cfg_law(PAIR, w, sampler=sampler)
        assert m.item() == pytest.approx(mu, abs=1e-12) and v == pytest.approx(s * s, rel=1e-12)


@pytest.mark.parametrize("w", [2.0, 4.0, -1.0])
@pytest.mark.parametrize("sampler,lam,nu", [("ode", 0.5, 0.0), ("sde", 1.0, 1.0)])
def test_equal_widths_give_one_gaussian_at_the_extrapolated_mean(w, sampler, lam, nu):
    """s_c = s_∅: S_w is the score of N(μ_∅ + w (μ_c − μ_∅), s²) at every t, so CFG samples exactly that."""
    pair = GaussianPair([2.0, 0.0], 0.7, [-1.0, 1.0], 0.7)
    mu_w = pair.means[1] + w * (pair.means[0] - pair.means[1])
    m, v = cfg_law(pair, w, sampler=sampler, t0=T0, tN=TN, m0=[0.3, -0.2], v0=50.0)
    for k in range(2):
        m_ref, v_ref = linear_reverse_moments(0.49, T0, TN, [0.3, -0.2][k] - mu_w[k].item(), 50.0,
                                              score_scale=lam, noise=nu)
        assert m[k].item() - mu_w[k].item() == pytest.approx(m_ref, abs=1e-12)
        assert v == pytest.approx(v_ref, rel=1e-12)
    assert target(pair, w)[0] == pytest.approx(mu_w) and target(pair, w)[1] == pytest.approx(0.49)


@pytest.mark.parametrize("w", [0.5, 2.0, 4.0, 8.0])
def test_ode_variance_is_the_geometric_interpolation(w):
    v = cfg_law(PAIR, w, sampler="ode")[1]
    assert v == pytest.approx(ode_limit_variance(PAIR, w), rel=1e-12)
    assert v == pytest.approx(3.61 ** (1 - w) * 0.25**w, rel=1e-12)
    # finite t_0 approaches the limit
    assert cfg_law(PAIR, w, sampler="ode", t0=1e8, tN=0.0)[1] == pytest.approx(v, rel=1e-6)


@pytest.mark.parametrize("w", [1.5, 2.0, 4.0, 8.0])
@pytest.mark.seed("001-15", "001-16", "004-13")
def test_overshoot_and_shrink(w):
    """w > 1 with s_c < s_∅: every law is pushed past μ_c away from μ_∅ and narrower than s_c²;
    CFG (ODE most) overshoots the target and is narrower than it."""
    m_t, v_t = target(PAIR, w)
    m_sde, v_sde = cfg_law(PAIR, w, sampler="sde")
    m_ode, v_ode = cfg_law(PAIR, w, sampler="ode")
    assert 2.0 < m_t.item() < m_sde.item() < m_ode.item()
    assert v_ode < v_sde < v_t < 0.25


def test_sde_with_t0_inf_is_the_limit_of_finite_t0():
    for w in (2.0, 4.0):
        m, v = cfg_law(PAIR, w, sampler="sde")
        m1, v1 = cfg_law(PAIR, w, sampler="sde", t0=1e7, tN=0.0)
        assert m1.item() == pytest.approx(m.item(), abs=1e-5) and v1 == pytest.approx(v, rel=1e-5)


# -- simulations ---------------------------------------------------------------------------------

def affine_recursion(ts, m0, v0, step, noise):
    """Push (mean, variance) through the affine steps z ← A z + B + √q ε; A, B read off step(z) at z = 0, 1."""
    m, v = m0, v0
    for t, tn in zip(ts[:-1].tolist(), ts[1:].tolist()):
        B = step(0.0, t, tn)
        A = step(1.0, t, tn) - B
        m, v = A * m + B, A * A * v + noise * (t - tn)
    return m, v


def heun_step(pair, w):
    def f(z, t, tn):
        lam, b = guided_coefficients(pair, w, t)
        lam_n, b_n = guided_coefficients(pair, w, tn)
        d = 0.5 * (lam * z - b.item())                       # dz/dt = −½ S_w
        z_hat = z + (tn - t) * d
        return z + (tn - t) * (d + 0.5 * (lam_n * z_hat - b_n.item())) / 2
    return f


def em_step(pair, w):
    def f(z, t, tn):
        lam, b = guided_coefficients(pair, w, t)
        return z + (b.item() - lam * z) * (t - tn)              # z ← z + S_w Δt
    return f


def assert_moments(z, m, v):
    n = len(z)
    mean, var = z.mean().item(), z.var().item()
    assert abs(mean - m) < 5 * math.sqrt(v / n), (mean, m)
    assert abs(var - v) < 5 * v * math.sqrt(2 / (n - 1)), (var, v)


@pytest.mark.parametrize("w", [0.0, 1.0, 2.0, 4.0])
def test_ode_heun_simulation_matches_recursion_and_closed_form(w):
    ts = geometric_ts(T0, TN, 400)
    g = torch.Generator().manual_seed(1)
    z = math.sqrt(T0) * torch.randn(N, 1, dtype=torch.float64, generator=g)
    y = sample_ode_heun(pair_denoiser(PAIR, w), z, ts)
    m, v = affine_recursion(ts, 0.0, T0, heun_step(PAIR, w), 0.0)
    assert_moments(y, m, v)
    # Heun is second order: 400 → 1600 steps divide the error by about 16
    m_c, v_c = cfg_law(PAIR, w, sampler="ode", t0=T0, tN=TN)
    m4, v4 = affine_recursion(geometric_ts(T0, TN, 1600), 0.0, T0, heun_step(PAIR, w), 0.0)
    assert abs(v4 - v_c) < abs(v - v_c) / 10 + 1e-14 and v4 == pytest.approx(v_c, rel=1e-4)
    assert m4 == pytest.approx(m_c.item(), abs=1e-4)


@pytest.mark.parametrize("w", [0.0, 1.0, 2.0, 4.0])
def test_reverse_sde_simulation_matches_recursion_and_closed_form(w):
    g = torch.Generator().manual_seed(2)
    ts = geometric_ts(T0, TN, 1000)
    z = math.sqrt(T0) * torch.randn(N, 1, dtype=torch.float64, generator=g)
    y = sample_reverse_sde(pair_denoiser(PAIR, w), z, ts, generator=g)
    m, v = affine_recursion(ts, 0.0, T0, em_step(PAIR, w), 1.0)
    assert_moments(y, m, v)
    # Euler–Maruyama is first order: 1000 → 8000 steps approach the continuous law
    m_c, v_c = cfg_law(PAIR, w, sampler="sde", t0=T0, tN=TN)
    m8, v8 = affine_recursion(geometric_ts(T0, TN, 8000), 0.0, T0, em_step(PAIR, w), 1.0)
    assert abs(v8 - v_c) < abs(v - v_c) / 4 + 1e-12 and v8 == pytest.approx(v_c, rel=5e-3)
    assert m8 == pytest.approx(m_c.item(), abs=2e-3)


def test_isotropic_2d_simulation():
    pair = GaussianPair([1.0, -2.0], 0.3, [0.0, 0.5], 1.2)
    w = 3.0
    g = torch.Generator().manual_seed(3)
    z = math.sqrt(T0) * torch.randn(N, 2, dtype=torch.float64, generator=g)
    y = sample_ode_heun(pair_denoiser(pair, w), z, geometric_ts(T0, TN, 400))
    m, v = cfg_law(pair, w, sampler="ode", t0=T0, tN=TN)
    for k in range(2):
        assert_moments(y[:, k], m[k].item(), v)


# -- bad input -----------------------------------------------------------------------------------

def test_bad_input():
    with pytest.raises(ValueError, match="s_c must be a finite standard deviation > 0"):
        GaussianPair(0.0, 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="s_u must be"):
        GaussianPair(0.0, 1.0, 1.0, math.nan)
    with pytest.raises(ValueError, match="one shape"):
        GaussianPair([0.0, 1.0], 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="sampler must be 'ode' or 'sde'"):
        cfg_law(PAIR, 2.0, sampler="ddim")
    with pytest.raises(ValueError, match="need t0 > tN >= 0"):
        cfg_law(PAIR, 2.0, t0=1.0, tN=2.0)
    with pytest.raises(ValueError, match="need a finite t0"):
        cfg_law(PAIR, 2.0, v0=1.0)
    with pytest.raises(ValueError, match="w must be a finite number"):
        cfg_law(PAIR, math.inf)
    with pytest.raises(ValueError, match="t must be a finite noise variance"):
        guided_coefficients(PAIR, 2.0, -1.0)
    assert np.isfinite(cfg_law(PAIR, -1.0, sampler="sde")[1])  # CFG runs where the target does not exist


@pytest.mark.seed("000-29")
def test_guiding_away_from_a_narrower_condition_amplifies():
    """u = "blurry": s_∅ < s_c.  For w > 1 the target is not normalisable, but CFG runs and its law
    (closed form) is wider than p(y | c): the ODE's variance is (s_c/s_∅)^{2(w−1)} s_c² = 11.1 at w = 2."""
    pair, w = GaussianPair(0.0, 1.0, 0.0, 0.3), 2.0
    with pytest.raises(ValueError, match="not normalisable"):
        target(pair, w)
    assert ode_limit_variance(pair, w) == pytest.approx(1 / 0.09)
    g = torch.Generator().manual_seed(5)
    D = pair_denoiser(pair, w)
    z = math.sqrt(T0) * torch.randn(N, 1, dtype=torch.float64, generator=g)
    y = sample_ode_heun(D, z, geometric_ts(T0, TN, 400))
    m, v = cfg_law(pair, w, sampler="ode", t0=T0, tN=TN)
    assert_moments(y, m.item(), v)
    ts = geometric_ts(T0, TN, 1000)
    y = sample_reverse_sde(D, math.sqrt(T0) * torch.randn(N, 1, dtype=torch.float64, generator=g), ts, generator=g)
    m, v = affine_recursion(ts, 0.0, T0, em_step(pair, w), 1.0)
    assert_moments(y, m, v)
    assert v == pytest.approx(cfg_law(pair, w, sampler="sde", t0=T0, tN=TN)[1], rel=0.03)
    assert v > 40  # the SDE amplifies even more than the ODE
