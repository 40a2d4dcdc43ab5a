"""The exact Markovian VAE: Gaussian data, averaging encoders, affine decoders
(book: "The Markovian-VAE generalization", the linear-Gaussian instance).

Data y = z₀ ~ N(μ, Σ) in d₀ = 2^L dimensions.  The encoder averages neighbouring pairs,
z_i = P_i z_{i−1} (d_i = d_{i−1}/2), down to one number z_{N−1}; then z_N = ∅.  Every level
is a linear function z_i = E_i y, so all levels are jointly Gaussian and the optimal decoder
(the minimiser of E‖z_{i−1} − ẑ_{i−1}(z_i)‖²) is the conditional expectation

    ẑ_{i−1}(z_i) = E[z_{i−1} | z_i] = a + K z_i,   K = C_{i−1,i} C_{i,i}⁻¹,  a = μ_{i−1} − K μ_i,
    residual covariance R_{i−1} = C_{i−1,i−1} − K C_{i,i−1},     C_{j,k} = E_j Σ E_kᵀ,

(top level: K empty, a = μ_{N−1}, R = C_{N−1,N−1}).  Because z_{i+1}, … are functions of z_i,
E[z_{i−1} | z_i, z_{i+1}, …] = E[z_{i−1} | z_i]: the chain with noise N(0, R_{i−1}) reproduces
the data law exactly; the seed's isotropic noise σ_i² I does not.

Any chain z_{i−1} = a + K z_i + L ξ_i (ξ_i ~ N(0, I) independent) is affine in the stacked
noise ξ, so its law — every level, and the joint — is Gaussian in closed form
(:func:`chain_law`).  Per Gaussian step, ε/√β is exact tempering and CFG is exact geometric
guidance; for the chain, tempering stays exact (constant variances: the step normalisers do
not depend on z_i) but guidance does not (the geometric step's normaliser
exp(−w(1−w)‖ẑ_good − ẑ_bad‖²/(2σ²)) depends on z_i unless K_good = K_bad).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from ..guidance._checks import check_weight

DTYPE = torch.float64


class GaussianLaw(NamedTuple):
    """N(mean, cov): mean (d,), cov (d, d)."""
    mean: torch.Tensor
    cov: torch.Tensor


class AffineDecoder(NamedTuple):
    """ẑ(z) = a + K z with residual covariance R; the top decoder has K of shape (d, 0)."""
    K: torch.Tensor
    a: torch.Tensor
    R: torch.Tensor


def averaging_encoders(d0: int) -> list[torch.Tensor]:
    """[P_1, …, P_{N−1}]: P_i (d_{i−1}/2, d_{i−1}) averages pairs, from d₀ = 2^L down to 1 dimension."""
    if isinstance(d0, bool) or not isinstance(d0, int) or d0 < 1 or d0 & (d0 - 1):
        raise ValueError(f"d0 must be a power of two >= 1 (pairs are averaged down to 1), got {d0!r}")
    encoders, d = [], d0
    while d > 1:
        P = torch.zeros(d // 2, d, dtype=DTYPE)
        P[torch.arange(d // 2), 2 * torch.arange(d // 2)] = 0.5
        P[torch.arange(d // 2), 2 * torch.arange(d // 2) + 1] = 0.5
        encoders.append(P)
        d //= 2
    return encoders


def level_maps(encoders, d0: int) -> list[torch.Tensor]:
    """[E_0 = I, E_1, …, E_{N−1}] with z_i = E_i y (finest first)."""
    maps = [torch.eye(d0, dtype=DTYPE)]
    for P in encoders:
        maps.append(P.to(DTYPE) @ maps[-1])
    return maps


def encode(y: torch.Tensor, encoders) -> list[torch.Tensor]:
    """[z_0 = y, z_1, …, z_{N−1}] for a batch y (n, d₀), finest first (the encoder's order)."""
    levels = [y]
    for P in encoders:
        levels.append(levels[-1] @ P.to(y.dtype).T)                     # z_i = P_i z_{i−1}
    return levels


def optimal_decoders(law: GaussianLaw, encoders) -> list[AffineDecoder]:
    """The conditional expectations E[z_{i−1} | z_i] and residual covariances, top decoder first."""
    mean, cov = law.mean.to(DTYPE), law.cov.to(DTYPE)
    E = level_maps(encoders, mean.shape[0])
    top = E[-1]
    decoders = [AffineDecoder(torch.zeros(top.shape[0], 0, dtype=DTYPE), top @ mean, top @ cov @ top.T)]
    for fine, coarse in zip(reversed(E[:-1]), reversed(E[1:])):          # z_{N−2} | z_{N−1}, …, y | z_1
        C_fc, C_cc, C_ff = fine @ cov @ coarse.T, coarse @ cov @ coarse.T, fine @ cov @ fine.T
        K = torch.linalg.solve(C_cc, C_fc.T).T                          # C_{i−1,i} C_{i,i}⁻¹
        a = fine @ mean - K @ (coarse @ mean)
        decoders.append(AffineDecoder(K, a, C_ff - K @ C_fc.T))
    return decoders


def fit_decoders(levels) -> list[AffineDecoder]:
    """Least squares on samples: regress each level on the next coarser one (with intercept).

    ``levels``: samples [z_0, …, z_{N−1}] finest first (as :func:`encode` returns), each (n, d_i).
    R is the residuals' second moment with divisor n (the ML estimate, as ``fit_sigmas``).
    """
    levels = [z.to(DTYPE) for z in levels]
    n = levels[0].shape[0]
    top = levels[-1]
    decoders = [AffineDecoder(torch.zeros(top.shape[1], 0, dtype=DTYPE), top.mean(0),
                              (top - top.mean(0)).T @ (top - top.mean(0)) / n)]
    for fine, coarse in zip(reversed(levels[:-1]), reversed(levels[1:])):
        X = torch.cat([coarse, torch.ones(n, 1, dtype=DTYPE)], 1)        # [z_i, 1]
        coef = torch.linalg.lstsq(X, fine).solution                      # (d_i + 1, d_{i−1})
        r = fine - X @ coef
        decoders.append(AffineDecoder(coef[:-1].T, coef[-1], r.T @ r / n))
    return decoders


def ml_sigmas(decoders) -> list[float]:
    """σ_i² = tr R_i / d_i: the isotropic maximum-likelihood noise of each decoder (population limit)."""
    return [float(d.R.trace() / d.R.shape[0]) ** 0.5 for d in decoders]


def as_callables(decoders_by_condition: dict) -> list:
    """Decoders for :mod:`tempguide.mvae.generate`: the k-th callable (z, x) ↦ a_x + K_x z."""
    conditions = list(decoders_by_condition)
    levels = len(decoders_by_condition[conditions[0]])

    def make(k):
        def decoder(z, x):
            d = decoders_by_condition[x][k]
            return d.a[None] if z is None else d.a + z.to(DTYPE) @ d.K.T
        return decoder
    return [make(k) for k in range(levels)]


def combine(good, bad, w=None) -> list[AffineDecoder]:
    """The per-level affine map of a guided mode: w = None is the seed's ẑ_good − ẑ_bad, else CFG
    ẑ_bad + w (ẑ_good − ẑ_bad).  R is left as the good decoder's (the noise is the caller's)."""
    if w is None:
        return [AffineDecoder(g.K - b.K, g.a - b.a, g.R) for g, b in zip(good, bad)]
    w = check_weight(w, "w")
    return [AffineDecoder(b.K + w * (g.K - b.K), b.a + w * (g.a - b.a), g.R) for g, b in zip(good, bad)]


def _sqrt_psd(S: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(S)
    return vecs * vals.clamp(min=0).sqrt()                              # L Lᵀ = S (S may be singular)


def chain_law(decoders, noise, beta: float = 1.0, *, joint: bool = False):
    """The exact law of z_{i−1} = a + K z_i + ξ_i/√β, ξ_i ~ N(0, noise_i), from z_N = ∅ down to z₀.

    ``noise``: per decoder a number σ (noise σ² I) or a covariance matrix (e.g. the exact R).
    Returns the laws [z_{N−1}, …, z₀] (coarsest first), or with ``joint=True`` the law of the
    stacked vector (z_{N−1}, …, z₀).  β = ∞ gives zero covariance.
    """
    beta = float(beta)
    if not beta > 0:
        raise ValueError(f"beta must be > 0 (β = ∞ allowed: no noise), got {beta}")
    Ls = []
    for d, s in zip(decoders, noise):
        S = torch.as_tensor(s, dtype=DTYPE)
        S = S ** 2 * torch.eye(d.a.shape[0], dtype=DTYPE) if S.ndim == 0 else S
        Ls.append(_sqrt_psd(S) / beta ** 0.5)
    total = sum(L.shape[1] for L in Ls)
    means, maps, used = [], [], 0                                        # level k = means[k] + maps[k] ξ
    for d, L in zip(decoders, Ls):
        G = torch.zeros(d.a.shape[0], total, dtype=DTYPE)
        G[:, used:used + L.shape[1]] = L
        used += L.shape[1]
        if maps:
            means.append(d.a + d.K @ means[-1])
            maps.append(d.K @ maps[-1] + G)
        else:
            means.append(d.a.clone())
            maps.append(G)
    if joint:
        G = torch.cat(maps)
        return GaussianLaw(torch.cat(means), G @ G.T)
    return [GaussianLaw(m, G @ G.T) for m, G in zip(means, maps)]


def tempered_law(law: GaussianLaw, beta: float) -> GaussianLaw:
    """N(μ, S)^β normalised = N(μ, S/β)."""
    return GaussianLaw(law.mean, law.cov / beta)


def geometric_law(good: GaussianLaw, bad: GaussianLaw, w: float) -> GaussianLaw:
    """good^w · bad^{1−w} normalised: precision w Λ_g + (1−w) Λ_b, which must be positive definite."""
    Lg, Lb = torch.linalg.inv(good.cov), torch.linalg.inv(bad.cov)
    Lw = w * Lg + (1 - w) * Lb
    if not bool((torch.linalg.eigvalsh(Lw) > 0).all()):
        raise ValueError(f"w = {w}: the precision w·Λ_good + (1−w)·Λ_bad is not positive definite, "
                         "so good^w·bad^(1−w) is not normalisable")
    cov = torch.linalg.inv(Lw)
    return GaussianLaw(cov @ (w * Lg @ good.mean + (1 - w) * Lb @ bad.mean), (cov + cov.T) / 2)


def gaussian_kl(p: GaussianLaw, q: GaussianLaw) -> float:
    """KL(p ‖ q) between two non-degenerate Gaussians, in nats."""
    d = p.mean.shape[0]
    Lq = torch.linalg.inv(q.cov)
    diff = q.mean - p.mean
    return float(0.5 * ((Lq @ p.cov).trace() + diff @ Lq @ diff - d
                        + torch.logdet(q.cov) - torch.logdet(p.cov)))


def example(d0: int = 8, x: float = 2.0, *, scale: float = 0.5, length: float = 1.5):
    """The worked instance: a smooth Gaussian signal with a condition.

    y = x·b + s, s ~ N(0, Σ) with Σ_jk = scale² exp(−(j−k)²/(2 length²)) (+ 1e-3 on the diagonal),
    b a bump; the condition x ~ N(0, 1).  So p(y | x) = N(x b, Σ) and p(y | ∅) = N(0, Σ + b bᵀ):
    the null condition is exactly the population (Pop(y | ∅) = Pop(y)), and both are Gaussian.
    Returns (law_good = p(y | x), law_null = p(y | ∅)).
    """
    j = torch.arange(d0, dtype=DTYPE)
    cov = scale ** 2 * torch.exp(-(j[:, None] - j[None]) ** 2 / (2 * length ** 2)) + 1e-3 * torch.eye(d0, dtype=DTYPE)
    b = 0.6 * torch.exp(-(j - (d0 - 1) / 3) ** 2 / 4)
    return GaussianLaw(x * b, cov), GaussianLaw(torch.zeros(d0, dtype=DTYPE), cov + torch.outer(b, b))
