"""The UNet as a velocity network u_θ(x, τ, c) for flow matching (book: "Guidance for flow matching").

    u_hat = net(x, tau, labels=None),   x = x_τ = (1 − τ)·x₀ + τ·x₁,   τ ∈ [0, 1] (0 = noise, 1 = data),

the MIT 6.S184 convention.  The architecture is ``UNet``'s; the network sees τ
through the course's noise variance t = ((1 − τ)/τ)² (``tempguide.flow.time``),
so the same log-t embedding serves both families.  Labels as in ``UNet``
(null label = ``num_classes``, ``None`` = null).
"""
from __future__ import annotations

import torch

from ..flow.time import t_from_tau
from .unet import UNet


class FlowUNet(UNet):
    """Velocity network on (B, 1, 28, 28); config: ``UNetConfig``."""

    def forward(self, x: torch.Tensor, tau, labels=None) -> torch.Tensor:
        return super().forward(x, t_from_tau(torch.as_tensor(tau, dtype=torch.float32, device=x.device)), labels)
