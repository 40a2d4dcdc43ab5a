"""Recipe of the image pyramid, chapter 5's Markovian VAE on MNIST (book: "The image pyramid").

Same contract as ``tempguide.train.recipes``: ``recipe(*, steps=None, seed=0,
device=None, progress=True) -> Trained``; ``python -m tempguide.train NAME`` runs them.

- ``mnist_pyramid``: the six class-conditional decoders of ``tempguide.mvae.pyramid``
  trained on the seed's objective Σ_k ‖z_k − ẑ_k(z_{k+1}, x)‖² (each level's term per
  coordinate), labels dropped to the null label 10 with p = ``P_UNCOND`` as for
  ``mnist_cond``; then σ_k is fitted by maximum likelihood on the training set with
  the true labels and stored in the model's ``sigmas`` buffer.
"""
from __future__ import annotations

import torch

from .. import config
from ..data import load_mnist
from ..mvae.pyramid import PyramidConfig, PyramidDecoders, fit_level_sigmas, pyramid_loss
from .loop import random_batches, train
from .recipes import MNIST_DATA, P_UNCOND, Trained, _build, _trained

PYRAMID_CONFIG = PyramidConfig(channels=(16, 16, 32, 24, 16), blocks=(1, 1, 2, 2, 1))
PYRAMID_STEPS = 1000


def mnist_pyramid(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """Pyramid decoders on the seed's squared errors; σ_k fitted by ML afterwards (module docstring).

    Metrics: the fitted σ_k (train) and the root mean squared residual per decoder
    on the test split (top first: 1×1, 2×2, 4×4, 7×7, 14×14, 28×28).
    """
    steps, batch_size, lr = steps or PYRAMID_STEPS, 64, 2e-3
    device = device or config.device()
    images, labels = load_mnist("train", source="subset", verbose=False)
    model = _build(PyramidDecoders, PYRAMID_CONFIG, seed)

    def loss(m, batch, g):
        y, c = batch
        drop = torch.rand(len(y), generator=g, device=y.device) < P_UNCOND  # CFG training: x = ∅
        return pyramid_loss(m, y, torch.where(drop, torch.full_like(c, m.config.num_classes), c))

    ema, result = train(model, loss, random_batches(images, labels, batch_size=batch_size, device=device),
                        steps=steps, lr=lr, seed=seed, device=device, progress=progress)
    ema.sigmas.copy_(fit_level_sigmas(ema, images.to(device), labels.to(device)))
    test_x, test_y = load_mnist("test", source="subset", verbose=False)
    test_rms = fit_level_sigmas(ema, test_x.to(device), test_y.to(device))
    metrics = {**{f"sigma_{k}": float(s) for k, s in enumerate(ema.sigmas)},
               **{f"test_rms_{k}": float(s) for k, s in enumerate(test_rms)}}
    data = MNIST_DATA + f", labels dropped to the null label with p={P_UNCOND}"
    return _trained(ema, PYRAMID_CONFIG, data, result, metrics, batch_size, lr)


RECIPES = {"mnist_pyramid": mnist_pyramid}
CONFIGS = {"mnist_pyramid": PYRAMID_CONFIG}
