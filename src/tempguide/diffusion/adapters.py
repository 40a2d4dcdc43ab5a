"""Between networks and samplers: ε-networks, denoisers and scores (book: "Notation", noise level).

Every sampler sees only a denoiser D(z, t) = E[y | z] with z = y + √t·ε.  Trained
networks predict the noise instead (DDPM's ε-parameterisation) from the rescaled
point z̄ = z/√(1 + t) = √ᾱ·y + √(1 − ᾱ)·ε, so

    D(z, t) = z − √t · ε̂(z/√(1 + t), t),        ε̂(z̄, t) = (z − D(z, t)) / √t,

and Tweedie's formula gives the score  ∇ ln p_t(z) = (D(z, t) − z) / t = −ε̂ / √t.
"""
from __future__ import annotations

from typing import Callable

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _per_example(t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """t as 0-dim, or (B,) reshaped to (B, 1, …) to broadcast against z."""
    return t.reshape(-1, *[1] * (z.ndim - 1)) if t.ndim else t


def denoiser_from_eps(net, labels: torch.Tensor | None = None) -> Denoiser:
    """The denoiser D(z, t) = z − √t · ε̂(z/√(1+t), t) of an ε-network ``net(z_bar, t, labels)``.

    ``labels`` (B,) are passed through unchanged (``None`` = unconditional / null
    label); t is 0-dim (samplers) or (B,) (training).  Book: "Notation" (ε-networks) and "Diffusion background" (ε-parameterisation).
    """
    def denoiser(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float64, device=z.device)
        t_b = _per_example(t, z)
        eps_hat = net(z / (1 + t_b).sqrt(), t.to(z.dtype), labels)  # network sees z̄ = √ᾱ·z
        return z - t_b.sqrt() * eps_hat
    return denoiser


def eps_from_denoiser(denoiser: Denoiser):
    """The ε-network ``net(z_bar, t, labels=None)`` = (z − D(z, t))/√t at z = z̄·√(1+t).

    Turns an exact denoiser (e.g. ``GaussianMixture.denoise``) into the
    ε-prediction network DDPM/DDIM samplers expect.
    """
    def net(z_bar: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float64, device=z_bar.device)
        t_b = _per_example(t, z_bar)
        z = z_bar * (1 + t_b).sqrt()
        return (z - denoiser(z, t)) / t_b.sqrt()
    return net


def score_from_denoiser(denoiser: Denoiser):
    """Tweedie's formula: ∇ ln p_t(z) = (D(z, t) − z) / t."""
    def score(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (denoiser(z, t) - z) / t
    return score


def denoiser_from_score(score) -> Denoiser:
    """The inverse of :func:`score_from_denoiser`: D(z, t) = z + t · ∇ ln p_t(z)."""
    def denoiser(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return z + t * score(z, t)
    return denoiser
