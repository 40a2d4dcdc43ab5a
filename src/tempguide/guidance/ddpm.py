"""Classifier guidance in DDPM's own variables: the two algorithms of the seed (book: "Classifier guidance").

Isachenko's lecture (seed 003) and Dhariwal & Nichol (2021) give two ways to guide
an ancestral DDPM sampler with a classifier p(c | x_t) of the DDPM-scaled point
x_t = √ᾱ_t · y + √(1 − ᾱ_t) · ε:

Algorithm 1, the **mean shift**: the reverse step N(μ, β̃_t I) times the classifier
linearised at μ is again Gaussian, with its mean moved by β̃_t · g:

    x_{t−1} = μ_θ(x_t, t) + γ · β̃_t · g + √β̃_t · ε,    g = ∇_z̄ ln p(c | z̄)|_{x = μ}      (Alg. 1)

Algorithm 2, the **ε-correction**: the guided score, written as an ε-prediction,

    ε̃(x_t, t) = ε̂(x_t, t) − γ · √(1 − ᾱ_t) · ∇_{x_t} ln p(c | x_t),                      (Alg. 2)

then an ordinary DDPM step.  (Alg. 2) is exactly :func:`~tempguide.guidance.classifier_guided`
seen through the ε-adapter (∇_x = √(1+t) ∇_z and √(1−ᾱ) = √(t/(1+t)), so the
correction is γ √t ∇_z ln p_t(c | z)).  The two differ by where g is evaluated
(μ, one step later, against x_t) and by β̃_t against the DDPM drift's step size;
they agree to first order in the step size.

The papers' x_t is our z̄ = √ᾱ·z = z/√(1+t) (``z_bar`` in code; book: "Notation"), their x̂_0 our ŷ.

Guided-diffusion's code evaluates g of Algorithm 1 at x_t, with the classifier at t;
the seed evaluates it at μ (the linearisation point), as here, with the classifier
at the next level s.
"""
from __future__ import annotations

import torch

from .._renamed import renamed_argument
from ..diffusion._checks import check_alpha_bars, check_same_shape, check_sample, finite_step
from ._checks import broadcast_t, check_weight, per_example
from .classifier import classifier_gradient


def _log_prob_of_z_bar(log_prob):
    """ln p(c | z̄) at DDPM level ᾱ = 1/(1+t) from ``log_prob(z, t)``: z = z̄/√ᾱ = z̄·√(1+t)."""
    return lambda z_bar, t: log_prob(z_bar * (1 + broadcast_t(t, z_bar)).sqrt(), t)


def eps_classifier_guided(eps_net, log_prob, gamma):
    """Algorithm 2 as an ε-network: ε̃(z̄, t, c) = ε̂(z̄, t) − γ · √(1 − ᾱ) · ∇_z̄ ln p(c | z̄)   (module docstring).

    ``eps_net(z_bar, t)`` is the unconditional network; the returned network takes the
    classes to guide towards as its ``labels`` (B,), as a conditional network would,
    so the DDPM and DDIM samplers pass them through unchanged.  ``log_prob(z, t)`` as
    for :func:`~tempguide.guidance.classifier_guided`.  Book: "Classifier guidance".
    """
    gamma = check_weight(gamma, "gamma")
    log_prob_z_bar = _log_prob_of_z_bar(log_prob)

    def eps_tilde(z_bar: torch.Tensor, t: torch.Tensor, labels=None) -> torch.Tensor:
        if labels is None:
            raise ValueError("labels are required: the classes c to guide towards, shape (B,)")
        t = torch.as_tensor(t, dtype=z_bar.dtype, device=z_bar.device)
        one_minus_alpha_bar = t / (1 + t)                                    # 1 − ᾱ = t/(1+t)
        grad = classifier_gradient(log_prob_z_bar, z_bar, t, labels)         # ∇_z̄ ln p(c | z̄)
        with torch.no_grad():
            eps_hat = eps_net(z_bar, t)
        return eps_hat - per_example(gamma, z_bar) * broadcast_t(one_minus_alpha_bar, z_bar).sqrt() * grad   # (Alg. 2)
    return eps_tilde


@renamed_argument("x", "z_bar")
def sample_ddpm_mean_shift(eps_net, z_bar: torch.Tensor, alpha_bars, log_prob, labels, gamma, *,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """Algorithm 1: DDPM ancestral sampling with the mean moved by γ · β̃ · g, g at μ (module docstring).

        ŷ   = (z̄ − √(1 − ᾱ_t) ε̂) / √ᾱ_t
        μ   = √ᾱ_s · beta_t / (1 − ᾱ_t) · ŷ + √α_t · (1 − ᾱ_s) / (1 − ᾱ_t) · z̄          (Ho et al., Eq. 7)
        z̄  ← μ + γ · β̃_t · ∇_z̄ ln p(c | z̄)|_{z̄=μ} + √β̃_t · ε                               (Alg. 1)

    Arguments as in :func:`tempguide.diffusion.sample_ddpm` (unconditional ``eps_net``),
    plus ``log_prob(z, t)``, the target ``labels`` and ``gamma``.  The last step
    (ᾱ_s = 1) has β̃ = 0: no shift and no noise.  Book: "Classifier guidance".
    """
    z_bar, alpha_bars, gamma = check_sample(z_bar, "z_bar"), check_alpha_bars(alpha_bars), check_weight(gamma, "gamma")
    log_prob_z_bar = _log_prob_of_z_bar(log_prob)
    for i, (alpha_bar_t, alpha_bar_s) in enumerate(zip(alpha_bars[:-1], alpha_bars[1:])):
        t = (1 - alpha_bar_t) / alpha_bar_t
        with torch.no_grad():
            eps_hat = check_same_shape(eps_net(z_bar, t.to(z_bar.dtype), None), z_bar, "eps_net")
        y_hat = (z_bar - (1 - alpha_bar_t).sqrt() * eps_hat) / alpha_bar_t.sqrt()
        alpha_t = alpha_bar_t / alpha_bar_s
        beta_t = 1 - alpha_t
        mu = (alpha_bar_s.sqrt() * beta_t / (1 - alpha_bar_t) * y_hat
              + alpha_t.sqrt() * (1 - alpha_bar_s) / (1 - alpha_bar_t) * z_bar)           # Eq. (7)
        if alpha_bar_s < 1:
            s = ((1 - alpha_bar_s) / alpha_bar_s).to(z_bar.dtype)                          # noise variance of the next z̄
            beta_tilde = (1 - alpha_bar_s) / (1 - alpha_bar_t) * beta_t
            g = classifier_gradient(log_prob_z_bar, mu, s, labels)                         # g at μ
            eps = torch.randn(z_bar.shape, generator=generator, dtype=z_bar.dtype, device=z_bar.device)
            z_bar = mu + per_example(gamma, z_bar) * beta_tilde * g + beta_tilde.sqrt() * eps  # (Alg. 1)
        else:
            z_bar = mu
        z_bar = finite_step(z_bar, i, t, "z_bar")
    return z_bar
