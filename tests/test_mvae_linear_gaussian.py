"""The exact linear-Gaussian Markovian VAE (book: "The Markovian-VAE generalization", exact instance).

Closed forms are checked against Monte Carlo (tolerances from n), against densities evaluated
pointwise, and against chapter 4's Gaussian pair.
"""
import math

import pytest
import torch

from tempguide.guidance import gaussian_pair
from tempguide.mvae import fit_sigmas, generate_cfg, generate_guided, generate_tempered, residuals
from tempguide.mvae import linear_gaussian as lg

GOOD, NULL = lg.example()
ENC = lg.averaging_encoders(8)
DG, DN = lg.optimal_decoders(GOOD, ENC), lg.optimal_decoders(NULL, ENC)
SIG = lg.ml_sigmas(DG)
DECODERS = lg.as_callables({"good": DG, None: DN})


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _sample(law, n, seed=0):
    L = torch.linalg.cholesky(law.cov)
    return law.mean + torch.randn(n, law.mean.shape[0], generator=_g(seed), dtype=torch.float64) @ L.T


def _log_normal(z, mean, var):
    return -((z - mean) ** 2).sum(-1) / (2 * var) - z.shape[-1] / 2 * math.log(2 * math.pi * var)


def _close_to_law(z, law, k=5.0):
    """Mean and covariance of samples z (n, d) within k standard errors of the law."""
    n, cov = z.shape[0], law.cov
    se_mean = (cov.diagonal() / n).sqrt()
    sd_cov = ((cov.diagonal()[:, None] * cov.diagonal()[None] + cov ** 2) / n).sqrt()
    return bool(((z.mean(0) - law.mean).abs() <= k * se_mean + 1e-12).all()
                and ((torch.cov(z.T) - cov).abs() <= k * sd_cov + 1e-12).all())


@pytest.mark.seed("000-30")
def test_averaging_encoders():
    enc = lg.averaging_encoders(8)
    assert [tuple(P.shape) for P in enc] == [(4, 8), (2, 4), (1, 2)]
    y = torch.arange(8.0, dtype=torch.float64)[None]
    levels = lg.encode(y, enc)
    assert torch.allclose(levels[1], torch.tensor([[0.5, 2.5, 4.5, 6.5]], dtype=torch.float64))
    assert torch.allclose(levels[-1], y.mean(1, keepdim=True))
    with pytest.raises(ValueError, match="d0"):
        lg.averaging_encoders(6)


def test_exact_residual_noise_reproduces_the_data_law():
    # E[z_{i−1} | z_i] with noise N(0, R_{i−1}) is the true conditional, and z_{i+1}, … carry no more
    # information: the chain is the data law.  Any error in K, a or R breaks this.
    for law, decs in [(GOOD, DG), (NULL, DN)]:
        out = lg.chain_law(decs, [d.R for d in decs])[-1]
        assert torch.allclose(out.mean, law.mean, atol=1e-12)
        assert torch.allclose(out.cov, law.cov, atol=1e-12)


def test_decoders_are_consistent_with_the_encoder():
    # P_i E[z_{i−1} | z_i] = z_i: averaging the prediction gives back the coarse level.
    for P, d in zip(reversed(ENC), DG[1:]):
        assert torch.allclose(P @ d.K, torch.eye(P.shape[0], dtype=torch.float64), atol=1e-12)
        assert torch.allclose(P @ d.a, torch.zeros(P.shape[0], dtype=torch.float64), atol=1e-12)


def test_least_squares_decoders_match_the_conditional_expectations():
    n = 20_000
    fitted = lg.fit_decoders(lg.encode(_sample(GOOD, n), ENC))
    E = lg.level_maps(ENC, 8)
    for k, (f, d) in enumerate(zip(fitted[1:], DG[1:])):
        coarse = E[len(E) - 1 - k]
        C = coarse @ GOOD.cov @ coarse.T
        # OLS standard error of K_jm: sqrt(R_jj (C⁻¹)_mm / n) (+ the intercept's, ≈ sqrt(R_jj/n)·(1 + μ'C⁻¹μ))
        se_K = (d.R.diagonal()[:, None] * torch.linalg.inv(C).diagonal()[None] / n).sqrt()
        assert ((f.K - d.K).abs() <= 6 * se_K + 1e-9).all()
        mu = coarse @ GOOD.mean
        se_a = (d.R.diagonal() * (1 + mu @ torch.linalg.solve(C, mu)) / n).sqrt()
        assert ((f.a - d.a).abs() <= 6 * se_a + 1e-9).all()
        assert torch.allclose(f.R, d.R, atol=float(6 * d.R.diagonal().max() * math.sqrt(2 / n)))
    assert ((fitted[0].a - DG[0].a).abs() <= 5 * (DG[0].R.diagonal() / n).sqrt()).all()


def test_fit_sigmas_on_the_optimal_residuals_is_the_ml_sigma():
    n = 20_000
    levels = lg.encode(_sample(GOOD, n, seed=1), ENC)[::-1]                  # coarsest first, like DG
    preds = [DG[0].a.expand(n, -1)] + [d.a + z @ d.K.T for d, z in zip(DG[1:], levels[:-1])]
    sig = fit_sigmas(residuals(levels, preds))
    for s, s_exact, d in zip(sig, SIG, DG):
        # σ̂² is a mean of n·d_i squared residuals: relative sd of σ̂² ≲ sqrt(2/n)·(max eig R / mean eig R)
        ratio = float(torch.linalg.eigvalsh(d.R).max() / (d.R.trace() / d.R.shape[0]))
        assert abs(float(s) ** 2 / s_exact ** 2 - 1) <= 6 * ratio * math.sqrt(2 / n)


@pytest.mark.parametrize("mode", ["unadjusted", "tempered", "cfg", "seed"])
@pytest.mark.seed("000-37")
def test_chain_law_matches_the_generators(mode):
    n, beta, w = 20_000, 2.5, 2.0
    if mode == "unadjusted":
        z = generate_tempered(DECODERS, SIG, "good", 1.0, n=n, generator=_g(2))
        law = lg.chain_law(DG, SIG)[-1]
    elif mode == "tempered":
        z = generate_tempered(DECODERS, SIG, "good", beta, n=n, generator=_g(3))
        law = lg.chain_law(DG, SIG, beta)[-1]
    elif mode == "cfg":
        z = generate_cfg(DECODERS, SIG, "good", None, w, n=n, generator=_g(4))
        law = lg.chain_law(lg.combine(DG, DN, w), SIG)[-1]
    else:
        z = generate_guided(DECODERS, SIG, "good", None, beta, n=n, generator=_g(5))
        law = lg.chain_law(lg.combine(DG, DN), SIG, beta)[-1]
    assert _close_to_law(z, law)


def test_joint_covariance_matches_monte_carlo():
    n, w = 20_000, 2.0
    levels = generate_cfg(DECODERS, SIG, "good", None, w, n=n, generator=_g(6), return_levels=True)
    joint = lg.chain_law(lg.combine(DG, DN, w), SIG, joint=True)
    assert joint.cov.shape == (15, 15)                                      # 1 + 2 + 4 + 8
    assert _close_to_law(torch.cat(levels, 1), joint)


@pytest.mark.parametrize("beta", [0.3, 4.0])
@pytest.mark.seed("000-38")
def test_tempering_one_step_is_exact(beta):
    # N(ẑ, σ²/β) ∝ N(ẑ, σ²)^β: log densities differ by β × and a constant independent of z and ẑ.
    g = _g(7)
    z, m = torch.randn(50, 4, generator=g, dtype=torch.float64), torch.randn(50, 4, generator=g, dtype=torch.float64)
    s2 = SIG[2] ** 2
    gap = _log_normal(z, m, s2 / beta) - beta * _log_normal(z, m, s2)
    assert torch.allclose(gap, gap[0].expand(50), atol=1e-10)


def test_cfg_one_step_is_geometric_with_a_normaliser_that_depends_on_the_coarse_level():
    # N(ẑ_w, σ²) = N(ẑ_g, σ²)^w N(ẑ_b, σ²)^{1−w} / Z(z_i),  ln Z = −w(1−w)‖ẑ_g − ẑ_b‖² / (2σ²).
    w, s2 = 2.5, SIG[3] ** 2
    g = _g(8)
    zc = torch.randn(30, 4, generator=g, dtype=torch.float64)              # coarse z_i
    zf = torch.randn(30, 8, generator=g, dtype=torch.float64)              # fine z_{i−1}
    mg, mb = DG[3].a + zc @ DG[3].K.T, DN[3].a + zc @ DN[3].K.T
    mw = mb + w * (mg - mb)
    lnZ = -w * (1 - w) * ((mg - mb) ** 2).sum(1) / (2 * s2)
    lhs = _log_normal(zf, mw, s2)
    rhs = w * _log_normal(zf, mg, s2) + (1 - w) * _log_normal(zf, mb, s2) - lnZ
    assert torch.allclose(lhs, rhs, atol=1e-9)
    assert lnZ.std() > 0.1                                                  # depends on z_i: K_g ≠ K_b


@pytest.mark.parametrize("beta", [0.5, 3.0])
@pytest.mark.seed("000-38")
def test_tempering_is_exact_for_the_joint_and_the_output(beta):
    # Constant step variances: the step normalisers do not depend on z_i, so the per-step tempered
    # chain is the tempered joint (covariance / β, same mean), and so is every marginal.
    joint1, joint_b = lg.chain_law(DG, SIG, joint=True), lg.chain_law(DG, SIG, beta, joint=True)
    expect = lg.tempered_law(joint1, beta)
    assert torch.allclose(joint_b.mean, expect.mean) and torch.allclose(joint_b.cov, expect.cov)


def test_cfg_is_not_geometric_for_the_joint_unless_only_the_means_differ():
    w = 2.0
    joint = lg.chain_law(lg.combine(DG, DN, w), SIG, joint=True)
    target = lg.geometric_law(lg.chain_law(DG, SIG, joint=True), lg.chain_law(DN, SIG, joint=True), w)
    assert lg.gaussian_kl(joint, target) > 0.1
    # control: a condition that only shifts the mean has the same K, so Z(z_i) is constant
    shifted = lg.optimal_decoders(lg.GaussianLaw(torch.zeros(8, dtype=torch.float64), GOOD.cov), ENC)
    joint = lg.chain_law(lg.combine(DG, shifted, w), SIG, joint=True)
    target = lg.geometric_law(lg.chain_law(DG, SIG, joint=True), lg.chain_law(shifted, SIG, joint=True), w)
    assert abs(lg.gaussian_kl(joint, target)) < 1e-9


@pytest.mark.seed("000-39")
def test_seed_guided_step_erases_every_coarse_average():
    # P_i (ẑ_g − ẑ_b) = z_i − z_i = 0: below the top, each level's pair averages are exactly 0.
    levels = lg.chain_law(lg.combine(DG, DN), SIG, math.inf)
    for P, fine in zip(reversed(ENC), levels[1:]):
        assert torch.allclose(P @ fine.mean, torch.zeros(P.shape[0], dtype=torch.float64), atol=1e-12)
    assert abs(float(levels[0].mean[0] - DG[0].a[0])) < 1e-12               # top: m_good − m_∅, m_∅ = 0


def test_geometric_law_matches_the_gaussian_pair_target():
    pair = gaussian_pair.GaussianPair([1.0, -0.5], 0.7, [0.0, 0.3], 1.3)
    good = lg.GaussianLaw(torch.tensor([1.0, -0.5], dtype=torch.float64), 0.49 * torch.eye(2, dtype=torch.float64))
    bad = lg.GaussianLaw(torch.tensor([0.0, 0.3], dtype=torch.float64), 1.69 * torch.eye(2, dtype=torch.float64))
    for w in [0.5, 2.0, 3.0]:
        mean, var = gaussian_pair.target(pair, w)
        law = lg.geometric_law(good, bad, w)
        assert torch.allclose(law.mean, mean.double()) and torch.allclose(law.cov, var * torch.eye(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="positive definite"):
        lg.geometric_law(bad, good, 3.0)


def test_gaussian_kl_against_torch():
    p, q = lg.chain_law(DG, SIG)[-1], lg.chain_law(DN, SIG)[-1]
    ref = torch.distributions.kl_divergence(torch.distributions.MultivariateNormal(p.mean, p.cov),
                                            torch.distributions.MultivariateNormal(q.mean, q.cov))
    assert math.isclose(lg.gaussian_kl(p, q), float(ref), rel_tol=1e-9)
