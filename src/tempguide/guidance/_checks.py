"""Argument checks shared by the guidance wrappers: one clear ValueError per kind of bad input."""
from __future__ import annotations

import math

import torch


def check_weight(value, name: str):
    """A guidance weight (w or γ): a finite number, or a finite 1-D tensor of per-example weights."""
    if isinstance(value, torch.Tensor) and value.ndim > 0:
        if value.ndim != 1:
            raise ValueError(f"{name} must be a number or a 1-D tensor of per-example weights (B,), "
                             f"got shape {tuple(value.shape)}")
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"{name} must be finite, got {value.tolist()[:8]}")
        return value
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number or a 1-D tensor, got {type(value).__name__}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


def per_example(value, like: torch.Tensor):
    """A weight (number, or (B,) tensor) shaped to broadcast against ``like`` (B, ...)."""
    if isinstance(value, torch.Tensor) and value.ndim > 0:
        if value.shape[0] != like.shape[0]:
            raise ValueError(f"per-example weights have {value.shape[0]} entries for a batch of {like.shape[0]}")
        return value.to(like).reshape(-1, *[1] * (like.ndim - 1))
    return value


def check_labels(labels, batch: int, num_classes: int, name: str = "labels") -> torch.Tensor:
    """Class labels as a (batch,) int64 tensor with values in [0, num_classes)."""
    labels = torch.as_tensor(labels)
    if labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"{name} must be integer class indices, got dtype {labels.dtype}")
    if labels.ndim == 0:
        labels = labels.expand(batch)
    if labels.shape != (batch,):
        raise ValueError(f"{name} must have shape ({batch},) (one class per example), got {tuple(labels.shape)}")
    if bool((labels < 0).any()) or bool((labels >= num_classes).any()):
        raise ValueError(f"{name} must be in [0, {num_classes}), got range "
                         f"[{labels.min().item()}, {labels.max().item()}]")
    return labels.long()


def broadcast_t(t, z: torch.Tensor) -> torch.Tensor:
    """t as a tensor shaped to broadcast against z: 0-dim stays 0-dim, (B,) becomes (B, 1, …)."""
    t = torch.as_tensor(t, dtype=z.dtype, device=z.device)
    return t.reshape(-1, *[1] * (z.ndim - 1)) if t.ndim else t
