"""Sampling the next token and generating text: one visible loop (book: "Temperature in LLM sampling", softmax with β and top-p).

``model`` is any callable ``model(ids) -> logits`` with ``ids`` (B, T) int64 and
``logits`` either (B, T, V) — a transformer's logits at every position, such as
``tempguide.models.CharGPT``; the last position is used — or (B, V), the
next-token logits directly (such as ``tempguide.lm.exact.MarkovLM``).

Token ids must be an integer tensor with values in [0, V): a float prompt or an id
out of range raises ``ValueError`` instead of being truncated or wrapped around.
"""
from __future__ import annotations

import torch

from .filters import filter_logits


def sample_next(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    min_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One token id per row of ``logits`` (..., V) -> (...): y ~ softmax(filter_logits(logits, ...)).

    ``temperature=0`` returns the argmax without drawing any randomness (greedy).  ``logits`` must be
    finite or −∞ (see ``filter_logits``).
    """
    filtered = filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)
    if temperature == 0:
        return filtered.argmax(dim=-1)
    probs = filtered.softmax(dim=-1).reshape(-1, logits.shape[-1])  # (B, V)
    ids = torch.multinomial(probs, 1, generator=generator)  # (B, 1)
    return ids.reshape(logits.shape[:-1])


def _vocab_size(model) -> int | None:
    """V from ``model.vocab_size`` or ``model.config.vocab_size``, when the model states it."""
    V = getattr(model, "vocab_size", None)
    return V if V is not None else getattr(getattr(model, "config", None), "vocab_size", None)


def check_ids(ids: torch.Tensor, name: str, vocab_size: int | None) -> torch.Tensor:
    """``ids`` unchanged if it is an integer tensor with values in [0, vocab_size) (no upper bound if None)."""
    if not isinstance(ids, torch.Tensor) or ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor of token ids, got "
                         f"{ids.dtype if isinstance(ids, torch.Tensor) else type(ids).__name__}")
    allowed = f"[0, {vocab_size})" if vocab_size is not None else "[0, V)"
    if ids.numel() and (int(ids.min()) < 0 or (vocab_size is not None and int(ids.max()) >= vocab_size)):
        raise ValueError(f"{name} must hold token ids in {allowed}, got range [{int(ids.min())}, {int(ids.max())}]")
    return ids


@torch.no_grad()
def generate(
    model,
    prompt: torch.Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    min_p: float | None = None,
    generator: torch.Generator | None = None,
    context: int | None = None,
) -> torch.Tensor:
    """Append ``max_new_tokens`` sampled tokens to ``prompt`` (T,) or (B, T); returns (T + n,) or (B, T + n).

    Each step feeds the last ``context`` tokens (default: ``model.block_size``
    when the model has one, else everything) to ``model``, filters the
    next-token logits (temperature, top-k, top-p, min-p; see ``filter_logits``)
    and samples.  Randomness comes only from ``generator``.  ``prompt`` holds integer
    token ids in [0, V), V the model's ``vocab_size`` (or, for a plain callable, the
    size of its logits); ``context`` is None or an int >= 1.
    """
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if not isinstance(prompt, torch.Tensor) or prompt.dim() not in (1, 2) or prompt.shape[-1] < 1:
        raise ValueError(f"prompt must be a tensor of shape (T,) or (B, T) with T >= 1, got "
                         f"{tuple(prompt.shape) if isinstance(prompt, torch.Tensor) else type(prompt).__name__}")
    if context is not None and (isinstance(context, bool) or not isinstance(context, int) or context < 1):
        raise ValueError(f"context must be None or an int >= 1 (tokens fed to the model), got {context!r}")
    V = _vocab_size(model)
    context = context or getattr(model, "block_size", None)
    ids = check_ids(prompt, "prompt", V).long().reshape(-1, prompt.shape[-1])  # (B, T)
    for _ in range(max_new_tokens):
        window = ids if context is None else ids[:, -context:]  # (B, ≤ context)
        logits = model(window)  # (B, T, V) or (B, V)
        if logits.dim() == 3:
            logits = logits[:, -1, :]  # (B, V): the prediction after the last token
        if V is None:  # a plain callable: its vocabulary is the size of its logits
            V = logits.shape[-1]
            check_ids(prompt, "prompt", V)
        y = sample_next(logits.float(), temperature=temperature, top_k=top_k, top_p=top_p,
                        min_p=min_p, generator=generator)  # (B,)
        ids = torch.cat([ids, y[:, None].to(ids.device)], dim=1)  # (B, T + 1)
    return ids if prompt.dim() == 2 else ids[0]
