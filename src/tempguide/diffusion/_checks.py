"""Argument checks shared by the samplers: one clear ValueError per kind of bad input.

A sampler never returns NaN or ±∞ silently.  Bad *input* (a non-finite start or time
grid) is a ``ValueError`` naming the argument; a state that *becomes* non-finite inside
the loop (a diverging denoiser, a step too large for the guidance) is a
``FloatingPointError`` from :func:`finite_step`, naming the step index and the noise
level, so the caller can tell "I passed garbage" from "the numerics blew up".
"""
from __future__ import annotations

import math

import torch


def check_ts(ts, name: str = "ts", min_len: int = 2) -> torch.Tensor:
    """A strictly decreasing 1-D grid of noise variances t_0 > … > t_N > 0, as float64."""
    ts = torch.as_tensor(ts, dtype=torch.float64)
    if ts.ndim != 1 or len(ts) < min_len:
        raise ValueError(f"{name} must be a 1-D tensor with at least {min_len} noise level(s), "
                         f"got shape {tuple(ts.shape)}")
    if not bool(torch.isfinite(ts).all()):
        raise ValueError(f"{name} must be finite, got {ts.tolist()}")
    if not bool((ts > 0).all()):
        raise ValueError(f"{name} must be > 0 (noise variances t), got minimum {ts.min().item()}")
    if not bool((ts[1:] < ts[:-1]).all()):
        raise ValueError(f"{name} must be strictly decreasing (t_0 > t_1 > … > t_N), got {ts.tolist()[:8]}…")
    return ts


def check_alpha_bars(alpha_bars, name: str = "alpha_bars") -> torch.Tensor:
    """A strictly increasing 1-D grid ᾱ_0 < … < ᾱ_N in (0, 1] (noisiest first), as float64."""
    alpha_bars = torch.as_tensor(alpha_bars, dtype=torch.float64)
    if alpha_bars.ndim != 1 or len(alpha_bars) < 2:
        raise ValueError(f"{name} must be a 1-D tensor with at least 2 entries, got shape {tuple(alpha_bars.shape)}")
    if not bool(torch.isfinite(alpha_bars).all()):
        raise ValueError(f"{name} must be finite, got {alpha_bars.tolist()[:8]}")
    if not bool(((alpha_bars > 0) & (alpha_bars <= 1)).all()):
        raise ValueError(f"{name} must lie in (0, 1], got range [{alpha_bars.min().item()}, {alpha_bars.max().item()}]")
    if not bool((alpha_bars[1:] > alpha_bars[:-1]).all()):
        raise ValueError(f"{name} must be strictly increasing (noisiest level first, ᾱ = 1 is clean)")
    return alpha_bars


def check_temperature(temperature, name: str = "temperature") -> float:
    """T >= 0 and finite (T = 0 is β = ∞)."""
    temperature = float(temperature)
    if not (math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"{name} must be a finite number >= 0 (T = 1/β), got {temperature}")
    return temperature


def check_positive(value, name: str) -> float:
    """A finite number > 0."""
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def check_same_shape(out: torch.Tensor, z: torch.Tensor, what: str) -> torch.Tensor:
    """The model's output must have the shape of the sample it was given."""
    if out.shape != z.shape:
        raise ValueError(f"{what} returned shape {tuple(out.shape)} for input of shape {tuple(z.shape)}")
    return out


def check_sample(z, name: str = "z") -> torch.Tensor:
    """A sampler's start: a finite floating-point tensor (B, ...)."""
    if not isinstance(z, torch.Tensor) or z.ndim < 1 or not z.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor of shape (B, ...), got {type(z).__name__}")
    return check_finite(z, name)


def check_finite(x: torch.Tensor, name: str) -> torch.Tensor:
    """``x`` unchanged if every entry is finite, else a ``ValueError`` naming ``name``."""
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        raise ValueError(f"{name} must be finite (no NaN or ±inf), got {int(bad.sum())} non-finite "
                         f"entries of {x.numel()}")
    return x


def finite_step(z: torch.Tensor, i: int, t, name: str = "z", symbol: str = "t") -> torch.Tensor:
    """``z`` unchanged if step ``i`` left it finite, else ``FloatingPointError``.

    ``t`` is the noise level the step started from (the one the model was called at),
    reported as ``symbol`` (``t``, ``tau``, ``sigma``, ...).  One ``torch.isfinite(z).all()``
    per step: negligible beside a network evaluation.
    """
    if not bool(torch.isfinite(z).all()):
        raise FloatingPointError(f"the sampler diverged: {name} became non-finite (NaN or ±inf) at step {i} "
                                 f"({symbol} = {_level(t)}); a smaller step (a finer grid), a smaller guidance "
                                 f"weight or a finite model output may help")
    return z


def _level(t) -> str:
    """A noise level for an error message: one number, or the range of a per-example / per-pixel tensor."""
    t = torch.as_tensor(t, dtype=torch.float64)
    if t.numel() == 1:
        return f"{t.item():.6g}"
    return f"[{t.min().item():.6g}, {t.max().item():.6g}]"
