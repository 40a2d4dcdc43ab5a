"""Generation in a Markovian VAE with Gaussian decoders: the seed's three modes, and CFG
(book: "The Markovian-VAE generalization"; McAllester's lecture, "A More General Formulation").

A deterministic encoder maps y to z₁, z₁ to z₂, …, z_{N−1} to z_N = ∅.  The generator
walks back down: each decoder predicts the next finer level, ẑ_{i−1}(z_i, x), and adds
Gaussian noise of standard deviation σ_i (σ_i = 1 is the seed's unit variance):

    unadjusted             z_{i−1} = ẑ(z_i, x) + σ_i·ε
    temperature-adjusted   z_{i−1} = ẑ(z_i, x) + σ_i·ε/√β
    guidance-adjusted      z_{i−1} = ẑ(z_i, x_good) − ẑ(z_i, x_bad) + σ_i·ε/√β      (the seed, as written)
    CFG                    z_{i−1} = ẑ(z_i, x_bad) + w·(ẑ(z_i, x_good) − ẑ(z_i, x_bad)) + σ_i·ε/√β

with ε ~ N(0, I) fresh at every level.  The seed's guidance-adjusted step has no base
term: it is the CFG step with the ẑ(z, x_bad) term dropped (book: "The seed's guided step, run
as written").

Conventions shared by every function here:

* ``decoders`` is a sequence of callables, top level first: ``decoders[0](None, x)``
  predicts z_{N−1} from z_N = ∅; ``decoders[k](z, x)`` predicts the next finer level
  from the coarser z.  ``x`` is passed unchanged (labels (n,), a tensor, or None = ∅).
* The top decoder returns n predictions, or one (leading dimension 1) that is
  expanded to the batch of n.
* ``sigmas[k]`` is decoder k's noise standard deviation: a number ≥ 0 or a tensor of
  values ≥ 0 that broadcasts against that level (e.g. per pixel).
* β > 0; β = ∞ (``math.inf``) means no noise, the decoders' means only.
* The result is z₁, or with ``return_levels=True`` the list [z_{N−1}, …, z₁] (coarsest first).
* A level that comes out non-finite (a decoder returning NaN or ±∞) raises ``FloatingPointError``
  naming the decoder's index k and its σ, rather than returning NaN.
"""
from __future__ import annotations

import math

import torch

from ..diffusion._checks import finite_step
from ..guidance._checks import check_weight, per_example


def _check_beta(beta) -> float:
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"beta must be a number > 0 (math.inf = no noise), got {type(beta).__name__}") from None
    if not beta > 0:                                                     # also rejects NaN
        raise ValueError(f"beta must be > 0 (β = ∞ allowed: no noise), got {beta}")
    return beta


def _check_sigmas(decoders, sigmas) -> list:
    decoders, sigmas = list(decoders), list(sigmas)
    if len(decoders) < 1:
        raise ValueError("decoders must hold at least one decoder (the top one, decoders[0](None, x))")
    if len(sigmas) != len(decoders):
        raise ValueError(f"sigmas must have one entry per decoder: len(sigmas) = {len(sigmas)}, "
                         f"len(decoders) = {len(decoders)}")
    for k, sigma in enumerate(sigmas):
        s = torch.as_tensor(sigma, dtype=torch.float64)
        if not bool(torch.isfinite(s).all()) or bool((s < 0).any()):
            raise ValueError(f"sigmas[{k}] must be finite and >= 0 (a noise standard deviation), "
                             f"got {sigma if s.ndim == 0 else s.flatten()[:8].tolist()}")
    return sigmas


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1 (the batch size), got {n!r}")
    return n


def _predict(decoder, z, x, n: int, level: int) -> torch.Tensor:
    """ẑ = decoder(z, x); the top prediction (z = ∅) is expanded to the batch of n."""
    z_hat = decoder(z, x)
    if not isinstance(z_hat, torch.Tensor) or not z_hat.is_floating_point() or z_hat.ndim < 1:
        raise ValueError(f"decoders[{level}] must return a floating tensor (B, ...), got "
                         f"{type(z_hat).__name__}")
    if z_hat.shape[0] == 1 and n > 1:
        z_hat = z_hat.expand(n, *z_hat.shape[1:])
    if z_hat.shape[0] != n:
        raise ValueError(f"decoders[{level}] returned a batch of {z_hat.shape[0]}, expected n = {n} (or 1)")
    return z_hat


def _noise(z_hat: torch.Tensor, sigma, beta: float, generator) -> torch.Tensor:
    """σ·ε/√β with ε ~ N(0, I) shaped like z_hat; zero when β = ∞."""
    if math.isinf(beta):
        return torch.zeros_like(z_hat)
    eps = torch.randn(z_hat.shape, generator=generator, dtype=z_hat.dtype, device=z_hat.device)
    sigma = torch.as_tensor(sigma, dtype=z_hat.dtype, device=z_hat.device)
    return sigma * eps / math.sqrt(beta)


def generate_unadjusted(decoders, sigmas, x, *, n: int, generator: torch.Generator | None = None,
                        return_levels: bool = False):
    """Unadjusted generation:  z_{i−1} = ẑ(z_i, x) + σ_i·ε,  from z_N = ∅ down to z₁.

    Samples the trained model itself.  Book: "The Markovian-VAE generalization" (three modes).
    """
    sigmas, n = _check_sigmas(decoders, sigmas), _check_n(n)
    z, levels = None, []                                                 # z_N = ∅
    for k, (decoder, sigma) in enumerate(zip(decoders, sigmas)):
        z_hat = _predict(decoder, z, x, n, k)                           # ẑ_{i−1}(z_i, x)
        z = z_hat + _noise(z_hat, sigma, 1.0, generator)                # + σ_i·ε
        z = finite_step(z, k, sigma, "z", "sigma")
        levels.append(z)
    return levels if return_levels else z


def generate_tempered(decoders, sigmas, x, beta, *, n: int, generator: torch.Generator | None = None,
                      return_levels: bool = False):
    """Temperature-adjusted generation:  z_{i−1} = ẑ(z_i, x) + σ_i·ε/√β.

    Each Gaussian step N(ẑ, σ_i²) becomes N(ẑ, σ_i²/β) ∝ N(ẑ, σ_i²)^β: exact tempering per
    step.  The step's normaliser does not depend on z_i, so the chain is the tempered joint
    too (unlike per-token temperature in a language model).  Book: "The exact instance".
    """
    sigmas, beta, n = _check_sigmas(decoders, sigmas), _check_beta(beta), _check_n(n)
    z, levels = None, []                                                 # z_N = ∅
    for k, (decoder, sigma) in enumerate(zip(decoders, sigmas)):
        z_hat = _predict(decoder, z, x, n, k)                           # ẑ_{i−1}(z_i, x)
        z = z_hat + _noise(z_hat, sigma, beta, generator)               # + σ_i·ε/√β
        z = finite_step(z, k, sigma, "z", "sigma")
        levels.append(z)
    return levels if return_levels else z


def generate_guided(decoders, sigmas, x_good, x_bad, beta=1.0, *, n: int,
                    generator: torch.Generator | None = None, return_levels: bool = False):
    """Guidance-adjusted generation as the seed writes it (no base term):

        z_{i−1} = ẑ(z_i, x_good) − ẑ(z_i, x_bad) + σ_i·ε/√β.

    Two decoder calls per level.  The difference of two predictions is near zero when the
    conditions agree, so the sample is not on the data's scale: compare :func:`generate_cfg`
    (book: "The seed's guided step, run as written").
    """
    sigmas, beta, n = _check_sigmas(decoders, sigmas), _check_beta(beta), _check_n(n)
    z, levels = None, []
    for k, (decoder, sigma) in enumerate(zip(decoders, sigmas)):
        z_good = _predict(decoder, z, x_good, n, k)                     # ẑ(z_i, x_good)
        z_bad = _predict(decoder, z, x_bad, n, k)                       # ẑ(z_i, x_bad)
        z_hat = z_good - z_bad                                          # the seed's difference
        z = z_hat + _noise(z_hat, sigma, beta, generator)
        z = finite_step(z, k, sigma, "z", "sigma")
        levels.append(z)
    return levels if return_levels else z


def generate_cfg(decoders, sigmas, x_good, x_bad, w, beta=1.0, *, n: int,
                 generator: torch.Generator | None = None, return_levels: bool = False):
    """Classifier-free guidance per level:

        z_{i−1} = ẑ(z_i, x_bad) + w·(ẑ(z_i, x_good) − ẑ(z_i, x_bad)) + σ_i·ε/√β.

    w = 1 is unadjusted generation with x_good, w = 0 with x_bad, w > 1 guides away from
    x_bad; ``w`` is a number or a (n,) tensor.  For one Gaussian step this is exact geometric
    guidance, N(ẑ_bad, σ²)^{1−w}·N(ẑ_good, σ²)^w ∝ N(ẑ_w, σ²), with a normaliser that depends on
    z_i, so not geometric guidance of the chain (book: "The exact instance").
    """
    sigmas, beta, n = _check_sigmas(decoders, sigmas), _check_beta(beta), _check_n(n)
    w = check_weight(w, "w")
    z, levels = None, []
    for k, (decoder, sigma) in enumerate(zip(decoders, sigmas)):
        z_good = _predict(decoder, z, x_good, n, k)
        z_bad = _predict(decoder, z, x_bad, n, k)
        z_hat = z_bad + per_example(w, z_bad) * (z_good - z_bad)       # CFG
        z = z_hat + _noise(z_hat, sigma, beta, generator)
        z = finite_step(z, k, sigma, "z", "sigma")
        levels.append(z)
    return levels if return_levels else z
