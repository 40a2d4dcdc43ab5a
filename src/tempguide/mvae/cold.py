"""Cold diffusion with the pyramid's pooling as the degradation (book: "The image pyramid", between the two).

Bansal et al. 2022 ("Cold Diffusion: Inverting Arbitrary Image Transforms Without
Noise") generate by undoing a *deterministic* degradation D(y, s), s = 0..S, with a
restoration network R(x_s, s) ≈ y.  Here D(y, s) is the pyramid's level-s code
upsampled back to 28×28 by repetition, and R is the pyramid's chain of decoder means
(``pyramid_blur.decode_means``, β = ∞).  Their samplers:

    Algorithm 1 (naive)      x_{s−1} = D(x̂_0, s−1)
    Algorithm 2 (improved)   x_{s−1} = x_s − D(x̂_0, s) + D(x̂_0, s−1),      x̂_0 = R(x_s, s)

Algorithm 2 keeps what x_s knows that the restoration lost: with an exact restoration
both are the same, with an imperfect one the correction x_s − D(x̂_0, s) is carried
down.  The only randomness is the start x_S: as Bansal et al. fit a Gaussian mixture to
fully degraded images, we draw the level-S code from the class's Gaussian
(``class_gaussian_codes``).  The sampler is deterministic after that.
"""
from __future__ import annotations

import torch

from ..diffusion._checks import check_sample, finite_step
from .pyramid import SIZES, PyramidDecoders, encode, up
from .pyramid_blur import decode_means


def degrade(y: torch.Tensor, s: int) -> torch.Tensor:
    """D(y, s): y's level-s code upsampled to 28×28 by repetition; D(y, 0) = y."""
    if not 0 <= s < len(SIZES):
        raise ValueError(f"s must be in 0..{len(SIZES) - 1} (0 = the image, 5 = 1×1), got {s}")
    return upsample(encode(y)[s])


def upsample(z: torch.Tensor) -> torch.Tensor:
    """A level's code (B, 1, s, s) repeated up to 28×28 through the pyramid's sizes."""
    level = SIZES.index(z.shape[-1])
    for size in SIZES[level - 1::-1] if level > 0 else ():
        z = up(z, size)
    return z


@torch.no_grad()
def sample_cold(model: PyramidDecoders, z_start: torch.Tensor, x, *, improved: bool = True) -> torch.Tensor:
    """Cold-diffusion sampling from a level-S code z_start (B, 1, s, s) down to 28×28 (module docstring)."""
    z_start = check_sample(z_start, "z_start")
    if z_start.shape[-1] not in SIZES[1:]:
        raise ValueError(f"z_start must be a code of a level 1..{len(SIZES) - 1} (side in {SIZES[1:]}), "
                         f"got shape {tuple(z_start.shape)}")
    S = SIZES.index(z_start.shape[-1])
    x_s = upsample(z_start)                                             # x_S = D(·, S)
    for s in range(S, 0, -1):
        x0_hat = decode_means(model, encode(x_s)[s], x, s)              # x̂_0 = R(x_s, s)
        if improved:
            x_s = x_s - degrade(x0_hat, s) + degrade(x0_hat, s - 1)     # Algorithm 2
        else:
            x_s = degrade(x0_hat, s - 1)                                # Algorithm 1
        x_s = finite_step(x_s, S - s, s, "x_s", "s")
    return x_s


def class_gaussian_codes(images: torch.Tensor, labels: torch.Tensor, level: int, x: torch.Tensor, *,
                         generator: torch.Generator | None = None, jitter: float = 1e-4) -> torch.Tensor:
    """Level-``level`` codes drawn from N(mean_c, Cov_c) fitted to the codes of class c = x[i] (ML, divide by N)."""
    codes = encode(images)[level].flatten(1).double()                    # (N, d)
    out = torch.empty(len(x), codes.shape[1], dtype=torch.float64)
    for c in x.unique().tolist():
        member = codes[labels == c]
        mean = member.mean(0)
        cov = (member - mean).T @ (member - mean) / len(member) + jitter * torch.eye(codes.shape[1],
                                                                                      dtype=torch.float64)
        eps = torch.randn(int((x == c).sum()), codes.shape[1], generator=generator, dtype=torch.float64)
        out[x == c] = mean + eps @ torch.linalg.cholesky(cov).T
    size = SIZES[level]
    return out.float().reshape(len(x), 1, size, size)
