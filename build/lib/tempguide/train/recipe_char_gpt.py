"""Recipe for the shipped character-level GPT (book: llm-training, notebook 11): ``python -m tempguide.train char_gpt``.

Data: ``tempguide.data.load_text()`` (CPython's pydoc topics), random windows of
``block_size + 1`` characters from the training split.  Objective: next-character
cross-entropy (``char_loss``).  We report validation bits per character,

    bpc = (1 / ln 2) · mean_i −ln P_Φ(y_{i+1} | y_1..y_i)

over non-overlapping ``block_size + 1``-character windows of the validation split
(every character scored once, with 0..block_size−1 characters of context).
"""
from __future__ import annotations

import dataclasses

import torch

from .. import config
from ..data import encode, load_text
from ..metrics.text import bits_per_character
from ..models.char_gpt import CharGPT, CharGPTConfig, char_loss
from .loop import train
from .recipes import Trained

STEPS = 2000  # about 15 minutes on one idle CPU thread (0.45 s per step)
BATCH_SIZE = 16
LR = 2e-3
WEIGHT_DECAY = 0.01
DATA = ("CPython pydoc topics (tempguide.data.load_text()): first 90% train, last 10% validation; "
        "random 257-character windows")
SHIPPED_CONFIG = CharGPTConfig(block_size=256, n_layer=3, n_head=4, n_embd=128, dropout=0.1)


def window_batches(ids: torch.Tensor, *, length: int, batch_size: int, device=None):
    """``next_batch`` for ``train``: ``batch_size`` random windows of ``length`` tokens of ``ids`` (N,)."""
    device = device or config.device()
    ids = ids.to(device)

    def next_batch(generator: torch.Generator) -> tuple[torch.Tensor]:
        start = torch.randint(len(ids) - length, (batch_size, 1), generator=generator, device=generator.device)
        return (ids[start + torch.arange(length, device=device)],)  # (B, length)

    return next_batch


def validation_bpc(model: CharGPT, text: str) -> float:
    """Bits per character of ``model`` on ``text``, non-overlapping windows (module docstring)."""
    device = next(model.parameters()).device
    return bits_per_character(model.eval(), encode(text).to(device), stride=model.block_size)


def char_gpt(*, steps: int | None = None, seed: int = 0, device=None, progress: bool = True,
             model_config: CharGPTConfig = SHIPPED_CONFIG) -> Trained:
    """Train a ``CharGPT`` on the text corpus; metrics: final training loss and validation bpc.

    ``seed`` fixes the initial weights, dropout (global torch RNG) and the batches.
    """
    device = device or config.device()
    steps = STEPS if steps is None else steps
    corpus = load_text()
    torch.manual_seed(seed)  # the initial weights and dropout
    model = CharGPT(model_config)
    next_batch = window_batches(encode(corpus.train), length=model_config.block_size + 1,
                                batch_size=BATCH_SIZE, device=device)
    ema_model, result = train(model, lambda m, batch, g: char_loss(m, batch[0]), next_batch,
                              steps=steps, lr=LR, weight_decay=WEIGHT_DECAY, seed=seed, device=device,
                              progress=progress)
    metrics = {"final_loss": result.final_loss, "val_bpc": validation_bpc(ema_model, corpus.val)}
    return Trained(ema_model, dataclasses.asdict(model_config), DATA, result, metrics, BATCH_SIZE, LR)
