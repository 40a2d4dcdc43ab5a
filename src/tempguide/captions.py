"""Captions for MNIST digits, from the label and three attributes measured on the image (book: chapter 6).

    caption(label, image) = "a thick seven slanting right"

The measurers are also the *judges* of caption-match in chapter 6, so each is a
plain formula on the pixels (images (B, 1, 28, 28) in [−1, 1], ink m = (y + 1)/2):

- thickness: ``attributes.ink``, the mean ink m over the frame;
- slant: the shear of the ink, cov(col, height) / var(height) from the
  ink-weighted second moments (height = −row, so "up" is positive): 0 for an
  upright stroke, > 0 when the top leans right (a "/"), < 0 when it leans left;
- size: the area in pixels of the bounding box of the ink m > 0.5 (width × height;
  MNIST scales every digit to a 20-pixel box, so the height alone is 20 for 85%).

Words: thickness thin | thick and size small | large split at the medians of the
4,000 training digits (``measure_thresholds``; the tests keep ``THRESHOLDS`` in
sync); slant "slanting left" | "upright" | "slanting right" at the fixed
±0.15 (a lean of 0.15 pixel per pixel of height, about 8.5°): 14% / 38% / 47% of
the training digits (handwriting leans right).
"""
from __future__ import annotations

import torch

from .attributes import ink

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
THICKNESS = ("thin", "thick")
SLANT = ("slanting left", "upright", "slanting right")
SIZE = ("small", "large")
#: thresholds from ``measure_thresholds()`` on the training subset (rounded; tests keep them in sync)
THRESHOLDS = {"thickness": 0.1286, "slant": (-0.15, 0.15), "size": 300.0}


def _check(images: torch.Tensor) -> None:
    if images.dim() != 4 or images.shape[1] != 1:
        raise ValueError(f"images must have shape (B, 1, H, W), got {tuple(images.shape)}")


def slant(images: torch.Tensor) -> torch.Tensor:
    """cov(col, height) / var(height) of the ink distribution, (B,); NaN for a blank image or a flat line."""
    _check(images)
    m = ((images.clamp(-1, 1) + 1) / 2)[:, 0].double()  # (B, H, W)
    H, W = m.shape[1:]
    height = -torch.arange(H, dtype=torch.float64)[:, None].expand(H, W)
    col = torch.arange(W, dtype=torch.float64)[None, :].expand(H, W)
    mass = m.sum(dim=(1, 2))
    mean_h, mean_c = (m * height).sum(dim=(1, 2)) / mass, (m * col).sum(dim=(1, 2)) / mass
    dh, dc = height - mean_h[:, None, None], col - mean_c[:, None, None]
    return ((m * dh * dc).sum(dim=(1, 2)) / (m * dh * dh).sum(dim=(1, 2))).float()


def _extent(occupied: torch.Tensor) -> torch.Tensor:
    """last − first + 1 of the True entries of each row of ``occupied`` (B, L); 0 where none."""
    idx = torch.arange(occupied.shape[1])
    first = torch.where(occupied, idx, occupied.shape[1]).min(dim=1).values
    last = torch.where(occupied, idx, -1).max(dim=1).values
    return (last - first + 1).clamp(min=0)


def size(images: torch.Tensor) -> torch.Tensor:
    """Area in pixels (width × height) of the bounding box of the ink > 0.5, (B,); 0 for a blank image."""
    _check(images)
    inked = ((images.clamp(-1, 1) + 1) / 2)[:, 0] > 0.5  # (B, H, W)
    return (_extent(inked.any(dim=2)) * _extent(inked.any(dim=1))).float()


def attribute_words(images: torch.Tensor, thresholds: dict | None = None) -> dict[str, list[str]]:
    """The words of each attribute for each image: {"thickness": [...], "slant": [...], "size": [...]}."""
    th = thresholds or THRESHOLDS
    lo, hi = th["slant"]
    s = slant(images)
    return {
        "thickness": [THICKNESS[int(v > th["thickness"])] for v in ink(images).tolist()],
        "slant": [SLANT[0] if v < lo else SLANT[2] if v > hi else SLANT[1] for v in s.tolist()],
        "size": [SIZE[int(v > th["size"])] for v in size(images).tolist()],
    }


def captions(labels: torch.Tensor, images: torch.Tensor) -> list[str]:
    """"a {size} {thickness} {digit} {slant}" for each (label, image), e.g. "a large thick seven slanting right"."""
    if len(labels) != len(images):
        raise ValueError(f"labels and images must have the same length, got {len(labels)} and {len(images)}")
    words = attribute_words(images)
    return [f"a {sz} {th} {DIGITS[int(c)]} {sl}"
            for c, sz, th, sl in zip(labels.tolist(), words["size"], words["thickness"], words["slant"])]


def measure_thresholds(images: torch.Tensor) -> dict:
    """The medians that split thickness and size, measured on ``images`` (the training subset)."""
    return {"thickness": ink(images).double().median().item(), "size": size(images).double().median().item()}
