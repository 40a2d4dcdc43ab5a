"""The language-model instance of the Markovian VAE (book: "The Markovian-VAE generalization", language models).

The encoder drops the last token: z₀ = y, z₁ = y[:−1], …, z_N = ∅ (the empty prefix); the
decoder P_gen(z_{i−1} | z_i) appends one token drawn from the next-token model.  The seed's
three modes become, on the next-token logits s(· | prefix, x):

    unadjusted             v ~ softmax s(· | z, x)                    chapter 1's sampler, T = 1
    temperature-adjusted   v ~ softmax β·s(· | z, x)                  chapter 1's temperature T = 1/β
    guidance-adjusted      v ~ softmax β·[ℓ(· | z, x_bad) + w·(ℓ(· | z, x_good) − ℓ(· | z, x_bad))]

with ℓ = log_softmax s.  With x_good = the prompt and x_bad = ∅ (no prompt) this is Sanchez et al.
(2023), "Stay on Topic with Classifier-Free Guidance": ℓ_c + (w − 1)(ℓ_c − ℓ_∅), their γ = our w,
= transformers' ``UnbatchedClassifierFreeGuidanceLogitsProcessor(guidance_scale=w)``.  The seed's
formula as written drops the base term: softmax β·(ℓ_good − ℓ_bad); restricted to the tokens the
good model finds plausible (p_good ≥ α·max p_good) it is contrastive decoding (Li et al. 2023).

The unconditional branch sees the continuation *without* the prompt: null_prefix + continuation,
where null_prefix defaults to the prompt's last token (transformers' default, as no char model
can predict from an empty context).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..guidance._checks import check_weight
from ..lm.sample import _vocab_size, check_ids, sample_next
from ..metrics.text import token_log_probs

RULES = ("cfg", "seed", "contrastive")


def prefix_levels(y: torch.Tensor) -> list[torch.Tensor]:
    """The encoder's levels [z₀ = y, z₁ = y[..., :−1], …, z_N = y[..., :0] = ∅] of token ids (..., T)."""
    return [y[..., :y.shape[-1] - i] for i in range(y.shape[-1] + 1)]


def cfg_logits(logits_good: torch.Tensor, logits_bad: torch.Tensor, w) -> torch.Tensor:
    """ℓ_bad + w·(ℓ_good − ℓ_bad) with ℓ = log_softmax (Sanchez et al. 2023; w = 1: no guidance)."""
    w = check_weight(w, "w")
    if isinstance(w, torch.Tensor):
        w = w.to(logits_good).reshape(-1, *[1] * (logits_good.ndim - 1))
    l_good, l_bad = F.log_softmax(logits_good.float(), -1), F.log_softmax(logits_bad.float(), -1)
    return l_bad + w * (l_good - l_bad)


def seed_logits(logits_good: torch.Tensor, logits_bad: torch.Tensor) -> torch.Tensor:
    """The seed's guidance as written: ℓ_good − ℓ_bad, no base term (softmax ∝ p_good / p_bad)."""
    return F.log_softmax(logits_good.float(), -1) - F.log_softmax(logits_bad.float(), -1)


def contrastive_logits(logits_good: torch.Tensor, logits_bad: torch.Tensor, *, alpha: float = 0.1) -> torch.Tensor:
    """Contrastive decoding (Li et al. 2023): ℓ_good − ℓ_bad on V_head, −∞ elsewhere.

    V_head = {v : p_good(v) ≥ α·max p_good}, the tokens the good model finds plausible; α = 0 keeps all.
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1] (the plausibility threshold), got {alpha}")
    l_good = F.log_softmax(logits_good.float(), -1)
    if alpha > 0:
        keep = l_good >= math.log(alpha) + l_good.amax(-1, keepdim=True)           # p ≥ α·max p
    else:
        keep = torch.ones_like(l_good, dtype=torch.bool)
    return (l_good - F.log_softmax(logits_bad.float(), -1)).masked_fill(~keep, float("-inf"))


def _next_logits(model, ids: torch.Tensor, context: int | None) -> torch.Tensor:
    window = ids if context is None else ids[:, -context:]                # (B, ≤ context)
    logits = model(window)
    return logits[:, -1, :] if logits.dim() == 3 else logits               # (B, V)


def branch_contexts(ids: torch.Tensor, prompt_length: int, null_prefix: torch.Tensor):
    """(conditional, unconditional) inputs at one step: prompt + continuation, null_prefix + continuation."""
    return ids, torch.cat([null_prefix, ids[:, prompt_length:]], 1)


@torch.no_grad()
def generate_guided_lm(model, prompt: torch.Tensor, max_new_tokens: int, *, w=1.0, rule: str = "cfg",
                       beta: float = 1.0, alpha: float = 0.1, null_prefix: torch.Tensor | None = None,
                       model_null=None, generator: torch.Generator | None = None,
                       context: int | None = None) -> torch.Tensor:
    """Guidance-adjusted generation on logits, one visible loop; returns prompt + continuation (B, T + n).

    Per step: s_c = model(prompt + continuation), s_∅ = model_null(null_prefix + continuation), then
    ``rule`` "cfg" (ℓ_∅ + w·(ℓ_c − ℓ_∅)), "seed" (ℓ_c − ℓ_∅) or "contrastive" (ℓ_c − ℓ_∅ on the
    plausible tokens), sampled at inverse temperature β (β = ∞: argmax).

    Args:
        model: ``model(ids (B, T)) -> logits (B, T, V) or (B, V)``, e.g. ``CharGPT`` or ``KVCached``.
        prompt: (B, T) or (T,) token ids, the condition x_good.
        null_prefix: (B, T₀) or (T₀,) ids the unconditional branch sees before the continuation;
            default the prompt's last token.  Pass the prompt itself with an amateur ``model_null``
            for contrastive decoding between two models.
        model_null: the unconditional branch's model (default ``model``; a separate ``KVCached``
            keeps the two branches' caches apart).
        context: at most this many tokens per call (default ``model.block_size`` if it has one).
    Book: "The Markovian-VAE generalization" (guidance on logits).
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    beta = float(beta)
    if not beta > 0:
        raise ValueError(f"beta must be > 0 (β = ∞: greedy), got {beta}")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if prompt.dim() not in (1, 2) or prompt.shape[-1] < 1:
        raise ValueError(f"prompt must have shape (T,) or (B, T) with T >= 1, got {tuple(prompt.shape)}")
    if context is not None and (isinstance(context, bool) or not isinstance(context, int) or context < 1):
        raise ValueError(f"context must be None or an int >= 1 (tokens fed to the model), got {context!r}")
    V = _vocab_size(model)
    ids = check_ids(prompt, "prompt", V).long().reshape(-1, prompt.shape[-1])   # (B, T)
    B, T = ids.shape
    if null_prefix is not None:
        check_ids(null_prefix, "null_prefix", _vocab_size(model_null or model))
    null = ids[:, -1:] if null_prefix is None else null_prefix.long().to(ids.device).reshape(-1, null_prefix.shape[-1])
    null = null.expand(B, -1) if null.shape[0] == 1 else null
    if null.shape[0] != B or null.shape[1] < 1:
        raise ValueError(f"null_prefix must have shape (T0,) or ({B}, T0) with T0 >= 1, got {tuple(null_prefix.shape)}")
    model_null = model if model_null is None else model_null
    context = context or getattr(model, "block_size", None)
    temperature = 0.0 if math.isinf(beta) else 1.0 / beta
    for _ in range(max_new_tokens):
        cond, uncond = branch_contexts(ids, T, null)                       # the continuation with / without the prompt
        s_c = _next_logits(model, cond, context)                           # (B, V)
        s_u = _next_logits(model_null, uncond, context)                    # (B, V)
        if rule == "cfg":
            logits = cfg_logits(s_c, s_u, w)
        elif rule == "seed":
            logits = seed_logits(s_c, s_u)
        else:
            logits = contrastive_logits(s_c, s_u, alpha=alpha)
        v = sample_next(logits, temperature=temperature, generator=generator)   # softmax β·logits
        ids = torch.cat([ids, v[:, None].to(ids.device)], 1)               # z_{i−1} = z_i + one token
    return ids if prompt.dim() == 2 else ids[0]


# ----- how strongly a continuation follows its prompt ---------------------------------------------

def prompt_pmi(model, prompts: torch.Tensor, continuations: torch.Tensor, *,
               null_prefix: torch.Tensor | None = None) -> torch.Tensor:
    """Bits per character the prompt adds to the continuation, per example (B,):

        (1/L) Σ_j [log₂ p(c_j | prompt, c_<j) − log₂ p(c_j | null_prefix, c_<j)],

    the pointwise mutual information between prompt and continuation under ``model`` — the
    quantity CFG multiplies by w.  ``null_prefix`` as in :func:`generate_guided_lm`.
    """
    B, T = prompts.shape
    null = prompts[:, -1:] if null_prefix is None else null_prefix.reshape(-1, null_prefix.shape[-1]).expand(B, -1)
    L = continuations.shape[1]
    with_prompt = token_log_probs(model, torch.cat([prompts, continuations], 1))[:, -L:]
    without = token_log_probs(model, torch.cat([null, continuations], 1))[:, -L:]
    return (with_prompt - without).mean(1) / math.log(2)


def _in_word_ngrams(text: str, n: int) -> list[str]:
    return [g for g in (text[j:j + n] for j in range(len(text) - n + 1)) if not any(c.isspace() for c in g)]


def prompt_ngram_excess(prompts: list[str], continuations: list[str], *, n: int = 5) -> torch.Tensor:
    """Per example (B,): the share of the continuation's character n-grams inside words found in its own
    prompt, minus the mean share found in the other examples' prompts (the chance level).

    A character model's words are often misspelled, so whole-word overlap misses the partial
    copying of identifiers and topic stems ("socke", "bytes"); 5-grams inside words catch it and
    rarely match by chance.  Subtracting the other prompts removes what any prompt would share
    (common words of the corpus), so the expectation is 0 for a continuation that ignores its
    prompt.  Continuations without an n-gram count 0.
    """
    if len(prompts) != len(continuations) or len(prompts) < 2:
        raise ValueError(f"prompts and continuations must be lists of equal length >= 2, got "
                         f"{len(prompts)} and {len(continuations)}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    vocabs = [set(_in_word_ngrams(p, n)) for p in prompts]
    excess = torch.zeros(len(prompts), dtype=torch.float64)
    for i, text in enumerate(continuations):
        grams = _in_word_ngrams(text, n)
        if not grams:
            continue
        shares = torch.tensor([sum(g in vocab for g in grams) / len(grams) for vocab in vocabs], dtype=torch.float64)
        excess[i] = shares[i] - (shares.sum() - shares[i]) / (len(prompts) - 1)
    return excess
