"""Velocity ↔ score ↔ denoiser for Gaussian probability paths (book: "Flow matching with guidance", the conversion).

The MIT 6.S184 notes write a Gaussian path as x_τ = α_τ·x₁ + β_τ·x₀ (α₀ = β₁ = 0,
α₁ = β₀ = 1) and convert its marginal velocity into its score (the seed's
"conversion formula"):

    u(x, τ) = b_τ·x + a_τ·∇ ln p_τ(x),    b_τ = α̇_τ/α_τ,    a_τ = β_τ²·α̇_τ/α_τ − β̇_τ·β_τ.       (conv)

For the straight path, α_τ = τ and β_τ = 1 − τ, so

    b_τ = 1/τ,    a_τ = (1 − τ)²/τ + (1 − τ) = (1 − τ)/τ.                                     (straight)

With x̂₁ = E[x₁ | x_τ = x] and x̂₀ = E[x₀ | x_τ = x], u = x̂₁ − x̂₀ and x = (1 − τ)x̂₀ + τx̂₁, so

    x̂₁ = x + (1 − τ)·u,    x̂₀ = x − τ·u,    u = (x̂₁ − x)/(1 − τ).                                 (pred)

Onto the course's variables (notation page): z = x_τ/τ = y + √t·ε with
t = ((1 − τ)/τ)², ε = x₀, and y = x₁, so the course's denoiser is
D(z, t) = E[y | z] = x̂₁, its ε̂ is x̂₀, and ∇_x ln p_τ(x) = ∇_z ln p_t(z)/τ.
The same velocity is therefore affine in D, in ε̂ and in the score, with
coefficients that do not depend on the condition: the reason CFG on velocities is
CFG on scores (``tempguide.flow.guidance``).

τ is clamped to [``TAU_MIN``, 1] where a formula divides by τ, as ``FlowUNet`` does.
"""
from __future__ import annotations

import torch

from .path import _per_example, check_tau
from .time import TAU_MIN, t_from_tau, tau_from_t


def gaussian_path_coefficients(alpha, alpha_dot, beta, beta_dot):
    """(a_τ, b_τ) of (conv) for the Gaussian path x_τ = α_τ·x₁ + β_τ·x₀ (MIT 6.S184 notes, conversion formula).

        a_τ = β_τ²·α̇_τ/α_τ − β̇_τ·β_τ,    b_τ = α̇_τ/α_τ.

    Needs α_τ > 0.  Book: "Flow matching with guidance" (the conversion).
    """
    alpha = torch.as_tensor(alpha, dtype=torch.float64)
    if bool((alpha <= 0).any()):
        raise ValueError(f"alpha must be > 0 (the formula divides by alpha), got {alpha.tolist()}")
    a = beta ** 2 * alpha_dot / alpha - beta_dot * beta
    b = alpha_dot / alpha
    return a, b


def _clamped(tau) -> torch.Tensor:
    """τ checked to lie in [0, 1], as float64, clamped to [TAU_MIN, 1] (τ = 0 is t = ∞)."""
    check_tau(tau)
    return torch.as_tensor(tau, dtype=torch.float64).clamp(TAU_MIN, 1.0)


def straight_path_coefficients(tau):
    """(a_τ, b_τ) = ((1 − τ)/τ, 1/τ) for x_τ = (1 − τ)x₀ + τx₁   (straight); τ clamped to [TAU_MIN, 1]."""
    tau = _clamped(tau)
    return (1 - tau) / tau, 1 / tau


def velocity_from_score(score):
    """u(x, τ) = x/τ + ((1 − τ)/τ)·∇ ln p_τ(x)   (conv) on the straight path; ``score(x, τ)`` is ∇_x ln p_τ.

    Regular on [TAU_MIN, 1]: at τ = 1, u = x (the data's score is finite).  Book: "Flow matching with guidance".
    """
    def velocity(x: torch.Tensor, tau) -> torch.Tensor:
        tau = _clamped(tau)
        a, b = straight_path_coefficients(tau)
        return _per_example(b, x) * x + _per_example(a, x) * score(x, tau)          # (conv)
    return velocity


def score_from_velocity(velocity):
    """∇_x ln p_τ(x) = (u(x, τ) − x/τ)·τ/(1 − τ), the inverse of (conv); τ in [0, 1) (a_τ = 0 at τ = 1)."""
    def score(x: torch.Tensor, tau) -> torch.Tensor:
        tau = _clamped(tau)
        if bool((tau >= 1).any()):
            raise ValueError("tau must be < 1: a_tau = (1 - tau)/tau is 0 at tau = 1, the velocity holds no score there")
        a, b = straight_path_coefficients(tau)
        return (velocity(x, tau) - _per_example(b, x) * x) / _per_example(a, x)
    return score


def velocity_from_denoiser(denoiser):
    """The velocity u(x, τ) = (D(x/τ, t) − x)/(1 − τ), t = ((1 − τ)/τ)², of the course's denoiser D(z, t)   (pred).

    τ in [0, 1) (clamped below at TAU_MIN); at τ = 1 the formula is 0/0, use :func:`velocity_from_score`.
    Book: "Flow matching with guidance" (the conversion).
    """
    def velocity(x: torch.Tensor, tau) -> torch.Tensor:
        tau = _clamped(tau)
        if bool((tau >= 1).any()):
            raise ValueError("tau must be < 1: u = (D - x)/(1 - tau) is 0/0 at tau = 1 (use velocity_from_score)")
        tau_b = _per_example(tau, x)
        return (denoiser(x / tau_b, t_from_tau(tau)) - x) / (1 - tau_b)          # x̂₁ = D(z, t), z = x/τ
    return velocity


def denoiser_from_velocity(velocity):
    """The course's denoiser D(z, t) = τ·z + (1 − τ)·u(τ·z, τ), τ = 1/(1 + √t), of a velocity u(x, τ)   (pred).

    Lets a velocity field run in the samplers of ``tempguide.diffusion`` (they see D(z, t)).
    Book: "Flow matching with guidance" (the conversion).
    """
    def denoiser(z: torch.Tensor, t) -> torch.Tensor:
        tau = tau_from_t(torch.as_tensor(t, dtype=torch.float64))
        tau_b = _per_example(tau, z)
        x = tau_b * z                                                                 # x_τ = τ·z
        return x + (1 - tau_b) * velocity(x, tau)                                     # x̂₁
    return denoiser


def x1_from_velocity(u: torch.Tensor, x: torch.Tensor, tau) -> torch.Tensor:
    """x̂₁ = E[x₁ | x_τ = x] = x + (1 − τ)·u: the predicted clean sample (the course's D)   (pred)."""
    check_tau(tau)
    return x + (1 - _per_example(tau, x)) * u


def x0_from_velocity(u: torch.Tensor, x: torch.Tensor, tau) -> torch.Tensor:
    """x̂₀ = E[x₀ | x_τ = x] = x − τ·u: the predicted noise (the course's ε̂)   (pred)."""
    check_tau(tau)
    return x - _per_example(tau, x) * u
