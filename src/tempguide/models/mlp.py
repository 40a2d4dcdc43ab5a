"""An MLP ε-network (or score network) for low-dimensional toys (book: "Toolkit: models").

    out = net(z_bar, t, labels=None),   z_bar (B, dim),  t (B,) or 0-dim,  out (B, dim)

Same convention as the UNet: trained as an ε-network, z̄ = z / √(1 + t); t enters
through a sinusoidal embedding of log t; with ``num_classes`` set, ``labels`` in
0..num_classes (``num_classes`` = null label, also what ``None`` means).  The
network itself is generic (output dimension = input dimension), so it also
serves as a score network s(z, t) in the score-matching demos.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from .embedding import LogTimeEmbedding, broadcast_t, resolve_labels
from .._renamed import renamed_argument


@dataclasses.dataclass
class MLPConfig:
    """Sizes of an ``MLP``: ``depth`` hidden layers of width ``hidden``."""

    dim: int = 2
    hidden: int = 128
    depth: int = 3
    num_classes: int | None = None

    def __post_init__(self):
        if self.dim < 1 or self.hidden < 1 or self.depth < 1:
            raise ValueError(f"dim, hidden and depth must be >= 1, got {self.dim}, {self.hidden}, {self.depth}")


class MLP(nn.Module):
    """h = W_in x + emb(t) (+ emb(label));  h ← h + W_k SiLU(h) (residual);  out = W_out SiLU(LN(h))."""

    def __init__(self, config: MLPConfig | None = None):
        super().__init__()
        self.config = config = config or MLPConfig()
        self.time_emb = LogTimeEmbedding(config.hidden)
        self.label_emb = nn.Embedding(config.num_classes + 1, config.hidden) if config.num_classes else None
        self.inp = nn.Linear(config.dim, config.hidden)
        self.layers = nn.ModuleList(nn.Linear(config.hidden, config.hidden) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.hidden)
        self.out = nn.Linear(config.hidden, config.dim)

    @renamed_argument("x", "z_bar")
    def forward(self, z_bar: torch.Tensor, t, labels=None) -> torch.Tensor:
        if z_bar.dim() != 2 or z_bar.shape[1] != self.config.dim:
            raise ValueError(f"z_bar must have shape (B, {self.config.dim}), got {tuple(z_bar.shape)}")
        B = z_bar.shape[0]
        h = self.inp(z_bar) + self.time_emb(broadcast_t(t, B, z_bar.device))  # (B, hidden)
        labels = resolve_labels(labels, self.config.num_classes, B, z_bar.device)
        if labels is not None:
            h = h + self.label_emb(labels)
        for layer in self.layers:
            h = h + layer(F.silu(h))
        return self.out(F.silu(self.norm(h)))  # (B, dim)
