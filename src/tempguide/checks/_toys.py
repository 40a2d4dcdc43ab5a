"""The exact inputs of the guidance checks: toy denoisers, classifiers and ε-networks that print as code.

Everything here is exact on the course's Gaussian mixtures (``tempguide.toy``), so a check
compares the student's function with the library's on inputs whose answers are known.
"""
from __future__ import annotations

import torch

from .. import toy
from .._renamed import renamed_argument
from ..diffusion.adapters import eps_from_denoiser
from ._core import _Named, _short


def _toys():
    """(1-D mixture, 2-D mixture) with their exact denoisers and class log-posteriors, named for the report."""
    out = []
    for name, mix in (("toy.mixture_1d()", toy.mixture_1d()), ("toy.mixture_2d()", toy.mixture_2d())):
        out.append((mix, _Named(mix.denoise, f"{name}.denoise"),
                    _Named(lambda z, t, m=mix: m.class_posterior(z, t).log(),
                           f"lambda z, t: {name}.class_posterior(z, t).log()")))
    return out


class _NamedNet(_Named):
    """An ε-network ``net(z_bar, t, labels=None)`` that prints as the code that builds it.

    ``net(x=...)``, the keyword of older scaffolds, still works (with a DeprecationWarning naming ``z_bar``).
    """

    @renamed_argument("x", "z_bar")
    def __call__(self, z_bar, t, labels=None):
        return self.fn(z_bar, t, labels)


class _LinearClassifier:
    """log_prob(z, t) of a logistic 'noise-aware network' logits = W z/√(1+t) + b (not an exact posterior)."""

    def __init__(self, W: torch.Tensor, b: torch.Tensor):
        self.W, self.b = W, b

    def __call__(self, z, t):
        t = torch.as_tensor(t, dtype=z.dtype)
        scale = (1 + t).sqrt().reshape(-1, 1) if t.ndim else (1 + t).sqrt()
        return (z / scale @ self.W.T + self.b).log_softmax(-1)

    def __repr__(self) -> str:
        return f"a logistic classifier (W = {_short(self.W)}, b = {_short(self.b)}) of z̄ = z/√(1+t)"


class _RecordingEpsNet:
    """A conditional ε-network with a null label, exact on a toy, that records every call.

    Label c < C gives the exact ε of p(y | c), the null label C the exact ε of p(y):
    what a perfectly trained network with label dropout computes.  ``GRADER_SIDE``:
    when the grader calls a submission in its kernel, this network stays in the
    grader and is called through the channel, so ``calls`` records the submission's calls.
    ``net(x=...)``, the keyword of older scaffolds, still works (with a DeprecationWarning naming ``z_bar``).
    """

    GRADER_SIDE = True

    def __init__(self, mixture, name: str):
        self.mixture, self.name = mixture, name
        self.config = type("Config", (), {"num_classes": mixture.num_classes})()
        self.null_label = mixture.num_classes
        self._eps = [eps_from_denoiser(mixture.condition(c).denoise) for c in range(mixture.num_classes)]
        self._eps.append(eps_from_denoiser(mixture.denoise))
        self.calls: list[int] = []  # batch size of each call

    @renamed_argument("x", "z_bar")
    def __call__(self, z_bar: torch.Tensor, t, labels=None) -> torch.Tensor:
        self.calls.append(z_bar.shape[0])
        labels = torch.full((z_bar.shape[0],), self.null_label) if labels is None else torch.as_tensor(labels)
        if labels.shape != (z_bar.shape[0],) or labels.is_floating_point():
            raise ValueError(f"labels must be integer classes of shape ({z_bar.shape[0]},), got {tuple(labels.shape)}")
        if bool((labels < 0).any() | (labels > self.null_label).any()):
            raise ValueError(f"labels must be in [0, {self.null_label}] ({self.null_label} = the null label ∅), "
                             f"got {labels.tolist()}")
        t = torch.as_tensor(t, dtype=torch.float64)
        if t.ndim and t.shape != (z_bar.shape[0],):
            raise ValueError(f"t must be 0-dim or one noise level per example ({z_bar.shape[0]},), got {tuple(t.shape)}")
        out = torch.empty_like(z_bar)
        for c in labels.unique().tolist():
            rows = labels == c
            out[rows] = self._eps[c](z_bar[rows], t[rows] if t.ndim else t)
        return out

    def __repr__(self) -> str:
        return f"<ε-network of {self.name}: labels 0..{self.null_label - 1}, null label ∅ = {self.null_label}>"
