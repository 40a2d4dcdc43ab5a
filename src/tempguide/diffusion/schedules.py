"""Noise levels: conversions between t, σ and ᾱ, and the DDPM schedule (book: "Notation", noise level).

The course's one noise variable is the variance t of z = y + √t·ε.  DDPM's
x_t = √ᾱ·y + √(1−ᾱ)·ε (our z̄, ``z_bar`` in code) is the same point rescaled, z = x_t / √ᾱ, so

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


def _check_grid_ends(t_max: float, t_min: float, n: int) -> None:
    if not (t_min > 0):
        raise ValueError(f"t_min must be > 0, got {t_min}")
    if not (t_max > t_min):
        raise ValueError(f"t_max must be > t_min = {t_min}, got {t_max}")
    if not (isinstance(n, int) and n >= 2):
        raise ValueError(f"n must be an int >= 2, got {n!r}")


def geometric_ts(t_max: float, t_min: float, n: int) -> torch.Tensor:
    """n noise variances t_0 = t_max > … > t_{n-1} = t_min, equally spaced in log t (float64).

    t_i = t_max · (t_min / t_max)^{i/(n−1)}: NCSN's geometric noise levels
    (Song & Ermon 2019, §4.2), written as variances (book: "Time grids").
    """
    _check_grid_ends(t_max, t_min, n)
    i = torch.arange(n, dtype=torch.float64)
    return t_max * (t_min / t_max) ** (i / (n - 1))


def karras_ts(t_max: float, t_min: float, n: int, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. (2022, Eq. 5) grid, spaced in σ = √t, returned as variances t (float64).

        σ_i = (σ_max^{1/ρ} + i/(n−1) · (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ,   t_i = σ_i²,

    i = 0 … n−1, decreasing from t_max to t_min.  ρ = 7 spends most steps at
    small noise (book: "Time grids").
    """
    _check_grid_ends(t_max, t_min, n)
    if not rho > 0:
        raise ValueError(f"rho must be > 0, got {rho}")
    sigma_max, sigma_min = t_max ** 0.5, t_min ** 0.5
    i = torch.arange(n, dtype=torch.float64)
    sigma = (sigma_max ** (1 / rho) + i / (n - 1) * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return t_from_sigma(sigma)
