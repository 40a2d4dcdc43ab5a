"""Recipes of the models of chapter 4's second part (book: "Guidance for flow matching",
"Continuous conditions", "Refinements of CFG").  Contract as ``tempguide.train.recipes``.

- ``mnist_fm``: class-conditional flow matching (Lipman et al. 2023) in the MIT
  6.S184 convention, straight path x_τ = (1 − τ)·x₀ + τ·x₁, loss
  ‖u_θ(x_τ, τ, c) − (x₁ − x₀)‖², τ ~ U[0, 1], label dropout ``P_UNCOND`` -> null label 10.
- ``mnist_cond_weak``: the autoguidance guide (Karras et al. 2024): ``mnist_cond``'s
  recipe with a smaller UNet trained for fewer steps, same labels and dropout.
- ``mnist_ink_zeronull`` and ``mnist_ink_nullflag``: ε-networks conditioned on the
  standardised ink E of the digit (``tempguide.attributes.ink``), with dropout
  ``P_UNCOND`` to the unconditional query: E := 0 (seed 001) or a separate null
  embedding (``AttributeUNet``).
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from .. import attributes, config
from ..data import load_mnist
from ..flow.path import fm_loss
from ..models import UNetConfig
from ..models.attribute_unet import AttributeUNet, AttributeUNetConfig
from ..models.flow_unet import FlowUNet
from .loop import random_batches, train
from .recipes import (COND_CONFIG, DIFFUSION_STEPS, MNIST_DATA, P_UNCOND, Trained, _build, _diffusion, _trained,
                      noisy, sample_noise_levels)


# ---------------------------------------------------------------- flow matching
FM_CONFIG = COND_CONFIG  # the same UNet, as a velocity network


def mnist_fm(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """Class-conditional velocity network (module docstring), same data, size and optimiser as ``mnist_cond``."""
    steps, batch_size, lr = steps or DIFFUSION_STEPS, 64, 2e-3
    device = device or config.device()
    images, labels = load_mnist("train", source="subset", verbose=False)
    model = _build(FlowUNet, FM_CONFIG, seed)
    loss = lambda m, b, g: fm_loss(m, b[0], b[1], g, p_uncond=P_UNCOND)  # noqa: E731
    ema, result = train(model, loss, random_batches(images, labels, batch_size=batch_size, device=device),
                        steps=steps, lr=lr, seed=seed, device=device, progress=progress)
    data = MNIST_DATA + f", labels dropped to the null label with p={P_UNCOND}; straight path, τ ~ U[0, 1]"
    return _trained(ema, FM_CONFIG, data, result, {}, batch_size, lr)


# ---------------------------------------------------------------- autoguidance's weak model
WEAK_CONFIG = UNetConfig(channels=(16, 24, 32), emb_dim=64, num_classes=10)
WEAK_STEPS = 750


def mnist_cond_weak(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """``mnist_cond`` made worse the way Karras et al. (2024) prescribe: ~4× fewer parameters, 30% of the steps."""
    return _diffusion(WEAK_CONFIG, P_UNCOND, steps=steps or WEAK_STEPS, seed=seed, device=device,
                      progress=progress)


# ---------------------------------------------------------------- a continuous condition: ink
@functools.cache
def ink_statistics() -> tuple[float, float]:
    """Mean and standard deviation (N − 1) of the ink of the 4,000 training digits."""
    images, _ = load_mnist("train", source="subset", verbose=False)
    a = attributes.ink(images)
    return a.mean().item(), a.std().item()


def ink_config(null_flag: bool) -> AttributeUNetConfig:
    """The ink models' config: E = (ink − mean)/std with the training digits' statistics."""
    mean, std = ink_statistics()
    return AttributeUNetConfig(null_flag=null_flag, attribute="ink", attribute_mean=mean, attribute_std=std)


INK_STEPS = 1500  # fewer than mnist_cond's 2,500: the experiment needs the attribute followed, not the best FID


def _ink_model(null_flag: bool, *, steps, seed, device, progress) -> Trained:
    steps, batch_size, lr = steps or INK_STEPS, 64, 2e-3
    device = device or config.device()
    images, labels = load_mnist("train", source="subset", verbose=False)
    model_config = ink_config(null_flag)
    mean, std = model_config.attribute_mean, model_config.attribute_std
    model = _build(AttributeUNet, model_config, seed)
    E_all = attributes.standardise(attributes.ink(images), mean, std)

    def loss(m, batch, g):
        y, E = batch
        t = sample_noise_levels(len(y), g)
        x, eps = noisy(y, t, g)
        drop = torch.rand(len(y), generator=g, device=y.device) < P_UNCOND
        return F.mse_loss(m(x, t, torch.where(drop, float("nan"), E)), eps)  # NaN: the unconditional query

    ema, result = train(model, loss, random_batches(images, E_all, batch_size=batch_size, device=device),
                        steps=steps, lr=lr, seed=seed, device=device, progress=progress)
    null = "a separate null embedding" if null_flag else "E = 0 (seed 001)"
    data = (MNIST_DATA + f"; condition E = standardised ink (mean {mean:.4f}, std {std:.4f}); "
            f"dropped with p={P_UNCOND} to the unconditional query, {null}")
    return _trained(ema, model_config, data, result, {}, batch_size, lr)


def mnist_ink_zeronull(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """ε-network on (x, t, E = standardised ink); the unconditional query is E = 0, as in seed 001."""
    return _ink_model(False, steps=steps, seed=seed, device=device, progress=progress)


def mnist_ink_nullflag(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """The same with a separate learnt null embedding, so E = 0 keeps meaning "average ink"."""
    return _ink_model(True, steps=steps, seed=seed, device=device, progress=progress)


RECIPES = {
    "mnist_fm": mnist_fm,
    "mnist_cond_weak": mnist_cond_weak,
    "mnist_ink_zeronull": mnist_ink_zeronull,
    "mnist_ink_nullflag": mnist_ink_nullflag,
}
CONFIGS = {
    "mnist_fm": FM_CONFIG,
    "mnist_cond_weak": WEAK_CONFIG,
    "mnist_ink_zeronull": ink_config(False),
    "mnist_ink_nullflag": ink_config(True),
}
