"""Classifier-free guidance on velocities (book: "Flow matching with guidance"; MIT 6.S184 notes, CFG).

The MIT notes guide a flow with

    ũ(x | c) = (1 − w)·u(x | ∅) + w·u(x | c) = u(x | ∅) + w·(u(x | c) − u(x | ∅)),       (CFG-u)

our w (w = 1 no guidance; facebookresearch/flow_matching's w is ours − 1).  Because
u = b_τ·x + a_τ·∇ ln p_τ(x) with a_τ, b_τ the same for every condition
(``tempguide.flow.convert``), (CFG-u) is the velocity of the CFG score
∇ ln p_τ(x | ∅) + w·(∇ ln p_τ(x | c) − ∇ ln p_τ(x | ∅)), and in the course's
variables the velocity of the CFG denoiser D_∅ + w·(D_c − D_∅): the flow ODE with
(CFG-u) and the probability-flow ODE with chapter 4's CFG are one ODE (tested).
"""
from __future__ import annotations

from ..guidance._checks import check_weight
from ..guidance.cfg import cfg, cfg_eps


def cfg_velocities(uncond_velocity, cond_velocity, w):
    """ũ(x, τ) = u_∅(x, τ) + w·(u_c(x, τ) − u_∅(x, τ)) from two velocity functions (e.g. the exact toys)   (CFG-u).

    Two calls per step; for a network with a null label use :func:`cfg_velocity_net`.
    Book: "Flow matching with guidance".
    """
    w = check_weight(w, "w")
    return lambda x, tau: cfg(uncond_velocity(x, tau), cond_velocity(x, tau), w)


def cfg_velocity_net(net, w, *, uncond_label: int | None = None):
    """The guided velocity network ũ(x, τ, c) = u(x, τ, ∅) + w·(u(x, τ, c) − u(x, τ, ∅))   (CFG-u).

    One network call per step on [x; x] with labels [c; ∅] (``guidance.cfg_eps``: the
    combination is the same in every prediction space).  ``net(x, tau, labels)`` needs
    ``config.num_classes`` (its null label); the returned function takes ``labels`` (B,)
    in [0, num_classes).  Book: "Flow matching with guidance".
    """
    return cfg_eps(net, w, uncond_label=uncond_label)
