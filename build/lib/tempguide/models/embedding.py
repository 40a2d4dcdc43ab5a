"""Inputs every ε-network shares: the noise level t and an optional class label (book: "Notation").

Noise level.  The networks see t through a sinusoidal embedding of log t
(Vaswani et al. 2017, §3.5; Song et al. 2021 use log σ = ½ log t the same way):
the course's t spans eight orders of magnitude (DDPM's t_1 = 1e-4 to
t_1000 ≈ 2.5e4), so log t, in [−9.2, 10.1], is the natural coordinate.

Labels.  A conditional network has ``num_classes + 1`` label embeddings: the
classes 0..num_classes−1 and the *null label* ``num_classes`` meaning "no class"
(classifier-free guidance, Ho & Salimans 2021).  ``labels=None`` is the null label.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def broadcast_t(t, batch: int, device) -> torch.Tensor:
    """t as a float32 tensor of shape (B,): accepts a float, a 0-dim tensor or a (B,) tensor."""
    t = torch.as_tensor(t, dtype=torch.float32, device=device)
    if t.dim() == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"t must be a scalar or have shape ({batch},), got {tuple(t.shape)}")
    return t


def resolve_labels(labels, num_classes: int | None, batch: int, device) -> torch.Tensor | None:
    """Labels (B,) int64 in 0..num_classes (null label = num_classes); ``None`` -> all null."""
    if num_classes is None:
        if labels is not None:
            raise ValueError("labels given to an unconditional network (its config has num_classes=None)")
        return None
    if labels is None:
        return torch.full((batch,), num_classes, dtype=torch.long, device=device)
    labels = torch.as_tensor(labels, dtype=torch.long, device=device)
    if labels.dim() == 0:
        labels = labels.expand(batch)
    if labels.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},), got {tuple(labels.shape)}")
    if labels.min() < 0 or labels.max() > num_classes:
        raise ValueError(f"labels must be in 0..{num_classes} ({num_classes} = null label), "
                         f"got range [{labels.min().item()}, {labels.max().item()}]")
    return labels


class LogTimeEmbedding(nn.Module):
    """t (B,) -> (B, dim): [cos(f_k log t), sin(f_k log t)], f_k geometric in [min_freq, max_freq], then an MLP.

    The slowest frequency (period 2π/0.02 ≈ 300 in log t) is nearly linear over
    the whole range; the fastest (period ≈ 0.6) resolves a factor ~2 in t.
    """

    def __init__(self, dim: int, fourier_dim: int = 64, min_freq: float = 0.02, max_freq: float = 10.0):
        super().__init__()
        freqs = torch.exp(torch.linspace(math.log(min_freq), math.log(max_freq), fourier_dim // 2))
        self.register_buffer("freqs", freqs, persistent=False)
        self.mlp = nn.Sequential(nn.Linear(fourier_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t.clamp_min(1e-12).log()[:, None] * self.freqs  # (B, fourier_dim/2)
        return self.mlp(torch.cat([angles.cos(), angles.sin()], dim=1))  # (B, dim)
