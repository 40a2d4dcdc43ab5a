"""Autoguidance: guide a model with a worse version of itself (book: "Refinements of CFG" (chapter 4, second part)).

Karras, Aittala, Kynkäänniemi, Lehtinen, Aila & Laine, "Guiding a diffusion model with a
bad version of itself", NeurIPS 2024, Eq. (2) with the unconditional D_0 replaced by a
weak model D_1 (§3–4):

    D_w(z, t; c) = D_weak(z, t; c) + w · (D(z, t; c) − D_weak(z, t; c))               (AG)

Both denoisers are conditional on the **same** class c; the weak one is the main model made
smaller and trained for less (ours: ``mnist_cond_weak``, channels (16, 24, 32), 750 steps,
against ``mnist_cond``).  Where CFG guides away from the unconditional p(y), autoguidance
guides away from the weak model's errors — McAllester's "guidance away from x_bad" (the
seed's slide, with x_bad = the weak model in place of a "blurry" condition): the
difference D − D_weak points where the good model is better than the bad one.

w = 1 is the main model (no guidance), w = 0 the weak one.  As in CFG, ε̂, D and the score
are affine in one another at fixed (z, t) with the *same* coefficients for both models
(D = z − √t·ε̂), so (AG) holds unchanged in ε-space: ε̃ = ε̂_weak + w · (ε̂ − ε̂_weak).
"""
from __future__ import annotations

import torch

from ._checks import check_labels, check_weight
from .cfg import cfg


def autoguidance(d_weak: torch.Tensor, d: torch.Tensor, w) -> torch.Tensor:
    """d_weak + w · (d − d_weak): Karras et al. 2024, Eq. (2) with the weak model as the guide   (AG).

    On denoisers, ε-predictions or scores alike (affine-equivalent; module docstring).  ``w``
    is a number or a (B,) tensor; w = 1 returns ``d``, w = 0 returns ``d_weak``.
    Book: "Refinements of CFG" (chapter 4, second part).
    """
    if d_weak.shape != d.shape:
        raise ValueError(f"d_weak and d must have the same shape, got {tuple(d_weak.shape)} and {tuple(d.shape)}")
    return cfg(d_weak, d, w)                     # the same combination as CFG, with the weak model as "uncond"


def _num_classes(net, name: str) -> int:
    num_classes = getattr(getattr(net, "config", None), "num_classes", None)
    if num_classes is None:
        raise ValueError(f"{name} must be a class-conditional ε-network (config.num_classes set): autoguidance "
                         f"conditions both models on the same class, got {type(net).__name__} with num_classes=None")
    return int(num_classes)


def autoguided_eps(net, weak_net, w):
    """The autoguided ε-network ε̃(z̄, t, c) = ε̂_weak(z̄, t, c) + w · (ε̂(z̄, t, c) − ε̂_weak(z̄, t, c)).

    Args:
        net: the main class-conditional ε-network ``net(z_bar, t, labels)`` (e.g. ``mnist_cond``).
        weak_net: its weak version, conditional on the same classes (e.g. ``mnist_cond_weak``).
        w: the guidance weight (w = 1: ``net`` alone); a number or a (B,) tensor.

    Same calling convention as :func:`.cfg.cfg_eps`: ``labels`` (B,) are the classes c, in
    [0, num_classes); both networks get the same c (Karras et al.'s conditional setting).
    A step costs one call of each network at batch B (the weak one is cheaper).
    Book: "Refinements of CFG" (chapter 4, second part); Karras et al. 2024, Eq. (2).
    """
    w = check_weight(w, "w")
    num_classes = _num_classes(net, "net")
    if _num_classes(weak_net, "weak_net") != num_classes:
        raise ValueError(f"weak_net must know the same classes as net (num_classes = {num_classes}), "
                         f"got {weak_net.config.num_classes}")

    def eps_w(z_bar: torch.Tensor, t: torch.Tensor, labels=None) -> torch.Tensor:
        if labels is None:
            raise ValueError("labels are required: the classes c both models are conditioned on, shape (B,)")
        c = check_labels(labels, z_bar.shape[0], num_classes).to(z_bar.device)
        return autoguidance(weak_net(z_bar, t, c), net(z_bar, t, c), w)          # (AG) in ε-space
    return eps_w


__all__ = ["autoguidance", "autoguided_eps"]
