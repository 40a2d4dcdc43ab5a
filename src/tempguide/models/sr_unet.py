"""The networks of the cascade (book: "Conditional diffusion in practice", SR3 and cascaded diffusion).

``SRUNet``: the super-resolution ε-network of SR3 (Saharia, Ho et al. 2021, §2):

    eps_hat = net(z_bar, t, labels=None, *, cond, s=0.0),

the ``UNet`` whose stem sees two channels, the noisy high-resolution image
z̄ = z/√(1+t) and the conditioning image ``cond`` (B, 1, 28, 28) (the 14×14 or 7×7
input, side ``low_res``, upsampled bicubically), concatenated on the channel axis.  The noise level ``s``
of the conditioning augmentation (Ho, Saharia et al. 2021, "Cascaded Diffusion
Models", §4.1) enters through its own log-variance embedding, added to the time
(and label) embedding; s = 0 (no augmentation) is embedded as s = ``S_FLOOR``.

Parameterisation.  The body F predicts the residual over the conditioning image,
D̂ = cond + F (``denoise``: the clean 28×28 image), and ``forward`` returns the
ε that D̂ implies, ε̂ = (x − √ᾱ·D̂)/√(1 − ᾱ), ᾱ = 1/(1 + t), so every ε-sampler
runs it unchanged.  A plain ε-output (the ``UNet``'s) of a network this small
barely uses the conditioning at large t, where ε̂ ≈ x already has a tiny loss
but x̂₀ = (x − √(1−ᾱ)·ε̂)/√ᾱ multiplies its error by √t; predicting the residual
starts at D̂ = cond (bicubic) and keeps every large-t prediction near it.

``UNet14``: the ``UNet`` at 14×14 (14 → 7 → 4, attention at 4×4), the cascade's
class-conditional base model.  Same call convention as ``UNet``.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from .embedding import LogTimeEmbedding, broadcast_t, resolve_labels
from .unet import UNet, UNetConfig
from .._renamed import renamed_argument

S_FLOOR = 1e-4  # t_1 of the DDPM schedule: the smallest augmentation level the embedding distinguishes


@dataclasses.dataclass
class SRUNetConfig(UNetConfig):
    """``UNetConfig`` of the super-resolution network; ``low_res`` is the side of its input (14 or 7 → 28)."""

    channels: tuple[int, int, int] = (24, 32, 48)
    low_res: int = 14

    def __post_init__(self):
        super().__post_init__()
        if self.low_res not in (7, 14):
            raise ValueError(f"low_res must be 7 or 14 (a power-of-2 factor of 28), got {self.low_res}")


class SRUNet(UNet):
    """SR3's ε-network: [x; cond] in, ε̂ out, conditioned on t, the label and the augmentation level s."""

    def __init__(self, config: SRUNetConfig | None = None):
        super().__init__(config or SRUNetConfig())
        c0, e = self.config.channels[0], self.config.emb_dim
        self.stem = nn.Conv2d(2, c0, 3, padding=1)  # channels: x_t, upsampled low-res image
        self.aug_emb = LogTimeEmbedding(e)

    @renamed_argument("x", "z_bar")
    def forward(self, z_bar: torch.Tensor, t, labels=None, *, cond: torch.Tensor, s=0.0) -> torch.Tensor:
        """ε̂ = (z̄ − √ᾱ·D̂)/√(1 − ᾱ) with D̂ = ``denoise(z_bar, t, labels, cond=cond, s=s)``."""
        alpha_bar = 1 / (1 + broadcast_t(t, z_bar.shape[0], z_bar.device)).view(-1, 1, 1, 1)
        y_hat = self.denoise(z_bar, t, labels, cond=cond, s=s)
        return (z_bar - alpha_bar.sqrt() * y_hat) / (1 - alpha_bar).sqrt()

    @renamed_argument("x", "z_bar")
    def denoise(self, z_bar: torch.Tensor, t, labels=None, *, cond: torch.Tensor, s=0.0) -> torch.Tensor:
        """D̂ = cond + F([z̄; cond], emb(t, s, labels)): the clean image predicted from z̄ = z/√(1+t)."""
        B = _check_shape(z_bar, 28, "z_bar")
        if cond.shape != z_bar.shape:
            raise ValueError(f"cond must have the shape of z_bar {tuple(z_bar.shape)}, got {tuple(cond.shape)}")
        s = broadcast_t(s, B, z_bar.device)
        if bool((s < 0).any()):
            raise ValueError(f"s (augmentation noise variance) must be >= 0, got minimum {s.min().item()}")
        emb = self.time_emb(broadcast_t(t, B, z_bar.device)) + self.aug_emb(s.clamp_min(S_FLOOR))  # (B, e)
        labels = resolve_labels(labels, self.config.num_classes, B, z_bar.device)
        if labels is not None:
            emb = emb + self.label_emb(labels)
        return cond + self.body(torch.cat([z_bar, cond], dim=1), emb)


@dataclasses.dataclass
class UNet14Config(UNetConfig):
    """``UNetConfig`` of the 14×14 base model (levels 14, 7, 4)."""


class UNet14(UNet):
    """The ``UNet`` on (B, 1, 14, 14) images: 14 → 7 → 4 and back, upsampling to the skip's size."""

    def __init__(self, config: UNet14Config | None = None):
        super().__init__(config or UNet14Config())

    @renamed_argument("x", "z_bar")
    def forward(self, z_bar: torch.Tensor, t, labels=None) -> torch.Tensor:
        B = _check_shape(z_bar, 14, "z_bar")
        emb = self.time_emb(broadcast_t(t, B, z_bar.device))
        labels = resolve_labels(labels, self.config.num_classes, B, z_bar.device)
        if labels is not None:
            emb = emb + self.label_emb(labels)
        return self.body(z_bar, emb)

    @renamed_argument("x", "z_bar")
    def body(self, z_bar: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h0 = self.down0(self.stem(z_bar), emb)                        # (B, c0, 14, 14)
        h1 = self.down1(self.pool0(h0), emb)                      # (B, c1, 7, 7)
        h = self.mid1(self.pool1(h1), emb)                        # (B, c2, 4, 4)
        h = self.mid2(self.attn(h), emb)
        h = F.interpolate(h, size=h1.shape[-2:], mode="nearest")  # (B, c2, 7, 7)
        h = self.up1(torch.cat([h, h1], dim=1), emb)              # (B, c1, 7, 7)
        h = F.interpolate(h, size=h0.shape[-2:], mode="nearest")  # (B, c1, 14, 14)
        h = self.up0(torch.cat([h, h0], dim=1), emb)              # (B, c0, 14, 14)
        return self.out(F.silu(self.out_norm(h)))                 # (B, 1, 14, 14)


def _check_shape(x: torch.Tensor, size: int, name: str) -> int:
    """The batch size of x, which must have shape (B, 1, size, size)."""
    if x.dim() != 4 or x.shape[1:] != (1, size, size):
        raise ValueError(f"{name} must have shape (B, 1, {size}, {size}), got {tuple(x.shape)}")
    return x.shape[0]
