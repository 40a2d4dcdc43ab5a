"""Sampling a flow: the ODE dx/dτ = u(x, τ) from noise (τ = 0) to data (τ = 1) (book: "Flow matching with guidance").

    x_{τ=0} = x₀ ~ N(0, I),    dx/dτ = u(x, τ),    x_{τ=1} ~ p_data            (MIT 6.S184 notes, flow model)

Each sampler is one loop over a grid 0 ≤ τ_0 < τ_1 < … < τ_N ≤ 1 and sees only a
velocity function ``velocity(x, tau)``: a network with its labels bound
(``lambda x, tau: net(x, tau, labels)``), a guided one (``tempguide.flow.guidance``)
or an exact one (``tempguide.flow.exact``).  τ is handed over as a 0-dim float64 tensor.
"""
from __future__ import annotations

import torch

from ..diffusion._checks import check_same_shape, check_sample, finite_step


def tau_grid(n_steps: int, tau_min: float = 0.0, tau_max: float = 1.0) -> torch.Tensor:
    """n_steps + 1 equally spaced τ from ``tau_min`` to ``tau_max`` (float64), the grid of MIT 6.S184 lab 3."""
    if not (isinstance(n_steps, int) and n_steps >= 1):
        raise ValueError(f"n_steps must be an int >= 1, got {n_steps!r}")
    if not 0.0 <= tau_min < tau_max <= 1.0:
        raise ValueError(f"need 0 <= tau_min < tau_max <= 1, got tau_min={tau_min}, tau_max={tau_max}")
    return torch.linspace(tau_min, tau_max, n_steps + 1, dtype=torch.float64)


def check_taus(taus, name: str = "taus") -> torch.Tensor:
    """A strictly increasing 1-D grid in [0, 1] (noise first) with at least two points, as float64."""
    taus = torch.as_tensor(taus, dtype=torch.float64)
    if taus.ndim != 1 or len(taus) < 2:
        raise ValueError(f"{name} must be a 1-D tensor with at least 2 times, got shape {tuple(taus.shape)}")
    if not bool(torch.isfinite(taus).all()) or bool((taus < 0).any()) or bool((taus > 1).any()):
        raise ValueError(f"{name} must be finite and lie in [0, 1] (0 = noise, 1 = data), got range "
                         f"[{taus.min().item()}, {taus.max().item()}]")
    if not bool((taus[1:] > taus[:-1]).all()):
        raise ValueError(f"{name} must be strictly increasing (noise at tau = 0 first, data at tau = 1 last)")
    return taus


def sample_euler(velocity, x: torch.Tensor, taus) -> torch.Tensor:
    """Euler steps of the flow ODE from τ_0 to τ_N (MIT 6.S184 lab 3's sampler).

        x ← x + (τ_{i+1} − τ_i) · u(x, τ_i)

    On the straight path one Euler step in τ is exactly one DDIM step (Euler in σ = √t)
    between the matching noise levels t = ((1 − τ)/τ)², z = x/τ (tested).
    Book: "Flow matching with guidance".
    """
    x, taus = check_sample(x, "x"), check_taus(taus)
    for i, (tau, tau_next) in enumerate(zip(taus[:-1], taus[1:])):
        u = check_same_shape(velocity(x, tau), x, "velocity")                 # u(x, τ_i)
        x = x + (tau_next - tau) * u                                           # Euler step
        x = finite_step(x, i, tau, "x", "tau")
    return x


def sample_heun(velocity, x: torch.Tensor, taus) -> torch.Tensor:
    """Heun's second-order steps of the flow ODE from τ_0 to τ_N (Karras et al. 2022, Algorithm 1, in τ).

        u  = u(x, τ_i),              x̂ = x + (τ_{i+1} − τ_i) · u                 (Euler predictor)
        u' = u(x̂, τ_{i+1}),          x ← x + (τ_{i+1} − τ_i) · (u + u')/2       (trapezoid corrector)

    Two velocity calls per step; the last one is at τ_N, where the velocity is finite
    even at τ_N = 1 (u(x, 1) = x − E[x₀] = x for data with a density).
    Book: "Flow matching with guidance".
    """
    x, taus = check_sample(x, "x"), check_taus(taus)
    for i, (tau, tau_next) in enumerate(zip(taus[:-1], taus[1:])):
        u = check_same_shape(velocity(x, tau), x, "velocity")                 # slope at τ_i
        x_hat = x + (tau_next - tau) * u                                       # Euler predictor
        u_next = velocity(x_hat, tau_next)                                     # slope at τ_{i+1}
        x = x + (tau_next - tau) * (u + u_next) / 2                            # trapezoid corrector
        x = finite_step(x, i, tau, "x", "tau")
    return x
