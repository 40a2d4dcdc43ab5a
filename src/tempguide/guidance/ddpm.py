"""Classifier guidance in DDPM's own variables: the two algorithms of the seed (book: "Classifier guidance").

Isachenko's lecture (seed 003) and Dhariwal & Nichol (2021) give two ways to guide
an ancestral DDPM sampler with a classifier p(c | x_t) of the DDPM-scaled point
x_t = √ᾱ_t · y + √(1 − ᾱ_t) · ε:

Algorithm 1, the **mean shift**: the reverse step N(μ, β̃_t I) times the classifier
linearised at μ is again Gaussian, with its mean moved by β̃_t · g:

    x_{t−1} = μ_θ(x_t, t) + γ · β̃_t · g + √β̃_t · ε,    g = ∇_x ln p(c | x)|_{x = μ}      (Alg. 1)

Algorithm 2, the **ε-correction**: the guided score, written as an ε-prediction,

    ε̃(x_t, t) = ε̂(x_t, t) − γ · √(1 − ᾱ_t) · ∇_{x_t} ln p(c | x_t),                      (Alg. 2)

then an ordinary DDPM step.  (Alg. 2) is exactly :func:`~tempguide.guidance.classifier_guided`
seen through the ε-adapter (∇_x = √(1+t) ∇_z and √(1−ᾱ) = √(t/(1+t)), so the
correction is γ √t ∇_z ln p_t(c | z)).  The two differ by where g is evaluated
(μ, one step later, against x_t) and by β̃_t against the DDPM drift's step size;
they agree to first order in the step size.

Guided-diffusion's code evaluates g of Algorithm 1 at x_t, with the classifier at t;
the seed evaluates it at μ (the linearisation point), as here, with the classifier
at the next level s.
"""
from __future__ import annotations

import torch

from ..diffusion._checks import check_alpha_bars, check_same_shape, check_sample, finite_step
from ._checks import broadcast_t, check_weight, per_example
from .classifier import classifier_gradient


def _log_prob_of_x(log_prob):
    """ln p(c | x) at DDPM level ᾱ = 1/(1+t) from ``log_prob(z, t)``: z = x/√ᾱ = x·√(1+t)."""
    return lambda x, t: log_prob(x * (1 + broadcast_t(t, x)).sqrt(), t)


def eps_classifier_guided(eps_net, log_prob, gamma):
    """Algorithm 2 as an ε-network: ε̃(x, t, c) = ε̂(x, t) − γ · √(1 − ᾱ) · ∇_x ln p(c | x)   (module docstring).

    ``eps_net(x, t)`` is the unconditional network; the returned network takes the
    classes to guide towards as its ``labels`` (B,), as a conditional network would,
    so the DDPM and DDIM samplers pass them through unchanged.  ``log_prob(z, t)`` as
    for :func:`~tempguide.guidance.classifier_guided`.  Book: "Classifier guidance".
    """
    gamma = check_weight(gamma, "gamma")
    log_prob_x = _log_prob_of_x(log_prob)

    def eps_tilde(x: torch.Tensor, t: torch.Tensor, labels=None) -> torch.Tensor:
        if labels is None:
            raise ValueError("labels are required: the classes c to guide towards, shape (B,)")
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        one_minus_alpha_bar = t / (1 + t)                                    # 1 − ᾱ = t/(1+t)
        grad = classifier_gradient(log_prob_x, x, t, labels)                 # ∇_x ln p(c | x_t)
        with torch.no_grad():
            eps_hat = eps_net(x, t)
        return eps_hat - per_example(gamma, x) * broadcast_t(one_minus_alpha_bar, x).sqrt() * grad   # (Alg. 2)
    return eps_tilde


def sample_ddpm_mean_shift(eps_net, x: torch.Tensor, alpha_bars, log_prob, labels, gamma, *,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """Algorithm 1: DDPM ancestral sampling with the mean moved by γ · β̃ · g, g at μ (module docstring).

        x̂_0 = (x − √(1 − ᾱ_t) ε̂) / √ᾱ_t
        μ   = √ᾱ_s · beta_t / (1 − ᾱ_t) · x̂_0 + √α_t · (1 − ᾱ_s) / (1 − ᾱ_t) · x          (Ho et al., Eq. 7)
        x  ← μ + γ · β̃_t · ∇_x ln p(c | x)|_{x=μ} + √β̃_t · ε                               (Alg. 1)

    Arguments as in :func:`tempguide.diffusion.sample_ddpm` (unconditional ``eps_net``),
    plus ``log_prob(z, t)``, the target ``labels`` and ``gamma``.  The last step
    (ᾱ_s = 1) has β̃ = 0: no shift and no noise.  Book: "Classifier guidance".
    """
    x, alpha_bars, gamma = check_sample(x, "x"), check_alpha_bars(alpha_bars), check_weight(gamma, "gamma")
    log_prob_x = _log_prob_of_x(log_prob)
    for i, (alpha_bar_t, alpha_bar_s) in enumerate(zip(alpha_bars[:-1], alpha_bars[1:])):
        t = (1 - alpha_bar_t) / alpha_bar_t
        with torch.no_grad():
            eps_hat = check_same_shape(eps_net(x, t.to(x.dtype), None), x, "eps_net")
        x0_hat = (x - (1 - alpha_bar_t).sqrt() * eps_hat) / alpha_bar_t.sqrt()
        alpha_t = alpha_bar_t / alpha_bar_s
        beta_t = 1 - alpha_t
        mu = (alpha_bar_s.sqrt() * beta_t / (1 - alpha_bar_t) * x0_hat
              + alpha_t.sqrt() * (1 - alpha_bar_s) / (1 - alpha_bar_t) * x)           # Eq. (7)
        if alpha_bar_s < 1:
            s = ((1 - alpha_bar_s) / alpha_bar_s).to(x.dtype)                          # noise variance of x_{t−1}
            beta_tilde = (1 - alpha_bar_s) / (1 - alpha_bar_t) * beta_t
            g = classifier_gradient(log_prob_x, mu, s, labels)                         # g at μ
            eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            x = mu + per_example(gamma, x) * beta_tilde * g + beta_tilde.sqrt() * eps  # (Alg. 1)
        else:
            x = mu
        x = finite_step(x, i, t, "x")
    return x
