"""Text metrics for the decoding sweeps (book: llm-goldilocks, notebook 11; Holtzman et al. 2020, Table 1).

A *token* here is a **word**: a maximal run of non-whitespace characters
(``text.split()``).  Our model writes characters, but "a phrase repeated three
times" and "distinct bigrams" are about words, as they are for GPT-2's BPE
tokens in the paper; character n-grams would count indentation and ``=====``
rules as repetition.  Perplexity and bits per character are per **character**,
the unit the model predicts.

- ``repetition_rate``: fraction of generations that end in a phrase of ≥ 2 words
  repeated ≥ 3 times in a row (Holtzman et al. 2020, §5.2 and Table 1).
- ``distinct_n``: distinct n-grams / all n-grams, pooled over generations (Li et al. 2016).
- ``self_perplexity``: exp of the mean per-character negative log-likelihood of the
  generated text under the (untempered) model that generated it.
- ``bits_per_character``: mean −log2 P(next character) on held-out text.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def words(text: str) -> list[str]:
    """The tokens of the text metrics: whitespace-separated words."""
    return text.split()


def repeats_at_end(tokens: list, n: int) -> int:
    """How many times the last ``n`` tokens occur back to back at the end of ``tokens`` (≥ 1 if len ≥ n)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if len(tokens) < n:
        return 0
    phrase, count = tokens[len(tokens) - n:], 1
    while len(tokens) >= n * (count + 1) and tokens[len(tokens) - n * (count + 1): len(tokens) - n * count] == phrase:
        count += 1
    return count


def is_repetitive(text: str, *, min_phrase: int = 2, min_repeats: int = 3) -> bool:
    """Does ``text`` end in a phrase of ≥ ``min_phrase`` words repeated ≥ ``min_repeats`` times in a row?

    The last word is dropped unless the text ends in whitespace: a fixed
    character budget usually cuts it in the middle.  A loop with any period (in
    words) is caught, since the end of a periodic sequence repeats its last
    ``period`` words.
    """
    if min_phrase < 1 or min_repeats < 2:
        raise ValueError(f"need min_phrase >= 1 and min_repeats >= 2, got {min_phrase}, {min_repeats}")
    tokens = words(text)
    if text and not text[-1].isspace():
        tokens = tokens[:-1]  # possibly a cut word
    return any(repeats_at_end(tokens, n) >= min_repeats
               for n in range(min_phrase, len(tokens) // min_repeats + 1))


def repetition_rate(texts: list[str], *, min_phrase: int = 2, min_repeats: int = 3) -> float:
    """Fraction (0..1) of ``texts`` that are repetitive in Holtzman et al.'s sense (see ``is_repetitive``)."""
    if not texts:
        raise ValueError("texts must be a non-empty list of strings")
    return sum(is_repetitive(t, min_phrase=min_phrase, min_repeats=min_repeats) for t in texts) / len(texts)


def distinct_n(texts: list[str], n: int = 2) -> float:
    """Distinct word n-grams / total word n-grams over all ``texts`` (Li et al. 2016); 0 if there are none."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    grams = [tuple(w[i:i + n]) for w in map(words, texts) for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


@torch.no_grad()
def token_log_probs(model, ids: torch.Tensor, *, context: int | None = None, stride: int | None = None) -> torch.Tensor:
    """log P(ids[:, i] | previous tokens) for i = 1..T−1 under ``model`` (ids (B, T) -> (B, T − 1)).

    ``model(ids (B, T')) -> logits (B, T', V)`` sees at most ``context`` tokens
    (default ``model.block_size``).  Longer texts are scored with windows of
    ``context`` tokens moved by ``stride``: with the default ``stride=1`` every
    token gets exactly the context ``tempguide.lm.generate`` gave it (the last
    ``context`` tokens); a larger stride is faster and gives some tokens less
    context (at least context − stride tokens once T > context).
    """
    B, T = ids.shape
    context = context or getattr(model, "block_size", T)
    stride = stride or 1
    out = torch.empty(B, T - 1)
    done = 1  # positions < done are scored (position 0 has no prediction)
    start = 0
    while done < T:
        window = ids[:, start:start + context + 1]  # (B, w ≤ context + 1)
        logits = model(window[:, :-1])
        if logits.dim() != 3:
            raise ValueError(f"model must return logits at every position (B, T, V), got shape {tuple(logits.shape)}")
        logp = F.log_softmax(logits.float(), dim=-1)  # (B, w − 1, V): row j predicts window[:, j + 1]
        picked = logp.gather(-1, window[:, 1:, None])[..., 0]  # (B, w − 1): log P(ids[start + j + 1])
        first = done - start - 1  # index in ``picked`` of the first unscored position
        out[:, done - 1:start + window.shape[1] - 1] = picked[:, first:]
        done = start + window.shape[1]
        start += stride
    return out


def self_perplexity(model, ids: torch.Tensor, *, prompt_length: int, context: int | None = None) -> float:
    """exp(mean −ln P(char)) of the generated characters ``ids[:, prompt_length:]`` under ``model``."""
    if not 1 <= prompt_length < ids.shape[-1]:
        raise ValueError(f"prompt_length must be in [1, {ids.shape[-1]}), got {prompt_length}")
    logp = token_log_probs(model, ids, context=context)[:, prompt_length - 1:]  # generated characters only
    return math.exp(-logp.mean().item())


def bits_per_character(model, ids: torch.Tensor, *, context: int | None = None, stride: int | None = None) -> float:
    """Mean −log2 P(next character) over ``ids`` (T,) or (B, T), every character but the first scored.

    Default ``stride = context``: non-overlapping windows, each character seen
    with 0..context−1 characters of context (how we report validation bpc).
    """
    ids = ids.reshape(-1, ids.shape[-1])
    context = context or getattr(model, "block_size", ids.shape[-1])
    return -token_log_probs(model, ids, context=context, stride=stride or context).mean().item() / math.log(2)
