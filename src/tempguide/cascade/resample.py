"""Changing resolution by a factor 2 (book: "Conditional diffusion in practice", SR3).

    down(y)     = 2×2 average pooling, 28×28 → 14×14 (the pyramid encoder of chapter 5, ``mvae.pyramid.pool``)
    up(x)       = bicubic upsampling 14×14 → 28×28 (``F.interpolate``, align_corners=False): SR3's conditioning
                  input and the classical baseline (Saharia, Ho et al. 2021, §2 and Table 1)
    up_nearest  = each pixel copied into its 2×2 block

What holds: ``down(up_nearest(x)) = x`` exactly, so nearest upsampling is
*consistent* (it returns its input when downsampled), but blocky.  Bicubic
upsampling is smooth but not consistent: ``down(up(x))`` is a fixed linear
smoothing of x (each output a weighted sum of its 4×4 neighbours with weights
summing to 1, so constants pass unchanged), not x.  A super-resolution model's
consistency is measured by ``consistency``: the root mean square of down(out) − x.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

HIGH, LOW = 28, 14  # sides of the high- and low-resolution images


def _check(x: torch.Tensor, size: int, name: str) -> None:
    if x.dim() != 4 or x.shape[1:] != (1, size, size):
        raise ValueError(f"{name} must have shape (B, 1, {size}, {size}), got {tuple(x.shape)}")


def down(y: torch.Tensor) -> torch.Tensor:
    """(B, 1, 28, 28) → (B, 1, 14, 14): the mean of each 2×2 block."""
    _check(y, HIGH, "y")
    return F.avg_pool2d(y, 2)


def up(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, 14, 14) → (B, 1, 28, 28): bicubic interpolation (SR3's conditioning input)."""
    _check(x, LOW, "x")
    return F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)


def up_nearest(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, 14, 14) → (B, 1, 28, 28): each pixel copied into a 2×2 block, so down(up_nearest(x)) = x."""
    _check(x, LOW, "x")
    return x.repeat_interleave(2, dim=-1).repeat_interleave(2, dim=-2)


def consistency(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per image (B,): RMS of down(out) − x, 0 for an output that downsamples back to its input x."""
    _check(x, LOW, "x")
    return (down(out) - x).pow(2).mean(dim=(1, 2, 3)).sqrt()
