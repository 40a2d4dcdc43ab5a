"""SR3: super-resolution by a conditional diffusion model (book: "Conditional diffusion in practice", SR3).

Saharia, Ho et al. 2021 ("Image Super-Resolution via Iterative Refinement", §2)
train an ε-network on pairs (x, y) with x = down(y) the low-resolution image:

    L = E ‖ε̂(x_t, t, c; cond = up(x̃), s) − ε‖²,   x_t = √ᾱ·y + √(1−ᾱ)·ε  (= z/√(1+t), z = y + √t·ε),

which is E[(1/t)·‖D̂ − y‖²] for the denoiser D̂ the ε̂ implies.  We train D̂ directly
(``SRUNet.denoise``, the residual over the conditioning image) with the *min-SNR*
weight min(1/t, γ), γ = 5 (Hang et al. 2023, "Efficient Diffusion Training via
Min-SNR Weighting Strategy"): the ε-loss's weight 1/t, capped at small t, where it
would spend the small network's capacity on noise the eye cannot see.  SR3 then
samples y from p(y | x) by DDPM's ancestral sampler with the conditioning
held fixed.  Noise-conditioning augmentation (Ho, Saharia et al. 2021,
"Cascaded Diffusion Models", §4.1): during training the low-resolution input is
itself noised to a random level s,

    x̃ = (x + √s·ε′)/√(1+s)          (the book's variable: x̃ is x at noise variance s),

and the network is told s; at sampling a fixed s is used, so the model does not
trust every pixel of a generated low-resolution image.  ``augment=False`` trains
with s = 0 (the ablation).

The regression baseline (Saharia et al., Table 1's "Regression"): the same
network trained with MSE to output y in one call, ŷ = net.denoise(0, t_reg, c; cond = up(x)).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..diffusion._checks import check_finite
from ..diffusion.ddpm import sample_ddpm
from ..diffusion.schedules import ddpm_alpha_bars, ddpm_ts
from ..train.recipes import noisy, sample_noise_levels
from .resample import down, up

S_LEVELS = 250  # training draws s from the first 250 DDPM levels: s ∈ [1e-4, 0.90]
S_SAMPLE = 0.05  # the fixed s at sampling (a choice of ours; the cascade benchmark also shows others)
T_REG = float(ddpm_ts()[-1])  # the noise level the regression network is told (its x input is 0)
GAMMA = 5.0  # min-SNR cap of the loss weight 1/t


def augment_condition(x: torch.Tensor, s: torch.Tensor | float, generator: torch.Generator | None = None):
    """x̃ = (x + √s·ε′)/√(1+s): the low-resolution input noised to variance s (s ≥ 0, scalar or (B,))."""
    s = torch.as_tensor(s, dtype=x.dtype, device=x.device)
    if bool((s < 0).any()) or not bool(torch.isfinite(s).all()):
        raise ValueError(f"s (augmentation noise variance) must be finite and >= 0, got {s}")
    s = s.view(-1, *[1] * (x.dim() - 1)) if s.dim() else s
    eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return (x + s.sqrt() * eps) / (1 + s).sqrt()


def sample_s(n: int, generator: torch.Generator) -> torch.Tensor:
    """n augmentation levels s: DDPM's noise-level distribution restricted to its first ``S_LEVELS`` levels."""
    return sample_noise_levels(n, generator, ts=ddpm_ts()[:S_LEVELS])


def sr3_loss(net, y: torch.Tensor, labels, generator: torch.Generator, *, augment: bool = True,
             p_uncond: float = 0.0) -> torch.Tensor:
    """min(1/t, γ)·‖D̂(x_t, t, c; up(x̃), s) − y‖² on digits y (B, 1, 28, 28); x̃ = down(y) (side low_res), noised."""
    B = len(y)
    x_low = down(y, 28 // net.config.low_res)
    s = sample_s(B, generator) if augment else torch.zeros(B, device=y.device)
    cond = up(augment_condition(x_low, s, generator) if augment else x_low)
    t = sample_noise_levels(B, generator)
    x_t, _ = noisy(y, t, generator)
    if labels is not None and p_uncond > 0:
        drop = torch.rand(B, generator=generator, device=y.device) < p_uncond
        labels = torch.where(drop, torch.full_like(labels, net.config.num_classes), labels)
    weight = (1 / t).clamp(max=GAMMA).view(-1, 1, 1, 1)  # min-SNR: SNR = ᾱ/(1 − ᾱ) = 1/t
    return (weight * (net.denoise(x_t, t, labels, cond=cond, s=s) - y).pow(2)).mean()


def regress(net, x_low: torch.Tensor, labels=None) -> torch.Tensor:
    """The regression network's answer ŷ (B, 1, 28, 28) for low-resolution inputs (B, 1, 14 or 7, ·): one call."""
    cond = up(x_low)
    return net.denoise(torch.zeros_like(cond), T_REG, labels, cond=cond, s=0.0)


def regression_loss(net, y: torch.Tensor, labels, generator: torch.Generator | None = None) -> torch.Tensor:
    """‖ŷ(down(y)) − y‖²: the MSE regression baseline (its optimum is E[y | x], the blurred average)."""
    return F.mse_loss(regress(net, down(y, 28 // net.config.low_res), labels), y)


def sr_eps(net, cond: torch.Tensor, s: float):
    """The ε-function (z̄, t, labels) ↦ net(z̄, t, labels; cond, s) that the DDPM sampler calls, cond held fixed."""
    def eps_fn(z_bar, t, labels=None):
        return net(z_bar, t, labels, cond=cond, s=s)
    return eps_fn


@torch.no_grad()
def sample_sr3(net, x_low: torch.Tensor, *, labels=None, s: float = S_SAMPLE, n_steps: int = 50,
               generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
    """One 28×28 sample per low-resolution input x_low (B, 1, 14 or 7, ·) (SR3, Saharia et al. Algorithm 2).

    The conditioning is x_low noised once to level s (``augment_condition``; s = 0 leaves it
    exact) and upsampled; DDPM's ancestral sampler (``sample_ddpm``) runs on ``n_steps`` levels
    strided through the 1000 training levels, from x_T ~ N(0, I) to ᾱ = 1.
    """
    if not (isinstance(n_steps, int) and 1 <= n_steps <= 1000):
        raise ValueError(f"n_steps must be an int in [1, 1000], got {n_steps!r}")
    if not (math.isfinite(float(s)) and float(s) >= 0):
        raise ValueError(f"s must be a finite number >= 0 (augmentation noise variance), got {s}")
    x_low = check_finite(x_low, "x_low")
    x_low_s = augment_condition(x_low, s, generator) if s > 0 else x_low
    cond = up(x_low_s)
    idx = torch.linspace(999, 0, n_steps).round().long()
    alpha_bars = torch.cat([ddpm_alpha_bars()[idx], torch.ones(1, dtype=torch.float64)]).to(cond.device)
    x = torch.randn(cond.shape, generator=generator, dtype=cond.dtype, device=cond.device)  # x_T ~ N(0, I)
    return sample_ddpm(sr_eps(net, cond, s), x, alpha_bars, labels=labels, temperature=temperature,
                       generator=generator)
