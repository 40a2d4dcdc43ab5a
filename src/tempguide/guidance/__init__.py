"""Guidance: wrappers that turn a denoiser (or ε-network) into a guided one (chapters 3 and 4).

Every wrapper is callable → callable, so the samplers of ``tempguide.diffusion``
run guided unchanged.  Weights as on the notation page: classifier guidance has
strength γ (γ = 0 unguided, γ = 1 exact Bayes), classifier-free guidance weight w
(w = 1 no guidance).

- ``classifier``  classifier guidance D + γ·t·∇ ln p_t(c | z), its x̂₀ variant, classifier adapters
- ``ddpm``        the seed's two DDPM algorithms: mean shift (Alg. 1) and ε-correction (Alg. 2)
- ``cfg``         the CFG combination and the one-call batched CFG ε-network
- ``gaussian_pair``  CFG on two Gaussians in closed form: the target, the exact laws of the CFG ODE/SDE
- ``refinements`` rescaled CFG, APG (with momentum), CFG-Zero*, and one-call wrappers applying any rule to ε or D
- ``interval``    the guidance interval, in the noise variance t
- ``cfgpp``       the CFG++ DDIM loop (re-noising with the unconditional ε̂)
- ``guided_marginals``  what guidance follows at each t: q_t ∝ p_t·p_t(c | z)^γ, its normaliser Z_t, the exact noisy classifier of a toy
- ``tilted``      the intended target p(y)·p(c | y)^γ (= p(y | c)^w p(y)^{1−w} at γ = w), on a grid
- ``autoguidance``  D_weak + w·(D − D_weak): guiding a model with a weaker version of itself (Karras et al. 2024)
- ``attribute``   CFG on a continuous condition E, NaN = the unconditional query (seed 001's energy)
- ``attribute_exact``  the seed's "E = 0 is the null" on a jointly Gaussian toy, in closed form
- ``refinement_laws``  every refinement plugged into a toy's exact denoisers, and the law of its samples

Guidance never uses the evaluation classifier behind ``tempguide.metrics``: it is the judge.
"""
from . import attribute_exact, gaussian_pair, refinement_laws
from .attribute import attribute_cfg_eps
from .autoguidance import autoguidance, autoguided_eps
from .cfg import cfg, cfg_denoiser, cfg_denoisers, cfg_eps
from .cfgpp import cfgpp_weight, sample_ddim_cfgpp
from .classifier import (classifier_gradient, classifier_guided, classifier_guided_x0, clean_log_prob,
                         noise_aware_log_prob)
from .ddpm import eps_classifier_guided, sample_ddpm_mean_shift
from .gaussian_pair import GaussianPair, cfg_law
from .guided_marginals import guided_log_density, guided_normaliser, log_class_posterior, noise_on_grid_1d
from .interval import cfg_interval_denoiser, cfg_interval_denoisers, cfg_interval_eps, interval_weight
from .refinements import APGMomentum, apg, cfg_zero_star, combined_denoiser, combined_eps, rescale, zero_star_scale
from .tilted import tilted_log_density, tilted_probabilities

__all__ = [
    "cfg", "cfg_denoiser", "cfg_denoisers", "cfg_eps",
    "classifier_gradient", "classifier_guided", "classifier_guided_x0", "clean_log_prob", "noise_aware_log_prob",
    "GaussianPair", "cfg_law", "eps_classifier_guided", "sample_ddpm_mean_shift", "tilted_log_density", "tilted_probabilities",
    "cfgpp_weight", "sample_ddim_cfgpp", "cfg_interval_denoiser", "cfg_interval_denoisers", "cfg_interval_eps",
    "interval_weight", "APGMomentum", "apg", "cfg_zero_star", "combined_denoiser", "combined_eps", "rescale",
    "zero_star_scale", "autoguidance", "autoguided_eps", "attribute_cfg_eps", "guided_log_density", "guided_normaliser", "log_class_posterior", "noise_on_grid_1d",
]
