"""Attributes of a digit measured on the image (book: "Continuous conditions").

Images are (B, 1, 28, 28) in [−1, 1] (background −1).  Each measurer returns (B,).

- ``ink``: the fraction of the image covered by ink, mean of (y + 1)/2 over the
  28×28 pixels, in [0, 1].  Thick and large digits have more ink.
"""
from __future__ import annotations

import torch


def _check_images(images: torch.Tensor) -> None:
    if images.dim() != 4 or images.shape[1] != 1:
        raise ValueError(f"images must have shape (B, 1, H, W), got {tuple(images.shape)}")


def ink(images: torch.Tensor) -> torch.Tensor:
    """Mean ink (y + 1)/2 per image, (B,) in [0, 1]; values outside [−1, 1] are clamped first."""
    _check_images(images)
    return ((images.clamp(-1, 1) + 1) / 2).mean(dim=(1, 2, 3))


def standardise(a: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """E = (a − mean)/std: E = 0 is the average digit, ±1 one standard deviation away."""
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std}")
    return (a - mean) / std
