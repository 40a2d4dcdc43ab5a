"""Decoding sweeps: generate from real prompts, measure the text (book: llm-goldilocks, notebook 11; Holtzman et al. 2020, Table 1).

    for setting in settings:                       # e.g. {"temperature": 0.9} or {"top_p": 0.95}
        ids = generate(model, prompts, n, **setting)
        row = decoding_metrics(model, ids, prompt_length)

``decoding_metrics`` gives the three columns of the chapter's tables: repetition
rate (%), distinct-2 and self-perplexity (per character), defined in
``tempguide.metrics.text``.  Real continuations of the same prompts ("human"
text) go through the same function.
"""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..data import decode, encode
from ..metrics.text import distinct_n, repetition_rate, self_perplexity
from .sample import generate


def text_windows(text: str, n: int, length: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` random windows (n, length) of ``text``'s token ids, each starting at a line that begins with a letter."""
    starts = [i + 1 for i, ch in enumerate(text[:len(text) - length - 1]) if ch == "\n" and text[i + 1].isalpha()]
    if len(starts) < n:
        raise ValueError(f"text has only {len(starts)} line starts with {length} characters after them, need n={n}")
    pick = torch.randperm(len(starts), generator=generator)[:n]
    ids = encode(text)
    return torch.stack([ids[starts[i]: starts[i] + length] for i in pick.tolist()])  # (n, length)


def decoding_metrics(model, ids: torch.Tensor, prompt_length: int) -> dict:
    """Repetition % and distinct-2 of the continuations ``ids[:, prompt_length:]``, and their self-perplexity."""
    texts = [decode(row[prompt_length:]) for row in ids]
    return {
        "repetition_%": 100 * repetition_rate(texts),
        "distinct_2": distinct_n(texts, 2),
        "self_perplexity": self_perplexity(model, ids, prompt_length=prompt_length),
        "texts": texts,
    }


def sweep(model, prompts: torch.Tensor, max_new_tokens: int, settings: list[dict], *,
          generator: torch.Generator | None = None, sampler=None, progress: bool = True) -> list[dict]:
    """One row per decoding ``setting`` (keyword arguments of ``generate``): the setting and its metrics.

    ``model(ids) -> logits (B, T, V)`` scores the text; ``sampler`` (default
    ``model``) generates it, e.g. ``KVCached(model)``, the same model but faster.
    """
    rows = []
    for setting in tqdm(settings, desc="settings", disable=not progress):
        ids = generate(sampler or model, prompts, max_new_tokens, generator=generator, **setting)
        rows.append({**setting, **decoding_metrics(model, ids, prompts.shape[1])})
    return rows


def format_table(rows: list[dict], columns: list[str]) -> str:
    """A plain-text table of ``columns`` of ``rows`` (missing values blank)."""
    def cell(v):
        return "" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v)
    table = [columns] + [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(line[j]) for line in table) for j in range(len(columns))]
    lines = ["  ".join(x.rjust(w) for x, w in zip(line, widths)) for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
