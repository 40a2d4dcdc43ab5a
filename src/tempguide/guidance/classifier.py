"""Classifier guidance as a denoiser wrapper (book: "Classifier guidance"; Dhariwal & Nichol 2021, §4).

Bayes' rule for the noisy marginals, p_t(z | c) = p_t(c | z) p_t(z) / p(c), gives the score

    ∇_z ln p_t(z | c) = ∇_z ln p_t(z) + ∇_z ln p_t(c | z)                  (p(c) does not depend on z)

and guidance of strength γ scales the classifier's term:

    s_γ(z, t) = ∇_z ln p_t(z) + γ · ∇_z ln p_t(c | z).

Through Tweedie's formula D = z + t · s this is one line on the denoiser,

    D_γ(z, t) = D(z, t) + γ · t · ∇_z ln p_t(c | z),                          (CG)

so every sampler of chapter 2 runs guided without knowing it.  γ = 1 with the
exact p_t(c | z) is the exact conditional denoiser E[y | z, c]; γ = 0 is unguided.
In DDPM's ε-parameterisation (z̄ = z/√(1+t), √(1−ᾱ) = √(t/(1+t))) (CG) is
Algorithm 2's ε̂ − γ √(1−ᾱ) ∇_z̄ ln p(c | z̄): ``tempguide.guidance.ddpm``.

``log_prob(z, t)`` returns the (B, C) log-probabilities of the classes at noise
variance t.  Adapters for the course's classifiers:

- exact toys:            ``lambda z, t: mixture.class_posterior(z, t).log()``
- a noise-aware network: :func:`noise_aware_log_prob` (it sees z̄ = z/√(1+t), as ε-networks do)
- a clean-data network:  :func:`clean_log_prob` (it sees z as if it were a clean image)
"""
from __future__ import annotations

import torch

from ._checks import broadcast_t, check_labels, check_weight, per_example


def _log_prob_of_labels(log_prob, z: torch.Tensor, t, labels) -> torch.Tensor:
    """Σ_b ln p_t(c_b | z_b), checked: ``log_prob`` must return (B, C) and the labels must lie in [0, C)."""
    lp = log_prob(z, t)
    if not isinstance(lp, torch.Tensor) or lp.ndim != 2 or lp.shape[0] != z.shape[0]:
        shape = tuple(lp.shape) if isinstance(lp, torch.Tensor) else type(lp).__name__
        raise ValueError(f"log_prob must return (B, C) = ({z.shape[0]}, C) log-probabilities, got {shape}")
    c = check_labels(labels, z.shape[0], lp.shape[1]).to(lp.device)
    return lp.gather(1, c[:, None]).sum()  # the examples are independent: one backward gives every gradient


def classifier_gradient(log_prob, z: torch.Tensor, t, labels) -> torch.Tensor:
    """∇_z ln p_t(c | z), shape of z.  Autograd runs here, so callers may be under ``torch.no_grad()``."""
    with torch.enable_grad():
        z_ = z.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(_log_prob_of_labels(log_prob, z_, t, labels), z_)
    return grad


def classifier_guided(denoiser, log_prob, labels, gamma):
    """The guided denoiser D_γ(z, t) = D(z, t) + γ · t · ∇_z ln p_t(c | z)   (module docstring, (CG)).

    Args:
        denoiser: D(z, t) -> E[y | z] (unconditional).
        log_prob: ``log_prob(z, t)`` -> (B, C) class log-probabilities at noise variance t.
        labels: (B,) class indices c in [0, C) (or one int for the whole batch).
        gamma: guidance strength γ: a finite number, or a (B,) tensor (one γ per example).

    Book: "Classifier guidance" (Bayes' rule for the score); Dhariwal & Nichol 2021, Eq. (12)-(14).
    """
    gamma = check_weight(gamma, "gamma")

    def denoiser_gamma(z: torch.Tensor, t) -> torch.Tensor:
        grad = classifier_gradient(log_prob, z, t, labels)                    # ∇_z ln p_t(c | z)
        return denoiser(z, t) + per_example(gamma, z) * broadcast_t(t, z) * grad   # (CG)
    return denoiser_gamma


def classifier_guided_x0(denoiser, log_prob_clean, labels, gamma):
    """Guidance through the predicted clean image (DPS, Chung et al. 2023; universal guidance, Bansal et al. 2023).

        D_γ(z, t) = D(z, t) + γ · t · ∇_z ln p(c | ŷ),   ŷ = D(z, t),

    the gradient taken *through the denoiser* (one backward pass through it), with a
    classifier of clean images ``log_prob_clean(y) -> (B, C)``.  It replaces the
    noisy posterior p_t(c | z) = E[p(c | y) | z] by p(c | E[y | z]): exact only
    where the posterior of y given z is a point.  Book: "Classifier guidance" (the x̂₀ variant).
    """
    gamma = check_weight(gamma, "gamma")

    def denoiser_gamma(z: torch.Tensor, t) -> torch.Tensor:
        with torch.enable_grad():
            z_ = z.detach().requires_grad_(True)
            y_hat = denoiser(z_, t)                                           # ŷ = D(z, t)
            (grad,) = torch.autograd.grad(
                _log_prob_of_labels(lambda y, _t: log_prob_clean(y), y_hat, t, labels), z_)
        return y_hat.detach() + per_example(gamma, z) * broadcast_t(t, z) * grad
    return denoiser_gamma


def noise_aware_log_prob(classifier):
    """``log_prob(z, t)`` of a noise-aware classifier ``classifier(z_bar, t) -> logits`` that sees z̄ = z/√(1+t).

    The one-line adapter between the course's networks (DDPM scaling) and :func:`classifier_guided`.
    """
    def log_prob(z: torch.Tensor, t) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=z.dtype, device=z.device)
        return classifier(z / (1 + broadcast_t(t, z)).sqrt(), t).log_softmax(-1)
    return log_prob


def clean_log_prob(classifier, t_clean: float = 1e-4):
    """``log_prob(z, t)`` of a classifier that has only seen clean images: it is shown z as if clean.

    ``classifier(z_bar, t_clean) -> logits`` (the ``NoisyClassifier`` architecture, trained at t_clean only);
    the true t is ignored.  This is the "adversarial gradient" of the seeds (book: "Classifier guidance").
    """
    return lambda z, t: classifier(z, t_clean).log_softmax(-1)
