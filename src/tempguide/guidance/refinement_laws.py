"""The refinements of CFG on the exact toys: which law each one samples (book: "The refinements on the exact toy").

On a labelled Gaussian mixture (``tempguide.toy``) the conditional and unconditional
denoisers D_c, D_∅ are exact, so w = 1 samples p(y | c) up to the sampler's error and
every change of the law at w ≠ 1 is guidance's doing, not a network's.  Each
refinement of ``refinements``/``interval`` is plugged into the exact pair:

- :func:`rule_denoiser`      a rule combine(P_∅, P_c) applied in the space its paper uses:
  the denoised D (APG, Sadat et al. 2025), ε̂ = (z − D)/√t (rescaled CFG, as diffusers
  applies it to the noise prediction), or the straight-path velocity v = D − ε̂
  (CFG-Zero*, Fan et al. 2025; x_τ = τ z with τ = 1/(1 + √t), v = E[y − ε | z])
- :func:`autoguided_denoiser`  autoguidance (Karras et al., NeurIPS 2024) with a deliberately
  degraded exact model as the guide: the same mixture with every width multiplied by ``widen``
- :func:`ExactEpsNet`      the exact ε̂(z̄, t, label) of a mixture (null label = C), for the ᾱ samplers (CFG++)
- :func:`sample_ode`         the probability-flow ODE (Heun) from quasi-random starts: the law's
  error is the sampler's, with little Monte-Carlo noise
- :func:`law_summary`        class weight, mode weights, mean and width of class c's modes, and the
  sliced Wasserstein-1 distance to p(y | c) (:func:`sliced_w1`)

The per-example rules (rescale, APG, CFG-Zero*) treat the d coordinates of one point as
their population (norms, stds, projections over the non-batch dims).  In 1-D that
population is one number: APG's Δ is always parallel to D_c and CFG-Zero*'s s*·v_∅ is v_c,
so both return the conditional prediction for every w, and rescale's std is undefined.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..diffusion import geometric_ts, mode_statistics, sample_ode_heun
from ..toy import GaussianMixture
from ._checks import check_weight
from .cfg import cfg_denoisers
from .guided_marginals import check_class
from .._renamed import renamed_argument

SPACES = ("denoiser", "eps", "velocity")


def _check_space(space: str) -> str:
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    return space


def to_space(D: torch.Tensor, z: torch.Tensor, t: torch.Tensor, space: str) -> torch.Tensor:
    """The prediction of the denoiser output D in ``space``: D, ε̂ = (z − D)/√t, or v = D − ε̂."""
    if _check_space(space) == "denoiser":
        return D
    eps = (z - D) / t.sqrt()                                                # ε̂ = (z − D)/√t
    return eps if space == "eps" else D - eps                               # v = E[y − ε | z]


def from_space(pred: torch.Tensor, z: torch.Tensor, t: torch.Tensor, space: str) -> torch.Tensor:
    """The inverse of :func:`to_space`: D = z − √t ε̂, or D = (z + √t v)/(1 + √t)."""
    if _check_space(space) == "denoiser":
        return pred
    s = t.sqrt()
    return z - s * pred if space == "eps" else (z + s * pred) / (1 + s)


def rule_denoiser(uncond_denoiser, cond_denoiser, combine, *, space: str = "denoiser"):
    """D̃(z, t) = from_space(combine(P_∅, P_c)) with P = to_space(D(z, t)), for two separate denoisers.

    ``combine(uncond, cond)`` is a rule of ``refinements``, e.g. ``lambda u, c: apg(u, c, 4.0, eta=0.0)``.
    For the plain rule ``cfg`` every space gives the same D̃ (the spaces are affine in D at fixed z, t).
    Book: "The refinements on the exact toy".
    """
    _check_space(space)

    def denoiser(z: torch.Tensor, t) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=z.dtype, device=z.device)
        uncond, cond = to_space(uncond_denoiser(z, t), z, t, space), to_space(cond_denoiser(z, t), z, t, space)
        return from_space(combine(uncond, cond), z, t, space)
    return denoiser


def widened(mixture: GaussianMixture, widen: float) -> GaussianMixture:
    """The mixture with every component width s_k multiplied by ``widen`` (> 0): a "weak model" of it."""
    widen = float(widen)
    if not (math.isfinite(widen) and widen > 0):
        raise ValueError(f"widen must be a finite factor > 0, got {widen}")
    return GaussianMixture(mixture.weights, mixture.means, mixture.stds * widen, mixture.labels)


def autoguided_denoiser(mixture: GaussianMixture, c: int, w, *, widen: float = 1.5):
    """Autoguidance (Karras et al., "Guiding a diffusion model with a bad version of itself", NeurIPS 2024):

        D_w = D_weak + w · (D_c − D_weak),   D_weak = the class-c denoiser of ``widened(mixture, widen)``.

    Both predictions are conditional on c, so guidance never pushes away from the other
    classes; w = 1 (or widen = 1) is D_c.  Book: "The refinements on the exact toy".
    """
    c = check_class(mixture, c)
    return cfg_denoisers(widened(mixture, widen).condition(c).denoise, mixture.condition(c).denoise,
                         check_weight(w, "w"))


class ExactEpsNet:
    """The exact ε̂(z̄, t, labels) = (z − D(z, t))/√t, z = z̄ √(1 + t), of a labelled mixture.

    Label k < C uses the class-k denoiser, label C (``config.num_classes``) the unconditional
    one: the null label of ``cfg_eps``, ``combined_eps`` and ``sample_ddim_cfgpp``.
    """

    def __init__(self, mixture: GaussianMixture):
        self.config = type("Config", (), {"num_classes": mixture.num_classes})()
        self.denoisers = [mixture.condition(k).denoise for k in range(mixture.num_classes)] + [mixture.denoise]

    @renamed_argument("x", "z_bar")
    def __call__(self, z_bar: torch.Tensor, t, labels: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=z_bar.dtype).reshape(-1, 1)                # 0-dim or (B,) → broadcasts over (B, d)
        z = z_bar * (1 + t).sqrt()                                              # z = z̄/√ᾱ
        D = torch.zeros_like(z)
        for k, denoise in enumerate(self.denoisers):
            rows = labels == k
            if bool(rows.any()):
                D[rows] = denoise(z[rows], t[rows] if t.shape[0] > 1 else t[0, 0])
        return (z - D) / t.sqrt()


def quasi_normal(n: int, d: int, *, seed: int = 0) -> torch.Tensor:
    """n points (float64, (n, d)) of N(0, I) from a scrambled Sobol sequence: far less Monte-Carlo noise than randn."""
    if not (isinstance(n, int) and n >= 2):
        raise ValueError(f"n must be an int >= 2, got {n!r}")
    u = torch.quasirandom.SobolEngine(d, scramble=True, seed=seed).draw(n, dtype=torch.float64)
    u = u.clamp(0.5 / n, 1 - 0.5 / n)                                        # keep Φ⁻¹ finite
    return math.sqrt(2) * torch.special.erfinv(2 * u - 1)                     # Φ⁻¹(u)


def sample_ode(denoiser, n: int, d: int, *, t_max: float = 1e4, t_min: float = 1e-4, steps: int = 100,
               seed: int = 0) -> torch.Tensor:
    """The probability-flow ODE (Heun, geometric grid) from z_0 = √t_max · Φ⁻¹(Sobol): samples (n, d) at t_min.

    The start N(0, t_max) instead of p_{t_max} shifts a mode at μ of width s by about |μ|·s/√t_max
    (0.01 for the toys at t_max = 1e4); Heun's error over the 8 decades of t is second order in 1/steps.
    """
    return sample_ode_heun(denoiser, math.sqrt(t_max) * quasi_normal(n, d, seed=seed),
                           geometric_ts(t_max, t_min, steps))


def _normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def sliced_w1(target: GaussianMixture, y: torch.Tensor, *, directions: int = 16, resolution: int = 20001) -> float:
    """Sliced Wasserstein-1 distance between the samples y (n, d) and the mixture ``target``.

        SW₁ = mean over θ of W₁(θ·y, θ·Y) = ∫ |F_n(x) − F(x)| dx,   Y ~ target,

    θ at ``directions`` equally spaced angles in [0, π) (one direction, θ = 1, in 1-D; d ≤ 2).
    The projection of an isotropic mixture is the 1-D mixture Σ π_k N(θ·μ_k, s_k²), whose CDF F
    is exact; the integral is a trapezoid on ``resolution`` points.  In the units of y; i.i.d.
    samples of the target give E[W₁] ≤ ∫ √(F(1 − F)/n) dx (the sampling floor).
    """
    y = torch.as_tensor(y, dtype=torch.float64)
    if y.ndim != 2 or y.shape[1] != target.dim or target.dim > 2:
        raise ValueError(f"y must have shape (n, {target.dim}) with d <= 2, got {tuple(y.shape)}")
    angles = torch.arange(directions if target.dim == 2 else 1, dtype=torch.float64) * math.pi / directions
    thetas = torch.stack([angles.cos(), angles.sin()], 1)[:, :target.dim]  # (m, d), unit vectors
    total = 0.0
    for theta in thetas:
        x, mu = (y @ theta).sort().values, target.means @ theta            # projected samples and means
        lo = min(x[0].item(), (mu - 10 * target.stds).min().item())
        hi = max(x[-1].item(), (mu + 10 * target.stds).max().item())
        grid = torch.linspace(lo, hi, resolution, dtype=torch.float64)
        F = (target.weights * _normal_cdf((grid[:, None] - mu) / target.stds)).sum(1)
        F_n = torch.searchsorted(x, grid, right=True).double() / len(x)     # empirical CDF
        total += torch.trapezoid((F_n - F).abs(), grid).item()
    return total / len(thetas)


@dataclass
class LawSummary:
    """The law of samples against p(y | c) (mass-weighted over class c's modes, with the exact weights π_k)."""

    class_weight: float        # fraction of samples whose nearest component (p(k | y), t = 0) is of class c
    mode_weights: list         # within class c: the fraction of its samples in each of its modes
    mode_tv: float             # ½ Σ_k |mode weight − π_k / Σ_c π|: total variation of the mode weights
    mean_error: float          # Σ_k π_k ‖mean_k − μ_k‖ / Σ π_k over class c's modes
    width_ratio: float         # Σ_k π_k width_k / s_k / Σ π_k  (1 = the right width)
    sliced_w1: float           # :func:`sliced_w1` between all samples and p(y | c)


def law_summary(mixture: GaussianMixture, c: int, y: torch.Tensor, *, directions: int = 16) -> LawSummary:
    """Summarise samples y (n, d) of a guided sampler for class c against p(y | c).

    Book: "The refinements on the exact toy".
    """
    c = check_class(mixture, c)
    stats = mode_statistics(mixture, y)                                     # per component of the full mixture
    mine = torch.nonzero(mixture.labels == c).reshape(-1)
    class_weight = stats.weights[mine].sum().item()
    pi = mixture.weights[mine] / mixture.weights[mine].sum()               # exact within-class weights
    within = stats.weights[mine] / class_weight if class_weight > 0 else torch.full_like(pi, math.nan)
    mean_err = (stats.means[mine] - mixture.means[mine]).norm(dim=1)
    width = stats.stds[mine] / mixture.stds[mine]
    return LawSummary(class_weight=class_weight, mode_weights=within.tolist(),
                      mode_tv=0.5 * (within - pi).abs().sum().item(), mean_error=(pi * mean_err).sum().item(),
                      width_ratio=(pi * width).sum().item(),
                      sliced_w1=sliced_w1(mixture.condition(c), y, directions=directions))


__all__ = ["SPACES", "to_space", "from_space", "rule_denoiser", "widened", "autoguided_denoiser", "ExactEpsNet",
           "quasi_normal", "sample_ode", "sliced_w1", "LawSummary", "law_summary"]
