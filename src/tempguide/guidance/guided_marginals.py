"""What classifier guidance follows at each noise level, exactly on the toy mixtures (book: "Classifier guidance").

At noise level t the guided score ∇ ln p_t(z) + γ ∇ ln p_t(c | z) is the score of

    q_t(z) = p_t(z) · p_t(c | z)^γ / Z_t(γ, c),    Z_t(γ, c) = ∫ p_t(c | z)^γ p_t(z) dz.     (Q)

Z_t does not depend on z (∇_z ln Z_t = 0: the guided score is exactly the score of q_t),
but for γ ≠ 1 it depends on t; at γ = 1, q_t = p_t(z | c) and Z_t = p(c) for every t.
If the family q_t were the noising of one law ρ, then ρ = q_0 (t → 0) and q_t would be
q_0 blurred by N(0, t); for γ ≠ 1 it is not (notebook 30 measures how far):
classifier guidance follows a path of tilted noisy marginals, not the noising of its
"intended" target q_0(y) ∝ p(y) p(c | y)^γ (``tilted``).

- :func:`log_class_posterior`  the exact noise-aware classifier ln p_t(c | z) of a labelled mixture
- :func:`guided_log_density`   ln p_t(z) + γ ln p_t(c | z), i.e. ln(Z_t q_t)
- :func:`guided_normaliser`    Z_t(γ, c) by quadrature on a uniform grid
- :func:`noise_on_grid_1d`     a law on a uniform 1-D grid blurred by N(0, t), to compare q_t with q_0 ∗ N(0, t)
"""
from __future__ import annotations

import math

import torch

from ._checks import check_weight


def log_class_posterior(mixture):
    """``log_prob(z, t)`` -> (n, C): ln p_t(c | z) of every class, by Bayes in log space.

        ln p_t(c | z) = ln p_t(z | c) + ln p(c) − ln p_t(z),

    with no underflow far from the data (``class_posterior(z, t).log()`` is −∞ there, and its
    gradient NaN).  This is the exact noise-aware classifier for :func:`~tempguide.guidance.classifier_guided`;
    ``clean_log_prob(log_class_posterior(mixture), t_clean=0.0)`` is the exact *clean-data* classifier
    p_0(c | ·) shown z as if it were clean.  ``t`` as for ``GaussianMixture`` (a number or (n,)).
    """
    prior = mixture.class_prior().log()
    parts = [mixture.condition(c) for c in range(mixture.num_classes)]

    def log_prob(z: torch.Tensor, t) -> torch.Tensor:
        log_joint = torch.stack([part.log_prob_t(z, t) for part in parts], dim=1) + prior.to(z)   # ln p_t(z, c)
        return log_joint - mixture.log_prob_t(z, t)[:, None]
    return log_prob


def check_class(mixture, c) -> int:
    """One class index c: an integer (not a float, not a bool) in [0, C)."""
    c_ = torch.as_tensor(c)
    if c_.ndim != 0 or c_.is_floating_point() or c_.is_complex() or c_.dtype == torch.bool:
        raise ValueError(f"c must be one integer class index, got {c!r}")
    if not 0 <= int(c_) < mixture.num_classes:
        raise ValueError(f"c must be a class in [0, {mixture.num_classes}), got {int(c_)}")
    return int(c_)


def guided_log_density(mixture, z: torch.Tensor, t, c: int, gamma) -> torch.Tensor:
    """ln p_t(z) + γ · ln p_t(c | z) at the points z (n, d): ln(Z_t · q_t) of (Q), shape (n,).

    Its z-gradient is the guided score; at t = 0 it is ``tilted_log_density``.
    """
    gamma, c = check_weight(gamma, "gamma"), check_class(mixture, c)
    if isinstance(gamma, torch.Tensor):
        raise ValueError("gamma must be one number here (the density of one guided law)")
    return mixture.log_prob_t(z, t) + gamma * log_class_posterior(mixture)(z, t)[:, c]


def _uniform_axis(axis) -> tuple[torch.Tensor, float]:
    axis = torch.as_tensor(axis, dtype=torch.float64)
    if axis.ndim != 1 or len(axis) < 3:
        raise ValueError(f"axis must be a 1-D grid with at least 3 points, got shape {tuple(axis.shape)}")
    steps = axis.diff()
    h = steps.mean().item()
    if not (h > 0 and torch.allclose(steps, torch.full_like(steps, h), rtol=1e-6, atol=0)):
        raise ValueError("axis must be increasing and uniformly spaced")
    return axis, h


def _grid(axis: torch.Tensor, d: int) -> torch.Tensor:
    """The points of axis^d, shape (len(axis)^d, d), first coordinate slowest."""
    return torch.stack(torch.meshgrid(*[axis] * d, indexing="ij"), dim=-1).reshape(-1, d)


def guided_normaliser(mixture, t, c: int, gamma, axis) -> torch.Tensor:
    """Z_t(γ, c) = ∫ p_t(c | z)^γ p_t(z) dz of (Q), by the rectangle rule on the grid axis^d (float64, 0-dim).

    ``axis`` is a uniform 1-D grid wide enough to hold p_t (its spread is about √(s² + t) around
    the means).  γ = 0 gives 1, γ = 1 gives p(c), and t → ∞ gives p(c)^γ.
    """
    axis, h = _uniform_axis(axis)
    z = _grid(axis, mixture.dim)
    log_f = guided_log_density(mixture, z, float(t), c, gamma)
    return torch.exp(torch.logsumexp(log_f, dim=0) + mixture.dim * math.log(h))


def noise_on_grid_1d(probs: torch.Tensor, axis, t: float) -> torch.Tensor:
    """Masses (n,) on a uniform 1-D grid blurred by N(0, t): m'_i = Σ_j m_j N(z_i; y_j, t) · h.

    The law of y + √t ε with y on the grid, read back on the same grid (t = 0 returns
    ``probs``).  The masses sum to less than one when the blur carries mass past the ends.
    """
    axis, h = _uniform_axis(axis)
    probs = torch.as_tensor(probs, dtype=torch.float64)
    if probs.shape != axis.shape:
        raise ValueError(f"probs must have one mass per grid point {tuple(axis.shape)}, got {tuple(probs.shape)}")
    t = float(t)
    if not (math.isfinite(t) and t >= 0):
        raise ValueError(f"t must be a finite noise variance >= 0, got {t}")
    if t == 0:
        return probs.clone()
    kernel = torch.exp(-0.5 * (axis[:, None] - axis[None, :]) ** 2 / t) / math.sqrt(2 * math.pi * t)   # N(z_i; y_j, t)
    return kernel @ probs * h
