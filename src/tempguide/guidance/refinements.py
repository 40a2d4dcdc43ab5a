"""Refinements of classifier-free guidance: rescaled CFG, APG, CFG-Zero*.

Book: "Refinements of CFG" (chapter 4, second part).

Each rule replaces the plain combination uncond + w · (cond − uncond) of :func:`.cfg.cfg`
for one step.  Symbols: Δ = cond − uncond (the guidance direction); every norm, inner
product and standard deviation is taken **per example, over all non-batch dimensions**,
as diffusers does.  Weights as everywhere in the book: w = 1 is no guidance.

- :func:`rescale`        Lin et al. 2024, §3.4: match the guided prediction's std to the conditional one's
- :func:`apg`            Sadat et al. 2025 (APG): shrink Δ's part parallel to cond, cap ‖Δ‖, optional momentum
- :func:`cfg_zero_star`  Fan et al. 2025 (CFG-Zero*): scale uncond by the least-squares factor s* first

The rules are space-agnostic (ε, denoiser, velocity); the papers apply them to different
predictions (Lin et al.: v; Sadat et al.: the denoised D; Fan et al.: the velocity).
:func:`combined_eps` applies a rule to an ε-network's two predictions, :func:`combined_denoiser`
to its two denoisers D_∅, D_c — both with one batched network call per step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._checks import broadcast_t, check_labels, check_weight, per_example
from .cfg import _null_label


def _check_pair(a: torch.Tensor, b: torch.Tensor, names: str) -> tuple[int, ...]:
    """Two predictions of the same shape (B, ...) with at least one non-batch dim; returns those dims."""
    if a.shape != b.shape:
        raise ValueError(f"{names} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.ndim < 2:
        raise ValueError(f"{names} must have shape (B, ...) with at least one non-batch dimension "
                         f"(norms are per example), got {tuple(a.shape)}")
    return tuple(range(1, a.ndim))


def _check_number(value, name: str, low: float = -math.inf, high: float = math.inf) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {type(value).__name__}") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must be a finite number in [{low}, {high}], got {value}")
    return value


# -- rescaled CFG ---------------------------------------------------------------------------------

def rescale(guided: torch.Tensor, cond: torch.Tensor, phi: float) -> torch.Tensor:
    """Rescaled CFG (Lin et al., "Common diffusion noise schedules and sample steps are flawed", WACV 2024, §3.4):

        x_rescaled = x_cfg · std(x_c) / std(x_cfg)                          (rescale)
        x_final    = φ · x_rescaled + (1 − φ) · x_cfg                       (mix)

    ``guided`` is the CFG prediction x_cfg (e.g. ``cfg(uncond, cond, w)``), ``cond`` the
    conditional one x_c; std per example over all non-batch dims.  φ = 0 is plain CFG; at
    φ = 1 each guided prediction has exactly the conditional prediction's std (the
    over-exposure fix); the paper suggests φ = 0.7.  Equals diffusers'
    ``rescale_noise_cfg(guided, cond, guidance_rescale=phi)`` (the guiders' ``guidance_rescale``).
    Book: "Refinements of CFG" (chapter 4, second part).
    """
    dims = _check_pair(guided, cond, "guided and cond")
    phi = _check_number(phi, "phi", 0.0, 1.0)
    std_c = cond.std(dim=dims, keepdim=True)
    std_cfg = guided.std(dim=dims, keepdim=True)
    rescaled = guided * (std_c / std_cfg)                                  # (rescale)
    return phi * rescaled + (1 - phi) * guided                             # (mix)


# -- adaptive projected guidance -----------------------------------------------------------------

@dataclass
class APGMomentum:
    """APG's running average of the guidance direction (Sadat et al. 2025, "reverse momentum"):

        Δ̄ ← Δ + β · Δ̄          (Δ̄ = 0 before the first step; the paper uses β < 0, e.g. −0.5)

    Make a fresh one per sampling run and pass it to every :func:`apg` call of that run;
    ``average`` holds Δ̄ after the last step.  Equals diffusers' ``MomentumBuffer(beta)``.
    """
    beta: float
    average: torch.Tensor | None = None

    def __post_init__(self):
        self.beta = _check_number(self.beta, "beta")

    def update(self, delta: torch.Tensor) -> torch.Tensor:
        self.average = delta if self.average is None else delta + self.beta * self.average
        return self.average


def apg(uncond: torch.Tensor, cond: torch.Tensor, w, *, eta: float = 1.0, norm_threshold: float = 0.0,
        momentum: APGMomentum | None = None) -> torch.Tensor:
    """Adaptive projected guidance (Sadat, Hilliges & Weber, "Eliminating oversaturation and artifacts of
    high guidance scales in diffusion models", ICLR 2025, Algorithm 1):

        Δ  = cond − uncond                 (Δ ← Δ̄ = Δ + β Δ̄ with ``momentum``)
        Δ  ← Δ · min(1, r / ‖Δ‖)           (r = ``norm_threshold``; r = 0: no cap)
        Δ∥ = ⟨Δ, cond⟩ / ‖cond‖² · cond,    Δ⊥ = Δ − Δ∥
        APG = cond + (w − 1) · (Δ⊥ + η · Δ∥)

    w = 1 returns ``cond`` for every η, r and momentum; η = 1 with r = 0 and no momentum is
    plain CFG; the paper's choice is η = 0 (drop the parallel, saturating part).  Norms and
    projections per example over all non-batch dims, in float64 (as the paper and diffusers).
    The paper applies APG to the denoised prediction D (see :func:`combined_denoiser`).

    diffusers: ``normalized_guidance(cond, uncond, w − 1, momentum_buffer, eta, norm_threshold,
    use_original_formulation=True)``.  Its default formulation, the one the
    ``AdaptiveProjectedGuidance`` guider uses, is uncond + w · (Δ⊥ + η Δ∥): the same at η = 1
    without cap, otherwise not (at r = 0 it differs by (1 − η) · Δ∥, and at w = 1 it is not cond).

    ``w`` is a number or a (B,) tensor.  Book: "Refinements of CFG" (chapter 4, second part).
    """
    dims = _check_pair(uncond, cond, "uncond and cond")
    w = check_weight(w, "w")
    eta = _check_number(eta, "eta")
    norm_threshold = _check_number(norm_threshold, "norm_threshold", 0.0)
    delta = cond - uncond
    if momentum is not None:
        delta = momentum.update(delta)                                     # Δ̄ = Δ + β Δ̄
    if norm_threshold > 0:
        norm = delta.norm(p=2, dim=dims, keepdim=True)
        delta = delta * torch.minimum(torch.ones_like(norm), norm_threshold / norm)   # cap ‖Δ‖ at r
    d, unit = delta.double(), torch.nn.functional.normalize(cond.double(), dim=dims)  # cond / ‖cond‖
    parallel = (d * unit).sum(dim=dims, keepdim=True) * unit                # Δ∥
    orthogonal = d - parallel                                               # Δ⊥
    update = orthogonal.to(cond.dtype) + eta * parallel.to(cond.dtype)
    return cond + (per_example(w, cond) - 1) * update


# -- CFG-Zero* ------------------------------------------------------------------------------------

def zero_star_scale(uncond: torch.Tensor, cond: torch.Tensor, *, eps: float = 1e-8) -> torch.Tensor:
    """s* = ⟨cond, uncond⟩ / (‖uncond‖² + ε) per example, shaped (B, 1, …).

    The s minimising ‖cond − s · uncond‖² (up to ε).

    ε = 1e-8 as in the paper's code and diffusers' ``cfg_zero_star_scale``.
    """
    dims = _check_pair(uncond, cond, "uncond and cond")
    return (cond * uncond).sum(dim=dims, keepdim=True) / ((uncond ** 2).sum(dim=dims, keepdim=True) + eps)


def cfg_zero_star(uncond: torch.Tensor, cond: torch.Tensor, w) -> torch.Tensor:
    """The optimised scale of CFG-Zero* (Fan et al., "CFG-Zero*: improved classifier-free guidance for
    flow matching models", 2025, the optimised scale):

        s*   = ⟨v_c, v_u⟩ / ‖v_u‖²                     (per example)
        pred = s* · v_u + w · (v_c − s* · v_u)           = CFG with s* · v_u in place of v_u

    w = 1 returns ``cond``, w = 0 returns s* · uncond (the projection of cond on uncond,
    not uncond).  Equals diffusers' ``ClassifierFreeZeroStarGuidance(guidance_scale=w)`` at
    every step after its zero-init steps; with ``use_original_formulation=True`` its
    guidance_scale is w − 1.

    **Zero-init** (§4.2; diffusers' ``zero_init_steps``, default 1; the paper zeroes the first
    ≈ 4 % of the steps) is a sampler option, not part of this rule: the first K steps use the
    prediction 0.  For a velocity model 0 means "x does not move": run the sampler from the
    same x over the grid without its first K steps.  For an ε-network, ε̃ = 0 means D(z, t) = z
    (zero score), so a deterministic DDIM step keeps z = z̄/√ᾱ: zero-init of K DDIM steps is
    ``sample_ddim(eps_w, x * (alpha_bars[K] / alpha_bars[0]).sqrt(), alpha_bars[K:], labels=c)``.

    ``w`` is a number or a (B,) tensor.  Book: "Refinements of CFG" (chapter 4, second part).
    """
    w = check_weight(w, "w")
    s = zero_star_scale(uncond, cond)
    uncond_star = s * uncond
    return uncond_star + per_example(w, cond) * (cond - uncond_star)


# -- applying a rule to a conditional ε-network -----------------------------------------------------

def _uncond_and_cond_eps(eps_net, z_bar, t, labels, u, num_classes):
    """ε̂(z̄, t, ∅) and ε̂(z̄, t, c) from one network call on [z̄; z̄] with labels [c; u]."""
    if labels is None:
        raise ValueError("labels are required: the classes c to guide towards, shape (B,)")
    c = check_labels(labels, z_bar.shape[0], num_classes).to(z_bar.device)
    t = torch.as_tensor(t, device=z_bar.device)
    t2 = torch.cat([t, t]) if t.ndim else t
    eps_c, eps_u = eps_net(torch.cat([z_bar, z_bar]), t2, torch.cat([c, torch.full_like(c, u)])).chunk(2)
    return eps_u, eps_c


def combined_eps(eps_net, combine, *, uncond_label: int | None = None):
    """The ε-network ε̃(z̄, t, c) = combine(ε̂(z̄, t, ∅), ε̂(z̄, t, c)): any rule applied in ε-space.

    ``combine(uncond, cond)`` is e.g. ``lambda u, c: cfg_zero_star(u, c, 3.0)`` or
    ``lambda u, c: rescale(cfg(u, c, 5.0), c, 0.7)``.  One network call per step on [z̄; z̄]
    with labels [c; u], as :func:`.cfg.cfg_eps`.  Book: "Refinements of CFG" (chapter 4, second part).
    """
    u, num_classes = _null_label(eps_net, uncond_label)

    def eps_tilde(z_bar: torch.Tensor, t: torch.Tensor, labels=None) -> torch.Tensor:
        eps_u, eps_c = _uncond_and_cond_eps(eps_net, z_bar, t, labels, u, num_classes)
        return combine(eps_u, eps_c)
    return eps_tilde


def combined_denoiser(eps_net, labels, combine, *, uncond_label: int | None = None):
    """The denoiser D̃(z, t) = combine(D_∅(z, t), D_c(z, t)): any rule applied to the denoised predictions.

    D = z − √t · ε̂(z/√(1+t), t) for both labels (one batched call).  This is where Sadat et
    al. apply APG.  For the ᾱ samplers (DDIM, DDPM) use
    ``eps_from_denoiser(combined_denoiser(...))``.  Book: "Refinements of CFG" (chapter 4, second part).
    """
    u, num_classes = _null_label(eps_net, uncond_label)

    def denoiser(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=z.dtype, device=z.device)
        t_b = broadcast_t(t, z)
        eps_u, eps_c = _uncond_and_cond_eps(eps_net, z / (1 + t_b).sqrt(), t, labels, u, num_classes)  # x = √ᾱ·z
        return combine(z - t_b.sqrt() * eps_u, z - t_b.sqrt() * eps_c)     # D = z − √t · ε̂
    return denoiser


__all__ = ["rescale", "APGMomentum", "apg", "zero_star_scale", "cfg_zero_star", "combined_eps",
           "combined_denoiser"]
