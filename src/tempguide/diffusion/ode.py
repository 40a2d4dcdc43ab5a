"""The probability-flow ODE (book: "Diffusion background", deterministic sampling).

For z = y + √t·ε the marginals p_t are also transported by the ODE

    dz/dt = −½ ∇ ln p_t(z) = (z − D(z, t)) / (2t)                       (Song et al. 2021, Eq. 13)

run from t_0 down to t_N.  No noise is injected: the only randomness is the
start.  We integrate in the book's variable t (Karras et al. 2022 integrate the
same ODE in σ = √t; Euler in σ is DDIM).
"""
from __future__ import annotations

import torch

from ._checks import check_same_shape, check_sample, check_ts, finite_step


def sample_ode_euler(denoiser, z: torch.Tensor, ts) -> torch.Tensor:
    """Euler steps of the probability-flow ODE from t_0 to t_N.

        d = (z − D(z, t_i)) / (2 t_i),    z ← z + (t_{i+1} − t_i) · d.

    Book: "Diffusion background" (probability-flow ODE).
    """
    z, ts = check_sample(z), check_ts(ts)
    for i, (t, t_next) in enumerate(zip(ts[:-1], ts[1:])):
        d = (z - check_same_shape(denoiser(z, t), z, "denoiser")) / (2 * t)    # dz/dt, Eq. (13)
        z = z + (t_next - t) * d                                                # Euler step
        z = finite_step(z, i, t)
    return z


def sample_ode_heun(denoiser, z: torch.Tensor, ts) -> torch.Tensor:
    """Heun's second-order steps of the probability-flow ODE (Karras et al. 2022, Algorithm 1, in t).

        d  = (z − D(z, t_i)) / (2 t_i),          ẑ = z + (t_{i+1} − t_i) · d          (Euler predictor)
        d' = (ẑ − D(ẑ, t_{i+1})) / (2 t_{i+1}),  z ← z + (t_{i+1} − t_i) · (d + d')/2  (trapezoid corrector)

    Two denoiser calls per step.  Book: "Diffusion background" (probability-flow ODE).
    """
    z, ts = check_sample(z), check_ts(ts)
    for i, (t, t_next) in enumerate(zip(ts[:-1], ts[1:])):
        d = (z - check_same_shape(denoiser(z, t), z, "denoiser")) / (2 * t)    # slope at t_i
        z_hat = z + (t_next - t) * d                                            # Euler predictor
        d_next = (z_hat - denoiser(z_hat, t_next)) / (2 * t_next)              # slope at t_{i+1}
        z = z + (t_next - t) * (d + d_next) / 2                                 # trapezoid corrector
        z = finite_step(z, i, t)
    return z
