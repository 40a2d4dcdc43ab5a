"""Changing resolution by a factor f = 2 or 4 (book: "Conditional diffusion in practice", SR3).

    down(y, f)  = f×f average pooling, 28×28 → 14×14 (f = 2, the pyramid encoder of chapter 5,
                  ``mvae.pyramid.pool``) or → 7×7 (f = 4)
    up(x)       = bicubic upsampling of a 14×14 or 7×7 image to 28×28 (``F.interpolate``, align_corners=False):
                  SR3's conditioning input and the classical baseline (Saharia, Ho et al. 2021, §2 and Table 1)
    up_nearest  = each pixel copied into its f×f block

What holds: ``down(up_nearest(x)) = x`` (exactly for f = 2, to float rounding for f = 4), so nearest upsampling is
*consistent* (it returns its input when downsampled), but blocky.  Bicubic
upsampling is smooth but not consistent: ``down(up(x))`` is a fixed linear
smoothing of x (each output a weighted sum of its 4×4 neighbours with weights
summing to 1, so constants pass unchanged), not x.  A super-resolution model's
consistency is measured by ``consistency``: the root mean square of down(out) − x.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

HIGH = 28        # side of the high-resolution images
LOWS = (14, 7)   # sides of the low-resolution ones (factors 2 and 4)


def _check(x: torch.Tensor, sizes, name: str) -> int:
    """The side of x, which must have shape (B, 1, side, side) with side in ``sizes``."""
    if x.dim() != 4 or x.shape[1] != 1 or x.shape[2] != x.shape[3] or x.shape[2] not in sizes:
        raise ValueError(f"{name} must have shape (B, 1, side, side) with side in {sizes}, got {tuple(x.shape)}")
    return x.shape[2]


def down(y: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """(B, 1, 28, 28) → (B, 1, 28/f, 28/f): the mean of each f×f block, f = ``factor`` ∈ {2, 4}."""
    _check(y, (HIGH,), "y")
    if factor not in (2, 4):
        raise ValueError(f"factor must be 2 or 4, got {factor!r}")
    return F.avg_pool2d(y, factor)


def up(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, 14 or 7, ·) → (B, 1, 28, 28): bicubic interpolation (SR3's conditioning input)."""
    side = _check(x, LOWS, "x")
    return F.interpolate(x, scale_factor=HIGH // side, mode="bicubic", align_corners=False)


def up_nearest(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, 14 or 7, ·) → (B, 1, 28, 28): each pixel copied into its f×f block, so down(up_nearest(x), f) = x."""
    f = HIGH // _check(x, LOWS, "x")
    return x.repeat_interleave(f, dim=-1).repeat_interleave(f, dim=-2)


def consistency(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per image (B,): RMS of down(out, f) − x (f = 28 / side of x), 0 if the output downsamples back to x."""
    f = HIGH // _check(x, LOWS, "x")
    return (down(out, f) - x).pow(2).mean(dim=(1, 2, 3)).sqrt()
