"""The Markovian VAE's training objective: from −ln ∏ P_gen to squared errors
(book: "The Markovian-VAE generalization", the objective; McAllester's lecture).

With a deterministic encoder the levels z₁ = enc(y), …, z_{N−1} are functions of y, so the
negative log-likelihood of the generator is a sum over levels (z₀ = y, z_N = ∅):

    −ln P_gen(y | z₁)·P_gen(z₁ | z₂)···P_gen(z_{N−1} | ∅) = Σ_i −ln N(z_{i−1}; ẑ_{i−1}(z_i), σ_i² I)
        = Σ_i [ ‖z_{i−1} − ẑ_{i−1}(z_i)‖² / (2σ_i²) + (d_i/2)·ln(2π σ_i²) ],

d_i the dimension of z_{i−1}.  With the seed's unit variance (σ_i = 1) the second term is a
constant and the objective is ½ Σ_i ‖z_{i−1} − ẑ_{i−1}‖²: the seed's sum of squared errors.
Unit variance assumes every level is predicted to within one unit per coordinate — on pixels
in [−1, 1] that noise is larger than the signal.  Fitting σ_i² by maximum likelihood instead
gives σ̂_i² = mean squared residual of level i, and the objective becomes
Σ_i (d_i/2)·(ln(2π σ̂_i²) + 1): a sum of *log* squared errors, so every level counts by its
relative, not absolute, error.
"""
from __future__ import annotations

import math

import torch


def _check_residuals(residuals) -> list[torch.Tensor]:
    residuals = list(residuals)
    if len(residuals) < 1:
        raise ValueError("residuals must hold one tensor per level, got none")
    for k, r in enumerate(residuals):
        if not isinstance(r, torch.Tensor) or not r.is_floating_point() or r.ndim < 1 or r.shape[0] < 1:
            raise ValueError(f"residuals[{k}] must be a floating tensor (B, ...) with B >= 1, "
                             f"got {type(r).__name__}{tuple(getattr(r, 'shape', ()))}")
    return residuals


def residuals(levels, predictions) -> list[torch.Tensor]:
    """r_i = z_{i−1} − ẑ_{i−1}(z_i), level by level (two equal-length lists of (B, ...) tensors)."""
    levels, predictions = list(levels), list(predictions)
    if len(levels) != len(predictions):
        raise ValueError(f"levels and predictions must have the same length, got {len(levels)} "
                         f"and {len(predictions)}")
    for k, (z, z_hat) in enumerate(zip(levels, predictions)):
        if z.shape != z_hat.shape:
            raise ValueError(f"level {k}: target {tuple(z.shape)} and prediction {tuple(z_hat.shape)} differ")
    return [z - z_hat for z, z_hat in zip(levels, predictions)]


def squared_error(residuals) -> torch.Tensor:
    """The seed's objective per example: Σ_i ‖r_i‖², averaged over the batch (a 0-dim tensor).

    Equals 2 × (unit-variance NLL − its constant): see :func:`gaussian_nll` with σ_i = 1.
    """
    residuals = _check_residuals(residuals)
    return sum(r.flatten(1).pow(2).sum(1).mean() for r in residuals)


def fit_sigmas(residuals, *, per_dimension: bool = False) -> list[torch.Tensor]:
    """Maximum-likelihood noise standard deviation σ̂_i of each level (returned as σ̂, not σ̂²).

        σ̂_i² = (1 / (B·d_i)) Σ_b ‖r_{i,b}‖²       (isotropic: one σ per level)
        σ̂_{i,j}² = (1 / B) Σ_b r_{i,b,j}²           (``per_dimension=True``: one σ per coordinate)

    The divisor is the count B·d_i (or B), not the count minus one: the model fixes the
    mean of z_{i−1} to ẑ_{i−1}(z_i), so no sample mean is estimated from these residuals, and
    σ̂² = mean r² is exactly the minimiser of the Gaussian NLL in σ² (d/dσ² of
    Σ r²/(2σ²) + (n/2) ln σ² vanishes at σ² = Σ r² / n).  Bessel's N − 1 corrects for a
    fitted sample mean, which this estimate does not have.  Plugs into the generators'
    ``sigmas``.  Book: "The Markovian-VAE generalization" (per-level variance).
    """
    residuals = _check_residuals(residuals)
    if per_dimension:
        return [r.pow(2).mean(0).sqrt() for r in residuals]
    return [r.pow(2).mean().sqrt() for r in residuals]


def gaussian_nll(residuals, sigmas=None) -> torch.Tensor:
    """−ln ∏_i N(z_{i−1}; ẑ_{i−1}, σ_i² I) per example, averaged over the batch (a 0-dim tensor).

        Σ_i [ ‖r_i‖² / (2σ_i²) + (d_i/2)·ln(2π σ_i²) ]

    ``sigmas``: one σ_i per level (a number, or a tensor broadcasting against the level);
    ``None`` means the seed's unit variance, σ_i = 1.  With σ_i = :func:`fit_sigmas` this is
    the profile likelihood Σ_i (d_i/2)(ln(2π σ̂_i²) + 1).
    """
    residuals = _check_residuals(residuals)
    sigmas = [1.0] * len(residuals) if sigmas is None else list(sigmas)
    if len(sigmas) != len(residuals):
        raise ValueError(f"sigmas must have one entry per level: {len(sigmas)} for {len(residuals)} levels")
    total = 0.0
    for k, (r, sigma) in enumerate(zip(residuals, sigmas)):
        var = torch.as_tensor(sigma, dtype=r.dtype, device=r.device).pow(2).expand(r.shape[1:])
        if not bool((var > 0).all()) or not bool(torch.isfinite(var).all()):
            raise ValueError(f"sigmas[{k}] must be finite and > 0 for a likelihood, got {sigma}")
        quad = (r.pow(2) / (2 * var)).flatten(1).sum(1).mean()          # ‖r‖²/(2σ²)
        log_norm = 0.5 * torch.log(2 * math.pi * var).sum()             # (d/2)·ln(2πσ²)
        total = total + quad + log_norm
    return total
