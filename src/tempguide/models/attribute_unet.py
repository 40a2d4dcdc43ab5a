"""The UNet conditioned on a continuous attribute E of the digit (book: "Continuous conditions"; seed 001).

    eps_hat = net(z_bar, t, E=None),   z̄ = z/√(1 + t) as for ``UNet``,

with E (B,) a standardised scalar attribute (``tempguide.attributes``; E = 0 is
the average digit).  A NaN entry, or ``E=None`` for the whole batch, is the
*unconditional query*, answered in one of two ways (``AttributeUNetConfig.null_flag``):

- ``null_flag=False`` (seed 001): "the unconditional model can be queried by
  replacing the conditioning information, the energy, with fixed constant values,
  such as zero".  The null *is* E = 0, a value real digits also have.
- ``null_flag=True``: a separate learnt "no attribute" embedding, as the null
  label of classifier-free guidance (Ho & Salimans 2021); E = 0 stays a real value.

E enters through a small MLP added to the time embedding, like a class label.
With ``cond_dim = d > 1`` the condition is a vector per example, E (B, d) (e.g. a
caption or image embedding, chapter 6); a row with any NaN is the null query.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .embedding import broadcast_t
from .unet import UNet, UNetConfig, _check_image
from .._renamed import renamed_argument


@dataclasses.dataclass
class AttributeUNetConfig(UNetConfig):
    """``UNetConfig`` plus the attribute: its name and the standardisation E = (a − mean)/std."""

    null_flag: bool = False
    cond_dim: int = 1  # 1: a scalar E (B,); d > 1: a vector E (B, d)
    attribute: str = "ink"
    attribute_mean: float = 0.0
    attribute_std: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        if self.num_classes is not None:
            raise ValueError(f"num_classes must be None for an AttributeUNet, got {self.num_classes}")
        if not (isinstance(self.cond_dim, int) and self.cond_dim >= 1):
            raise ValueError(f"cond_dim must be an int >= 1, got {self.cond_dim!r}")
        if not self.attribute_std > 0:
            raise ValueError(f"attribute_std must be > 0, got {self.attribute_std}")


class AttributeUNet(UNet):
    """ε-network conditioned on a scalar E; NaN / ``None`` is the unconditional query (module docstring)."""

    def __init__(self, config: AttributeUNetConfig | None = None):
        super().__init__(config or AttributeUNetConfig())
        e = self.config.emb_dim
        self.attribute_emb = nn.Sequential(nn.Linear(self.config.cond_dim, e), nn.SiLU(), nn.Linear(e, e))
        self.null_emb = nn.Parameter(torch.zeros(e)) if self.config.null_flag else None

    @renamed_argument("x", "z_bar")
    def forward(self, z_bar: torch.Tensor, t, E=None) -> torch.Tensor:
        B = _check_image(z_bar)
        emb = self.time_emb(broadcast_t(t, B, z_bar.device))  # (B, e)
        d = self.config.cond_dim
        E = torch.full((B, d), float("nan"), device=z_bar.device) if E is None else \
            torch.as_tensor(E, dtype=torch.float32, device=z_bar.device).reshape(-1, d).expand(B, d)
        null = E.isnan().any(dim=1)
        a = self.attribute_emb(torch.where(null[:, None], 0.0, E))  # the seed's null: E = 0
        if self.null_emb is not None:
            a = torch.where(null[:, None], self.null_emb.expand(B, -1), a)
        return self.body(z_bar, emb + a)
