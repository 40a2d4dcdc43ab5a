"""Classifier-free guidance (book: "Classifier-free guidance"; Ho & Salimans 2021).

One network knows both p(y | c) and, through the null label ∅, p(y).  Bayes' rule
turns classifier guidance of strength w on the unconditional model into

    ∇ ln p_t(z) + w · ∇ ln p_t(c | z) = ∇ ln p_t(z | ∅) + w · (∇ ln p_t(z | c) − ∇ ln p_t(z | ∅)),

and since ε̂, D and the score are affine in one another at fixed (z, t), the same
combination holds in every prediction space:

    pred_w = pred_∅ + w · (pred_c − pred_∅)                                   (CFG)

w = 1 is the conditional model (no guidance), w = 0 the unconditional one, w > 1
guides (notation page: Ho & Salimans' w′ = w − 1, diffusers' ``guidance_scale`` = w).
Replacing ∅ by another condition ("blurry") guides *away* from it.
"""
from __future__ import annotations

import torch

from ..diffusion.adapters import denoiser_from_eps
from ._checks import check_labels, check_weight, per_example


def cfg(uncond: torch.Tensor, cond: torch.Tensor, w) -> torch.Tensor:
    """uncond + w · (cond − uncond), in any prediction space (ε, denoiser, score, velocity)   (CFG).

    ``w`` is a number or a (B,) tensor of per-example weights.  Equals diffusers'
    ``ClassifierFreeGuidance(guidance_scale=w)``.  Book: "Classifier-free guidance".
    """
    if uncond.shape != cond.shape:
        raise ValueError(f"uncond and cond must have the same shape, got {tuple(uncond.shape)} and "
                         f"{tuple(cond.shape)}")
    return uncond + per_example(check_weight(w, "w"), cond) * (cond - uncond)


def cfg_denoisers(uncond_denoiser, cond_denoiser, w):
    """D_w(z, t) = D_∅(z, t) + w · (D_c(z, t) − D_∅(z, t)) from two separate denoisers (e.g. the exact toys).

    Two calls per step; for a network with a null label use :func:`cfg_eps` (one batched call).
    """
    w = check_weight(w, "w")
    return lambda z, t: cfg(uncond_denoiser(z, t), cond_denoiser(z, t), w)


def _null_label(eps_net, uncond_label):
    num_classes = getattr(getattr(eps_net, "config", None), "num_classes", None)
    if num_classes is None:
        raise ValueError("eps_net has no null label: classifier-free guidance needs a conditional network "
                         "trained with label dropout (config.num_classes set, null label = num_classes); "
                         f"got {type(eps_net).__name__} with num_classes=None")
    if uncond_label is None:
        return num_classes, num_classes
    if not 0 <= int(uncond_label) <= num_classes:
        raise ValueError(f"uncond_label must be in [0, {num_classes}] ({num_classes} = the null label), "
                         f"got {uncond_label}")
    return int(uncond_label), num_classes


def cfg_eps(eps_net, w, *, uncond_label: int | None = None):
    """The guided ε-network ε̃(z̄, t, c) = ε̂(z̄, t, u) + w · (ε̂(z̄, t, c) − ε̂(z̄, t, u)), u = ∅ by default.

    One network call per step on the batch [z̄; z̄] with labels [c; u] (k-diffusion's
    ``make_cfg_model_fn``), so a guided step costs one call at twice the batch.

    Args:
        eps_net: a conditional ε-network ``eps_net(z_bar, t, labels)`` whose ``config.num_classes``
            is set (its null label is ``num_classes``).
        w: the guidance weight (w = 1: no guidance); a number or a (B,) tensor, one w per example.
        uncond_label: the condition to guide away from; default the null label ∅.  Another
            label (e.g. "blurry") gives D_u + w · (D_c − D_u).

    The returned network takes ``labels`` (B,) in [0, num_classes) (the classes c) and
    plugs into every sampler that takes an ε-network.  Book: "Classifier-free guidance".
    """
    w = check_weight(w, "w")
    u, num_classes = _null_label(eps_net, uncond_label)

    def eps_w(z_bar: torch.Tensor, t: torch.Tensor, labels=None) -> torch.Tensor:
        if labels is None:
            raise ValueError("labels are required: the classes c to guide towards, shape (B,)")
        c = check_labels(labels, z_bar.shape[0], num_classes).to(z_bar.device)
        t = torch.as_tensor(t, device=z_bar.device)
        t2 = torch.cat([t, t]) if t.ndim else t
        eps = eps_net(torch.cat([z_bar, z_bar]), t2, torch.cat([c, torch.full_like(c, u)]))   # one call: [c; u]
        eps_c, eps_u = eps.chunk(2)
        return cfg(eps_u, eps_c, w)                                                    # (CFG)
    return eps_w


def cfg_denoiser(eps_net, labels, w, *, uncond_label: int | None = None):
    """The guided denoiser D_w(z, t) of a conditional ε-network for the classes ``labels`` (B,).

    :func:`cfg_eps` through the ε → denoiser adapter, for the samplers in t
    (reverse SDE, probability-flow ODE).  Book: "Classifier-free guidance".
    """
    return denoiser_from_eps(cfg_eps(eps_net, w, uncond_label=uncond_label), labels)
