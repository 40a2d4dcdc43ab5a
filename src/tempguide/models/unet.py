"""A small UNet ε-network for 28×28 digits (book: "Toolkit: models"; Ho et al. 2020, Appendix B).

    eps_hat = net(z_bar, t, labels=None),   z̄ = z / √(1 + t) = √ᾱ·y + √(1−ᾱ)·ε,

with t the noise variance (shape (B,) or 0-dim) and ``labels`` (B,) in 0..9 or
the null label 10 (classifier-free guidance; ``None`` = null label) when the
config has ``num_classes=10``.  Resolutions 28 → 14 → 7 with channels
``channels``; each level has one residual block (GroupNorm, SiLU, 3×3 convs, the
time+label embedding added in between), a self-attention layer at 7×7, and skip
connections back up.  About 0.4 M parameters with the defaults.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from .embedding import LogTimeEmbedding, broadcast_t, resolve_labels
from .._renamed import renamed_argument


@dataclasses.dataclass
class UNetConfig:
    """Sizes of a ``UNet``; ``num_classes=None`` is unconditional, ``10`` adds 11 label embeddings."""

    channels: tuple[int, int, int] = (32, 48, 64)  # at 28×28, 14×14, 7×7
    emb_dim: int = 128
    groups: int = 8  # GroupNorm groups
    num_classes: int | None = None
    dropout: float = 0.0
    attention: bool = True  # one self-attention layer at 7×7

    def __post_init__(self):
        self.channels = tuple(self.channels)  # JSON round trip gives a list
        if len(self.channels) != 3 or any(c % self.groups for c in self.channels):
            raise ValueError(f"channels must be 3 multiples of groups={self.groups}, got {self.channels}")


class ResBlock(nn.Module):
    """h = conv(SiLU(GN(x))) + W·emb;  out = skip(x) + conv(dropout(SiLU(GN(h))))."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int, dropout: float):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(groups, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]  # condition on t (and the label)
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """x + MultiheadAttention(GN(x)) over the H·W positions."""

    def __init__(self, channels: int, groups: int, heads: int = 4):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        h = self.norm(x).flatten(2).transpose(1, 2)  # (B, HW, C)
        h, _ = self.attn(h, h, h, need_weights=False)
        return x + h.transpose(1, 2).reshape(B, C, H, W)


class UNet(nn.Module):
    """ε-network for (B, 1, 28, 28) images; see the module docstring for the call convention."""

    def __init__(self, config: UNetConfig | None = None):
        super().__init__()
        self.config = config = config or UNetConfig()
        c0, c1, c2 = config.channels
        g, e, p = config.groups, config.emb_dim, config.dropout
        self.time_emb = LogTimeEmbedding(e)
        self.label_emb = nn.Embedding(config.num_classes + 1, e) if config.num_classes else None
        self.stem = nn.Conv2d(1, c0, 3, padding=1)
        self.down0 = ResBlock(c0, c0, e, g, p)                     # 28×28
        self.pool0 = nn.Conv2d(c0, c0, 3, stride=2, padding=1)     # -> 14×14
        self.down1 = ResBlock(c0, c1, e, g, p)
        self.pool1 = nn.Conv2d(c1, c1, 3, stride=2, padding=1)     # -> 7×7
        self.mid1 = ResBlock(c1, c2, e, g, p)
        self.attn = SelfAttention(c2, g) if config.attention else nn.Identity()
        self.mid2 = ResBlock(c2, c2, e, g, p)
        self.up1 = ResBlock(c2 + c1, c1, e, g, p)                 # 14×14, with the skip
        self.up0 = ResBlock(c1 + c0, c0, e, g, p)                 # 28×28, with the skip
        self.out_norm = nn.GroupNorm(g, c0)
        self.out = nn.Conv2d(c0, 1, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # start at eps_hat = 0
        nn.init.zeros_(self.out.bias)

    @renamed_argument("x", "z_bar")
    def forward(self, z_bar: torch.Tensor, t, labels=None) -> torch.Tensor:
        B = _check_image(z_bar)
        emb = self.time_emb(broadcast_t(t, B, z_bar.device))  # (B, e)
        labels = resolve_labels(labels, self.config.num_classes, B, z_bar.device)
        if labels is not None:
            emb = emb + self.label_emb(labels)
        return self.body(z_bar, emb)

    @renamed_argument("x", "z_bar")
    def body(self, z_bar: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """The network proper, given the conditioning embedding emb (B, emb_dim) of t (and the condition)."""
        h0 = self.down0(self.stem(z_bar), emb)                  # (B, c0, 28, 28)
        h1 = self.down1(self.pool0(h0), emb)                # (B, c1, 14, 14)
        h = self.mid1(self.pool1(h1), emb)                  # (B, c2, 7, 7)
        h = self.mid2(self.attn(h), emb)
        h = F.interpolate(h, scale_factor=2, mode="nearest")  # (B, c2, 14, 14)
        h = self.up1(torch.cat([h, h1], dim=1), emb)        # (B, c1, 14, 14)
        h = F.interpolate(h, scale_factor=2, mode="nearest")  # (B, c1, 28, 28)
        h = self.up0(torch.cat([h, h0], dim=1), emb)        # (B, c0, 28, 28)
        return self.out(F.silu(self.out_norm(h)))           # (B, 1, 28, 28)


def _check_image(z_bar: torch.Tensor) -> int:
    """The batch size of z̄, which must have shape (B, 1, 28, 28)."""
    if z_bar.dim() != 4 or z_bar.shape[1:] != (1, 28, 28):
        raise ValueError(f"z_bar must have shape (B, 1, 28, 28), got {tuple(z_bar.shape)}")
    return z_bar.shape[0]
