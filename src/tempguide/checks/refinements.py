"""Instant feedback for homework 4b (refinements of CFG) against the reference (book: "Homework").

Same contract as ``tempguide.checks.guidance``: each ``check_*`` runs edge cases and random
inputs, prints the first failing input with what was expected and what came back, and
returns a truthy ``CheckResult`` when every case passed.

- ``check_apg(fn)``: ``fn(uncond, cond, w, eta)``, adaptive projected guidance without cap or
  momentum, D_c + (w − 1)(Δ⊥ + η Δ∥) with Δ = cond − uncond split along cond per example;
  reference ``tempguide.guidance.refinements.apg``.
- ``check_interval_denoiser(fn)``: ``fn(uncond_denoiser, cond_denoiser, w, t_lo, t_hi) -> D_w(z, t)``,
  CFG for t_lo ≤ t ≤ t_hi (both ends included), the conditional denoiser elsewhere; reference
  ``tempguide.guidance.interval.cfg_interval_denoisers``.  Called at 0-dim t as the samplers pass it.

Book: "Homework", and "Refinements of CFG" (chapter 4, second part).
"""
from __future__ import annotations

import math

import torch

from .. import toy
from ..guidance.interval import cfg_interval_denoisers
from ..guidance.refinements import apg
from ._core import CheckResult, _compare_tensors, _finish, _Named, _run

_F64 = dict(dtype=torch.float64)


def check_apg(fn, *, seed: int = 0, n_random: int = 12, verbose: bool = True) -> CheckResult:
    """Check ``fn(uncond, cond, w, eta)`` against ``apg(uncond, cond, w, eta=eta)`` (no cap, no momentum)."""
    g = torch.Generator().manual_seed(seed)
    u = torch.tensor([[1.0, 0.0], [0.5, 2.0], [-1.0, 1.0]], **_F64)
    c = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]], **_F64)
    cases = [
        ("w = 1 is cond", dict(uncond=u, cond=c, w=1.0, eta=0.0)),
        ("η = 1 is plain CFG", dict(uncond=u, cond=c, w=3.0, eta=1.0)),
        ("η = 0: only the part orthogonal to cond", dict(uncond=u, cond=c, w=3.0, eta=0.0)),
        ("0 < η < 1", dict(uncond=u, cond=c, w=5.0, eta=0.4)),
        ("one coordinate: Δ is always parallel to cond",
         dict(uncond=torch.tensor([[0.5], [-2.0]], **_F64), cond=torch.tensor([[2.0], [1.0]], **_F64), w=4.0, eta=0.0)),
        ("images (B, C, H, W): norms per example over C, H, W",
         dict(uncond=torch.randn(2, 3, 4, 4, generator=g, **_F64), cond=torch.randn(2, 3, 4, 4, generator=g, **_F64),
              w=2.5, eta=0.0)),
    ]
    for i in range(n_random):
        shape = [(4, 2), (3, 5), (2, 2, 3, 3)][i % 3]
        cases.append(("random", dict(uncond=torch.randn(shape, generator=g, **_F64),
                                     cond=torch.randn(shape, generator=g, **_F64),
                                     w=float(torch.empty(1).uniform_(-1.0, 9.0, generator=g)),
                                     eta=float(torch.empty(1).uniform_(0.0, 1.0, generator=g)))))

    def reference(uncond, cond, w, eta):
        return apg(uncond, cond, w, eta=eta)

    return _run("adaptive projected guidance", fn, cases, reference, _compare_tensors, verbose)


def check_interval_denoiser(fn, *, seed: int = 0, n_random: int = 10, verbose: bool = True) -> CheckResult:
    """Check ``fn(uncond_denoiser, cond_denoiser, w, t_lo, t_hi)(z, t)`` against ``cfg_interval_denoisers``."""
    g = torch.Generator().manual_seed(seed)
    mixes = [("toy.mixture_1d()", toy.mixture_1d(), 1), ("toy.mixture_2d()", toy.mixture_2d(), 0)]
    pairs = [(_Named(m.denoise, f"{name}.denoise"), _Named(m.condition(c).denoise, f"{name}.condition({c}).denoise"),
              m.dim) for name, m, c in mixes]
    cases = []
    for (Du, Dc, d), (w, t_lo, t_hi) in zip(pairs * 3, [(4.0, 0.25, 4.0), (2.0, 1.0, math.inf), (8.0, 0.0, 1.0),
                                                        (3.0, 0.5, 0.5), (6.0, 2.0, 30.0), (0.0, 0.1, 10.0)]):
        z = 2 * torch.randn(4, d, generator=g, **_F64)
        for t, label in [(0.5 * t_lo, "below the interval"), (t_lo, "t = t_lo (included)"),
                         (t_hi if math.isfinite(t_hi) else 50.0, "t = t_hi (included)" if math.isfinite(t_hi) else
                          "inside, t_hi = ∞"), (2 * t_hi + 1 if math.isfinite(t_hi) else 1e4, "above the interval")]:
            cases.append((label, dict(uncond_denoiser=Du, cond_denoiser=Dc, w=w, t_lo=t_lo, t_hi=t_hi, z=z,
                                      t=torch.tensor(t, **_F64))))
    for i in range(n_random):
        Du, Dc, d = pairs[i % 2]
        t_lo = float(torch.empty(1).uniform_(0.0, 2.0, generator=g))
        t_hi = t_lo + float(torch.empty(1).uniform_(0.0, 10.0, generator=g))
        cases.append(("random", dict(uncond_denoiser=Du, cond_denoiser=Dc,
                                     w=float(torch.empty(1).uniform_(0.0, 8.0, generator=g)), t_lo=t_lo, t_hi=t_hi,
                                     z=2 * torch.randn(3, d, generator=g, **_F64),
                                     t=torch.tensor(float(torch.empty(1).uniform_(0.0, 12.0, generator=g)), **_F64))))

    def reference(uncond_denoiser, cond_denoiser, w, t_lo, t_hi, z, t):
        return cfg_interval_denoisers(uncond_denoiser, cond_denoiser, w, t_lo, t_hi)(z, t)

    def applied(uncond_denoiser, cond_denoiser, w, t_lo, t_hi, z, t):
        return fn(uncond_denoiser, cond_denoiser, w, t_lo, t_hi)(z, t)

    applied.__name__ = getattr(fn, "__name__", "fn")
    result = _run("guidance interval", applied, cases, reference, _compare_tensors, verbose=False)
    if not result and not result.not_implemented:
        result.report += (f"\n  (the check calls {applied.__name__}(uncond_denoiser, cond_denoiser, w, t_lo, t_hi)(z, t) "
                          "with a 0-dim tensor t, as the samplers do)")
    return _finish(result, verbose)


__all__ = ["check_apg", "check_interval_denoiser"]
