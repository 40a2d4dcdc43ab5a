"""Zero-shot classification and retrieval with CLIP (book: "CLIP"; Radford et al. 2021, §3.1).

CLIP's softmax over a set of candidate captions c_1 … c_K is a classifier of captions:

    ln p(c_k | x) = exp(s) · C_I(x)ᵀ C_T(c_k) − logsumexp_j exp(s) · C_I(x)ᵀ C_T(c_j).

With the K = 120 full captions (every size × thickness × digit × slant), the
zero-shot probability of a digit (or of one attribute word) is the *sum* of the
probabilities of the captions that contain it (marginalisation: the captions are
disjoint events), p(digit d | x) = Σ_{k: digit(c_k) = d} p(c_k | x).
"""
from __future__ import annotations

import torch

from ..captions import DIGITS, SIZE, SLANT, THICKNESS
from .model import T_CLEAN
from .tokens import all_captions, caption_parts
from .._renamed import renamed_argument

#: the attribute -> its words, in the order of ``captions``
FIELDS = {"digit": DIGITS, "size": SIZE, "thickness": THICKNESS, "slant": SLANT}


@renamed_argument("x", "z_bar")
def caption_log_probs(clip, z_bar: torch.Tensor, t=T_CLEAN, captions: list[str] | None = None) -> torch.Tensor:
    """(B, K) ln p(c_k | z̄) over the candidate ``captions`` (default: the 120 full captions)."""
    text = clip.encode_text(captions or all_captions())        # (K, d)
    return (clip.scale() * clip.encode_image(z_bar, t) @ text.T).log_softmax(-1)


def marginal_log_probs(log_probs: torch.Tensor, field: str, captions: list[str] | None = None) -> torch.Tensor:
    """(B, |words|) ln p(word | x) = logsumexp of ln p(c_k | x) over the captions with that word in ``field``."""
    if field not in FIELDS:
        raise ValueError(f"field must be one of {sorted(FIELDS)}, got {field!r}")
    captions = captions or all_captions()
    if log_probs.shape[-1] != len(captions):
        raise ValueError(f"log_probs must have one column per caption ({len(captions)}), got {log_probs.shape[-1]}")
    words = FIELDS[field]
    which = torch.tensor([words.index(caption_parts(c)[field]) for c in captions], device=log_probs.device)
    out = torch.full((log_probs.shape[0], len(words)), float("-inf"), device=log_probs.device,
                     dtype=log_probs.dtype)
    for w in range(len(words)):
        if (which == w).any():
            out[:, w] = log_probs[:, which == w].logsumexp(-1)
    return out


@torch.no_grad()
def zero_shot_report(clip, images: torch.Tensor, caption_ids: torch.Tensor, t=T_CLEAN, *,
                     batch_size: int = 250) -> dict[str, float]:
    """Accuracy of the zero-shot digit and attribute classifiers and top-1 / top-5 caption retrieval.

    ``caption_ids`` (B,) index the true captions in ``all_captions()`` (``tokens.caption_index``);
    for t > 0 each image is noised once, x = (y + √t·ε)/√(1+t), with a fixed generator.
    """
    g = torch.Generator().manual_seed(0)
    lps = []
    for y in images.split(batch_size):
        x = y if t <= T_CLEAN else (y + t ** 0.5 * torch.randn(y.shape, generator=g)) / (1 + t) ** 0.5
        lps.append(caption_log_probs(clip, x.to(clip.logit_scale.device), t).cpu())
    lp = torch.cat(lps)                                                         # (B, 120)
    captions = all_captions()
    truth = [caption_parts(captions[k]) for k in caption_ids.tolist()]
    report = {}
    for field, words in FIELDS.items():
        pred = marginal_log_probs(lp, field).argmax(-1)
        report[f"{field}_accuracy"] = sum(words[p] == tr[field] for p, tr in zip(pred.tolist(), truth)) / len(truth)
    top5 = lp.topk(5, dim=-1).indices
    report["caption_top1"] = (top5[:, 0] == caption_ids).float().mean().item()
    report["caption_top5"] = (top5 == caption_ids[:, None]).any(-1).float().mean().item()
    return report
