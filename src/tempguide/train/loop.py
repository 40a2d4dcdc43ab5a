"""One plain training loop for every model in the course (book: "Training the course's models").

    for step in range(steps):
        loss = loss_fn(model, next_batch(generator), generator)   # the objective
        loss.backward(); optimizer.step()                          # AdamW
        ema.update_parameters(model)                               # θ_ema ← d·θ_ema + (1−d)·θ

The exponential moving average (EMA) of the weights is what we sample from and
ship: diffusion models are markedly better with it (Ho et al. 2020, §4; Karras
et al. 2022, §5).  The EMA starts as a copy of the weights after the first step,
θ_1, which keeps the weight d^(steps−1) at the end (0.999^2499 ≈ 8% after 2,500
steps: a barely trained network mixed into the trained one), so ``train``
removes it exactly at the end, as Adam does for its moment estimates (Kingma &
Ba 2015, §3): ``debias_ema``.
"""
from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Callable

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from .. import config


@dataclasses.dataclass
class TrainResult:
    """What a run did: steps, wall time, and the loss curve (one value per step)."""

    steps: int
    seconds: float
    losses: list[float]

    @property
    def final_loss(self) -> float:
        """Mean loss over the last 10% of steps (a stable summary of the end of training)."""
        tail = self.losses[-max(1, len(self.losses) // 10):]
        return sum(tail) / len(tail)


def train(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, tuple, torch.Generator], torch.Tensor],
    next_batch: Callable[[torch.Generator], tuple],
    *,
    steps: int,
    lr: float = 2e-3,
    weight_decay: float = 0.0,
    ema_decay: float = 0.999,
    warmup: int = 100,
    grad_clip: float = 1.0,
    seed: int = 0,
    device: torch.device | None = None,
    progress: bool = True,
) -> tuple[torch.nn.Module, TrainResult]:
    """Train ``model`` for ``steps`` AdamW steps; return ``(ema_model, result)``.

    ``next_batch(generator)`` returns a tuple of tensors already on ``device``;
    ``loss_fn(model, batch, generator)`` returns the scalar loss.  All randomness
    (batches, noise levels, noise) is drawn from one ``torch.Generator`` seeded
    with ``seed``, except dropout, which draws from torch's global RNG: a recipe
    whose model has dropout seeds that too, and then a CPU run is reproducible.
    The learning rate warms up linearly over ``warmup`` steps, then decays with
    a cosine to zero.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not 0.0 <= ema_decay < 1.0:
        raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
    device = device or config.device()
    model = model.to(device).train()
    generator = torch.Generator(device=device).manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    warmup = min(warmup, steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (s + 1) / warmup if s < warmup
        else 0.5 * (1 + torch.cos(torch.tensor(torch.pi * (s - warmup) / max(1, steps - warmup))).item()),
    )
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
    ema_start: dict[str, torch.Tensor] = {}  # θ_1: what the EMA copies at its first update

    losses: list[float] = []
    start = time.perf_counter()
    bar = tqdm(range(steps), desc="train", disable=not progress, mininterval=1.0)
    for _ in bar:
        loss = loss_fn(model, next_batch(generator), generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        schedule.step()
        ema.update_parameters(model)
        if not ema_start:
            ema_start = {k: v.detach().clone() for k, v in _tensors(ema.module).items()}
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    seconds = time.perf_counter() - start

    ema_model = ema.module.eval()
    debias_ema(ema_model, ema_start, ema_decay ** (steps - 1))
    return ema_model, TrainResult(steps=steps, seconds=seconds, losses=losses)


@torch.no_grad()
def debias_ema(ema_model: torch.nn.Module, ema_start: dict, weight: float) -> torch.nn.Module:
    """θ ← (θ_ema − w·θ_1) / (1 − w) for every floating-point tensor, in place; returns ``ema_model``.

    ``torch.optim.swa_utils.AveragedModel`` copies the weights at its first
    update, θ_1, and then averages θ_ema ← d·θ_ema + (1 − d)·θ_k, so after n
    updates θ_ema = w·θ_1 + (1 − d) Σ_{k=2..n} d^{n−k} θ_k with w = d^{n−1}.
    Subtracting the start ``ema_start`` = θ_1 and renormalising leaves exactly
    the average of θ_2..θ_n, whose weights sum to one (after two steps: θ_2).
    ``w = 1`` (a single step, where the EMA is θ_1 itself) changes nothing.  The
    division magnifies the float32 rounding of θ_ema by 1 / (1 − w): a relative
    1e-4 after two steps at d = 0.999, nothing measurable after a few hundred.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    if weight == 1.0:
        return ema_model
    for name, value in _tensors(ema_model).items():
        if value.is_floating_point():
            value.copy_((value - weight * ema_start[name].to(value)) / (1.0 - weight))
    return ema_model


def _tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of ``module`` once, by name: what ``AveragedModel`` averages.

    Not the state dict: tied weights (CharGPT's embedding and output layer) are one
    tensor under two names there, and non-persistent buffers are missing from it.
    """
    return dict(itertools.chain(module.named_parameters(), module.named_buffers()))


def random_batches(*tensors: torch.Tensor, batch_size: int, device: torch.device | None = None):
    """``next_batch`` for in-memory data: a random minibatch (with replacement) of ``tensors``."""
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError("all tensors must have the same length along dim 0")
    device = device or config.device()
    tensors = tuple(t.to(device) for t in tensors)

    def next_batch(generator: torch.Generator) -> tuple:
        idx = torch.randint(n, (batch_size,), generator=generator, device=generator.device)
        return tuple(t[idx] for t in tensors)

    return next_batch
