"""Score-matching objectives against their closed forms on Gaussians.

For y ~ N(0, s² I) in d dimensions and a linear score s(y) = A y + b:
  implicit:  E[½‖Ay + b‖² + tr A] = ½ s² tr(AᵀA) + ½‖b‖² + tr A,
             and it differs from ½E‖s − ∇ln p‖² by a constant (Hyvärinen 2005);
  sliced:    the same expectation (Rademacher v: E vᵀAv = tr A; exact for diagonal A).
At the exact noisy score the denoising loss E‖√t s(z) + ε‖² is d·s²/(s² + t).
"""
import math

import pytest
import torch

from tempguide import toy
from tempguide.diffusion import (ddpm_alpha_bars, ddpm_ts, eps_from_denoiser, implicit_score_matching_loss,
                                 sliced_score_matching_loss, denoising_score_matching_loss, ddpm_loss)

D, S = 2, 0.8
N = 200_000


def gaussian_samples(n=N, seed=0):
    return S * torch.randn(n, D, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def linear_score(A, b):
    return lambda y: y @ A.T + b


A = torch.tensor([[-0.5, 0.3], [0.1, -2.0]], dtype=torch.float64)
B = torch.tensor([0.2, -0.4], dtype=torch.float64)


@pytest.mark.seed("003-01")
def test_implicit_loss_matches_closed_form():
    y = gaussian_samples()
    loss = implicit_score_matching_loss(linear_score(A, B), y).item()
    exact = 0.5 * S**2 * (A.T @ A).trace().item() + 0.5 * B.pow(2).sum().item() + A.trace().item()
    per_point = 0.5 * (y @ A.T + B).pow(2).sum(1)  # the only random part
    assert loss == pytest.approx(exact, abs=5 * per_point.std().item() / math.sqrt(N))


@pytest.mark.seed("003-01")
def test_implicit_loss_is_fisher_divergence_plus_constant():
    """L(s₁) − L(s₂) = ½E‖s₁ − ∇ln p‖² − ½E‖s₂ − ∇ln p‖² (closed forms, ∇ln p = −y/s²)."""
    y = gaussian_samples()

    def fisher(A_, b_):  # ½E‖(A + I/s²) y + b‖²
        M = A_ + torch.eye(D, dtype=torch.float64) / S**2
        return 0.5 * S**2 * (M.T @ M).trace().item() + 0.5 * b_.pow(2).sum().item()

    A2 = -torch.eye(D, dtype=torch.float64) / S**2  # the true score
    b2 = torch.zeros(D, dtype=torch.float64)
    diff = (implicit_score_matching_loss(linear_score(A, B), y)
            - implicit_score_matching_loss(linear_score(A2, b2), y)).item()
    assert diff == pytest.approx(fisher(A, B) - fisher(A2, b2), rel=0.02)
    assert fisher(A2, b2) == 0.0


@pytest.mark.seed("003-02")
def test_sliced_equals_implicit_for_diagonal_jacobian():
    """vᵀ A v = tr A exactly when A is diagonal and v ∈ {±1}^d."""
    Ad = torch.diag(torch.tensor([-0.7, -1.3], dtype=torch.float64))
    y = gaussian_samples(1000)
    torch.testing.assert_close(sliced_score_matching_loss(linear_score(Ad, B), y, torch.Generator().manual_seed(0)),
                               implicit_score_matching_loss(linear_score(Ad, B), y))


@pytest.mark.seed("003-02")
def test_sliced_is_unbiased_for_full_jacobian():
    y = gaussian_samples()
    sliced = sliced_score_matching_loss(linear_score(A, B), y, torch.Generator().manual_seed(0)).item()
    implicit = implicit_score_matching_loss(linear_score(A, B), y).item()
    # the difference is the mean of Σ_{i≠j} A_ij v_i v_j, std = √(Σ_{i≠j} A_ij² + 2 A_12 A_21)/√N
    sd = math.sqrt((A[0, 1] + A[1, 0]).item() ** 2 / N)
    assert abs(sliced - implicit) < 5 * sd


@pytest.mark.parametrize("t", [0.05, 1.0])
@pytest.mark.seed("003-05", "003-06", "003-07", "003-08")
def test_denoising_loss_at_exact_score(t):
    y = gaussian_samples()
    g = toy.GaussianMixture([1.0], [[0.0] * D], [S])
    loss = denoising_score_matching_loss(g.score, y, t, torch.Generator().manual_seed(1)).item()
    exact = D * S**2 / (S**2 + t)
    assert loss == pytest.approx(exact, rel=5 * math.sqrt(2 / (N * D)) * 2)
    # a wrong score s = 1.5 s* costs t·E‖s − s*‖² = t·0.25·d/(s² + t) more; SE from 20 chunks
    wrong = lambda z, t_: 1.5 * g.score(z, t_)  # noqa: E731
    diffs = torch.tensor([(denoising_score_matching_loss(wrong, chunk, t, torch.Generator().manual_seed(i))
                           - denoising_score_matching_loss(g.score, chunk, t, torch.Generator().manual_seed(i))).item()
                          for i, chunk in enumerate(y.chunk(20))])
    expected = t * 0.25 * D / (S**2 + t)
    assert abs(diffs.mean().item() - expected) < 5 * diffs.std().item() / math.sqrt(20)


@pytest.mark.seed("003-11")
def test_ddpm_loss_at_exact_eps_is_mean_over_levels():
    """With ε̂ exact, each level i contributes d·s²/(s² + t_i); i is uniform over the 1000 levels."""
    y = gaussian_samples()
    net = eps_from_denoiser(toy.GaussianMixture([1.0], [[0.0] * D], [S]).denoise)
    loss = ddpm_loss(net, y, torch.Generator().manual_seed(2), alpha_bars=ddpm_alpha_bars()).item()
    per_level = D * S**2 / (S**2 + ddpm_ts())
    # per-example loss has variance ≤ Var over levels + E[2·(per-level value)²/d] — bound it generously
    sd = math.sqrt(per_level.var().item() + 2 * (per_level**2).mean().item() / D) / math.sqrt(N)
    assert loss == pytest.approx(per_level.mean().item(), abs=5 * sd)
