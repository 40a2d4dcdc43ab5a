"""DDPM ancestral sampling and DDIM for ε-networks on an ᾱ schedule (book: "Diffusion background", DDPM).

Symbols (Ho et al. 2020; Song, Meng & Ermon 2021), for one step from the
noisier level ᾱ_t to the next level ᾱ_s (ᾱ_s > ᾱ_t; ᾱ = 1 is clean data):

    α_t = ᾱ_t / ᾱ_s,   beta_t = 1 − α_t      (DDPM's schedule β_t — not the inverse temperature)
    ŷ = (z̄ − √(1 − ᾱ_t) ε̂) / √ᾱ_t                                             (Ho et al., Eq. 15)

z̄ = √ᾱ·z = z/√(1+t) is the DDPM-scaled point (the papers' x_t, their x̂_0 is our ŷ; ``z_bar``
in code, ``x`` before, still accepted with a DeprecationWarning).  The network is called as
``eps_net(z_bar, t, labels)`` with t = (1 − ᾱ)/ᾱ, the course's noise variance (book: "Notation").
In the course's variable z = z̄/√ᾱ the DDPM step is  z_s = z_t + (D − z_t)(t − s)/t + √(s(t − s)/t)·ε:
the reverse-SDE step with a smaller noise variance (see the book).
"""
from __future__ import annotations

import torch

from .._renamed import renamed_argument
from ._checks import check_alpha_bars, check_same_shape, check_sample, check_temperature, finite_step


@renamed_argument("x", "z_bar")
def sample_ddpm(eps_net, z_bar: torch.Tensor, alpha_bars, *, labels: torch.Tensor | None = None,
                temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """DDPM ancestral sampling (Ho et al. 2020, Algorithm 2, on any sub-sequence of levels).

        ŷ   = (z̄ − √(1 − ᾱ_t) ε̂(z̄, t)) / √ᾱ_t
        μ   = √ᾱ_s · beta_t / (1 − ᾱ_t) · ŷ + √α_t · (1 − ᾱ_s) / (1 − ᾱ_t) · z̄       (Eq. 7)
        z̄  ← μ + √(T · β̃_t) · ε,    β̃_t = (1 − ᾱ_s) / (1 − ᾱ_t) · beta_t               (no noise when ᾱ_s = 1)

    Args:
        eps_net: ``eps_net(z_bar, t, labels) -> ε̂``.
        z_bar: (B, ...) start at level ᾱ_0, e.g. pure noise ε.
        alpha_bars: strictly increasing ᾱ_0 < … < ᾱ_N ≤ 1, noisiest first; end with 1 to return clean samples.
        labels: passed to the network unchanged.
        temperature: T scales the injected noise variance (Dhariwal & Nichol's "noise × τ" with τ = √T).
        generator: the source of ε (one draw per step with ᾱ_s < 1, as in ``diffusers``).

    Returns z_bar at ᾱ_N.  Book: "Diffusion background" (DDPM), "Diffusion temperature".
    """
    z_bar, alpha_bars, T = check_sample(z_bar, "z_bar"), check_alpha_bars(alpha_bars), check_temperature(temperature)
    for i, (alpha_bar_t, alpha_bar_s) in enumerate(zip(alpha_bars[:-1], alpha_bars[1:])):
        t = (1 - alpha_bar_t) / alpha_bar_t                                      # noise variance of z̄
        eps_hat = check_same_shape(eps_net(z_bar, t.to(z_bar.dtype), labels), z_bar, "eps_net")
        y_hat = (z_bar - (1 - alpha_bar_t).sqrt() * eps_hat) / alpha_bar_t.sqrt()    # Eq. (15)
        alpha_t = alpha_bar_t / alpha_bar_s
        beta_t = 1 - alpha_t
        z_bar = (alpha_bar_s.sqrt() * beta_t / (1 - alpha_bar_t) * y_hat
                 + alpha_t.sqrt() * (1 - alpha_bar_s) / (1 - alpha_bar_t) * z_bar)    # posterior mean, Eq. (7)
        if alpha_bar_s < 1:
            beta_tilde = (1 - alpha_bar_s) / (1 - alpha_bar_t) * beta_t          # posterior variance
            eps = torch.randn(z_bar.shape, generator=generator, dtype=z_bar.dtype, device=z_bar.device)
            z_bar = z_bar + (T * beta_tilde).sqrt() * eps
        z_bar = finite_step(z_bar, i, t, "z_bar")
    return z_bar


@renamed_argument("x", "z_bar")
def sample_ddim(eps_net, z_bar: torch.Tensor, alpha_bars, *, labels: torch.Tensor | None = None,
                eta: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """DDIM (Song, Meng & Ermon 2021, Eq. 12); deterministic at η = 0.

        ŷ   = (z̄ − √(1 − ᾱ_t) ε̂(z̄, t)) / √ᾱ_t
        σ_t = η · √((1 − ᾱ_s)/(1 − ᾱ_t) · (1 − ᾱ_t/ᾱ_s))
        z̄  ← √ᾱ_s · ŷ + √(1 − ᾱ_s − σ_t²) · ε̂ + σ_t · ε

    At η = 0 this is Euler's method for the probability-flow ODE in σ = √t.  With
    η > 0 one ε is drawn every step (as in ``diffusers``).  Arguments as in
    :func:`sample_ddpm`; ``eta`` in [0, 1].  Book: "Diffusion background" (DDIM).
    """
    z_bar, alpha_bars = check_sample(z_bar, "z_bar"), check_alpha_bars(alpha_bars)
    if not 0.0 <= float(eta) <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    for i, (alpha_bar_t, alpha_bar_s) in enumerate(zip(alpha_bars[:-1], alpha_bars[1:])):
        t = (1 - alpha_bar_t) / alpha_bar_t
        eps_hat = check_same_shape(eps_net(z_bar, t.to(z_bar.dtype), labels), z_bar, "eps_net")
        y_hat = (z_bar - (1 - alpha_bar_t).sqrt() * eps_hat) / alpha_bar_t.sqrt()    # predicted clean sample
        sigma_t = eta * ((1 - alpha_bar_s) / (1 - alpha_bar_t) * (1 - alpha_bar_t / alpha_bar_s)).sqrt()
        z_bar = alpha_bar_s.sqrt() * y_hat + (1 - alpha_bar_s - sigma_t**2).sqrt() * eps_hat   # Eq. (12)
        if eta > 0:
            eps = torch.randn(z_bar.shape, generator=generator, dtype=z_bar.dtype, device=z_bar.device)
            z_bar = z_bar + sigma_t * eps
        z_bar = finite_step(z_bar, i, t, "z_bar")
    return z_bar
