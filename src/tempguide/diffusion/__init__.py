"""Diffusion: schedules, samplers and temperature (chapter 2).

One noise variable, the variance t of z = y + √t·ε; samplers see a denoiser
D(z, t) = E[y | z] (DDPM/DDIM see an ε-network on an ᾱ schedule).  Each sampler
is one loop in its own module:

- ``reverse_sde``  temperature-adjusted reverse SDE, both forms of the lecture
- ``ode``          probability-flow ODE, Euler and Heun
- ``ddpm``         DDPM ancestral sampling and DDIM (ε-networks, ᾱ schedule)
- ``langevin``     annealed Langevin dynamics (NCSN)
- ``adapters``     ε-network ↔ denoiser ↔ score
- ``temperature``  score scaling, scaled start, P^β on a grid, mode statistics
- ``gaussian``     closed forms of every sampler on one Gaussian
- ``schedules``    t ↔ σ ↔ ᾱ, DDPM's schedule, geometric and Karras grids
- ``score_matching``  the training objectives (implicit, sliced, denoising, DDPM)

Errors (every sampler of the library, flow and guidance included): a bad argument
(a non-finite start or time grid) is a ``ValueError`` naming it; a state that
becomes NaN or ±inf during the loop is a ``FloatingPointError`` with the step
index and the noise level (``_checks.finite_step``), never a silent NaN result.
"""
from .adapters import denoiser_from_eps, denoiser_from_score, eps_from_denoiser, score_from_denoiser
from .ddpm import sample_ddim, sample_ddpm
from .gaussian import final_variances, linear_reverse_moments
from .langevin import sample_annealed_langevin
from .ode import sample_ode_euler, sample_ode_heun
from .reverse_sde import sample_reverse_sde, sample_reverse_sde_rescaled
from .score_matching import (ddpm_loss, denoising_score_matching_loss, implicit_score_matching_loss,
                             sliced_score_matching_loss)
from .schedules import (alpha_bar_from_t, ddpm_alpha_bars, ddpm_ts, geometric_ts, karras_ts, sigma_from_t,
                        t_from_alpha_bar, t_from_sigma)
from .temperature import (ModeStats, mode_statistics, ode_scaled_start_1d, sample_prior, scale_eps, scale_score,
                          tempered_mixture_approx, tempered_probabilities)

__all__ = [
    "denoiser_from_eps", "denoiser_from_score", "eps_from_denoiser", "score_from_denoiser",
    "sample_ddim", "sample_ddpm", "final_variances", "linear_reverse_moments", "sample_annealed_langevin",
    "sample_ode_euler", "sample_ode_heun", "sample_reverse_sde", "sample_reverse_sde_rescaled",
    "alpha_bar_from_t", "ddpm_alpha_bars", "ddpm_ts", "geometric_ts", "karras_ts", "sigma_from_t",
    "t_from_alpha_bar", "t_from_sigma", "ModeStats", "mode_statistics", "sample_prior", "scale_eps",
    "scale_score", "ode_scaled_start_1d", "tempered_mixture_approx", "tempered_probabilities", "ddpm_loss",
    "denoising_score_matching_loss", "implicit_score_matching_loss", "sliced_score_matching_loss",
]
