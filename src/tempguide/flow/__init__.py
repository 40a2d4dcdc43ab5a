"""Flow matching and its guidance (book: "Flow matching with guidance"; MIT 6.S184 notes, seed 004).

Time convention: τ = 0 noise, τ = 1 data, straight path x_τ = (1 − τ)·x₀ + τ·x₁.
One module per concept:

- ``time``       τ ↔ the course's noise variance t = ((1 − τ)/τ)², z = x_τ/τ
- ``path``       the straight path, the conditional velocity x₁ − x₀, the CFM loss
- ``convert``    velocity ↔ score ↔ denoiser (u = b_τ·x + a_τ·∇ ln p_τ), x̂₁ and x̂₀
- ``samplers``   Euler and Heun loops over a τ grid from 0 to 1
- ``exact``      exact velocities of the ``tempguide.toy`` mixtures
- ``guidance``   CFG on velocities, ũ = (1 − w)·u(x | ∅) + w·u(x | c)

This package must not import ``tempguide.models`` at import time (the models import
``flow.time``).
"""
from . import exact
from .convert import (denoiser_from_velocity, gaussian_path_coefficients, score_from_velocity,
                      straight_path_coefficients, velocity_from_denoiser, velocity_from_score, x0_from_velocity,
                      x1_from_velocity)
from .guidance import cfg_velocities, cfg_velocity_net
from .path import conditional_velocity, fm_loss, straight_path
from .samplers import sample_euler, sample_heun, tau_grid
from .time import TAU_MIN, t_from_tau, tau_from_t

__all__ = [
    "TAU_MIN", "t_from_tau", "tau_from_t", "exact", "straight_path", "conditional_velocity", "fm_loss",
    "gaussian_path_coefficients", "straight_path_coefficients", "velocity_from_score", "score_from_velocity",
    "velocity_from_denoiser", "denoiser_from_velocity", "x1_from_velocity", "x0_from_velocity",
    "sample_euler", "sample_heun", "tau_grid", "cfg_velocities", "cfg_velocity_net",
]
