"""The straight probability path and the conditional flow-matching loss (book: "Flow matching with guidance").

MIT 6.S184 convention (Holderrieth & Erives 2025; Lipman et al. 2023; Liu et al. 2023):
τ = 0 is noise, τ = 1 is data, and a data point x₁ is joined to a noise draw x₀ by

    x_τ = (1 − τ)·x₀ + τ·x₁,         x₀ ~ N(0, I),                                  (path)
    d x_τ / dτ = x₁ − x₀ = (x₁ − x_τ) / (1 − τ)      (the conditional velocity)     (target)

Regressing a network on the conditional velocity gives the marginal velocity
u(x, τ) = E[x₁ − x₀ | x_τ = x], because a conditional mean minimises squared error:

    L_CFM(θ) = E_{τ ~ U[0, 1], (x₁, c), x₀} ‖u_θ(x_τ, τ, c) − (x₁ − x₀)‖²           (CFM loss)

(the seed's "Guided FM" loss; the label c is replaced by the null label ∅ with
probability ``p_uncond``, so the same network also learns u(x | ∅)).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _per_example(tau, x: torch.Tensor) -> torch.Tensor:
    """τ as a tensor in x's dtype, (B,) reshaped to (B, 1, …) to broadcast against x."""
    tau = torch.as_tensor(tau, dtype=x.dtype, device=x.device)
    return tau.reshape(-1, *[1] * (x.ndim - 1)) if tau.ndim else tau


def check_tau(tau, name: str = "tau") -> None:
    """τ must lie in [0, 1] (0 = noise, 1 = data)."""
    tau = torch.as_tensor(tau)
    if not bool(torch.isfinite(tau).all()) or bool((tau < 0).any()) or bool((tau > 1).any()):
        raise ValueError(f"{name} must be in [0, 1] (0 = noise, 1 = data), got {tau.tolist()}")


def straight_path(x0: torch.Tensor, x1: torch.Tensor, tau) -> torch.Tensor:
    """x_τ = (1 − τ)·x₀ + τ·x₁   (path).  ``tau`` is a number, 0-dim, or (B,).  Book: "Flow matching with guidance"."""
    if x0.shape != x1.shape:
        raise ValueError(f"x0 and x1 must have the same shape, got {tuple(x0.shape)} and {tuple(x1.shape)}")
    check_tau(tau)
    tau = _per_example(tau, x1)
    return (1 - tau) * x0 + tau * x1


def conditional_velocity(x: torch.Tensor, x1: torch.Tensor, tau) -> torch.Tensor:
    """u(x | x₁) = (x₁ − x)/(1 − τ): the velocity of the straight path through x towards x₁   (target).

    On the path, x = x_τ, it equals x₁ − x₀, the regression target of :func:`fm_loss`.
    Defined for τ ∈ [0, 1).
    """
    check_tau(tau)
    if bool((torch.as_tensor(tau) >= 1).any()):
        raise ValueError("tau must be < 1 here: the conditional velocity (x1 - x)/(1 - tau) is 0/0 at tau = 1")
    return (x1 - x) / (1 - _per_example(tau, x))


def fm_loss(model, x1: torch.Tensor, labels: torch.Tensor, generator: torch.Generator,
            *, p_uncond: float = 0.0) -> torch.Tensor:
    """Conditional flow matching: ‖u_θ(x_τ, τ, c) − (x₁ − x₀)‖², x_τ = (1 − τ)x₀ + τx₁, τ ~ U[0, 1]   (CFM loss).

    ``model(x, tau, labels)`` is a velocity network with ``config.num_classes`` (its null
    label); with probability ``p_uncond`` a label is replaced by the null label.  The
    recipe of the shipped ``mnist_fm``.  Book: "Flow matching with guidance".
    """
    x0 = torch.randn(x1.shape, generator=generator, device=x1.device)                  # noise, τ = 0
    tau = torch.rand(len(x1), generator=generator, device=x1.device)                  # τ ~ U[0, 1]
    x_tau = (1 - tau.view(-1, 1, 1, 1)) * x0 + tau.view(-1, 1, 1, 1) * x1              # (path)
    if p_uncond > 0:
        drop = torch.rand(len(x1), generator=generator, device=x1.device) < p_uncond
        labels = torch.where(drop, torch.full_like(labels, model.config.num_classes), labels)
    return F.mse_loss(model(x_tau, tau, labels), x1 - x0)                              # (target)
