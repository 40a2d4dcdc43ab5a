"""Every sampler on one Gaussian y ~ N(μ, s²), with the exact denoiser, against closed forms.

For each sampler the end point is Gaussian (the process is linear), so we check
two things:

1. the simulated mean and variance equal the exact *discrete-time* recursion
   derived here independently (in the course's z-space), within 5 standard
   errors of the sample size n (SE of a mean √(v/n), of a variance v·√(2/(n−1)));
2. on a fine grid the recursion converges to the continuous-time closed form of
   ``tempguide.diffusion.gaussian`` (book: "Diffusion temperature", closed forms).
"""
import math

import pytest
import torch

from tempguide import toy
from tempguide.diffusion import (ddpm_alpha_bars, eps_from_denoiser, final_variances, geometric_ts,
                                 linear_reverse_moments, sample_annealed_langevin, sample_ddim, sample_ddpm,
                                 sample_ode_euler, sample_ode_heun, sample_reverse_sde,
                                 sample_reverse_sde_rescaled, scale_eps, scale_score, t_from_alpha_bar)

MU, S = 1.5, 0.7
S2 = S * S
N = 20_000
GAUSS = toy.GaussianMixture([1.0], [[MU]], [S])
T0, TN, STEPS = 100.0, 1e-3, 400


def start(n=N, t0=T0, temperature=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return math.sqrt(temperature * t0) * torch.randn(n, 1, dtype=torch.float64, generator=g), g


def assert_moments(z, m_exact, v_exact):
    """Sample mean/variance of z equal (m_exact + μ, v_exact) within 5 standard errors."""
    n = len(z)
    mean, var = z.mean().item(), z.var().item()
    assert abs(mean - (MU + m_exact)) < 5 * math.sqrt(v_exact / n), (mean, MU + m_exact)
    assert abs(var - v_exact) < 5 * v_exact * math.sqrt(2 / (n - 1)), (var, v_exact)


def recursion(ts, v0, m0, step):
    """Iterate (m, v) ← (c m, c² v + q) with (c, q) = step(t, t_next); u = z − μ."""
    m, v = m0, v0
    for t, t_next in zip(ts[:-1].tolist(), ts[1:].tolist()):
        c, q = step(t, t_next)
        m, v = c * m, c * c * v + q
    return m, v


def assert_converges(step, m0, v0, closed, *, t0=T0, order=1):
    """The recursion on 400 → 4000 geometric steps approaches the continuous closed form (m, v) at the method's order."""
    errors = []
    for n in (400, 4000):
        m, v = recursion(geometric_ts(t0, TN, n), v0, m0, step)
        errors.append(abs(v - closed[1]))
        assert m == pytest.approx(closed[0], abs=0.05 if n == 400 else 5e-3)
    assert errors[1] < 5e-3 * closed[1]
    assert errors[1] < errors[0] / (10 ** order / 2) or errors[1] < 1e-9


def sde_step(T, lam=1.0):
    # u ← u + λ·(−u/a)·Δt + √(TΔt) ε,  a = s² + t
    return lambda t, tn: (1 - lam * (t - tn) / (S2 + t), T * (t - tn))


def ode_euler_step(t, tn):
    # d = (z − D)/(2t) = u/(2a)  ⇒  u ← u (1 − Δt/(2a))
    return 1 - (t - tn) / (2 * (S2 + t)), 0.0


def ode_heun_step(t, tn):
    c1 = 1 - (t - tn) / (2 * (S2 + t))
    return 1 - (t - tn) / 4 * (1 / (S2 + t) + c1 / (S2 + tn)), 0.0


# -- reverse SDE, both forms, at several temperatures --------------------------------------

@pytest.mark.parametrize("T", [1.0, 0.5, 2.0])
@pytest.mark.seed("000-13", "000-15")
def test_reverse_sde_matches_recursion_and_closed_form(T):
    ts = geometric_ts(T0, TN, STEPS)
    z, g = start()
    z = sample_reverse_sde(GAUSS.denoise, z, ts, temperature=T, generator=g)
    m, v = recursion(ts, T0, -MU, sde_step(T))
    assert_moments(z, m, v)
    closed = linear_reverse_moments(S2, T0, TN, -MU, T0, score_scale=1.0, noise=T)
    assert_converges(sde_step(T), -MU, T0, closed)
    # for t_0 ≫ s² and t_N → 0 the closed form is T·s², the variance of P^β for a Gaussian
    assert closed[1] == pytest.approx(T * S2, rel=0.01)


@pytest.mark.parametrize("beta", [2.0, 0.5])
@pytest.mark.seed("000-14", "000-40")
def test_rescaled_form_is_the_same_process(beta):
    """Form 2 (t' = t/β, drift × β, unit noise) with the same ε gives the same path as form 1 at T = 1/β."""
    ts = geometric_ts(T0, TN, 50)
    z, _ = start(n=500)
    z1 = sample_reverse_sde(GAUSS.denoise, z, ts, temperature=1 / beta, generator=torch.Generator().manual_seed(7))
    z2 = sample_reverse_sde_rescaled(GAUSS.denoise, z, ts, beta=beta, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(z1, z2, rtol=1e-9, atol=1e-9)


@pytest.mark.seed("000-14")
def test_rescaled_form_matches_closed_form():
    beta = 2.0
    ts = geometric_ts(T0, TN, STEPS)
    z, g = start()
    z = sample_reverse_sde_rescaled(GAUSS.denoise, z, ts, beta=beta, generator=g)
    assert_moments(z, *linear_reverse_moments(S2, T0, TN, -MU, T0, score_scale=1.0, noise=1 / beta))


def test_score_scaling_sde_gives_s2_over_2beta_minus_1():
    """Score × β with unit noise (ε ÷ τ, τ = 1/β): variance s²/(2β − 1), not s²/β."""
    beta = 2.0
    ts = geometric_ts(T0, TN, STEPS)
    z, g = start()
    z = sample_reverse_sde(scale_score(GAUSS.denoise, beta), z, ts, generator=g)
    m, v = recursion(ts, T0, -MU, sde_step(1.0, lam=beta))
    assert_moments(z, m, v)
    closed = linear_reverse_moments(S2, T0, TN, -MU, T0, score_scale=beta, noise=1.0)
    assert_converges(sde_step(1.0, lam=beta), -MU, T0, closed)
    assert closed[1] == pytest.approx(S2 / (2 * beta - 1), rel=0.01)


# -- probability-flow ODE ----------------------------------------------------------------

@pytest.mark.parametrize("sampler,step,steps", [(sample_ode_euler, ode_euler_step, 400),
                                               (sample_ode_heun, ode_heun_step, 60)])
@pytest.mark.parametrize("T", [1.0, 0.5])
@pytest.mark.seed("000-15")
def test_ode_from_scaled_start(sampler, step, steps, T):
    ts = geometric_ts(T0, TN, steps)
    z, _ = start(temperature=T)
    z = sampler(GAUSS.denoise, z, ts)
    m, v = recursion(ts, T * T0, -MU, step)
    assert_moments(z, m, v)
    closed = linear_reverse_moments(S2, T0, TN, -MU, T * T0, score_scale=0.5, noise=0.0)
    assert_converges(step, -MU, T * T0, closed, order=1 if step is ode_euler_step else 2)
    assert closed[1] == pytest.approx(T * S2, rel=0.01)


def test_heun_is_second_order_euler_first_order():
    """Halving the step divides the error of the final variance by ~2 (Euler) and ~4 (Heun)."""
    vc = linear_reverse_moments(S2, T0, TN, 0.0, T0, score_scale=0.5, noise=0.0)[1]
    for step, order in ((ode_euler_step, 1), (ode_heun_step, 2)):
        e1 = abs(recursion(geometric_ts(T0, TN, 101), T0, 0.0, step)[1] - vc)
        e2 = abs(recursion(geometric_ts(T0, TN, 201), T0, 0.0, step)[1] - vc)
        assert 2 ** order * 0.8 < e1 / e2 < 2 ** order * 1.25


# -- DDPM and DDIM (ε-network on the ᾱ schedule) ----------------------------------------------

def ddpm_levels():
    return torch.cat([ddpm_alpha_bars().flip(0), torch.ones(1, dtype=torch.float64)])


@pytest.mark.parametrize("T", [1.0, 0.5])
@pytest.mark.seed("001-02", "003-19")
def test_ddpm_matches_z_space_recursion(T):
    """In z = x/√ᾱ a DDPM step is z_s = (s/t) z_t + (1 − s/t) D(z_t) + √(T s (t−s)/t) ε."""
    alpha_bars = ddpm_levels()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(N, 1, dtype=torch.float64, generator=g)
    x = sample_ddpm(eps_from_denoiser(GAUSS.denoise), x, alpha_bars, temperature=T, generator=g)
    ts = t_from_alpha_bar(alpha_bars).tolist()
    m, v = -MU, 1 + ts[0]  # z = x/√ᾱ_0 has variance 1/ᾱ_0 = 1 + t_0
    for t, s in zip(ts[:-1], ts[1:]):
        c = s / t + (1 - s / t) * S2 / (S2 + t)
        m, v = c * m, c * c * v + T * s * (t - s) / t
    assert_moments(x, m, v)
    # DDPM's own 1000-level grid is close to, not at, the continuous limit (the reverse SDE at temperature T)
    assert v == pytest.approx(T * S2, rel=0.02)


@pytest.mark.parametrize("n_steps", [1000, 50])
def test_ddim_matches_z_space_recursion(n_steps):
    """In z-space DDIM (η=0) is z_s = D + √(s/t)(z_t − D): Euler in σ of the probability-flow ODE."""
    alpha_bars = ddpm_alpha_bars()[::1000 // n_steps].flip(0)
    alpha_bars = torch.cat([alpha_bars, torch.ones(1, dtype=torch.float64)])
    g = torch.Generator().manual_seed(2)
    x = torch.randn(N, 1, dtype=torch.float64, generator=g)
    x = sample_ddim(eps_from_denoiser(GAUSS.denoise), x, alpha_bars)
    ts = t_from_alpha_bar(alpha_bars).tolist()
    m, v = -MU, 1 + ts[0]
    for t, s in zip(ts[:-1], ts[1:]):
        c = S2 / (S2 + t) + math.sqrt(s / t) * t / (S2 + t)
        m, v = c * m, c * c * v
    assert_moments(x, m, v)
    if n_steps == 1000:  # close to the continuous probability-flow ODE
        assert v == pytest.approx(S2, rel=0.02)


# -- annealed Langevin -----------------------------------------------------------------------

@pytest.mark.parametrize("T", [1.0, 0.5])
@pytest.mark.seed("003-10")
def test_annealed_langevin_matches_recursion_and_stationary_law(T):
    """u ← u(1 − α/(2a)) + √(Tα) ε; with many steps at the last level the law is p_{t_L}^{1/T}: variance T·a_L."""
    ts = geometric_ts(10.0, 0.01, 10)
    z, g = start(t0=10.0)
    z = sample_annealed_langevin(GAUSS.denoise, z, ts, n_steps=100, step_size=0.01, temperature=T, generator=g)
    m, v = -MU, 10.0
    for t in ts.tolist():
        alpha = 0.01 * t / ts[-1].item()
        for _ in range(100):
            c = 1 - alpha / (2 * (S2 + t))
            m, v = c * m, c * c * v + T * alpha
    assert_moments(z, m, v)
    # discrete stationary variance Tα/(1 − c²) ≈ T a_L up to O(α)
    assert v == pytest.approx(T * (S2 + ts[-1].item()), rel=0.01)


@pytest.mark.seed("000-15")
def test_final_variance_table_orders_the_variants():
    """The book's table: noise × √T and the scaled-start ODE give T s² (= P^β); score × β does not."""
    table = final_variances(S2, 6400.0, 1e-6, beta=2.0)
    assert table["reverse SDE, noise x sqrt(T)"] == pytest.approx(S2 / 2, rel=1e-3)
    assert table["ODE from scaled start"] == pytest.approx(S2 / 2, rel=1e-3)
    assert table["reverse SDE, score x beta"] == pytest.approx(S2 / 3, rel=1e-3)
    assert table["ODE, score x beta"] < 1e-3 * S2  # collapses onto the mean


# -- the two ODE rows of the book's table that the tests above do not reach -----------------------

def ode_heun_step_scaled(lam):
    # Heun on du/dt = λ u/(2a) (score × λ): the predictor c1, then the trapezoid of the two slopes
    def step(t, tn):
        c1 = 1 - lam * (t - tn) / (2 * (S2 + t))
        return 1 - lam * (t - tn) / 4 * (1 / (S2 + t) + c1 / (S2 + tn)), 0.0
    return step


@pytest.mark.parametrize("beta", [2.0, 0.5])
def test_ode_with_score_times_beta(beta):
    """The book's row "ODE, score × β": λ = β/2, ν = 0, v_N = t_0 (a_N/a_0)^β — collapses for β > 1, explodes below."""
    ts = geometric_ts(T0, TN, 60)
    z, _ = start()
    z = sample_ode_heun(scale_score(GAUSS.denoise, beta), z, ts)
    m, v = recursion(ts, T0, -MU, ode_heun_step_scaled(beta))
    assert_moments(z, m, v)
    closed = linear_reverse_moments(S2, T0, TN, -MU, T0, score_scale=beta / 2, noise=0.0)
    assert_converges(ode_heun_step_scaled(beta), -MU, T0, closed, order=2)
    a0, aN = S2 + T0, S2 + TN
    assert closed[1] == pytest.approx(T0 * (aN / a0) ** beta, rel=1e-12)
    assert final_variances(S2, T0, TN, beta)["ODE, score x beta"] == pytest.approx(closed[1], rel=1e-12)


# -- DDPM's two knobs on one Gaussian: noise × τ against ε̂ ÷ τ (book: dt-noise-vs-eps) ---------------------

def ddpm_knob_recursion(alpha_bars, temperature, tau):
    """z-space DDPM with ŷ = z + (D − z)/τ (ε̂ ÷ τ) and noise variance T·s(t−s)/t: u ← c u + noise."""
    ts = t_from_alpha_bar(alpha_bars).tolist()
    m, v = -MU, 1 + ts[0]
    for t, s in zip(ts[:-1], ts[1:]):
        c = 1 - (t - s) / ((S2 + t) * tau)       # (s/t) u + (1 − s/t)(u − u t/(aτ))
        m, v = c * m, c * c * v + temperature * s * (t - s) / t
    return m, v


@pytest.mark.parametrize("tau", [0.8, 0.6])
def test_ddpm_noise_times_tau_against_eps_over_tau(tau):
    """Noise × τ ends at τ² s² (= P^β, β = 1/τ²); ε̂ ÷ τ at τ s²/(2 − τ) (λ = 1/τ, ν = 1), always the wider.

    Both DDPM runs are checked against their own z-space recursions, the recursions against the
    continuous closed forms on DDPM's 1000 levels, and the closed forms against the book's formulas.
    """
    alpha_bars = ddpm_levels()
    eps_net = eps_from_denoiser(GAUSS.denoise)
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(N, 1, dtype=torch.float64, generator=g)
    noise_tau = sample_ddpm(eps_net, x0, alpha_bars, temperature=tau**2, generator=g)
    eps_tau = sample_ddpm(scale_eps(eps_net, tau), x0, alpha_bars, generator=g)
    m1, v1 = ddpm_knob_recursion(alpha_bars, tau**2, 1.0)
    m2, v2 = ddpm_knob_recursion(alpha_bars, 1.0, tau)
    assert_moments(noise_tau, m1, v1)
    assert_moments(eps_tau, m2, v2)
    t0 = t_from_alpha_bar(alpha_bars)[0].item()
    closed1 = linear_reverse_moments(S2, t0, 0.0, -MU, 1 + t0, score_scale=1.0, noise=tau**2)[1]
    closed2 = linear_reverse_moments(S2, t0, 0.0, -MU, 1 + t0, score_scale=1 / tau, noise=1.0)[1]
    assert v1 == pytest.approx(closed1, rel=0.02) and v2 == pytest.approx(closed2, rel=0.02)
    assert closed1 == pytest.approx(tau**2 * S2, rel=1e-4)       # t_0 ≈ 2.5e4: the start is forgotten
    assert closed2 == pytest.approx(tau * S2 / (2 - tau), rel=1e-4)
    # the ratio 1/(τ(2 − τ)) > 1: dividing ε̂ keeps more spread than scaling the noise at the same τ
    assert closed2 / closed1 == pytest.approx(1 / (tau * (2 - tau)), rel=1e-4)
    assert noise_tau.var().item() < eps_tau.var().item()
