"""A tiny CLIP for MNIST captions and CLIP guidance (book: "CLIP", "GLIDE").

- ``tokens``     the caption vocabulary, tokenisation, the 120 captions, caption indices
- ``model``      ``Clip``: image encoder C_I(z̄, t), bag-of-words text encoder C_T, learnt logit scale
- ``loss``       the symmetric InfoNCE loss
- ``zero_shot``  caption log-probabilities, zero-shot digit / attribute classification, retrieval
- ``guidance``   CLIP guidance as a ``log_prob`` for ``guidance.classifier_guided``; CFG on an embedding
"""
from .loss import info_nce
from .model import T_CLEAN, Clip, ClipConfig, ImageEncoder, TextEncoder
from .tokens import VOCAB, all_captions, caption_index, caption_parts, tokenize

__all__ = ["info_nce", "T_CLEAN", "Clip", "ClipConfig", "ImageEncoder", "TextEncoder", "VOCAB", "all_captions",
           "caption_index", "caption_parts", "tokenize"]
