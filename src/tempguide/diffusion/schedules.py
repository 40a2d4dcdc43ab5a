"""Noise levels: conversions between t, σ and ᾱ, and the DDPM schedule (book: "Notation", noise level).

The course's one noise variable is the variance t of z = y + √t·ε.  DDPM's
x = √ᾱ·y + √(1−ᾱ)·ε is the same point rescaled, z = x / √ᾱ, so

    t = (1 − ᾱ) / ᾱ,    ᾱ = 1 / (1 + t),    σ = √t.

Schedule arithmetic is done in float64 (as in NVlabs/edm).
"""
from __future__ import annotations

import torch


def t_from_alpha_bar(alpha_bar: torch.Tensor) -> torch.Tensor:
    """t = (1 − ᾱ) / ᾱ."""
    return (1.0 - alpha_bar) / alpha_bar


def alpha_bar_from_t(t: torch.Tensor) -> torch.Tensor:
    """ᾱ = 1 / (1 + t)."""
    return 1.0 / (1.0 + t)


def sigma_from_t(t: torch.Tensor) -> torch.Tensor:
    """σ = √t."""
    return t.sqrt()


def t_from_sigma(sigma: torch.Tensor) -> torch.Tensor:
    """t = σ²."""
    return sigma * sigma


def ddpm_alpha_bars(n: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """ᾱ_1 … ᾱ_n of DDPM's linear β schedule (Ho et al. 2020, §4), float64.

    ᾱ_i = ∏_{j ≤ i} (1 − β_j) with β_j linear from ``beta_start`` to ``beta_end``;
    the same numbers as diffusers' ``DDPMScheduler(beta_schedule="linear")``.
    """
    betas = torch.linspace(beta_start, beta_end, n, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0)


def ddpm_ts(n: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """The same schedule as noise variances t_1 < … < t_n (float64, increasing)."""
    return t_from_alpha_bar(ddpm_alpha_bars(n, beta_start, beta_end))
