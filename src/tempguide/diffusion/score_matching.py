"""Score-matching objectives (book: "Diffusion background", score matching).

A score model s_θ(y) ≈ ∇ ln p(y) can be fitted without knowing p:

implicit (Hyvärinen 2005)      E_p[ ½‖s_θ(y)‖² + tr ∇_y s_θ(y) ]            = ½E‖s_θ − ∇ln p‖² + const
sliced (Song et al. 2019)      E_p E_v[ ½‖s_θ(y)‖² + vᵀ(∇_y s_θ(y)) v ]     (v random, E vvᵀ = I)
denoising (Vincent 2011)       E ‖s_θ(z, t) + ε/√t‖²,  z = y + √t·ε        → s_θ(·, t) = ∇ ln p_t
NCSN (Song & Ermon 2019)       Σ_l t_l · E ‖s_θ(z, t_l) + ε/√t_l‖²  = E ‖√t_l s_θ + ε‖²
DDPM (Ho et al. 2020, Alg. 1)  E ‖ε̂_θ(x_t, t) − ε‖²,  x_t = √ᾱ y + √(1−ᾱ) ε, i ~ U{1..N}

The last two are the same objective: with s_θ = −ε̂_θ/√t (Tweedie), √t s_θ + ε = ε − ε̂_θ.
Each function takes the model as a callable and returns a scalar loss to minimise.
"""
from __future__ import annotations

import torch

from .schedules import ddpm_alpha_bars


def implicit_score_matching_loss(score, y: torch.Tensor) -> torch.Tensor:
    """Hyvärinen's objective E[½‖s(y)‖² + tr ∇s(y)], the trace by d backward passes (small d only).

    ``score(y) -> (B, d)``.  Book: "Diffusion background" (implicit score matching).
    """
    y = y.detach().requires_grad_(True)
    s = score(y)                                                          # (B, d)
    trace = torch.zeros(len(y), dtype=s.dtype, device=s.device)
    for i in range(y.shape[1]):                                           # tr ∇s = Σ_i ∂s_i/∂y_i
        (grad,) = torch.autograd.grad(s[:, i].sum(), y, create_graph=True)
        trace = trace + grad[:, i]
    return (0.5 * s.pow(2).sum(1) + trace).mean()


def sliced_score_matching_loss(score, y: torch.Tensor, generator: torch.Generator | None = None,
                               n_projections: int = 1) -> torch.Tensor:
    """Sliced score matching, variance-reduced form: E_v[½‖s‖² + vᵀ ∇(vᵀ s)] with Rademacher v.

    One backward pass per projection instead of d (Song, Garg, Shi & Ermon 2019, Eq. 8 with
    Hutchinson's trace estimator).  Book: "Diffusion background" (sliced score matching).
    """
    y = y.detach().requires_grad_(True)
    s = score(y)                                                          # (B, d)
    loss = 0.5 * s.pow(2).sum(1)
    for _ in range(n_projections):
        v = torch.randint(0, 2, y.shape, generator=generator, device=y.device).to(s.dtype) * 2 - 1
        (grad_vs,) = torch.autograd.grad((v * s).sum(), y, create_graph=True)   # ∇_y (vᵀ s) = (∇s)ᵀ v
        loss = loss + (v * grad_vs).sum(1) / n_projections                      # vᵀ (∇s) v
    return loss.mean()


def denoising_score_matching_loss(score, y: torch.Tensor, t, generator: torch.Generator | None = None
                                  ) -> torch.Tensor:
    """Vincent's objective weighted by t: E‖√t · s(z, t) + ε‖², z = y + √t·ε.

    ``t`` is one noise variance (float / 0-dim) or one per example (B,); ``score(z, t)``.
    With several levels this is the NCSN objective (weights λ(t_l) = t_l = σ_l²).
    Book: "Diffusion background" (denoising score matching, NCSN).
    """
    t = torch.as_tensor(t, dtype=y.dtype, device=y.device)
    t_b = t.reshape(-1, *[1] * (y.ndim - 1)) if t.ndim else t
    eps = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
    z = y + t_b.sqrt() * eps                                              # noisy sample
    return (t_b.sqrt() * score(z, t) + eps).pow(2).flatten(1).sum(1).mean()


def ddpm_loss(eps_net, y: torch.Tensor, generator: torch.Generator | None = None, *,
              alpha_bars: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
    """DDPM's simple objective (Ho et al. 2020, Algorithm 1): E_{i, ε} ‖ε̂(z̄_i, t_i) − ε‖².

    i ~ U{1..N} over the levels ``alpha_bars`` (default: DDPM's 1000 linear levels),
    x_i = √ᾱ_i y + √(1 − ᾱ_i) ε, and the network gets t_i = (1 − ᾱ_i)/ᾱ_i.  (The shipped
    MNIST models use a continuous index between the same levels: ``tempguide.train.recipes``.)
    Book: "Diffusion background" (DDPM objective).
    """
    alpha_bars = ddpm_alpha_bars() if alpha_bars is None else alpha_bars
    i = torch.randint(0, len(alpha_bars), (len(y),), generator=generator, device=alpha_bars.device)
    alpha_bar = alpha_bars[i].to(y.device, y.dtype).reshape(-1, *[1] * (y.ndim - 1))   # (B, 1, …)
    eps = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
    x = alpha_bar.sqrt() * y + (1 - alpha_bar).sqrt() * eps                             # forward process
    t = ((1 - alpha_bars[i]) / alpha_bars[i]).to(y.device, y.dtype)                     # (B,) noise variances
    return (eps_net(x, t, labels) - eps).pow(2).flatten(1).sum(1).mean()
