"""A tiny CLIP for MNIST captions (book: "CLIP"; Radford et al. 2021).

    C_I(y) = normalise(f(y)) ∈ R^d,    C_T(c) = normalise(g(c)) ∈ R^d,
    logits_ij = exp(s) · C_I(y_i)ᵀ C_T(c_j)      (s = ``logit_scale``, learnt; exp(s) = 1/temperature)

- image encoder f: a strided stem to 14×14, three UNet residual blocks (at 14,
  7, 7) with a log-t embedding, global average pool and a linear head to d.  It sees
  z̄ = z/√(1+t) like every ε-network.  The *clean* CLIP is trained on clean images
  only and shown t = ``T_CLEAN``; the *noise-aware* one (GLIDE's "noised CLIP",
  Nichol et al. 2022, §3.3) is trained on x_t at the training noise levels.
- text encoder g: a bag of words (``tokens``): the mean of the word embeddings,
  then a two-layer MLP to d.
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..models.embedding import LogTimeEmbedding, broadcast_t
from ..models.unet import ResBlock
from .tokens import VOCAB, tokenize
from .._renamed import renamed_argument

T_CLEAN = 1e-4  # the smallest training noise variance: what the clean encoder is shown


@dataclasses.dataclass
class ClipConfig:
    """Sizes of a ``Clip``; ``noise_aware`` only records how the image encoder was trained."""

    embed_dim: int = 32
    channels: tuple[int, int, int] = (16, 32, 32)  # image encoder blocks at 14×14, 7×7, 7×7
    time_dim: int = 64
    groups: int = 8
    word_dim: int = 64
    noise_aware: bool = False
    init_temperature: float = 0.07  # CLIP's initial 1/exp(s)

    def __post_init__(self):
        self.channels = tuple(self.channels)
        if len(self.channels) != 3 or any(c % self.groups for c in self.channels):
            raise ValueError(f"channels must be 3 multiples of groups={self.groups}, got {self.channels}")
        if not (isinstance(self.embed_dim, int) and self.embed_dim >= 2):
            raise ValueError(f"embed_dim must be an int >= 2, got {self.embed_dim!r}")
        if not 0 < self.init_temperature:
            raise ValueError(f"init_temperature must be > 0, got {self.init_temperature}")


class ImageEncoder(nn.Module):
    """x (B, 1, 28, 28), t -> unit vectors (B, d): UNet encoder blocks, average pool, linear, normalise."""

    def __init__(self, config: ClipConfig):
        super().__init__()
        c0, c1, c2 = config.channels
        g, e = config.groups, config.time_dim
        self.time_emb = LogTimeEmbedding(e)
        self.stem = nn.Conv2d(1, c0, 3, stride=2, padding=1)    # 28×28 -> 14×14
        self.block0 = ResBlock(c0, c0, e, g, 0.0)                # 14×14
        self.pool0 = nn.Conv2d(c0, c0, 3, stride=2, padding=1)   # -> 7×7
        self.block1 = ResBlock(c0, c1, e, g, 0.0)
        self.block2 = ResBlock(c1, c2, e, g, 0.0)
        self.norm = nn.GroupNorm(g, c2)
        self.head = nn.Linear(c2, config.embed_dim)

    @renamed_argument("x", "z_bar")
    def forward(self, z_bar: torch.Tensor, t=T_CLEAN) -> torch.Tensor:
        if z_bar.dim() != 4 or z_bar.shape[1:] != (1, 28, 28):
            raise ValueError(f"z_bar must have shape (B, 1, 28, 28), got {tuple(z_bar.shape)}")
        emb = self.time_emb(broadcast_t(t, z_bar.shape[0], z_bar.device))  # (B, e)
        h = self.block0(self.stem(z_bar), emb)                          # (B, c0, 14, 14)
        h = self.block1(self.pool0(h), emb)                         # (B, c1, 7, 7)
        h = self.block2(h, emb)                                     # (B, c2, 7, 7)
        h = F.silu(self.norm(h)).mean(dim=(2, 3))                   # (B, c2)
        return F.normalize(self.head(h), dim=-1)                    # (B, d), ‖C_I‖ = 1


class TextEncoder(nn.Module):
    """Token ids (B, L) -> unit vectors (B, d): mean of the word embeddings (padding excluded), MLP, normalise."""

    def __init__(self, config: ClipConfig):
        super().__init__()
        self.words = nn.Embedding(len(VOCAB), config.word_dim, padding_idx=0)
        self.mlp = nn.Sequential(nn.Linear(config.word_dim, 2 * config.word_dim), nn.SiLU(),
                                 nn.Linear(2 * config.word_dim, config.embed_dim))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.dim() != 2:
            raise ValueError(f"ids must have shape (B, L), got {tuple(ids.shape)}")
        mask = (ids != 0).float()[..., None]                                     # (B, L, 1)
        bag = (self.words(ids) * mask).sum(1) / mask.sum(1).clamp_min(1.0)     # (B, word_dim)
        return F.normalize(self.mlp(bag), dim=-1)                              # (B, d), ‖C_T‖ = 1


class Clip(nn.Module):
    """Both towers and the learnt logit scale s (module docstring)."""

    def __init__(self, config: ClipConfig | None = None):
        super().__init__()
        self.config = config = config or ClipConfig()
        self.image = ImageEncoder(config)
        self.text = TextEncoder(config)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / config.init_temperature)))

    @renamed_argument("x", "z_bar")
    def encode_image(self, z_bar: torch.Tensor, t=T_CLEAN) -> torch.Tensor:
        """C_I of z̄ = z/√(1+t) at noise variance t (B, d)."""
        return self.image(z_bar, t)

    def encode_text(self, captions) -> torch.Tensor:
        """C_T of a list of captions (or of token ids (B, L)), (B, d)."""
        ids = captions if isinstance(captions, torch.Tensor) else tokenize(captions)
        return self.text(ids.to(self.logit_scale.device))

    def scale(self) -> torch.Tensor:
        """exp(s), clamped at 100 as in CLIP."""
        return self.logit_scale.exp().clamp(max=100.0)

    @renamed_argument("x", "z_bar")
    def forward(self, z_bar: torch.Tensor, ids: torch.Tensor, t=T_CLEAN) -> torch.Tensor:
        """logits (B_img, B_txt) = exp(s) · C_I(z̄)ᵀ C_T(ids)."""
        return self.scale() * self.encode_image(z_bar, t) @ self.encode_text(ids).T
