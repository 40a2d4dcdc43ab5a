"""Temperature and truncation for language models (book chapter 1, "Temperature in LLM sampling").

- ``filter_logits``: temperature, top-k, top-p, min-p on next-token logits
- ``sample_next``, ``generate``: the sampling loop
- ``exact``: an enumerable autoregressive toy, per-token vs sequence-level temperature
"""
from . import exact
from .exact import (
    MarkovLM,
    entropy,
    greedy_sequence,
    kl_divergence,
    most_probable_sequence,
    per_token_distribution,
    sequence_level_distribution,
    sequence_prob,
    sequence_probs,
    sequences,
    temper,
    toy_lm,
)
from .filters import filter_logits
from .sample import generate, sample_next

__all__ = [
    "MarkovLM", "entropy", "exact", "filter_logits", "generate", "greedy_sequence", "kl_divergence",
    "most_probable_sequence", "per_token_distribution", "sample_next", "sequence_level_distribution",
    "sequence_prob", "sequence_probs", "sequences", "temper", "toy_lm",
]
