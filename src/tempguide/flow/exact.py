"""Exact velocities of the course's Gaussian mixtures (book: "Flow matching with guidance"; ``tempguide.toy``).

If x₁ ~ p = Σ_k π_k N(μ_k, s_k² I) and x_τ = (1 − τ)x₀ + τx₁, then z = x_τ/τ is the
course's noisy point at t = ((1 − τ)/τ)², so p_τ(x) = p_t(x/τ)·τ^{−d} and

    ∇_x ln p_τ(x) = ∇_z ln p_t(z) / τ,        z = x/τ,                          (chain rule)
    u(x, τ) = x/τ + ((1 − τ)/τ) · ∇_x ln p_τ(x)                                  (conversion)

with ∇_z ln p_t = (D(z, t) − z)/t the mixture's exact score (Tweedie).  Conditioning
on a class keeps its components (``GaussianMixture.condition``), which gives the
exact u(x | c); u(x | ∅) is the whole mixture's.  Regular on [TAU_MIN, 1]; below
TAU_MIN the velocity at TAU_MIN is used (as ``FlowUNet`` does).  Use float64 inputs.
"""
from __future__ import annotations

import math

import torch

from ..toy import GaussianMixture
from .convert import _clamped, velocity_from_score
from .guidance import cfg_velocities
from .path import check_tau
from .time import t_from_tau


def _check_mixture(mix) -> GaussianMixture:
    if not isinstance(mix, GaussianMixture):
        raise ValueError(f"mix must be a tempguide.toy.GaussianMixture, got {type(mix).__name__}")
    return mix


def score(mix: GaussianMixture, x: torch.Tensor, tau) -> torch.Tensor:
    """∇_x ln p_τ(x) of x_τ with x₁ ~ ``mix`` (chain rule); x (n, d), τ a number, 0-dim or (n,)."""
    tau = _clamped(tau)
    tau_b = tau.reshape(-1, 1).to(x) if tau.ndim else tau.to(x)
    return _check_mixture(mix).score(x / tau_b, t_from_tau(tau)) / tau_b


def log_prob(mix: GaussianMixture, x: torch.Tensor, tau) -> torch.Tensor:
    """ln p_τ(x) = ln p_t(x/τ) − d·ln τ, shape (n,)."""
    tau = _clamped(tau)
    tau_b = tau.reshape(-1, 1).to(x) if tau.ndim else tau.to(x)
    return _check_mixture(mix).log_prob_t(x / tau_b, t_from_tau(tau)) - mix.dim * torch.log(tau_b.reshape(-1))


def velocity(mix: GaussianMixture):
    """The exact marginal velocity u(x, τ) = E[x₁ − x₀ | x_τ = x] of x₁ ~ ``mix`` (conversion)."""
    _check_mixture(mix)
    return velocity_from_score(lambda x, tau: score(mix, x, tau))


def conditional_velocity(mix: GaussianMixture, c: int):
    """The exact u(x | c): the velocity of the class's components (``mix.condition(c)``)."""
    return velocity(_check_mixture(mix).condition(c))


def cfg_velocity(mix: GaussianMixture, c: int, w):
    """Exact CFG on velocities, ũ = (1 − w)·u(x | ∅) + w·u(x | c) (MIT 6.S184), for the class c of ``mix``."""
    return cfg_velocities(velocity(mix), conditional_velocity(mix, c), w)


def gaussian_flow_map(mean: float, std: float, x0: torch.Tensor, tau) -> torch.Tensor:
    """The exact ODE solution for data N(mean, std² I): x_τ = τ·mean + √((1 − τ)² + τ²·std²)·x₀.

    In 1-D the flow moves each quantile of p_τ = N(τ·mean, (1 − τ)² + τ²·std²) onto the
    same quantile later on, so x₁ = mean + std·x₀ (tested against the samplers).
    """
    if not (math.isfinite(std) and std > 0):
        raise ValueError(f"std must be a finite number > 0, got {std}")
    check_tau(tau)
    tau = torch.as_tensor(tau, dtype=x0.dtype, device=x0.device)
    return tau * mean + ((1 - tau) ** 2 + tau ** 2 * std ** 2).sqrt() * x0
