"""Between networks and samplers: ε-networks, denoisers and scores (book: "Notation", noise level).

Every sampler sees only a denoiser D(z, t) = E[y | z] with z = y + √t·ε.  Trained
networks predict the noise instead (DDPM's ε-parameterisation) from the rescaled
point x = z/√(1 + t) = √ᾱ·y + √(1 − ᾱ)·ε, so

    D(z, t) = z − √t · ε̂(z/√(1 + t), t),        ε̂(x, t) = (z − D(z, t)) / √t,

and Tweedie's formula gives the score  ∇ ln p_t(z) = (D(z, t) − z) / t = −ε̂ / √t.
"""
from __future__ import annotations

from typing import Callable

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def denoiser_from_eps(net, labels: torch.Tensor | None = None) -> Denoiser:
    """The denoiser D(z, t) = z − √t · ε̂(z/√(1+t), t) of an ε-network ``net(x, t, labels)``.

    ``labels`` (B,) are passed through unchanged (``None`` = unconditional / null
    label).  Book: "Notation" (ε-networks) and "Diffusion background" (ε-parameterisation).
    """
    def denoiser(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float64)
        eps_hat = net(z / (1 + t).sqrt(), t.to(z.dtype), labels)  # network sees x = √ᾱ·z
        return z - t.sqrt() * eps_hat
    return denoiser


def eps_from_denoiser(denoiser: Denoiser):
    """The ε-network ``net(x, t, labels=None)`` = (z − D(z, t))/√t at z = x·√(1+t).

    Turns an exact denoiser (e.g. ``GaussianMixture.denoise``) into the
    ε-prediction network DDPM/DDIM samplers expect.
    """
    def net(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float64)
        z = x * (1 + t).sqrt()
        return (z - denoiser(z, t)) / t.sqrt()
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
