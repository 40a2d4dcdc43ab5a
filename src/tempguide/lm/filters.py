"""Temperature, top-k, top-p (nucleus) and min-p on next-token logits (book: "Temperature in LLM sampling").

A language model scores the next token with logits :math:`s(y)`.  Sampling at
inverse temperature :math:`\\beta = 1/T` samples from

    P^β(y) = softmax_y β·s(y) ∝ P(y)^β           (McAllester's lecture; book: llm-softmax-beta)

and the truncation rules then remove tokens (their logits become −∞):

- top-k keeps the k largest logits (every token tied with the k-th stays);
- top-p keeps the smallest set of most probable tokens whose mass reaches p
  (Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration");
- min-p keeps tokens with P(y) ≥ min_p · max_y P(y) (Nguyen et al. 2025).

The order and every boundary case follow Hugging Face transformers'
``TemperatureLogitsWarper``, ``TopKLogitsWarper``, ``TopPLogitsWarper`` and
``MinPLogitsWarper`` with ``min_tokens_to_keep=1``: the most probable token always
survives.  ``temperature=0`` means β = ∞: only the argmax stays finite (the first
one if several tie, as ``torch.argmax`` and greedy decoding choose).

Logits must be finite or −∞ (−∞ is a removed token); NaN, +∞ and a row that is −∞
everywhere (nothing left to sample) raise ``ValueError``.  A tiny temperature never
overflows into a wrong answer: see :func:`temper`.
"""
from __future__ import annotations

import math

import torch

NEG_INF = float("-inf")


def _check(temperature, top_k, top_p, min_p) -> None:
    """Raise ``ValueError`` naming the argument and its allowed range."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0 (0 means greedy), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be None or an int >= 1, got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float))
                              or not 0 < top_p <= 1):
        raise ValueError(f"top_p must be None or a number in (0, 1], got {top_p!r}")
    if min_p is not None and (isinstance(min_p, bool) or not isinstance(min_p, (int, float))
                              or not 0 <= min_p <= 1):
        raise ValueError(f"min_p must be None or a number in [0, 1], got {min_p!r}")


def check_logits(logits: torch.Tensor) -> torch.Tensor:
    """``logits`` (..., V) as rows (B, V), if every entry is finite or −∞ and every row keeps a token."""
    if not isinstance(logits, torch.Tensor) or logits.dim() == 0 or not logits.is_floating_point():
        raise ValueError("logits must be a floating-point tensor with at least one dimension (the vocabulary, "
                         f"last), got {logits.dtype if isinstance(logits, torch.Tensor) else type(logits).__name__}")
    x = logits.reshape(-1, logits.shape[-1])  # (B, V), B = product of the leading dimensions
    bad = torch.isnan(x) | (x == math.inf)
    if bool(bad.any()):
        row, token = (int(i) for i in bad.nonzero()[0])
        raise ValueError(f"logits must be finite or -inf (a removed token), got {int(bad.sum())} NaN/+inf "
                         f"entries, the first {x[row, token].item()} at row {row}, token {token}")
    empty = (x == -math.inf).all(dim=-1)
    if bool(empty.any()):
        raise ValueError(f"logits: every token of row {int(empty.nonzero()[0])} is -inf, nothing to sample "
                         "(at least one logit per row must be finite)")
    return x


def temper(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """β·s = s/T on rows ``logits`` (B, V); ``temperature=0`` is β = ∞ (greedy).

    Bit for bit transformers' ``TemperatureLogitsWarper`` whenever s/T is representable.
    Two guards keep a tiny T from giving a wrong argmax instead of an overflow:

    - if β = 1/T itself overflows the logits' dtype (float32: T < 2.9e-39), β = ∞ in that
      dtype and the result is the greedy mask of ``temperature=0``;
    - if s/T overflows (float32 logits of 10 at T = 1e-38), the row max is subtracted
      first: softmax is unchanged, every entry is ≤ 0, and only the maxima stay at 0.
    """
    if temperature == 0 or temperature * torch.finfo(logits.dtype).max < 1:
        return greedy_mask(logits)  # β = ∞
    out = logits / temperature  # softmax(β s) with β = 1/T
    if not torch.equal(torch.isfinite(out), torch.isfinite(logits)):  # s/T overflowed somewhere
        out = (logits - logits.amax(dim=-1, keepdim=True)) / temperature
    return out


def greedy_mask(logits: torch.Tensor) -> torch.Tensor:
    """β = ∞: keep only the (first) argmax of each row of ``logits`` (..., V); the rest become −∞."""
    keep = torch.zeros_like(logits, dtype=torch.bool)
    keep.scatter_(-1, logits.argmax(dim=-1, keepdim=True), True)
    return logits.masked_fill(~keep, NEG_INF)


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep logits >= the k-th largest in each row of ``logits`` (B, V); ties at the boundary all stay."""
    k = min(k, logits.size(-1))
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1)
    return logits.masked_fill(logits < kth, NEG_INF)


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus: drop the least probable tokens whose total mass is <= 1 − p (rows of ``logits`` (B, V))."""
    sorted_logits, order = torch.sort(logits, descending=False)  # ascending, as in transformers
    mass_below = sorted_logits.softmax(dim=-1).cumsum(dim=-1)  # (B, V) mass of this token and all below
    remove_sorted = mass_below <= 1 - p
    remove_sorted[..., -1:] = False  # the most probable token always survives
    remove = remove_sorted.scatter(-1, order, remove_sorted)  # back to vocabulary order
    return logits.masked_fill(remove, NEG_INF)


def min_p_filter(logits: torch.Tensor, min_p: float) -> torch.Tensor:
    """Drop tokens with P(y) < min_p · max P in each row of ``logits`` (B, V); the argmax always stays."""
    probs = logits.softmax(dim=-1)  # (B, V)
    remove = probs < min_p * probs.amax(dim=-1, keepdim=True)
    remove.scatter_(-1, probs.topk(1, dim=-1).indices, False)
    return logits.masked_fill(remove, NEG_INF)


def filter_logits(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    min_p: float | None = None,
) -> torch.Tensor:
    """Next-token logits after temperature, then top-k, then top-p, then min-p (book: "Temperature in LLM sampling").

    ``logits`` has shape (..., V): any leading batch dimensions, the vocabulary
    last.  Removed tokens get −∞; ``softmax`` of the result is the distribution a
    sampler draws from.  ``temperature`` is T = 1/β (the logits are divided by
    T); ``temperature=0`` is β = ∞ and keeps only the argmax.  ``None`` (and
    ``top_p=1``, ``min_p=0``, ``top_k >= V``) switches a filter off, up to the
    transformers convention that ``top_p=1`` also drops tokens whose probability
    underflows to exactly 0.  The most probable token is never removed.  NaN or +∞
    logits raise ``ValueError`` (module docstring); a tiny ``temperature`` is handled by :func:`temper`.
    """
    _check(temperature, top_k, top_p, min_p)
    x = temper(check_logits(logits), temperature)  # (B, V), B = product of the leading dimensions
    if top_k is not None:
        x = top_k_filter(x, top_k)
    if top_p is not None:
        x = top_p_filter(x, top_p)
    if min_p is not None:
        x = min_p_filter(x, min_p)
    return x.reshape(logits.shape)
