"""Words of the MNIST captions as token ids (book: "CLIP"; captions from ``tempguide.captions``).

    tokenize(["a large thick seven slanting right"]) -> (B, L) ids, 0 = padding

The vocabulary is every word the captions can contain.  Every word belongs to
exactly one slot (size, thickness, digit, slant), so a *bag of words* loses
nothing: the order of the words carries no information here.
"""
from __future__ import annotations

import itertools

import torch

from ..captions import DIGITS, SIZE, SLANT, THICKNESS

#: id 0 is padding; the words of the captions follow
VOCAB = ("<pad>", "a", *SIZE, *THICKNESS, *DIGITS, "slanting", "left", "upright", "right")
WORD_ID = {w: i for i, w in enumerate(VOCAB)}


def all_captions() -> list[str]:
    """The 120 full captions "a {size} {thickness} {digit} {slant}", digit-major then size, thickness, slant."""
    return [f"a {sz} {th} {d} {sl}" for d, sz, th, sl in itertools.product(DIGITS, SIZE, THICKNESS, SLANT)]


def caption_parts(caption: str) -> dict[str, str]:
    """{"size", "thickness", "digit", "slant"} of a full caption (inverse of the caption template)."""
    words = caption.split()
    if len(words) < 5 or words[0] != "a":
        raise ValueError(f"caption must read 'a {{size}} {{thickness}} {{digit}} {{slant}}', got {caption!r}")
    return {"size": words[1], "thickness": words[2], "digit": words[3], "slant": " ".join(words[4:])}


def tokenize(captions: list[str] | str, length: int = 7) -> torch.Tensor:
    """(B, length) long tensor of word ids, right-padded with 0; unknown words raise ValueError."""
    if isinstance(captions, str):
        captions = [captions]
    ids = torch.zeros(len(captions), length, dtype=torch.long)
    for b, caption in enumerate(captions):
        words = caption.split()
        if not 1 <= len(words) <= length:
            raise ValueError(f"a caption must have 1 to {length} words, got {len(words)} in {caption!r}")
        for i, w in enumerate(words):
            if w not in WORD_ID or w == "<pad>":
                raise ValueError(f"unknown word {w!r} in caption {caption!r}; the vocabulary is {VOCAB[1:]}")
            ids[b, i] = WORD_ID[w]
    return ids


def caption_index(labels: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """(B,) index into ``all_captions()`` of the caption of each (label, image), attributes measured on the image."""
    from ..captions import attribute_words  # the judges' measurers
    words = attribute_words(images)
    sz = torch.tensor([SIZE.index(w) for w in words["size"]])
    th = torch.tensor([THICKNESS.index(w) for w in words["thickness"]])
    sl = torch.tensor([SLANT.index(w) for w in words["slant"]])
    return ((labels.cpu().long() * len(SIZE) + sz) * len(THICKNESS) + th) * len(SLANT) + sl
