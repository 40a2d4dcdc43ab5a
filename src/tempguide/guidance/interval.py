"""The guidance interval: CFG only at middle noise levels (book: "Refinements of CFG" (chapter 4, second part)).

Kynkäänniemi et al., "Applying guidance in a limited interval improves sample and
distribution quality in diffusion models", NeurIPS 2024:

    D_w(z, t) = D_∅ + w · (D_c − D_∅)    if t_lo ≤ t ≤ t_hi
              = D_c                      otherwise (w = 1: the conditional model, no guidance)

Guidance at high noise pushes every sample of a class towards the same few modes (the
damage), at low noise it is unnecessary.  The interval is given in the book's noise
variance t (z = y + √t·ε), never in step fractions as diffusers' ``start``/``stop``: the
paper's (EDM) σ is √t, so its interval σ ∈ (σ_lo, σ_hi] is t ∈ (σ_lo², σ_hi²].  Both ends
are included here; the conventions differ only when a grid level equals t_lo exactly.
Samplers hand t over in the sample's dtype (float32 rounding), so put t_lo and t_hi
between grid levels rather than on them.
Outside the interval only the conditional prediction is computed (one network call at
batch B instead of 2B), which is the method's saving in cost per step.
"""
from __future__ import annotations

import math

import torch

from ._checks import check_labels, check_weight
from .cfg import _null_label, cfg, cfg_eps
from ..diffusion.adapters import denoiser_from_eps


def check_interval(t_lo, t_hi) -> tuple[float, float]:
    """0 ≤ t_lo ≤ t_hi ≤ ∞ (noise variances; t_hi = ∞ guides at every level above t_lo)."""
    t_lo, t_hi = float(t_lo), float(t_hi)
    if not (math.isfinite(t_lo) and t_lo >= 0):
        raise ValueError(f"t_lo must be a finite noise variance >= 0, got {t_lo}")
    if math.isnan(t_hi) or t_hi < 0:
        raise ValueError(f"t_hi must be a noise variance >= 0 (may be inf), got {t_hi}")
    if t_lo > t_hi:
        raise ValueError(f"t_lo must be <= t_hi (the interval [t_lo, t_hi] in noise variance t), "
                         f"got t_lo={t_lo} > t_hi={t_hi}")
    return t_lo, t_hi


def in_interval(t, t_lo: float, t_hi: float) -> torch.Tensor:
    """t_lo ≤ t ≤ t_hi, elementwise (t 0-dim or (B,)): both ends included."""
    t = torch.as_tensor(t, dtype=torch.float64)
    return (t >= t_lo) & (t <= t_hi)


def interval_weight(w, t, t_lo: float, t_hi: float):
    """The weight in force at noise level t: w inside [t_lo, t_hi], 1 outside.

    A number for 0-dim t and number w, otherwise a (B,) tensor of per-example weights.
    """
    w = check_weight(w, "w")
    inside = in_interval(t, t_lo, t_hi)
    if inside.ndim == 0 and not isinstance(w, torch.Tensor):
        return w if bool(inside) else 1.0
    w = torch.as_tensor(w, dtype=torch.float64)
    return torch.where(inside, w, torch.ones_like(w))


def cfg_interval_denoisers(uncond_denoiser, cond_denoiser, w, t_lo: float, t_hi: float):
    """The interval-guided D_w(z, t) from two separate denoisers (e.g. the exact toys).

    At a scalar t outside [t_lo, t_hi] only ``cond_denoiser`` is called.
    Book: "Refinements of CFG" (chapter 4, second part).
    """
    w = check_weight(w, "w")
    t_lo, t_hi = check_interval(t_lo, t_hi)

    def denoiser(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        inside = in_interval(t, t_lo, t_hi)
        if inside.ndim == 0 and not bool(inside):
            return cond_denoiser(z, t)                                      # outside: D_c, one call
        return cfg(uncond_denoiser(z, t), cond_denoiser(z, t), interval_weight(w, t, t_lo, t_hi))   # (CFG)
    return denoiser


def cfg_interval_eps(eps_net, w, t_lo: float, t_hi: float, *, uncond_label: int | None = None):
    """The interval-guided ε-network: :func:`.cfg.cfg_eps` for t in [t_lo, t_hi], ε̂(z̄, t, c) outside.

    ``eps_net`` is a conditional ε-network with a null label (as for ``cfg_eps``); t is the
    noise variance the samplers pass (``sample_ddim`` passes t = (1 − ᾱ)/ᾱ).  At a scalar t
    outside the interval the network is called once on x alone; with per-example t every
    example gets its own weight in one batched call.  Book: "Refinements of CFG" (chapter 4, second part).
    """
    w = check_weight(w, "w")
    t_lo, t_hi = check_interval(t_lo, t_hi)
    _, num_classes = _null_label(eps_net, uncond_label)
    guided = cfg_eps(eps_net, w, uncond_label=uncond_label)

    def eps_w(z_bar: torch.Tensor, t: torch.Tensor, labels=None) -> torch.Tensor:
        inside = in_interval(t, t_lo, t_hi)
        if inside.ndim == 0:
            if bool(inside):
                return guided(z_bar, t, labels)                                 # (CFG), one call on [z_bar; z_bar]
            if labels is None:
                raise ValueError("labels are required: the classes c to guide towards, shape (B,)")
            c = check_labels(labels, z_bar.shape[0], num_classes).to(z_bar.device)
            return eps_net(z_bar, t, c)                                         # w = 1: the conditional ε
        return cfg_eps(eps_net, interval_weight(w, t, t_lo, t_hi).to(z_bar.dtype),
                       uncond_label=uncond_label)(z_bar, t, labels)
    return eps_w


def cfg_interval_denoiser(eps_net, labels, w, t_lo: float, t_hi: float, *, uncond_label: int | None = None):
    """:func:`cfg_interval_eps` as a denoiser D_w(z, t) for the samplers in t (reverse SDE, PF-ODE).

    Book: "Refinements of CFG" (chapter 4, second part).
    """
    return denoiser_from_eps(cfg_interval_eps(eps_net, w, t_lo, t_hi, uncond_label=uncond_label), labels)


__all__ = ["check_interval", "in_interval", "interval_weight", "cfg_interval_denoisers", "cfg_interval_eps",
           "cfg_interval_denoiser"]
