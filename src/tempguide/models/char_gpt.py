"""A small character-level GPT (book §1.7, "A model we can train"), after Karpathy's nanoGPT.

Training objective (McAllester's lecture, book §1.1): minimise the cross-entropy

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
    block_size: int = 128  # longest context, in characters
    n_layer: int = 4
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 × (B, T, C)
        q, k, v = (a.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for a in (q, k, v))  # (B, h, T, C/h)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)  # (B, h, T, C/h)
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))  # (B, T, C)
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

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        B, T = ids.shape
        if T > self.block_size:
            raise ValueError(f"ids has {T} positions, more than block_size={self.block_size}")
        pos = torch.arange(T, device=ids.device)  # (T,)
        x = self.drop(self.tok_emb(ids) + self.pos_emb(pos))  # (B, T, C)
        for block in self.blocks:
            x = block(x)  # (B, T, C)
        return self.head(self.ln_f(x))  # (B, T, V)


def char_loss(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """Mean next-character cross-entropy (nats) on windows ``ids`` (B, T + 1): the training objective."""
    logits = model(ids[:, :-1])  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), ids[:, 1:].reshape(-1))
