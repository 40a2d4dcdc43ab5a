"""The refinements of CFG on the exact toys (``tempguide.guidance.refinement_laws``) against closed forms.

1. The prediction spaces: ε̂ = (z − D)/√t and the straight-path velocity v = E[y − ε | z] of one
   Gaussian in closed form; the conversions invert each other.
2. Endpoints of the rules plugged into the exact pair: rescale φ = 0 and APG η = 1 are plain CFG in
   every space; in 1-D APG (η = 0) and CFG-Zero* return D_c for every w (the population of one
   example is one number); an empty guidance interval is the conditional sampler, [0, ∞) plain CFG.
3. Laws: w = 1 samples p(y | c) within the i.i.d. sampling bound E W₁ ≤ ∫ √(F(1 − F)/n) dx;
   plain CFG, the guidance interval and autoguidance on a Gaussian pair give the mean and variance
   of ``gaussian_pair.cfg_law`` (the interval by composing three exact runs: w = 1, w, w = 1;
   autoguidance is CFG on the pair N(μ, s²), N(μ, (f·s)²)).
4. ``sliced_w1`` equals the closed form E|a − Y| for a point mass; ``law_summary`` of exact samples.
5. CFG++ on a geometric grid is DDIM-CFG at the constant weight w = λ/(1 − σ_{i+1}/σ_i).
"""
import math

import pytest
import torch

from tempguide import toy
from tempguide.diffusion import alpha_bar_from_t, geometric_ts, sample_ddim
from tempguide.guidance import cfg, cfg_denoisers, cfg_eps
from tempguide.guidance.cfgpp import sample_ddim_cfgpp
from tempguide.guidance.gaussian_pair import GaussianPair, cfg_law
from tempguide.guidance.interval import cfg_interval_denoisers
from tempguide.guidance.refinement_laws import (ExactEpsNet, autoguided_denoiser, from_space, law_summary,
                                                quasi_normal, rule_denoiser, sample_ode, sliced_w1, to_space,
                                                widened)
from tempguide.guidance.refinements import apg, cfg_zero_star, rescale

MIX_1D, MIX_2D = toy.mixture_1d(), toy.mixture_2d()
T_MAX, T_MIN, STEPS = 1e4, 1e-4, 120
N = 1024


def points(n, d, seed=0):
    return 3 * torch.randn(n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def normal_cdf(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


# -- 1. spaces ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("t", [0.01, 0.7, 30.0])
def test_eps_and_velocity_of_one_gaussian_in_closed_form(t):
    mu, s = 1.5, 0.6
    gauss = toy.GaussianMixture([1.0], [[mu]], [s])
    z, t_ = points(20, 1), torch.tensor(t, dtype=torch.float64)
    eps = math.sqrt(t) * (z - mu) / (s**2 + t)                              # E[ε | z], z = y + √t ε
    y = mu + s**2 / (s**2 + t) * (z - mu)                                   # E[y | z]
    D = gauss.denoise(z, t)
    torch.testing.assert_close(to_space(D, z, t_, "eps"), eps, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(to_space(D, z, t_, "velocity"), y - eps, rtol=1e-12, atol=1e-12)   # v = E[y − ε]
    for space in ("denoiser", "eps", "velocity"):
        torch.testing.assert_close(from_space(to_space(D, z, t_, space), z, t_, space), D, rtol=1e-12, atol=1e-12)


def test_bad_space_and_widen_are_rejected():
    with pytest.raises(ValueError, match="space must be one of"):
        rule_denoiser(MIX_1D.denoise, MIX_1D.denoise, cfg, space="score")
    with pytest.raises(ValueError, match="widen must be a finite factor > 0"):
        widened(MIX_1D, 0.0)
    with pytest.raises(ValueError, match="n must be an int >= 2"):
        quasi_normal(1, 2)
    with pytest.raises(ValueError, match=r"y must have shape \(n, 2\)"):
        sliced_w1(MIX_2D, torch.zeros(5, 1))
    with pytest.raises(ValueError, match="c must be a class in"):
        autoguided_denoiser(MIX_1D, 2, 3.0)


# -- 2. endpoints of the rules -----------------------------------------------------------------------

@pytest.mark.parametrize("space", ["denoiser", "eps", "velocity"])
@pytest.mark.parametrize("w", [0.0, 2.0, 7.0])
def test_rescale_phi0_and_apg_eta1_are_plain_cfg(space, w):
    Du, Dc = MIX_2D.denoise, MIX_2D.condition(0).denoise
    z = points(64, 2)
    for t in (0.05, 1.0, 20.0):
        plain = cfg_denoisers(Du, Dc, w)(z, t)
        rescaled = rule_denoiser(Du, Dc, lambda u, c: rescale(cfg(u, c, w), c, 0.0), space=space)(z, t)
        projected = rule_denoiser(Du, Dc, lambda u, c: apg(u, c, w, eta=1.0), space=space)(z, t)
        torch.testing.assert_close(rescaled, plain, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(projected, plain, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("w", [2.0, 8.0])
def test_in_1d_apg_and_zero_star_switch_guidance_off(w):
    Du, Dc = MIX_1D.denoise, MIX_1D.condition(1).denoise
    z = points(64, 1)
    for t in (0.05, 1.0, 20.0):
        guided = cfg_denoisers(Du, Dc, w)(z, t)
        assert (guided - Dc(z, t)).abs().max() > 0.1                        # plain CFG does guide here
        torch.testing.assert_close(rule_denoiser(Du, Dc, lambda u, c: apg(u, c, w, eta=0.0))(z, t), Dc(z, t))
        torch.testing.assert_close(rule_denoiser(Du, Dc, lambda u, c: cfg_zero_star(u, c, w), space="velocity")(z, t),
                                   Dc(z, t), rtol=1e-5, atol=1e-5)           # s* has ε = 1e-8 in its denominator


def test_in_2d_apg_eta0_guides_only_orthogonally_to_d_c():
    Du, Dc = MIX_2D.denoise, MIX_2D.condition(0).denoise
    z, t = points(64, 2), 2.0
    update = rule_denoiser(Du, Dc, lambda u, c: apg(u, c, 4.0, eta=0.0))(z, t) - Dc(z, t)
    assert (update * Dc(z, t)).sum(1).abs().max() < 1e-10                   # (w − 1)·Δ⊥ ⟂ D_c
    assert update.norm(dim=1).max() > 0.1


def test_empty_interval_is_the_conditional_sampler_and_full_interval_plain_cfg():
    Du, Dc = MIX_2D.denoise, MIX_2D.condition(0).denoise
    run = dict(t_max=T_MAX, t_min=T_MIN, steps=STEPS, seed=3)
    t_off = float(geometric_ts(T_MAX, T_MIN, STEPS)[40] * 1.01)            # between two grid levels
    cond = sample_ode(Dc, 256, 2, **run)
    torch.testing.assert_close(sample_ode(cfg_interval_denoisers(Du, Dc, 5.0, t_off, t_off), 256, 2, **run), cond)
    torch.testing.assert_close(sample_ode(cfg_interval_denoisers(Du, Dc, 5.0, 0.0, math.inf), 256, 2, **run),
                               sample_ode(cfg_denoisers(Du, Dc, 5.0), 256, 2, **run))
    assert (sample_ode(cfg_denoisers(Du, Dc, 5.0), 256, 2, **run) - cond).abs().max() > 0.5


# -- 3. laws ---------------------------------------------------------------------------------------

def w1_sampling_bound(target, n):
    """∫ √(F(1 − F)/n) dx ≥ E W₁ of n i.i.d. samples (1-D target), by E|F_n − F| ≤ √Var."""
    x = torch.linspace(-20, 20, 40001, dtype=torch.float64)
    F = (target.weights * 0.5 * (1 + torch.erf((x[:, None] - target.means[:, 0]) / (target.stds * math.sqrt(2))))).sum(1)
    return torch.trapezoid((F * (1 - F) / n).sqrt(), x).item()


@pytest.mark.parametrize("mix, c", [(MIX_1D, 0), (MIX_1D, 1), (MIX_2D, 0), (MIX_2D, 1)])
def test_w1_samples_the_conditional_law(mix, c):
    y = sample_ode(cfg_denoisers(mix.denoise, mix.condition(c).denoise, 1.0), N, mix.dim,
                   t_max=T_MAX, t_min=T_MIN, steps=STEPS)
    summary = law_summary(mix, c, y)
    target = mix.condition(c)
    # the start N(0, t_max) instead of p_{t_max}(· | c) shifts the mean by ≤ |μ|·max s/√t_max (PF-ODE of a Gaussian)
    start_bias = target.means.norm(dim=1).max().item() * target.stds.max().item() / math.sqrt(T_MAX)
    bound = max(w1_sampling_bound(target.restrict([k]), N) for k in range(target.num_components))
    assert summary.class_weight == 1.0
    assert summary.sliced_w1 < bound + start_bias + 0.005, (summary.sliced_w1, bound)
    assert abs(summary.width_ratio - 1) < 0.02 and summary.mean_error < 0.03
    assert summary.mode_tv < 1 / math.sqrt(N)


def test_w1_check_fails_for_the_unconditional_law():
    y = sample_ode(MIX_1D.denoise, N, 1, t_max=T_MAX, t_min=T_MIN, steps=STEPS)
    assert law_summary(MIX_1D, 1, y).class_weight < 0.35
    assert law_summary(MIX_1D, 1, y).sliced_w1 > 1.0


def pair_moments(denoiser, steps=240):
    """Mean and variance of the Heun PF-ODE (second order: 240 steps over 8 decades of t leave ~0.7 % in the variance)."""
    y = sample_ode(denoiser, 2048, 1, t_max=T_MAX, t_min=T_MIN, steps=steps)
    return y.mean(0), y.var(0).mean().item()


@pytest.mark.parametrize("w", [2.0, 4.0])
def test_plain_cfg_on_a_gaussian_pair_is_cfg_law(w):
    pair = GaussianPair(mu_c=2.0, s_c=0.5, mu_u=-0.8, s_u=1.9)
    mean, var = pair_moments(cfg_denoisers(pair.unconditional.denoise, pair.conditional.denoise, w))
    m_exact, v_exact = cfg_law(pair, w, sampler="ode", t0=T_MAX, tN=T_MIN, m0=[0.0], v0=T_MAX)
    assert abs(mean.item() - m_exact.item()) < 0.01 and abs(var / v_exact - 1) < 0.012, (mean, var, m_exact, v_exact)


@pytest.mark.parametrize("w", [3.0, 6.0])
def test_interval_on_a_gaussian_pair_composes_three_exact_laws(w):
    pair = GaussianPair(mu_c=2.0, s_c=0.5, mu_u=-0.8, s_u=1.9)
    t_lo, t_hi = 0.3, 5.0
    mean, var = pair_moments(cfg_interval_denoisers(pair.unconditional.denoise, pair.conditional.denoise, w,
                                                    t_lo, t_hi))
    m, v = cfg_law(pair, 1.0, sampler="ode", t0=T_MAX, tN=t_hi, m0=[0.0], v0=T_MAX)      # unguided above t_hi
    m, v = cfg_law(pair, w, sampler="ode", t0=t_hi, tN=t_lo, m0=m, v0=v)                  # guided inside
    m, v = cfg_law(pair, 1.0, sampler="ode", t0=t_lo, tN=T_MIN, m0=m, v0=v)               # unguided below t_lo
    # the weight jumps at t_lo and t_hi: a Heun step across an edge is first order (here 4–7 % in the variance)
    assert abs(mean.item() - m.item()) < 0.01 and abs(var / v - 1) < 0.1, (mean, var, m, v)
    plain_m, plain_v = cfg_law(pair, w, sampler="ode", t0=T_MAX, tN=T_MIN, m0=[0.0], v0=T_MAX)
    assert abs(plain_m.item() - m.item()) > 0.02 and abs(plain_v / v - 1) > 0.8   # the interval changes the law


@pytest.mark.parametrize("widen, w", [(1.5, 3.0), (2.0, 2.0)])
def test_autoguidance_on_one_gaussian_is_cfg_on_a_pair_of_widths(widen, w):
    one = toy.GaussianMixture([1.0], [[1.0]], [0.5], labels=[0])
    mean, var = pair_moments(autoguided_denoiser(one, 0, w, widen=widen))
    pair = GaussianPair(mu_c=1.0, s_c=0.5, mu_u=1.0, s_u=0.5 * widen)
    m_exact, v_exact = cfg_law(pair, w, sampler="ode", t0=T_MAX, tN=T_MIN, m0=[0.0], v0=T_MAX)
    assert abs(mean.item() - m_exact.item()) < 0.01 and abs(var / v_exact - 1) < 0.012, (mean, var, m_exact, v_exact)
    assert v_exact < 0.25 * 0.8                                             # autoguidance narrows the mode


# -- 4. the distance and the summary ----------------------------------------------------------------

@pytest.mark.parametrize("a", [0.0, 0.8, 3.0])
def test_sliced_w1_of_a_point_mass_is_the_mean_absolute_deviation(a):
    mu, s = 0.5, 0.7
    gauss = toy.GaussianMixture([1.0], [[mu]], [s])
    d = a - mu                                                              # E|a − Y|, Y ~ N(μ, s²)
    exact = s * math.sqrt(2 / math.pi) * math.exp(-d**2 / (2 * s**2)) + d * (1 - 2 * normal_cdf(-d / s))
    # trapezoid: a jump of the empirical CDF costs at most one grid step h ≈ 7e-4
    assert abs(sliced_w1(gauss, torch.full((10, 1), a, dtype=torch.float64)) - exact) < 2e-4
    # in 2-D every direction θ sees the point mass θ·a against N(θ·μ, s²)
    gauss2 = toy.GaussianMixture([1.0], [[mu, -1.0]], [s])
    point, m = torch.tensor([a, 0.0], dtype=torch.float64), torch.tensor([mu, -1.0], dtype=torch.float64)
    angles = torch.arange(16, dtype=torch.float64) * math.pi / 16
    total = 0.0
    for theta in torch.stack([angles.cos(), angles.sin()], 1):
        d = (point - m) @ theta
        total += s * math.sqrt(2 / math.pi) * math.exp(-d**2 / (2 * s**2)) + d * (1 - 2 * normal_cdf(-d / s))
    assert abs(sliced_w1(gauss2, point.expand(7, 2)) - total / 16) < 2e-4


def test_law_summary_of_exact_samples():
    n = 20_000
    y = MIX_2D.condition(0).sample(n, generator=torch.Generator().manual_seed(0))
    summary = law_summary(MIX_2D, 0, y)
    assert summary.class_weight > 0.99
    assert abs(summary.mode_weights[0] - 0.8) < 5 * math.sqrt(0.16 / n)     # π = 0.4/0.5 within class 0
    assert summary.mean_error < 0.02 and abs(summary.width_ratio - 1) < 0.02
    assert summary.sliced_w1 < 0.02
    shifted = law_summary(MIX_2D, 0, y + torch.tensor([0.3, 0.0], dtype=torch.float64))
    assert 0.25 < shifted.mean_error < 0.35                                 # a shift of 0.3 is seen as 0.3


def test_quasi_normal_moments():
    q = quasi_normal(4096, 2, seed=1)
    assert q.abs().max() < 5 and q.mean(0).abs().max() < 1e-3 and (q.std(0) - 1).abs().max() < 5e-3


# -- 5. CFG++ on the exact toy ------------------------------------------------------------------------

def test_exact_eps_net_is_the_exact_noise_prediction():
    net = ExactEpsNet(MIX_2D)
    x, t = points(9, 2) / 3, torch.tensor(2.0, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2] * 3)
    z = x * math.sqrt(3.0)
    expected = torch.stack([(z[i] - [MIX_2D.condition(0), MIX_2D.condition(1), MIX_2D][int(labels[i])]
                             .denoise(z[i:i + 1], 2.0)[0]) / math.sqrt(2.0) for i in range(9)])
    torch.testing.assert_close(net(x, t, labels), expected)


@pytest.mark.parametrize("lam", [0.05, 0.3])
def test_cfgpp_on_a_geometric_grid_is_ddim_cfg_at_a_constant_weight(lam):
    net = ExactEpsNet(MIX_2D)
    ts = geometric_ts(100.0, 0.01, 40)
    alpha_bars = alpha_bar_from_t(ts)                                       # ends at t = 0.01, not at 0
    rho = math.sqrt(ts[1] / ts[0])                                          # σ_{i+1}/σ_i, the same every step
    x, labels = points(128, 2), torch.zeros(128, dtype=torch.long)
    plus = sample_ddim_cfgpp(net, x, alpha_bars, labels, lam)
    torch.testing.assert_close(plus, sample_ddim(cfg_eps(net, lam / (1 - rho)), x, alpha_bars, labels=labels))
    assert (plus - sample_ddim(cfg_eps(net, lam), x, alpha_bars, labels=labels)).abs().max() > 0.1
