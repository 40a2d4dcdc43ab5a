"""Flow-matching time τ against the course's noise variance t (book: "Notation"; MIT 6.S184 notes).

Flow matching (Lipman et al. 2023; Liu et al. 2023), in the MIT notes'
convention: τ = 0 is noise, τ = 1 is data, and the straight path is

    x_τ = (1 − τ)·x₀ + τ·x₁,    x₀ ~ N(0, I),  x₁ = y ~ data.

Dividing by τ gives x_τ/τ = y + ((1 − τ)/τ)·x₀: the course's z = y + √t·ε with

    t = ((1 − τ)/τ)²,    τ = 1 / (1 + √t),    z = x_τ / τ.

So τ = 1 is t = 0 (data) and τ → 0 is t → ∞ (pure noise).
"""
from __future__ import annotations

import torch

TAU_MIN = 1e-4  # τ is clamped here before t = ((1−τ)/τ)² (t ≤ 1e8): τ = 0 is t = ∞


def t_from_tau(tau) -> torch.Tensor:
    """t = ((1 − τ)/τ)², with τ clamped to [``TAU_MIN``, 1]."""
    tau = torch.as_tensor(tau).clamp(TAU_MIN, 1.0)
    return ((1 - tau) / tau) ** 2


def tau_from_t(t) -> torch.Tensor:
    """τ = 1 / (1 + √t)."""
    return 1 / (1 + torch.as_tensor(t).sqrt())
