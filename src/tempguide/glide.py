"""GLIDE at MNIST scale: CLIP guidance against classifier-free guidance on text (book: "GLIDE";
Nichol et al. 2022, §2.3–2.4, §5), and how both are judged.

Two ways to draw a digit for a caption c:

- **CLIP guidance**: the *unconditional* ε-network guided by a noise-aware CLIP,
  Dhariwal & Nichol's Algorithm 2 with ln p(c | x_t) = CLIP's log-softmax over the
  120 captions (``clip.guidance.clip_log_prob``):

      ε̃(x_t, t) = ε̂(x_t, t) − γ · √(1 − ᾱ_t) · ∇_{x_t} ln p_t(c | x_t);

- **CFG on text**: a text-conditional ε-network ε̂(x_t, t, C_T(c)) under classifier-free
  guidance of weight w (``clip.guidance.embedding_cfg_eps``).

Both ε-functions take the caption *indices* (into ``clip.all_captions()``) where the
samplers pass ``labels``, so ``ddpm_samples(f, n, labels=k)`` runs either.

The judges of caption-match never guide: the digit by the evaluation classifier
(``mnist_classifier``), size, thickness and slant by the measurers of
``tempguide.captions`` on the generated pixels.
"""
from __future__ import annotations

import torch

from .captions import attribute_words
from .clip.guidance import clip_log_prob, embedding_cfg_eps
from .clip.tokens import all_captions, caption_parts
from .guidance.ddpm import eps_classifier_guided
from .metrics import image
from .metrics.guided import RealReference, conditional_report
from .clip.zero_shot import FIELDS


def frequent_captions() -> torch.Tensor:
    """(10,) caption indices: for each digit, its most frequent caption among the 4,000 training digits."""
    from .clip.tokens import caption_index
    from .data import load_mnist
    images, labels = load_mnist("train", source="subset", verbose=False)
    counts = torch.bincount(caption_index(labels, images), minlength=120).view(10, 12)
    return torch.arange(10) * 12 + counts.argmax(1)


def clip_guided_eps(eps_net, noisy_clip, gamma):
    """ε̃(z̄, t, k): the unconditional ``eps_net`` guided towards caption k by ``noisy_clip`` (module docstring)."""
    return eps_classifier_guided(lambda z_bar, t: eps_net(z_bar, t), clip_log_prob(noisy_clip), gamma)


def text_cfg_eps(text_net, clip, w):
    """ε̃(z̄, t, k) = ε̂(z̄, t, ∅) + w · (ε̂(z̄, t, C_T(c_k)) − ε̂(z̄, t, ∅)) (module docstring)."""
    with torch.no_grad():
        text = clip.encode_text(all_captions())                                 # (120, d), C_T of every caption
    guided = embedding_cfg_eps(text_net, w)

    def eps_w(z_bar: torch.Tensor, t, k=None) -> torch.Tensor:
        if k is None:
            raise ValueError("caption indices k are required, shape (B,), values in [0, 120)")
        return guided(z_bar, t, text.to(z_bar.device)[torch.as_tensor(k).long().cpu()])
    return eps_w


def caption_match(judge, samples: torch.Tensor, caption_ids: torch.Tensor) -> dict[str, float]:
    """Fraction of samples whose digit (judge), size, thickness, slant (measurers), and all four, match the caption."""
    samples = samples.clamp(-1, 1)
    caps = all_captions()
    wanted = [caption_parts(caps[k]) for k in caption_ids.tolist()]
    got = attribute_words(samples)
    got["digit"] = [FIELDS["digit"][c] for c in image.predict(judge, samples).tolist()]
    hits = {f: torch.tensor([g == w[f] for g, w in zip(got[f], wanted)]) for f in FIELDS}
    out = {f"match_{f}": hits[f].float().mean().item() for f in FIELDS}
    out["match_all"] = torch.stack(list(hits.values())).all(0).float().mean().item()
    return out


def caption_report(judge, samples: torch.Tensor, caption_ids: torch.Tensor,
                   reference: RealReference) -> dict[str, float]:
    """``caption_match`` beside the chapters' report (FID with its floor, …) and the diversity per caption."""
    digits = torch.tensor([FIELDS["digit"].index(caption_parts(all_captions()[k])["digit"])
                           for k in caption_ids.tolist()])
    report = conditional_report(judge, samples, digits, reference)
    feats = image.features(judge, samples.clamp(-1, 1))
    per_caption = [image.mean_pairwise_distance(feats[caption_ids == k]) for k in caption_ids.unique().tolist()
                   if int((caption_ids == k).sum()) >= 2]
    report["diversity_per_caption"] = float(torch.tensor(per_caption).mean())
    return {**caption_match(judge, samples, caption_ids), **report}
