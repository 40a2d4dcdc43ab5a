"""The Markovian VAE's generators and objective (book: "The Markovian-VAE generalization").

Stubs with affine decoders make every law exact: two levels, ẑ₁ = m_x (top) and
ẑ₀ = A z₁ + b_x, so z₀ = A(m_x + σ₁ε₁) + b_x + σ₀ε₀ has mean A m_x + b_x and covariance
σ₁² A Aᵀ + σ₀² I.
"""
import math

import pytest
import torch

from tempguide.mvae import (fit_sigmas, gaussian_nll, generate_cfg, generate_guided, generate_tempered,
                            generate_unadjusted, residuals, squared_error)

D1, D0 = 2, 3
A = torch.tensor([[1.0, 0.5], [-0.3, 2.0], [0.7, 0.0]], dtype=torch.float64)   # (D0, D1): finer has more dims
M = {None: torch.tensor([0.0, 0.0]), 0: torch.tensor([1.0, -1.0]), 1: torch.tensor([3.0, 2.0])}
B = {None: torch.tensor([0.0, 0.0, 0.0]), 0: torch.tensor([0.5, 0.0, -0.5]), 1: torch.tensor([-1.0, 1.0, 2.0])}
SIGMAS = [0.8, 0.3]


def _top(z, x):
    assert z is None                                              # z_N = ∅
    return M[x].to(torch.float64)[None]                           # (1, D1): expanded to n


def _fine(z, x):
    return z @ A.T + B[x].to(torch.float64)


DECODERS = [_top, _fine]


def _mean(x):
    return A @ M[x].double() + B[x].double()


def _cov(beta=1.0):
    return (SIGMAS[0] ** 2 * A @ A.T + SIGMAS[1] ** 2 * torch.eye(D0, dtype=torch.float64)) / beta


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.seed("000-37")
def test_unadjusted_law_matches_the_affine_chain():
    n = 40_000
    z = generate_unadjusted(DECODERS, SIGMAS, 1, n=n, generator=_g())
    assert z.shape == (n, D0)
    mean, cov = _mean(1), _cov()
    se = (cov.diagonal() / n).sqrt()
    assert torch.allclose(z.mean(0), mean, atol=float(5 * se.max()))
    # covariance: sd of a sample covariance entry ≈ sqrt((Σ_ii Σ_jj + Σ_ij²)/n)
    sd = ((cov.diagonal()[:, None] * cov.diagonal()[None] + cov ** 2) / n).sqrt()
    assert ((torch.cov(z.T) - cov).abs() <= 5 * sd).all()


def test_unadjusted_equals_tempered_at_beta_one():
    z1 = generate_unadjusted(DECODERS, SIGMAS, 0, n=7, generator=_g(3))
    z2 = generate_tempered(DECODERS, SIGMAS, 0, 1.0, n=7, generator=_g(3))
    assert torch.equal(z1, z2)


@pytest.mark.parametrize("beta", [0.25, 4.0])
@pytest.mark.seed("000-38")
def test_tempered_scales_the_deviation_by_one_over_sqrt_beta(beta):
    # Affine decoders: every level's deviation from its mean is a linear function of the ε's,
    # so with the same ε the tempered sample deviates by exactly 1/√β (not 1/β).
    z1 = generate_unadjusted(DECODERS, SIGMAS, 1, n=50, generator=_g(1))
    zb = generate_tempered(DECODERS, SIGMAS, 1, beta, n=50, generator=_g(1))
    assert torch.allclose(zb - _mean(1), (z1 - _mean(1)) / math.sqrt(beta), atol=1e-12)


def test_beta_infinity_is_the_chain_of_means():
    z = generate_tempered(DECODERS, SIGMAS, 0, math.inf, n=4)
    assert torch.allclose(z, _mean(0).expand(4, D0))


def test_zero_sigma_is_deterministic_and_levels_are_coarsest_first():
    levels = generate_unadjusted(DECODERS, [0.0, 0.0], 1, n=2, return_levels=True)
    assert [tuple(z.shape) for z in levels] == [(2, D1), (2, D0)]
    assert torch.allclose(levels[0], M[1].double().expand(2, D1))
    assert torch.allclose(levels[1], _mean(1).expand(2, D0))


@pytest.mark.seed("000-39")
def test_seed_guided_step_is_the_difference_without_base_term():
    # ẑ(z, good) − ẑ(z, bad) = A z + b_good − (A z + b_bad): the coarse level drops out entirely.
    levels = generate_guided(DECODERS, SIGMAS, 1, 0, beta=math.inf, n=3, return_levels=True)
    assert torch.allclose(levels[0], (M[1] - M[0]).double().expand(3, D1))
    assert torch.allclose(levels[1], (B[1] - B[0]).double().expand(3, D0))
    # with noise: the top noise is forgotten too, only σ₀ε₀/√β remains
    z = generate_guided(DECODERS, SIGMAS, 1, 0, beta=4.0, n=20_000, generator=_g(2))
    assert torch.allclose(z.std(0), torch.full((D0,), SIGMAS[1] / 2, dtype=torch.float64), rtol=0.03)


def test_cfg_interpolates_and_extrapolates():
    z_w1 = generate_cfg(DECODERS, SIGMAS, 1, 0, 1.0, n=6, generator=_g(5))
    z_good = generate_unadjusted(DECODERS, SIGMAS, 1, n=6, generator=_g(5))
    assert torch.allclose(z_w1, z_good, atol=1e-12)                 # w = 1: no guidance
    z_w0 = generate_cfg(DECODERS, SIGMAS, 1, 0, 0.0, n=6, generator=_g(5))
    z_bad = generate_unadjusted(DECODERS, SIGMAS, 0, n=6, generator=_g(5))
    assert torch.allclose(z_w0, z_bad, atol=1e-12)                  # w = 0: the x_bad model
    w = 3.0
    z = generate_cfg(DECODERS, SIGMAS, 1, 0, w, beta=math.inf, n=2)
    top = M[0] + w * (M[1] - M[0])
    fine = A @ top.double() + B[0].double() + w * (B[1] - B[0]).double()
    assert torch.allclose(z, fine.expand(2, D0))


def test_cfg_per_example_weights():
    w = torch.tensor([0.0, 1.0])
    z = generate_cfg(DECODERS, SIGMAS, 1, 0, w, beta=math.inf, n=2)
    assert torch.allclose(z[0], _mean(0)) and torch.allclose(z[1], _mean(1))


@pytest.mark.seed("000-36")
def test_labels_reach_the_decoders_unchanged():
    seen = []

    def top(z, x):
        seen.append(x)
        return torch.zeros(4, 1)

    generate_cfg([top, lambda z, x: (seen.append(x), z)[1]], [1.0, 1.0], "good", None, 2.0, n=4)
    assert seen == ["good", None, "good", None]


@pytest.mark.parametrize("kwargs, match", [
    (dict(beta=0.0), "beta"), (dict(beta=-1.0), "beta"), (dict(beta=float("nan")), "beta"),
    (dict(sigmas=[1.0]), "sigmas"), (dict(sigmas=[1.0, -0.1]), "sigmas"),
    (dict(sigmas=[1.0, float("inf")]), "sigmas"), (dict(n=0), "n"), (dict(n=2.5), "n"),
])
def test_bad_arguments(kwargs, match):
    args = dict(sigmas=SIGMAS, beta=1.0, n=3) | kwargs
    with pytest.raises(ValueError, match=match):
        generate_tempered(DECODERS, args["sigmas"], 0, args["beta"], n=args["n"])


def test_bad_weight_and_bad_batch():
    with pytest.raises(ValueError, match="w"):
        generate_cfg(DECODERS, SIGMAS, 1, 0, math.inf, n=2)
    with pytest.raises(ValueError, match="n = 5"):
        generate_unadjusted([lambda z, x: torch.zeros(3, 2)], [1.0], None, n=5)


# ----- the objective -----------------------------------------------------------------------------

def _res(seed=0):
    g = _g(seed)
    return [torch.randn(64, 3, generator=g, dtype=torch.float64) * 0.4 + 0.1,
            torch.randn(64, 2, 2, generator=g, dtype=torch.float64) * 2.0]


@pytest.mark.seed("000-32")
def test_nll_matches_torch_normal():
    res, sigmas = _res(), [0.7, torch.tensor([[1.5, 2.0], [0.5, 1.0]], dtype=torch.float64)]
    ref = sum(-torch.distributions.Normal(0.0, torch.as_tensor(s, dtype=torch.float64)).log_prob(r)
              .flatten(1).sum(1).mean() for r, s in zip(res, sigmas))
    assert torch.allclose(gaussian_nll(res, sigmas), ref)


@pytest.mark.seed("000-35")
def test_unit_variance_nll_is_half_the_squared_error_plus_a_constant():
    res = _res()
    const = (3 + 4) / 2 * math.log(2 * math.pi)
    assert torch.allclose(gaussian_nll(res), 0.5 * squared_error(res) + const)


@pytest.mark.seed("000-34")
def test_fit_sigmas_is_the_ml_estimate_divisor_n():
    res = _res(1)
    sig = fit_sigmas(res)
    for r, s in zip(res, sig):
        assert torch.allclose(s ** 2, (r ** 2).sum() / r.numel())                  # N, around the model's mean 0
        assert not torch.allclose(s ** 2, (r ** 2).sum() / (r.numel() - 1))
    # ML: the NLL's derivative in σ vanishes at σ̂ (autograd), and the profile NLL is Σ d/2 (ln 2πσ̂² + 1)
    s = torch.stack(sig).clone().requires_grad_(True)
    gaussian_nll(res, list(s)).backward()
    assert s.grad.abs().max() < 1e-10
    prof = sum(r[0].numel() / 2 * (math.log(2 * math.pi * float(v) ** 2) + 1) for r, v in zip(res, sig))
    assert math.isclose(float(gaussian_nll(res, sig)), prof, rel_tol=1e-12)


def test_fit_sigmas_per_dimension():
    res = _res(2)
    sig = fit_sigmas(res, per_dimension=True)
    assert sig[1].shape == (2, 2)
    assert torch.allclose(sig[1] ** 2, (res[1] ** 2).mean(0))
    assert gaussian_nll(res, sig) <= gaussian_nll(res, fit_sigmas(res))


def test_residuals_and_bad_objective_input():
    z, z_hat = [torch.ones(2, 3)], [torch.zeros(2, 3)]
    assert torch.equal(residuals(z, z_hat)[0], torch.ones(2, 3))
    with pytest.raises(ValueError, match="same length"):
        residuals(z, [])
    with pytest.raises(ValueError, match="sigmas"):
        gaussian_nll([torch.ones(2, 3)], [0.0])
    with pytest.raises(ValueError, match="residuals"):
        fit_sigmas([])
