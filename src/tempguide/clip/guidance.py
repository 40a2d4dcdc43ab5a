"""CLIP guidance and classifier-free guidance on an embedding (book: "GLIDE"; Nichol et al. 2022, §2.3–2.4).

**CLIP guidance** is classifier guidance (``tempguide.guidance.classifier``) with
the classifier replaced by CLIP.  Bayes' rule needs the score of the *text given
the noisy image*,

    ∇_z ln p_t(z | c) = ∇_z ln p_t(z) + ∇_z ln p_t(c | z),

so the guidance term is ∇_z ln p_t(c | z) (the seed writes ln P(z | x) ≈ C_T(x)ᵀ C_I(z)
with x the text: that is the wrong conditional, ln p(z | c) is what we want the
score *of*, and using it as the added term would count the image prior twice).
A noise-aware CLIP *is* a model of p_t(c | z) over a set of candidate captions:

    ln p_t(c_k | z) = exp(s) · C_I(z̄, t)ᵀ C_T(c_k) − logsumexp_j exp(s) · C_I(z̄, t)ᵀ C_T(c_j),   z̄ = z/√(1+t),

the contrastive softmax it was trained with.  :func:`clip_log_prob` returns that
(B, K) log-softmax, so ``classifier_guided(D, clip_log_prob(clip, captions), k, γ)``
adds γ · t · ∇_z ln p_t(c_k | z).  GLIDE's own term is the raw similarity
exp(s) · C_I(z̄, t)ᵀ C_T(c) (:func:`clip_similarity`), which drops the normaliser;
its gradient differs by exp(s) · Σ_j p_t(c_j | z) ∇_z C_I ᵀ C_T(c_j), the pull
*away* from the competing captions.  We guide with the log-softmax over the 120
captions: it is the quantity Bayes' rule asks for, and at γ = 1 it is exact if
CLIP is.

**CFG on an embedding**: a network ε̂(z̄, t, E) conditioned on a vector E (B, d)
that answers a NaN row unconditionally (``AttributeUNet``) is guided by

    ε̃(z̄, t, E) = ε̂(z̄, t, ∅) + w · (ε̂(z̄, t, E) − ε̂(z̄, t, ∅))          (one call on [z̄; z̄] with [E; NaN]).
"""
from __future__ import annotations

import torch

from ..guidance._checks import broadcast_t, check_weight
from ..guidance.cfg import cfg
from .tokens import all_captions


def _text(clip, captions) -> torch.Tensor:
    with torch.no_grad():
        return clip.encode_text(captions or all_captions())  # (K, d), fixed during sampling


def clip_log_prob(clip, captions: list[str] | None = None):
    """``log_prob(z, t)`` -> (B, K) ln p_t(c_k | z), CLIP's softmax over the candidate captions (module docstring).

    ``clip`` is a (noise-aware) ``Clip``: its image encoder sees z̄ = z/√(1+t) and t;
    ``captions`` defaults to the 120 full captions.  Use with
    ``tempguide.guidance.classifier_guided``; the labels are caption indices.
    """
    text = _text(clip, captions)

    def log_prob(z: torch.Tensor, t) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=z.dtype, device=z.device)
        z_bar = z / (1 + broadcast_t(t, z)).sqrt()
        return (clip.scale() * clip.encode_image(z_bar, t) @ text.T).log_softmax(-1)
    return log_prob


def clip_similarity(clip, captions: list[str] | None = None):
    """GLIDE's term: ``log_prob(z, t)`` -> (B, K) exp(s) · C_I(z̄, t)ᵀ C_T(c_k), *not* normalised over captions."""
    text = _text(clip, captions)

    def similarity(z: torch.Tensor, t) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=z.dtype, device=z.device)
        z_bar = z / (1 + broadcast_t(t, z)).sqrt()
        return clip.scale() * clip.encode_image(z_bar, t) @ text.T
    return similarity


def embedding_cfg_eps(eps_net, w):
    """ε̃(z̄, t, E) = ε̂(z̄, t, ∅) + w · (ε̂(z̄, t, E) − ε̂(z̄, t, ∅)) for E (B, d) finite (module docstring).

    ``eps_net(z_bar, t, E)`` answers NaN rows unconditionally.  E is passed where the
    samplers pass ``labels``: ``ddpm_samples(embedding_cfg_eps(net, w), n, labels=E)``.
    """
    if not callable(eps_net):
        raise ValueError(f"eps_net must be a callable eps_net(z_bar, t, E), got {type(eps_net).__name__}")
    w = check_weight(w, "w")

    def eps_w(z_bar: torch.Tensor, t: torch.Tensor, E=None) -> torch.Tensor:
        if E is None or E.dim() != 2 or E.shape[0] != z_bar.shape[0]:
            raise ValueError(f"E must have shape ({z_bar.shape[0]}, d), one embedding per example, "
                             f"got {None if E is None else tuple(E.shape)}")
        if not bool(torch.isfinite(E).all()):
            raise ValueError("E must be finite (the null query NaN is added by the guidance itself)")
        E = E.to(device=z_bar.device, dtype=z_bar.dtype)
        t = torch.as_tensor(t, device=z_bar.device)
        t2 = torch.cat([t, t]) if t.ndim else t
        eps = eps_net(torch.cat([z_bar, z_bar]), t2, torch.cat([E, torch.full_like(E, float("nan"))]))  # one call: [E; ∅]
        eps_E, eps_null = eps.chunk(2)
        return cfg(eps_null, eps_E, w)
    return eps_w
