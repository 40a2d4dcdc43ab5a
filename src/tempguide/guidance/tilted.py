"""The "intended" targets of guidance, exactly, on a grid (book: "Classifier guidance", "Classifier-free guidance").

Classifier guidance of strength γ is motivated by the *tilted* law

    p_γ(y | c) ∝ p(y) · p(c | y)^γ,                                            (T)

and classifier-free guidance of weight w by p(y | c)^w · p(y)^{1−w}.  By Bayes,
p(y | c) = p(c | y) p(y) / p(c), so the two are the same law with γ = w:

    p(y | c)^w p(y)^{1−w} = p(c)^{−w} · p(y) · p(c | y)^w ∝ p_w(y | c).

Neither sampler produces it exactly: the guided score is ∇ ln p_t + γ ∇ ln p_t(c | z),
the score of the tilted *noisy* marginal, and tilting does not commute with noising
(the lesson of chapter 2's temperature).  These functions give (T) on a grid, for
comparison with samples through ``tempguide.diffusion.mode_statistics``.
"""
from __future__ import annotations

import torch

from ._checks import check_weight
from .guided_marginals import check_class, log_class_posterior


def tilted_log_density(mixture, y: torch.Tensor, c: int, gamma) -> torch.Tensor:
    """ln p(y) + γ · ln p(c | y) at the points y (n, d): (T) up to its normalising constant, shape (n,)."""
    gamma, c = check_weight(gamma, "gamma"), check_class(mixture, c)   # a float or bool c was truncated silently
    # ln p(c | y) by Bayes in log space: class_posterior(y, 0).log() underflows to −∞ far from class c
    # (then γ = 0 gave 0 · (−∞) = NaN, and γ = 1 gave −∞ where p(y | c) > 0)
    return mixture.log_prob(y) + gamma * log_class_posterior(mixture)(y, 0.0)[:, c]


def tilted_probabilities(mixture, y: torch.Tensor, c: int, gamma) -> torch.Tensor:
    """(T) on a uniform grid y (n, d): probabilities (n,) summing to one (use float64 points)."""
    return torch.softmax(tilted_log_density(mixture, y, c, gamma), dim=0)
