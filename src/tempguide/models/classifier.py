"""Two MNIST classifiers with different jobs (book: "Toolkit: models").

``NoisyClassifier`` — p(class | z, t) for classifier guidance (Dhariwal & Nichol
2021, §4: the classifier is the downsampling half of the diffusion UNet, trained
on noisy images).  ``logits = clf(z_bar, t)``, z̄ = z / √(1 + t), as for ε-networks.

``MnistClassifier`` — the independent *evaluation* classifier (the yardstick
behind fidelity, diversity and the MNIST-feature FID in ``tempguide.metrics``).
It is a plain VGG-style CNN (Simonyan & Zisserman 2015) trained on clean images
only, with no time input and a different architecture from the networks it
judges, so that guidance cannot "fool" the judge it was trained against.
``logits = clf(images)`` for images in [−1, 1]; ``clf.features(images)`` are the
penultimate activations (B, feature_dim) used like Inception's pool features in
FID (Heusel et al. 2017).
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from .embedding import LogTimeEmbedding, broadcast_t
from .unet import ResBlock
from .._renamed import renamed_argument


@dataclasses.dataclass
class NoisyClassifierConfig:
    """Sizes of a ``NoisyClassifier``."""

    channels: tuple[int, int, int] = (32, 64, 64)  # at 28×28, 14×14, 7×7
    emb_dim: int = 128
    groups: int = 8
    num_classes: int = 10
    dropout: float = 0.1

    def __post_init__(self):
        self.channels = tuple(self.channels)
        if len(self.channels) != 3 or any(c % self.groups for c in self.channels):
            raise ValueError(f"channels must be 3 multiples of groups={self.groups}, got {self.channels}")


class NoisyClassifier(nn.Module):
    """Encoder half of the UNet (residual blocks with the log-t embedding), global average pool, linear."""

    def __init__(self, config: NoisyClassifierConfig | None = None):
        super().__init__()
        self.config = config = config or NoisyClassifierConfig()
        c0, c1, c2 = config.channels
        g, e, p = config.groups, config.emb_dim, config.dropout
        self.time_emb = LogTimeEmbedding(e)
        self.stem = nn.Conv2d(1, c0, 3, padding=1)
        self.block0 = ResBlock(c0, c0, e, g, p)                  # 28×28
        self.pool0 = nn.Conv2d(c0, c0, 3, stride=2, padding=1)   # -> 14×14
        self.block1 = ResBlock(c0, c1, e, g, p)
        self.pool1 = nn.Conv2d(c1, c1, 3, stride=2, padding=1)   # -> 7×7
        self.block2 = ResBlock(c1, c2, e, g, p)
        self.norm = nn.GroupNorm(g, c2)
        self.head = nn.Linear(c2, config.num_classes)

    @renamed_argument("x", "z_bar")
    def forward(self, z_bar: torch.Tensor, t) -> torch.Tensor:
        if z_bar.dim() != 4 or z_bar.shape[1:] != (1, 28, 28):
            raise ValueError(f"z_bar must have shape (B, 1, 28, 28), got {tuple(z_bar.shape)}")
        emb = self.time_emb(broadcast_t(t, z_bar.shape[0], z_bar.device))  # (B, e)
        h = self.block0(self.stem(z_bar), emb)                          # (B, c0, 28, 28)
        h = self.block1(self.pool0(h), emb)                         # (B, c1, 14, 14)
        h = self.block2(self.pool1(h), emb)                         # (B, c2, 7, 7)
        h = F.silu(self.norm(h)).mean(dim=(2, 3))                   # (B, c2)
        return self.head(h)                                         # (B, num_classes)


@dataclasses.dataclass
class MnistClassifierConfig:
    """Sizes of the evaluation ``MnistClassifier``."""

    channels: tuple[int, int, int] = (32, 64, 128)
    feature_dim: int = 128
    groups: int = 8
    dropout: float = 0.3
    num_classes: int = 10

    def __post_init__(self):
        self.channels = tuple(self.channels)
        if len(self.channels) != 3 or any(c % self.groups for c in self.channels):
            raise ValueError(f"channels must be 3 multiples of groups={self.groups}, got {self.channels}")


def _conv(c_in: int, c_out: int, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.GroupNorm(groups, c_out), nn.ReLU())


class MnistClassifier(nn.Module):
    """[conv-GN-ReLU ×2, max-pool] at 28 and 14, one conv at 7, global average, 128-unit ReLU layer, linear."""

    def __init__(self, config: MnistClassifierConfig | None = None):
        super().__init__()
        self.config = config = config or MnistClassifierConfig()
        c0, c1, c2 = config.channels
        g = config.groups
        self.body = nn.Sequential(
            _conv(1, c0, g), _conv(c0, c0, g), nn.MaxPool2d(2),    # 28 -> 14
            _conv(c0, c1, g), _conv(c1, c1, g), nn.MaxPool2d(2),   # 14 -> 7
            _conv(c1, c2, g),
        )
        self.fc = nn.Linear(c2, config.feature_dim)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.feature_dim, config.num_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (B, feature_dim), the space FID and diversity are computed in."""
        if images.dim() != 4 or images.shape[1:] != (1, 28, 28):
            raise ValueError(f"images must have shape (B, 1, 28, 28), got {tuple(images.shape)}")
        h = self.body(images).mean(dim=(2, 3))  # (B, c2)
        return F.relu(self.fc(h))               # (B, feature_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(images)))  # (B, num_classes)
