"""Why Gaussian decoders behind a deterministic encoder blur (book: "The image pyramid", the blur).

A Gaussian decoder trained on squared error predicts the *mean* of the true
conditional, ẑ_k(z_{k+1}, x) ≈ E[z_k | z_{k+1}, x].  When that conditional is
multimodal — a 2×2 block at mid-gray may be a stroke on the left or on the right,
never a uniform gray — the mean is none of the modes: it is blurred.  Three
measurements, all on real digits:

- ``code_neighbours``: the training digits of the same class whose level-j code is
  nearest to a test digit's — an empirical sample of p(y | z_j, x).  How far apart
  they are at 28×28, and how much sharper each is than their average.
- ``decode_means``: the decoders' means from a true code z_j down to 28×28 (β = ∞);
  their sharpness against the real digits'.
- ``gray_pixel_modes``: at the coordinates where a decoder predicts mid-gray, where
  the true values lie — near the prediction, or near black and white.
"""
from __future__ import annotations

import math

import torch

from .pyramid import SIZES, PyramidDecoders, encode


@torch.no_grad()
def decode_means(model: PyramidDecoders, z: torch.Tensor, x, level: int) -> torch.Tensor:
    """ẑ_0(ẑ_1(... ẑ_{j−1}(z_j, x) ...)): the decoders' means from the level-j code z (β = ∞) to 28×28."""
    if not 1 <= level < len(SIZES):
        raise ValueError(f"level must be in 1..{len(SIZES) - 1} (z_1 = 14×14, ..., z_5 = 1×1), got {level}")
    for k in range(len(SIZES) - level, len(SIZES)):           # decoder k takes z_{6−k} to z_{5−k}
        z = model(k, z, x)
    return z


@torch.no_grad()
def code_neighbours(query: torch.Tensor, query_labels: torch.Tensor, pool: torch.Tensor, pool_labels: torch.Tensor,
                    level: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (Q, k) into ``pool`` of the k same-class digits whose level-``level`` codes are nearest each query's,
    and the RMS per coordinate of those code distances (Q, k)."""
    if not 1 <= level < len(SIZES):
        raise ValueError(f"level must be in 1..{len(SIZES) - 1}, got {level}")
    q_codes, p_codes = encode(query)[level].flatten(1), encode(pool)[level].flatten(1)
    dist = torch.cdist(q_codes.double(), p_codes.double()) / math.sqrt(q_codes.shape[1])   # RMS per coordinate
    dist[query_labels[:, None] != pool_labels[None, :]] = math.inf                          # same class only
    values, idx = dist.topk(k, dim=1, largest=False)
    return idx, values


def pairwise_rms(images: torch.Tensor) -> torch.Tensor:
    """Mean RMS-per-pixel distance over the pairs of each group: images (Q, k, ...) → (Q,)."""
    flat = images.flatten(2).double()
    d = torch.cdist(flat, flat) / math.sqrt(flat.shape[-1])     # (Q, k, k)
    n = flat.shape[1]
    return d.sum(dim=(1, 2)) / (n * (n - 1))


@torch.no_grad()
def gray_pixel_modes(z: torch.Tensor, z_hat: torch.Tensor, *, gray: float = 0.25, near: float = 0.25) -> dict:
    """Where true values lie at the coordinates a decoder predicts as gray (|ẑ| ≤ ``gray``).

    Returns the count of such coordinates, the fraction of true values within ``near`` of
    ẑ, the fraction farther than 2·``near`` (towards black or white), and what a Gaussian
    residual with the same standard deviation would give for both (the decoder's assumption).
    """
    mask = z_hat.abs() <= gray
    r = (z - z_hat)[mask].double()
    if r.numel() == 0:
        return {"count": 0, "near": float("nan"), "far": float("nan"), "gauss_near": float("nan"),
                "gauss_far": float("nan"), "values": r}
    s = r.pow(2).mean().sqrt().item()                         # the residual's RMS at these coordinates
    return {
        "count": int(r.numel()),
        "near": (r.abs() <= near).double().mean().item(),
        "far": (r.abs() > 2 * near).double().mean().item(),
        "gauss_near": math.erf(near / (s * math.sqrt(2))),
        "gauss_far": 1 - math.erf(2 * near / (s * math.sqrt(2))),
        "values": z[mask],
    }
