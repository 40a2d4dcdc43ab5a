"""Reverse diffusion as an SDE, with temperature (book: "Diffusion temperature", the reverse SDE).

McAllester's lecture ("Temperature-Adjusted Reverse-Diffusion") writes one
Euler–Maruyama step from t to t − Δt as

    z(t − Δt) = z(t) + (D(z, t) − z(t)) / t · Δt + ε · √(Δt / β),           (form 1)

and, in the rescaled clock t' = t/β (so Δt' = Δt/β), as

    z(t' − Δt') = z(t') + β · s(z, t) · Δt' + ε · √Δt',   t = β t',          (form 2)

with s(z, t) = (D(z, t) − z)/t the score at the *actual* noise level t.  The two
are one process: β·s·Δt' = s·Δt and √Δt' = √(Δt/β).  At β = 1 (T = 1) form 1 is
the exact reverse of z = y + √t·ε (Anderson 1982; Song et al. 2021).
"""
from __future__ import annotations

import torch

from ._checks import check_positive, check_same_shape, check_sample, check_temperature, check_ts, finite_step


def sample_reverse_sde(denoiser, z: torch.Tensor, ts, *, temperature: float = 1.0,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Temperature-adjusted reverse diffusion, form 1 (Euler–Maruyama).

        z ← z + (D(z, t_i) − z) / t_i · Δt + √(T · Δt) · ε,    Δt = t_i − t_{i+1},  T = 1/β.

    Args:
        denoiser: D(z, t) -> E[y | z] with t a 0-dim tensor.
        z: (B, ...) start at noise level t_0, e.g. √t_0 · ε.
        ts: decreasing noise variances t_0 > … > t_N > 0.
        temperature: T ≥ 0 scales the injected noise variance; T = 0 drops it.
        generator: the source of ε.

    Returns z at t_N.  Book: "Diffusion temperature" (form 1), McAllester's lecture.
    """
    z, ts, T = check_sample(z), check_ts(ts), check_temperature(temperature)
    for i, (t, t_next) in enumerate(zip(ts[:-1], ts[1:])):
        dt = t - t_next
        score = (check_same_shape(denoiser(z, t), z, "denoiser") - z) / t       # Tweedie
        eps = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
        z = z + score * dt + (T * dt).sqrt() * eps                               # Euler–Maruyama
        z = finite_step(z, i, t)
    return z


def sample_reverse_sde_rescaled(denoiser, z: torch.Tensor, ts, *, beta: float = 1.0,
                                generator: torch.Generator | None = None) -> torch.Tensor:
    """Temperature-adjusted reverse diffusion, form 2: the clock t' = t/β, drift × β, unit noise.

        z ← z + β · (D(z, t_i) − z) / t_i · Δt' + √Δt' · ε,    t'_i = t_i / β,  Δt' = t'_i − t'_{i+1}.

    ``ts`` is the grid of actual noise variances (as in :func:`sample_reverse_sde`);
    the loop runs over t' = t/β and evaluates the denoiser at t = β t'.  With the
    same ε this is the same path as form 1 at temperature 1/β.  (The lecture
    writes the denoiser as Ê[y | t', z]; read literally — the score at noise
    level t' — it is a different process: see the book's exercise.)

    Book: "Diffusion temperature" (form 2).
    """
    z, ts, beta = check_sample(z), check_ts(ts), check_positive(beta, "beta")
    ts_prime = ts / beta                                                        # t' = t/β
    for i, (t_prime, t_prime_next) in enumerate(zip(ts_prime[:-1], ts_prime[1:])):
        dt_prime = t_prime - t_prime_next
        t = beta * t_prime                                                      # the actual noise level
        score = (check_same_shape(denoiser(z, t), z, "denoiser") - z) / t
        eps = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
        z = z + beta * score * dt_prime + dt_prime.sqrt() * eps
        z = finite_step(z, i, t)
    return z
