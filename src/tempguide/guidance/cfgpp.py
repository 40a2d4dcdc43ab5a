"""CFG++: DDIM that re-noises with the unconditional ε (book: "Refinements of CFG" (chapter 4, second part)).

Chung, Kim, Park, Nam & Ye, "CFG++: manifold-constrained classifier free guidance for
diffusion models", ICLR 2025, their DDIM sampler with CFG++.  One step from level ᾱ_t to
the next level ᾱ_s (ᾱ_s > ᾱ_t), with ε̂_∅ = ε̂(z̄, t, ∅) and ε̂_c = ε̂(z̄, t, c):

    ε̂_λ = ε̂_∅ + λ · (ε̂_c − ε̂_∅),        λ ∈ [0, 1]       (an interpolation, never w > 1)
    x̂_0 = (x − √(1 − ᾱ_t) · ε̂_λ) / √ᾱ_t                   (Tweedie with the guided ε)
    x  ← √ᾱ_s · x̂_0 + √(1 − ᾱ_s) · ε̂_∅                    (re-noise with the *unconditional* ε)

Plain DDIM with CFG re-noises with the guided ε̃ = ε̂_∅ + w · (ε̂_c − ε̂_∅) instead.  In the
book's variable z = z̄/√ᾱ with σ = √t the CFG++ step reads

    z_s = z_t − (σ_t − σ_s) · ε̂_∅ − λ · σ_t · (ε̂_c − ε̂_∅),

i.e. exactly a DDIM-CFG step with the step-dependent weight  w_t = λ · σ_t / (σ_t − σ_s):
the same λ guides more strongly on a finer grid (w_t grows with the number of steps).
"""
from __future__ import annotations

import torch

from ..diffusion._checks import check_alpha_bars, check_sample, check_same_shape, finite_step
from ._checks import check_labels, check_weight, per_example
from .cfg import _null_label
from .._renamed import renamed_argument


def _check_lam(lam):
    lam = check_weight(lam, "lam")
    low, high = (lam.min().item(), lam.max().item()) if isinstance(lam, torch.Tensor) else (lam, lam)
    if low < 0 or high > 1:
        raise ValueError(f"lam must be in [0, 1] (CFG++ interpolates between ε̂_∅ and ε̂_c), "
                         f"got range [{low}, {high}]")
    return lam


def cfgpp_weight(alpha_bar_t, alpha_bar_s, lam):
    """w_t = λ · σ_t / (σ_t − σ_s), σ = √((1 − ᾱ)/ᾱ): the weight of the DDIM-CFG step ᾱ_t → ᾱ_s equal to CFG++."""
    alpha_bar_t = torch.as_tensor(alpha_bar_t, dtype=torch.float64)
    alpha_bar_s = torch.as_tensor(alpha_bar_s, dtype=torch.float64)
    sigma_t, sigma_s = ((1 - alpha_bar_t) / alpha_bar_t).sqrt(), ((1 - alpha_bar_s) / alpha_bar_s).sqrt()
    return lam * sigma_t / (sigma_t - sigma_s)


@renamed_argument("x", "z_bar")
def sample_ddim_cfgpp(eps_net, z_bar: torch.Tensor, alpha_bars, labels, lam, *,
                      uncond_label: int | None = None) -> torch.Tensor:
    """Deterministic DDIM with CFG++ (Chung et al. 2025):

        ε̂_∅, ε̂_c = ε̂(z̄, t, ∅), ε̂(z̄, t, c)                   (one call on [z̄; z̄], labels [c; ∅])
        ε̂_λ = ε̂_∅ + λ · (ε̂_c − ε̂_∅)
        ŷ   = (z̄ − √(1 − ᾱ_t) · ε̂_λ) / √ᾱ_t
        z̄  ← √ᾱ_s · ŷ + √(1 − ᾱ_s) · ε̂_∅

    Args:
        eps_net: a conditional ε-network ``eps_net(z_bar, t, labels)`` with a null label
            (``config.num_classes`` set), called with t = (1 − ᾱ)/ᾱ as in ``sample_ddim``.
        z_bar: (B, ...) start at level ᾱ_0, e.g. pure noise ε.
        alpha_bars: strictly increasing ᾱ_0 < … < ᾱ_N ≤ 1; end with 1 to return clean samples (z̄ = ŷ).
        labels: (B,) the classes c.
        lam: λ in [0, 1], a number or a (B,) tensor.  λ = 0 is unconditional DDIM (label ∅);
            a network that ignores its label gives plain DDIM for every λ.
        uncond_label: the condition re-noised with and guided away from; default ∅.

    Returns z̄ at ᾱ_N.  Book: "Refinements of CFG" (chapter 4, second part).
    """
    z_bar, alpha_bars, lam = check_sample(z_bar, "z_bar"), check_alpha_bars(alpha_bars), _check_lam(lam)
    u, num_classes = _null_label(eps_net, uncond_label)
    if labels is None:
        raise ValueError("labels are required: the classes c to guide towards, shape (B,)")
    c = check_labels(labels, z_bar.shape[0], num_classes).to(z_bar.device)
    lam_b = per_example(lam, z_bar)
    for i, (alpha_bar_t, alpha_bar_s) in enumerate(zip(alpha_bars[:-1], alpha_bars[1:])):
        t = ((1 - alpha_bar_t) / alpha_bar_t).to(z_bar.dtype)
        eps = check_same_shape(eps_net(torch.cat([z_bar, z_bar]), t, torch.cat([c, torch.full_like(c, u)])),
                               torch.cat([z_bar, z_bar]), "eps_net")
        eps_c, eps_u = eps.chunk(2)
        eps_lam = eps_u + lam_b * (eps_c - eps_u)                                  # guided ε̂_λ
        x0_hat = (z_bar - (1 - alpha_bar_t).sqrt() * eps_lam) / alpha_bar_t.sqrt()    # Tweedie with ε̂_λ
        z_bar = alpha_bar_s.sqrt() * x0_hat + (1 - alpha_bar_s).sqrt() * eps_u        # re-noise with ε̂_∅
        z_bar = finite_step(z_bar, i, t, "z_bar")
    return z_bar


__all__ = ["sample_ddim_cfgpp", "cfgpp_weight"]
