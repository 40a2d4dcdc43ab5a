"""The image pyramid: a Markovian VAE with a deterministic encoder on MNIST (book: "The image pyramid").

McAllester's "A More General Formulation" (seed 000, last slides) with z_i a
vector whose dimension falls as i grows.  Here the encoder is 2×2 average
pooling and the levels are

    z_0 = y (28×28) → z_1 (14×14) → z_2 (7×7) → z_3 (4×4) → z_4 (2×2) → z_5 (1×1) → z_6 = ∅.

7 → 4: ``avg_pool2d(kernel 2, stride 2, ceil_mode=True)``: the last row and
column form blocks of one pixel (or one pixel pair) and are averaged over the
pixels that exist, so every block mean is a mean of real pixels (no padding
value enters) and ``pool(upsample(z)) = z`` exactly at every level.  z_5 is a
weighted mean pixel: the one-pixel blocks of the 7 → 4 step weigh the 7×7 image's
last row and column double (weights 1/64 and 1/32 of the 28×28 image's pixels).

Decoders.  Level k's decoder predicts z_k from the coarser z_{k+1} and the
condition x (labels 0..9, or the null label 10 = ∅, label dropout as for
``mnist_cond``):

    ẑ_k(z_{k+1}, x) = up(z_{k+1}) + f_k(up(z_{k+1}), x),

with ``up`` the nearest-neighbour upsampling that ``pool`` inverts and f_k a
small residual conv net (``LevelDecoder``); the top decoder ẑ_5(∅, x) is one
learned number per label.  Generation draws z_k = ẑ_k + σ_k·ε (``tempguide.mvae.generate``).

σ, "the scale matters".  The seed writes P_gen(z_{i−1}|z_i) = ẑ + ε with unit
variance; on pixels in [−1, 1] unit noise destroys an image.  The maximum-
likelihood σ_k of a Gaussian decoder is the root mean squared residual of its
level on the training set (``fit_level_sigmas``); ``PyramidDecoders`` stores it
in the buffer ``sigmas`` (one per decoder, top first), and the book measures both.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from ..models.unet import ResBlock
from .objective import fit_sigmas

SIZES = (28, 14, 7, 4, 2, 1)  # side of z_0 = y, z_1, ..., z_5; z_6 = ∅
NULL_LABEL = 10               # the "no class" condition ∅ (classifier-free guidance)


def pool(z: torch.Tensor) -> torch.Tensor:
    """One encoder step z_{k+1} = enc(z_k): 2×2 average pooling, ceil mode (7 → 4 averages the pixels that exist)."""
    return F.avg_pool2d(z, 2, ceil_mode=True)


def up(z: torch.Tensor, size: int) -> torch.Tensor:
    """Nearest-neighbour upsampling of (B, 1, s, s) to (B, 1, size, size); pool(up(z, size)) = z."""
    return z.repeat_interleave(2, dim=-1).repeat_interleave(2, dim=-2)[..., :size, :size]


def encode(y: torch.Tensor) -> list[torch.Tensor]:
    """[z_0 = y, z_1, ..., z_5] for images y (B, 1, 28, 28): the deterministic encoder."""
    if y.dim() != 4 or y.shape[1:] != (1, 28, 28):
        raise ValueError(f"y must have shape (B, 1, 28, 28), got {tuple(y.shape)}")
    levels = [y]
    for _ in SIZES[1:]:
        levels.append(pool(levels[-1]))
    return levels


@dataclasses.dataclass
class PyramidConfig:
    """Sizes of ``PyramidDecoders``: per decoder (top first, 1×1 excluded) its width and residual blocks."""

    channels: tuple[int, ...] = (16, 16, 32, 32, 32)  # decoders of 2×2, 4×4, 7×7, 14×14, 28×28
    blocks: tuple[int, ...] = (1, 1, 2, 2, 2)
    emb_dim: int = 32
    groups: int = 8
    num_classes: int = 10

    def __post_init__(self):
        self.channels, self.blocks = tuple(self.channels), tuple(self.blocks)  # JSON gives lists
        if len(self.channels) != len(SIZES) - 1 or len(self.blocks) != len(SIZES) - 1:
            raise ValueError(f"channels and blocks must have {len(SIZES) - 1} entries (decoders below 1×1), "
                             f"got {len(self.channels)} and {len(self.blocks)}")
        if any(c % self.groups for c in self.channels):
            raise ValueError(f"channels must be multiples of groups={self.groups}, got {self.channels}")


class LevelDecoder(nn.Module):
    """ẑ = up(z) + conv_out(ResBlocks(conv_in(up(z)), emb(x))): one level's mean, residual on the upsampled input."""

    def __init__(self, size: int, channels: int, blocks: int, config: PyramidConfig):
        super().__init__()
        self.size = size
        self.label_emb = nn.Embedding(config.num_classes + 1, config.emb_dim)
        self.conv_in = nn.Conv2d(1, channels, 3, padding=1)
        self.blocks = nn.ModuleList(ResBlock(channels, channels, config.emb_dim, config.groups, 0.0)
                                    for _ in range(blocks))
        self.norm = nn.GroupNorm(config.groups, channels)
        self.conv_out = nn.Conv2d(channels, 1, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)  # start at ẑ = up(z)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        u = up(z, self.size)                                  # (B, 1, size, size)
        emb = self.label_emb(labels)                          # (B, emb_dim)
        h = self.conv_in(u)
        for block in self.blocks:
            h = block(h, emb)
        return u + self.conv_out(F.silu(self.norm(h)))


class PyramidDecoders(nn.Module):
    """The six Gaussian decoders' means ẑ_5(∅, x), ẑ_4(z_5, x), ..., ẑ_0(z_1, x), top first.

    ``model(k, z, labels)`` is decoder k (k = 0 predicts z_5 from ∅ and ignores z);
    ``model.decoders()`` gives them as the callables ``tempguide.mvae.generate``
    takes, and ``model.sigmas`` the fitted per-decoder σ (buffer, top first).
    """

    def __init__(self, config: PyramidConfig | None = None):
        super().__init__()
        self.config = config = config or PyramidConfig()
        self.top = nn.Embedding(config.num_classes + 1, 1)   # ẑ_5(∅, x): the mean pixel per label
        nn.init.constant_(self.top.weight, -0.75)             # about MNIST's z_5 (mostly background, −1)
        self.levels = nn.ModuleList(LevelDecoder(size, c, b, config)
                                    for size, c, b in zip(SIZES[-2::-1], config.channels, config.blocks))
        self.register_buffer("sigmas", torch.ones(len(SIZES)))  # σ of decoder k; 1 = the seed's unit variance

    def labels(self, x, batch: int, device) -> torch.Tensor:
        """x as labels (batch,): None → the null label; an int → that label for everyone."""
        if x is None:
            return torch.full((batch,), self.config.num_classes, dtype=torch.long, device=device)
        x = torch.as_tensor(x, dtype=torch.long, device=device)
        x = x.expand(batch) if x.dim() == 0 else x
        if x.shape != (batch,):
            raise ValueError(f"x must be None, an int or have shape ({batch},), got {tuple(x.shape)}")
        if x.min() < 0 or x.max() > self.config.num_classes:
            raise ValueError(f"x must be labels in 0..{self.config.num_classes} ({self.config.num_classes} = null "
                             f"label ∅), got range [{x.min().item()}, {x.max().item()}]")
        return x

    def forward(self, k: int, z: torch.Tensor | None, x=None) -> torch.Tensor:
        if not 0 <= k < len(SIZES):
            raise ValueError(f"k must be in 0..{len(SIZES) - 1} (decoder index, top first), got {k}")
        device = self.top.weight.device
        if k == 0:                                            # ∅ → z_5: needs only the labels
            batch = 1 if x is None else max(1, torch.as_tensor(x).numel())
            return self.top(self.labels(x, batch, device))[:, :, None, None]   # (B, 1, 1, 1)
        expected = (1, SIZES[-k], SIZES[-k])
        if z is None or z.dim() != 4 or tuple(z.shape[1:]) != expected:
            raise ValueError(f"z must have shape (B, {', '.join(map(str, expected))}) for decoder {k}, "
                             f"got {None if z is None else tuple(z.shape)}")
        return self.levels[k - 1](z, self.labels(x, len(z), device))

    def decoders(self) -> list:
        """[ẑ_5(∅, x), ẑ_4(z_5, x), ..., ẑ_0(z_1, x)] as callables (z, x) -> mean: generate.py's ``decoders``."""
        return [lambda z, x, k=k: self(k, z, x) for k in range(len(SIZES))]

    def level_residuals(self, y: torch.Tensor, x) -> list[torch.Tensor]:
        """z_k − ẑ_k(z_{k+1}, x) for every decoder (top first), on the encodings of the images y."""
        levels = encode(y)[::-1]                              # [z_5, z_4, ..., z_0]
        preds = [self(0, None, x).expand_as(levels[0])]
        preds += [self(k, levels[k - 1], x) for k in range(1, len(SIZES))]
        return [z - z_hat for z, z_hat in zip(levels, preds)]


def pyramid_loss(model: PyramidDecoders, y: torch.Tensor, x) -> torch.Tensor:
    """The seed's objective Σ_k ‖z_k − ẑ_k(z_{k+1}, x)‖², each level's term divided by its dimension d_k.

    The levels share no weights, so the per-level weights 1/d_k change no optimum,
    only the balance of the clipped gradient: the 28×28 term would otherwise be 784 times the 1×1 term.
    """
    return sum(r.pow(2).mean() for r in model.level_residuals(y, x))


@torch.no_grad()
def fit_level_sigmas(model: PyramidDecoders, y: torch.Tensor, x, *, batch_size: int = 500) -> torch.Tensor:
    """Maximum-likelihood σ_k per decoder (top first) on images y with conditions x: ``objective.fit_sigmas``.

    σ_k² = mean over images and pixels of (z_k − ẑ_k(z_{k+1}, x))² (divide by the count, not the count − 1).
    """
    labels = None if x is None else model.labels(x, len(y), y.device)
    parts = [model.level_residuals(y[i:i + batch_size], None if labels is None else labels[i:i + batch_size])
             for i in range(0, len(y), batch_size)]
    residuals = [torch.cat(level) for level in zip(*parts)]
    return torch.stack(fit_sigmas(residuals)).float()
