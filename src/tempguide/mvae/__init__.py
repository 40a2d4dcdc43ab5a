"""The Markovian-VAE generalization (book chapter 5; McAllester's lecture, "A More General Formulation").

A deterministic encoder y → z₁ → … → z_N = ∅ and Gaussian decoders ẑ_{i−1}(z_i, x) + σ_i·ε.

- ``objective``        −ln ∏ P_gen as squared errors; unit variance vs σ_i² fitted by maximum likelihood
- ``generate``         the seed's three modes (unadjusted, temperature-, guidance-adjusted) and CFG, one loop each
- ``linear_gaussian``  the exact instance: Gaussian data, averaging encoders, closed-form decoders and laws
- ``lm``               the language-model instance: prefix encoder, next-token decoder, guidance on logits
- ``pyramid``, ``pyramid_blur``, ``cold``  the MNIST image pyramid, why its Gaussian decoders blur, and cold
  diffusion with its pooling as the degradation (book: "The image pyramid")
"""
from .generate import generate_cfg, generate_guided, generate_tempered, generate_unadjusted
from .objective import fit_sigmas, gaussian_nll, residuals, squared_error

__all__ = [
    "fit_sigmas", "gaussian_nll", "generate_cfg", "generate_guided", "generate_tempered", "generate_unadjusted",
    "residuals", "squared_error",
]
