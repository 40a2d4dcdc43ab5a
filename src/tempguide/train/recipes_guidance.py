"""Recipes of the models the guidance chapters add (book: "Classifier guidance", "Classifier-free guidance").

Same contract as ``tempguide.train.recipes``: ``recipe(*, steps=None, seed=0,
device=None, progress=True) -> Trained``; ``python -m tempguide.train NAME`` runs them.

- ``mnist_cond_p05``, ``mnist_cond_p50``: ``mnist_cond`` with label dropout 0.05
  (the seed's "5% of the time we set x = ∅") and 0.5 (Ho & Salimans' worst
  column), for the label-dropout ablation of chapter 4.
- ``mnist_cond_blurry``: a conditional model that also knows the condition
  "blurry" (label 10: any digit blurred with the fixed kernel ``blur``), null
  label 11, for McAllester's guidance away from "blurry".
- ``mnist_clean_classifier``: the ``NoisyClassifier`` architecture trained on
  clean digits only (t = t_min always), the "adversarial gradient" of chapter 3:
  a guide that has never seen noise.  It is *not* the evaluation classifier.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.transforms.functional import gaussian_blur

from .. import config
from ..data import load_mnist
from ..diffusion.schedules import ddpm_ts
from ..models import NoisyClassifier, NoisyClassifierConfig, UNet, UNetConfig
from .loop import random_batches, train
from .recipes import (COND_CONFIG, DIFFUSION_STEPS, MNIST_DATA, P_UNCOND, Trained, _build, _diffusion, _trained, augment,
                      eps_loss, noisy_classifier_metrics)


# ---------------------------------------------------------------- label-dropout ablation
def mnist_cond_p05(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """``mnist_cond`` with label dropout 0.05 (seed 002: "5% of the time we set x = ∅")."""
    return _diffusion(COND_CONFIG, 0.05, steps=steps, seed=seed, device=device, progress=progress)


def mnist_cond_p50(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """``mnist_cond`` with label dropout 0.5 (Ho & Salimans 2021, Table 1's worst column)."""
    return _diffusion(COND_CONFIG, 0.5, steps=steps, seed=seed, device=device, progress=progress)


# ---------------------------------------------------------------- the "blurry" condition
BLURRY_CONFIG = UNetConfig(num_classes=11)  # labels 0..9 digits, 10 = "blurry", 11 = null
BLURRY_LABEL = 10
P_BLURRY = 0.2          # fraction of training examples shown blurred, with the label "blurry"
BLUR_KERNEL, BLUR_SIGMA = 7, 1.5  # the fixed Gaussian kernel (pixels)


def blur(images: torch.Tensor) -> torch.Tensor:
    """Digits (B, 1, 28, 28) in [−1, 1] blurred by the fixed Gaussian kernel (σ = ``BLUR_SIGMA`` px)."""
    return gaussian_blur(images, [BLUR_KERNEL, BLUR_KERNEL], [BLUR_SIGMA, BLUR_SIGMA])


def blurry_batch(images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator):
    """With probability ``P_BLURRY`` an example is replaced by its blurred copy, labelled ``BLURRY_LABEL``."""
    is_blurry = torch.rand(len(images), generator=generator, device=images.device) < P_BLURRY
    images = torch.where(is_blurry[:, None, None, None], blur(images), images)
    return images, torch.where(is_blurry, torch.full_like(labels, BLURRY_LABEL), labels)


def mnist_cond_blurry(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """Conditional ε-network on digits and "blurry" digits, label dropout ``P_UNCOND`` -> null label 11."""
    steps, batch_size, lr = steps or DIFFUSION_STEPS, 64, 2e-3
    device = device or config.device()
    images, labels = load_mnist("train", source="subset", verbose=False)
    model = _build(UNet, BLURRY_CONFIG, seed)

    def loss(m, batch, g):
        y, c = blurry_batch(*batch, g)
        return eps_loss(m, y, c, g, p_uncond=P_UNCOND)

    ema, result = train(model, loss, random_batches(images, labels, batch_size=batch_size, device=device),
                        steps=steps, lr=lr, seed=seed, device=device, progress=progress)
    data = (MNIST_DATA + f", with p={P_BLURRY} an image is blurred (Gaussian σ={BLUR_SIGMA} px, "
            f"{BLUR_KERNEL}×{BLUR_KERNEL}) and labelled 'blurry' ({BLURRY_LABEL}); labels dropped to the "
            f"null label ({BLURRY_CONFIG.num_classes}) with p={P_UNCOND}")
    return _trained(ema, BLURRY_CONFIG, data, result, {}, batch_size, lr)


# ---------------------------------------------------------------- a guide that never saw noise
CLEAN_CLASSIFIER_CONFIG = NoisyClassifierConfig()


def mnist_clean_classifier(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """The ``NoisyClassifier`` architecture trained on clean digits only (t = t_min = 1e-4 always).

    Same architecture, data, augmentation and optimiser as ``mnist_noisy_classifier``;
    only the noise differs, so chapter 3 can compare the two guides like for like.
    Metric: test-split accuracy at the noise levels of the noise-aware classifier
    (called with the true t; it has only ever seen t_min).
    """
    steps, batch_size, lr = steps or 1000, 64, 2e-3
    device = device or config.device()
    images, labels = load_mnist("train", source="subset", verbose=False)
    model = _build(NoisyClassifier, CLEAN_CLASSIFIER_CONFIG, seed)
    t_min = float(ddpm_ts()[0])

    def loss(m, batch, g):
        y, c = batch
        t = torch.full((len(y),), t_min, device=y.device)
        x = augment(y, g, shift=1.0, degrees=5.0, scale=0.05) / (1 + t_min) ** 0.5
        return F.cross_entropy(m(x, t), c)

    torch.manual_seed(seed)  # dropout draws from torch's global RNG
    ema, result = train(model, loss, random_batches(images, labels, batch_size=batch_size, device=device),
                        steps=steps, lr=lr, weight_decay=0.01, seed=seed, device=device, progress=progress)
    return _trained(ema, CLEAN_CLASSIFIER_CONFIG, MNIST_DATA + ", light affine augmentation, clean images only "
                    f"(t = {t_min:g})", result, noisy_classifier_metrics(ema), batch_size, lr)


RECIPES = {
    "mnist_cond_p05": mnist_cond_p05,
    "mnist_cond_p50": mnist_cond_p50,
    "mnist_cond_blurry": mnist_cond_blurry,
    "mnist_clean_classifier": mnist_clean_classifier,
}
CONFIGS = {
    "mnist_cond_p05": COND_CONFIG,
    "mnist_cond_p50": COND_CONFIG,
    "mnist_cond_blurry": BLURRY_CONFIG,
    "mnist_clean_classifier": CLEAN_CLASSIFIER_CONFIG,
}
