"""Annealed Langevin dynamics, the NCSN sampler (book: "Diffusion background", NCSN).

Song & Ermon (2019, Algorithm 1), with noise levels written as variances
t_l = σ_l² (t_1 > … > t_L) and the step size α_l = ε · t_l / t_L:

    for l = 1 … L:   repeat n_steps times:   z ← z + (α_l / 2) · ∇ ln p_{t_l}(z) + √(T · α_l) · ε

At T = 1 each inner loop is Langevin dynamics for p_{t_l}; at temperature T its
stationary law is p_{t_l}^{1/T} (normalised), so with many steps at a small t_L
this sampler targets P^β itself — unlike the reverse SDE (book: "Diffusion temperature").
"""
from __future__ import annotations

import torch

from ._checks import check_positive, check_same_shape, check_sample, check_temperature, check_ts, finite_step


def sample_annealed_langevin(denoiser, z: torch.Tensor, ts, *, n_steps: int = 100,
                             step_size: float = 2e-5, temperature: float = 1.0,
                             generator: torch.Generator | None = None) -> torch.Tensor:
    """Annealed Langevin dynamics over the levels ``ts`` (Song & Ermon 2019, Algorithm 1).

        α_l = step_size · t_l / t_L;   n_steps times:   z ← z + (α_l/2) · (D(z, t_l) − z)/t_l + √(T α_l) · ε

    Args:
        denoiser: D(z, t) -> E[y | z]; its score is (D − z)/t by Tweedie.
        z: (B, ...) start, e.g. √t_1 · ε.
        ts: decreasing noise variances t_1 > … > t_L > 0 (NCSN: geometric).
        n_steps: Langevin steps per level (Song & Ermon: 100).
        step_size: ε of the paper, the step at the smallest level (Song & Ermon: 2e-5 for σ_L = 0.01).
        temperature: T scales the injected noise variance.

    Returns z after the last level.  Book: "Diffusion background" (NCSN).
    """
    z, ts, T = check_sample(z), check_ts(ts, min_len=1), check_temperature(temperature)
    step_size = check_positive(step_size, "step_size")
    if not (isinstance(n_steps, int) and n_steps >= 1):
        raise ValueError(f"n_steps must be an int >= 1, got {n_steps!r}")
    t_L = ts[-1]
    for l, t in enumerate(ts):
        alpha = step_size * t / t_L                                             # α_l ∝ σ_l²
        for _ in range(n_steps):
            score = (check_same_shape(denoiser(z, t), z, "denoiser") - z) / t   # Tweedie
            eps = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
            z = z + alpha / 2 * score + (T * alpha).sqrt() * eps                # Langevin step
        z = finite_step(z, l, t)                                                # once per level l
    return z
