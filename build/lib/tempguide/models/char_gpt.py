"""A small character-level GPT (book: "Temperature in LLM sampling", notebook 11), after Karpathy's nanoGPT.

Training objective (McAllester's lecture; book: llm-training): minimise the cross-entropy

    Φ* = argmin_Φ E_y [ −Σ_i ln P_Φ(y_{i+1} | y_1..y_i) ],   P_Φ(·|y_≤i) = softmax s_Φ(·|y_≤i),

where the logits s_Φ come from a causal transformer: token + position
embeddings, ``n_layer`` pre-LayerNorm blocks (causal self-attention, then an MLP),
a final LayerNorm and an output layer tied to the token embedding.  The
vocabulary is ``tempguide.data.TEXT_VOCAB`` (96 characters).
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from ..data import TEXT_VOCAB


@dataclasses.dataclass
class CharGPTConfig:
    """Sizes of a ``CharGPT``; the defaults are the shipped checkpoint's."""

    vocab_size: int = len(TEXT_VOCAB)
    block_size: int = 256  # longest context, in characters
    n_layer: int = 3
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.1


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position i only sees positions ≤ i."""

    def __init__(self, config: CharGPTConfig):
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"n_embd ({config.n_embd}) must be divisible by n_head ({config.n_head})")
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 × (B, T, C)
        q, k, v = (a.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for a in (q, k, v))  # (B, h, T, C/h)
        past = 0
        if cache is not None:  # keys and values of earlier positions (see KVCached)
            if "k" in cache:
                past = cache["k"].shape[2]
                k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)  # (B, h, past + T, C/h)
            cache["k"], cache["v"] = k, v
        if past == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               dropout_p=self.dropout if self.training else 0.0)  # (B, h, T, C/h)
        else:  # new position past + i sees keys 0..past + i
            mask = torch.arange(T, device=x.device)[:, None] + past >= torch.arange(past + T, device=x.device)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, h, T, C/h)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return F.dropout(self.proj(y), self.dropout, self.training)


class Block(nn.Module):
    """x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, config: CharGPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd), nn.GELU(),
            nn.Linear(4 * config.n_embd, config.n_embd), nn.Dropout(config.dropout),
        )

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache)  # (B, T, C)
        return x + self.mlp(self.ln2(x))  # (B, T, C)


class CharGPT(nn.Module):
    """``forward(ids (B, T)) -> logits (B, T, V)``: logits[:, i] score the character after ids[:, :i+1]."""

    def __init__(self, config: CharGPTConfig | None = None):
        super().__init__()
        self.config = config = config or CharGPTConfig()
        self.block_size = config.block_size  # read by tempguide.lm.generate to crop the context
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying (Press & Wolf 2017), as in GPT-2
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor, caches: list[dict] | None = None) -> torch.Tensor:
        """Logits (B, T, V) for ``ids`` (B, T).

        With ``caches`` (one dict per block, see ``KVCached``) ``ids`` are the
        positions *after* those already cached, and the cached keys/values are reused.
        """
        B, T = ids.shape
        past = caches[0]["k"].shape[2] if caches and "k" in caches[0] else 0
        if past + T > self.block_size:
            raise ValueError(f"ids has {past + T} positions, more than block_size={self.block_size}")
        pos = torch.arange(past, past + T, device=ids.device)  # (T,)
        x = self.drop(self.tok_emb(ids) + self.pos_emb(pos))  # (B, T, C)
        for i, block in enumerate(self.blocks):
            x = block(x, caches[i] if caches else None)  # (B, T, C)
        return self.head(self.ln_f(x))  # (B, T, V)


class KVCached:
    """``CharGPT`` as a next-token model that remembers keys and values between calls.

    ``cached(ids (B, T)) -> logits (B, V)`` equals ``model(ids)[:, -1]``.  When
    ``ids`` is the previous call's ``ids`` plus one token (what
    ``tempguide.lm.generate`` does until the context is full), only the new
    position is computed: a step costs O(T) instead of O(T²).  Otherwise
    (a new prompt, or a context window that has started to slide) everything is
    recomputed, so the result never depends on the cache.
    """

    def __init__(self, model: CharGPT):
        self.model = model
        self.block_size = model.block_size  # read by tempguide.lm.generate
        self.ids: torch.Tensor | None = None
        self.caches: list[dict] = []

    @torch.no_grad()
    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        prev = self.ids
        if (prev is not None and ids.shape[0] == prev.shape[0] and ids.shape[1] == prev.shape[1] + 1
                and torch.equal(ids[:, :-1], prev)):
            logits = self.model(ids[:, -1:], self.caches)  # (B, 1, V): only the new position
        else:
            self.caches = [{} for _ in self.model.blocks]
            logits = self.model(ids, self.caches)  # (B, T, V)
        self.ids = ids
        return logits[:, -1]  # (B, V)


def char_loss(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """Mean next-character cross-entropy (nats) on windows ``ids`` (B, T + 1): the training objective."""
    logits = model(ids[:, :-1])  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), ids[:, 1:].reshape(-1))
