"""Classifier-free guidance on a continuous condition E (book: "Guidance on a continuous condition"; seed 001).

A network ε̂(z̄, t, E) conditioned on a scalar attribute E of the image (the
standardised ink of a digit, ``tempguide.attributes``) also answers the
*unconditional query* E = NaN (``tempguide.models.attribute_unet``).  CFG towards a
requested value E is then the class-label rule of ``guidance.cfg`` with E in place of c:

    ε̃(z̄, t, E) = ε̂(z̄, t, ∅) + w · (ε̂(z̄, t, E) − ε̂(z̄, t, ∅)),                      (CFG)

w = 1 the conditional model, w = 0 the unconditional query, w > 1 guides.  What ∅
means is the network's business: seed 001 answers it "with fixed constant values,
such as zero" (E = 0, also the average digit), the fix a separate learnt null.
"""
from __future__ import annotations

import torch

from ._checks import check_weight
from .cfg import cfg


def check_attribute(E, batch: int, name: str = "E") -> torch.Tensor:
    """Requested attributes as a (batch,) float tensor of finite values (a number is repeated)."""
    E = torch.as_tensor(E)
    if not E.is_floating_point():
        E = E.to(torch.float32)
    if E.ndim == 0:
        E = E.expand(batch)
    if E.shape != (batch,):
        raise ValueError(f"{name} must be a number or have shape ({batch},) (one value per example), "
                         f"got {tuple(E.shape)}")
    if not bool(torch.isfinite(E).all()):
        raise ValueError(f"{name} must be finite (the unconditional query NaN is added by the guidance itself), "
                         f"got {E.tolist()[:8]}")
    return E


def attribute_cfg_eps(eps_net, w):
    """The guided ε-function ε̃(z̄, t, E) = ε̂(z̄, t, ∅) + w · (ε̂(z̄, t, E) − ε̂(z̄, t, ∅))   (CFG).

    One network call per step on the batch [z̄; z̄] with attributes [E; NaN] (NaN is
    the unconditional query of ``AttributeUNet``), as ``cfg_eps`` does with labels [c; ∅].

    Args:
        eps_net: ``eps_net(z_bar, t, E) -> ε̂`` answering NaN entries of E unconditionally.
        w: the guidance weight (w = 1: no guidance); a number or a (B,) tensor, one w per example.

    The returned function takes the requested attributes E, a number or (B,) finite
    values, in the third argument, where the samplers pass ``labels``: so
    ``ddpm_samples(attribute_cfg_eps(net, w), n, labels=E)`` samples towards E.
    Book: "Guidance on a continuous condition".
    """
    if not callable(eps_net):
        raise ValueError(f"eps_net must be a callable eps_net(z_bar, t, E), got {type(eps_net).__name__}")
    w = check_weight(w, "w")

    def eps_w(z_bar: torch.Tensor, t: torch.Tensor, E=None) -> torch.Tensor:
        if E is None:
            raise ValueError("E is required: the attribute to guide towards, a number or shape (B,)")
        E = check_attribute(E, z_bar.shape[0]).to(device=z_bar.device, dtype=z_bar.dtype)
        t = torch.as_tensor(t, device=z_bar.device)
        t2 = torch.cat([t, t]) if t.ndim else t
        eps = eps_net(torch.cat([z_bar, z_bar]), t2, torch.cat([E, torch.full_like(E, float("nan"))]))  # one call: [E; ∅]
        eps_E, eps_null = eps.chunk(2)
        return cfg(eps_null, eps_E, w)                                                          # (CFG)
    return eps_w
