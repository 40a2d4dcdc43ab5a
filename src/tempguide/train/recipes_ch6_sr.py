"""Recipes of the cascade's models (book: "Conditional diffusion in practice", SR3 and cascaded diffusion).

Same contract as ``tempguide.train.recipes``: ``recipe(*, steps=None, seed=0,
device=None, progress=True) -> Trained``; ``python -m tempguide.train NAME`` runs them.

- ``mnist_sr3``: SR3's ε-network ``SRUNet`` for 14×14 → 28×28, class-conditional
  (label dropout ``P_UNCOND_SR`` to the null label), trained with noise-conditioning
  augmentation (``cascade.sr3.sr3_loss``, s from the first 250 DDPM levels).
- ``mnist_sr3_noaug``: the same network and run with s = 0 always (the ablation).
- ``mnist_sr_regression``: the same network trained with MSE to output y in one call
  (``cascade.sr3.regression_loss``), Saharia et al.'s regression baseline.
- ``mnist_sr3_x4``, ``mnist_sr_regression_x4``: the same pair for 7×7 → 28×28
  (4×4 means; SR3 without augmentation, as Saharia et al. train it), where p(y | x)
  is far from a point mass and the regression's average is visibly blurred.
- ``mnist_base14``: the cascade's base model, ``UNet14``, a class-conditional
  ε-network on 14×14 digits (down(y), 2×2 means), label dropout 0.15 (CFG).

Metrics (cheap, no sampling): the test split's training loss at fixed noise
(diffusion models) or its MSE, PSNR and consistency (regression).  Sample quality is
measured by benchmarks/bench_sr3.py and benchmarks/bench_cascade.py.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import config
from ..cascade.resample import consistency, down
from ..cascade.sr3 import regress, regression_loss, sr3_loss
from ..data import load_mnist
from ..models.sr_unet import SRUNet, SRUNetConfig, UNet14, UNet14Config
from .loop import random_batches, train
from .recipes import MNIST_DATA, P_UNCOND, Trained, _build, _trained, eps_loss

SR_CONFIG = SRUNetConfig(channels=(16, 24, 32), num_classes=10)
SR_CONFIG_X4 = SRUNetConfig(channels=(16, 24, 32), num_classes=10, low_res=7)
BASE_CONFIG = UNet14Config(channels=(32, 48, 64), num_classes=10)
P_UNCOND_SR = 0.1
SR_STEPS, SR_STEPS_X4, BASE_STEPS, BATCH, LR = 1500, 1500, 1200, 32, 2e-3


def _fit(model_cls, model_config, loss, *, steps, seed, device, progress, images_fn=lambda y: y):
    device = device or config.device()
    images, labels = load_mnist("train", source="subset", verbose=False)
    model = _build(model_cls, model_config, seed)
    batches = random_batches(images_fn(images), labels, batch_size=BATCH, device=device)
    return train(model, loss, batches, steps=steps, lr=LR, seed=seed, device=device, progress=progress)


@torch.no_grad()
def _test_loss(net, images, labels, *, seed: int = 1234) -> float:
    """The training loss on the test split (noise levels and ε from ``seed``; SR: s = 0, exact conditioning)."""
    g = torch.Generator(device=images.device).manual_seed(seed)
    if isinstance(net, SRUNet):
        return sr3_loss(net, images, labels, g, augment=False).item()
    return eps_loss(net, images, labels, g).item()


def _test_split(device):
    x, c = load_mnist("test", source="subset", verbose=False)
    return x.to(device), c.to(device)


def _pairs(model_config) -> str:
    f = 28 // model_config.low_res
    return (MNIST_DATA + f": pairs (down(y), y), down = {f}×{f} means to {model_config.low_res}×"
            f"{model_config.low_res}, conditioning = bicubic up(down(y))")


def _sr3(model_config, augment: bool, *, steps, seed, device, progress) -> Trained:
    steps = steps or SR_STEPS
    loss = lambda m, b, g: sr3_loss(m, b[0], b[1], g, augment=augment, p_uncond=P_UNCOND_SR)  # noqa: E731
    ema, result = _fit(SRUNet, model_config, loss, steps=steps, seed=seed, device=device, progress=progress)
    y, c = _test_split(next(ema.parameters()).device)
    data = (_pairs(model_config) + (", noised to s drawn from the first 250 DDPM levels" if augment
                                    else ", never noised (s = 0)")
            + f"; min-SNR-weighted denoiser loss (γ = 5); labels dropped to the null label with p={P_UNCOND_SR}")
    return _trained(ema, model_config, data, result, {"test_loss": _test_loss(ema, y, c)}, BATCH, LR)


def mnist_sr3(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """SR3 with noise-conditioning augmentation (module docstring)."""
    return _sr3(SR_CONFIG, True, steps=steps, seed=seed, device=device, progress=progress)


def mnist_sr3_noaug(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """SR3 without augmentation, s = 0 always (the ablation of Ho et al. 2021, §4.1)."""
    return _sr3(SR_CONFIG, False, steps=steps, seed=seed, device=device, progress=progress)


def mnist_sr3_x4(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """SR3 for 7×7 → 28×28, without augmentation (Saharia et al.'s standalone SR3)."""
    return _sr3(SR_CONFIG_X4, False, steps=steps or SR_STEPS_X4, seed=seed, device=device, progress=progress)


def _regression(model_config, *, steps, seed, device, progress) -> Trained:
    loss = lambda m, b, g: regression_loss(m, b[0], b[1], g)  # noqa: E731
    ema, result = _fit(SRUNet, model_config, loss, steps=steps, seed=seed, device=device, progress=progress)
    y, c = _test_split(next(ema.parameters()).device)
    x = down(y, 28 // model_config.low_res)
    with torch.no_grad():
        y_hat = regress(ema, x, c).clamp(-1, 1)
    mse = F.mse_loss(y_hat, y).item()
    metrics = {"test_mse": mse, "test_psnr": 10 * math.log10(4 / mse),  # peak-to-peak 2 in [−1, 1]
               "test_consistency": consistency(y_hat, x).mean().item()}
    return _trained(ema, model_config, _pairs(model_config) + ", target y (MSE)", result, metrics, BATCH, LR)


def mnist_sr_regression(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """The regression baseline: ``SRUNet`` trained with MSE, ŷ = net.denoise(0, t_reg, c; up(down(y)))."""
    return _regression(SR_CONFIG, steps=steps or SR_STEPS, seed=seed, device=device, progress=progress)


def mnist_sr_regression_x4(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """The regression baseline for 7×7 → 28×28."""
    return _regression(SR_CONFIG_X4, steps=steps or SR_STEPS_X4, seed=seed, device=device, progress=progress)


def mnist_base14(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """The cascade's 14×14 class-conditional base model (label dropout ``P_UNCOND`` -> null label 10)."""
    steps = steps or BASE_STEPS
    loss = lambda m, b, g: eps_loss(m, b[0], b[1], g, p_uncond=P_UNCOND)  # noqa: E731
    ema, result = _fit(UNet14, BASE_CONFIG, loss, steps=steps, seed=seed, device=device, progress=progress,
                       images_fn=lambda y: F.avg_pool2d(y, 2))
    y, c = _test_split(next(ema.parameters()).device)
    data = MNIST_DATA + f" downsampled to 14×14 (2×2 means); labels dropped to the null label with p={P_UNCOND}"
    return _trained(ema, BASE_CONFIG, data, result,
                    {"test_eps_loss": _test_loss(ema, F.avg_pool2d(y, 2), c)}, BATCH, LR)


RECIPES = {
    "mnist_sr3": mnist_sr3,
    "mnist_sr3_noaug": mnist_sr3_noaug,
    "mnist_sr_regression": mnist_sr_regression,
    "mnist_sr3_x4": mnist_sr3_x4,
    "mnist_sr_regression_x4": mnist_sr_regression_x4,
    "mnist_base14": mnist_base14,
}
CONFIGS = {
    "mnist_sr3": SR_CONFIG,
    "mnist_sr3_noaug": SR_CONFIG,
    "mnist_sr_regression": SR_CONFIG,
    "mnist_sr3_x4": SR_CONFIG_X4,
    "mnist_sr_regression_x4": SR_CONFIG_X4,
    "mnist_base14": BASE_CONFIG,
}
