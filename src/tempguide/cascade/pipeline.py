"""The cascade: a 14×14 class-conditional base model, then SR3 to 28×28 (book: "Cascaded diffusion").

Ho, Saharia et al. 2021 ("Cascaded Diffusion Models", §3): a base diffusion model
samples a low-resolution image x ~ p(x | c), and a super-resolution diffusion model,
conditioned on x (and on the class c), samples y ~ p(y | x, c):

    p(y | c) = ∫ p(y | x, c) p(x | c) dx.

The super-resolution stage is trained on real low-resolution images down(y) but
run on generated ones; noise-conditioning augmentation (``sr3.augment_condition``)
closes that gap.  The base model may be guided (classifier-free guidance, w).
"""
from __future__ import annotations

import torch

from ..diffusion.ddpm import sample_ddpm
from ..diffusion.schedules import ddpm_alpha_bars
from ..guidance.cfg import cfg_eps
from .sr3 import S_SAMPLE, sample_sr3


def _levels(n_steps: int, device) -> torch.Tensor:
    if not (isinstance(n_steps, int) and 1 <= n_steps <= 1000):
        raise ValueError(f"n_steps must be an int in [1, 1000], got {n_steps!r}")
    idx = torch.linspace(999, 0, n_steps).round().long()
    return torch.cat([ddpm_alpha_bars()[idx], torch.ones(1, dtype=torch.float64)]).to(device)


@torch.no_grad()
def sample_base(base, labels: torch.Tensor, *, w: float = 1.0, n_steps: int = 50,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Low-resolution digits (B, 1, 14, 14) of classes ``labels`` (B,) by DDPM, guided with weight w (w = 1: none)."""
    device = next(base.parameters()).device
    labels = torch.as_tensor(labels, dtype=torch.long).to(device)
    eps_fn = base if float(w) == 1.0 else cfg_eps(base, w)
    x = torch.randn(len(labels), 1, 14, 14, generator=generator).to(device)  # x_T ~ N(0, I)
    return sample_ddpm(eps_fn, x, _levels(n_steps, device), labels=labels, generator=generator)


@torch.no_grad()
def sample_cascade(base, sr, labels: torch.Tensor, *, w: float = 1.0, s: float = S_SAMPLE,
                   n_steps_base: int = 50, n_steps_sr: int = 50,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y): base samples x (B, 1, 14, 14) of classes ``labels`` and their SR3 samples y (B, 1, 28, 28)."""
    x = sample_base(base, labels, w=w, n_steps=n_steps_base, generator=generator)
    labels = torch.as_tensor(labels, dtype=torch.long).to(x.device)
    y = sample_sr3(sr, x.clamp(-1, 1), labels=labels, s=s, n_steps=n_steps_sr, generator=generator)
    return x, y
