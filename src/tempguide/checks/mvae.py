"""Instant feedback for homework 5 (the Markovian VAE) against the reference in ``tempguide.mvae``.

Same contract as the other check modules: each ``check_*`` runs edge cases and random inputs,
prints the first failing input with what was expected and what came back, and returns a truthy
``CheckResult`` when every case passed.

- ``check_level_nll(fn)``: ``fn(r, sigma) -> float``, −ln N(r; 0, σ² I) per example, averaged over
  the batch r (B, d): ‖r‖²/(2σ²) + (d/2)·ln(2πσ²); reference ``mvae.objective.gaussian_nll``.
- ``check_ml_sigma(fn)``: ``fn(r) -> float``, the maximum-likelihood σ̂ = √(mean r²) (divisor N,
  around the model's mean 0); reference ``mvae.objective.fit_sigmas``.
- ``check_unadjusted(fn)``, ``check_tempered(fn)``, ``check_guided(fn)``: the seed's three modes,
  ``fn(decoders, sigmas, x, n, generator)``, ``fn(decoders, sigmas, x, beta, n, generator)``,
  ``fn(decoders, sigmas, x_good, x_bad, beta, n, generator)``, against ``mvae.generate`` with the
  same generator (one ``torch.randn(z_hat.shape, generator=generator, dtype=z_hat.dtype)`` per
  level, none at β = ∞).
- ``check_chain_law(fn)``: ``fn(decoders, sigmas, beta) -> (mean, cov)`` of z₀ for affine decoders
  (``linear_gaussian.AffineDecoder``, top first); reference ``linear_gaussian.chain_law``.

Book: "Homework", and the chapter "The Markovian-VAE generalization".
"""
from __future__ import annotations

import math

import torch

from ..mvae import linear_gaussian as lg
from ..mvae.generate import generate_guided, generate_tempered, generate_unadjusted
from ..mvae.objective import fit_sigmas, gaussian_nll
from ._core import CheckResult, _compare_tensors, _finish, _run
from .guidance import _compare_numbers

__all__ = ["CheckResult", "check_level_nll", "check_ml_sigma", "check_unadjusted", "check_tempered", "check_guided",
           "check_chain_law"]

_F64 = dict(dtype=torch.float64)


def _residual_cases(g, n_random):
    cases = [("one example, one dimension", torch.tensor([[0.5]], **_F64)),
             ("a mean that is not zero (σ̂ is not the standard deviation)",
              torch.tensor([[1.0], [2.0], [3.0]], **_F64)),
             ("two examples (divisor N, not N − 1)", torch.tensor([[0.3, -0.1], [0.2, 0.4]], **_F64))]
    for _ in range(n_random):
        B, d = int(torch.randint(1, 9, (1,), generator=g)), int(torch.randint(1, 6, (1,), generator=g))
        scale = float(torch.empty(1).uniform_(0.05, 3.0, generator=g))
        cases.append(("random", scale * torch.randn(B, d, generator=g, **_F64)))
    return cases


def check_level_nll(fn, *, seed: int = 0, n_random: int = 10, verbose: bool = True) -> CheckResult:
    """Check ``fn(r, sigma)`` = ‖r‖²/(2σ²) + (d/2) ln(2πσ²), averaged over the rows of r."""
    g = torch.Generator().manual_seed(seed)
    sigmas = [1.0, 0.1, 2.5]
    cases = []
    for i, (label, r) in enumerate(_residual_cases(g, n_random)):
        sigma = sigmas[i] if i < 3 else float(torch.empty(1).uniform_(0.05, 3.0, generator=g))
        cases.append((label, dict(r=r, sigma=sigma)))
    return _run("Gaussian NLL of one level", fn, cases, lambda r, sigma: float(gaussian_nll([r], [sigma])),
                lambda args, e, got: _compare_numbers(e, got, ("NLL",)), verbose)


def check_ml_sigma(fn, *, seed: int = 0, n_random: int = 10, verbose: bool = True) -> CheckResult:
    """Check ``fn(r)`` = √(mean of r²) over every entry of r (B, d)."""
    cases = [(label, dict(r=r)) for label, r in _residual_cases(torch.Generator().manual_seed(seed), n_random)]
    return _run("maximum-likelihood σ of one level", fn, cases, lambda r: float(fit_sigmas([r])[0]),
                lambda args, e, got: _compare_numbers(e, got, ("sigma",)), verbose)


class _Decoders(list):
    """Decoders that print as the code that builds them (for the failure report)."""

    def __init__(self, items, text):
        super().__init__(items)
        self.text = text

    def __repr__(self):
        return self.text


def _instances():
    good, null = lg.example()
    enc = lg.averaging_encoders(8)
    dg, dn = lg.optimal_decoders(good, enc), lg.optimal_decoders(null, enc)
    example = _Decoders(lg.as_callables({"x": dg, None: dn}), "the linear-Gaussian example (8 → 4 → 2 → 1)")
    small = _Decoders(lg.as_callables({"x": lg.optimal_decoders(lg.example(2, x=1.0)[0], lg.averaging_encoders(2)),
                                       None: lg.optimal_decoders(lg.example(2, x=1.0)[1], lg.averaging_encoders(2))}),
                      "a two-level example (2 → 1)")
    return (example, lg.ml_sigmas(dg)), (small, [0.7, 0.2])


def _generator_cases(seed: int, n_random: int, with_beta: bool):
    (ex, sig_ex), (small, sig_small) = _instances()
    betas = [1.0, 0.25, 4.0, math.inf] if with_beta else [1.0]
    cases = []
    for beta in betas:
        label = f"β = {beta}" if with_beta else "the example"
        cases.append((label, dict(decoders=ex, sigmas=sig_ex, beta=beta, n=5, seed=seed)))
    cases.append(("zero noise: the chain of means", dict(decoders=small, sigmas=[0.0, 0.0], beta=1.0, n=3, seed=seed)))
    cases.append(("a batch of one", dict(decoders=small, sigmas=sig_small, beta=betas[-1] if with_beta else 1.0, n=1,
                                         seed=seed)))
    g = torch.Generator().manual_seed(seed)
    for i in range(n_random):
        beta = float(torch.empty(1).uniform_(0.2, 5.0, generator=g)) if with_beta else 1.0
        cases.append(("random", dict(decoders=[ex, small][i % 2], sigmas=[sig_ex, sig_small][i % 2], beta=beta,
                                     n=int(torch.randint(1, 8, (1,), generator=g)), seed=seed + 1 + i)))
    return cases


def _gen_check(name, fn, reference, call, seed, n_random, with_beta, verbose):
    cases = _generator_cases(seed, n_random, with_beta)

    def applied(decoders, sigmas, beta, n, seed):
        return call(fn, decoders, sigmas, beta, n, torch.Generator().manual_seed(seed))

    def ref(decoders, sigmas, beta, n, seed):
        return call(reference, decoders, sigmas, beta, n, torch.Generator().manual_seed(seed))

    applied.__name__ = getattr(fn, "__name__", "fn")
    result = _run(name, applied, cases, ref, _compare_tensors, verbose=False)
    if not result and not result.not_implemented:
        result.report += ("\n  (same generator for you and the reference: draw ε once per level, after the "
                          "prediction, with torch.randn(z_hat.shape, generator=generator, dtype=z_hat.dtype); "
                          "none at β = ∞)")
    return _finish(result, verbose)


def check_unadjusted(fn, *, seed: int = 0, n_random: int = 6, verbose: bool = True) -> CheckResult:
    """Check ``fn(decoders, sigmas, x, n, generator)``: z ← ẑ(z, x) + σ·ε from z_N = ∅ to z₁."""
    return _gen_check("unadjusted generation", fn,
                      lambda d, s, x, n, gen: generate_unadjusted(d, s, x, n=n, generator=gen),
                      lambda f, d, s, beta, n, gen: f(d, s, "x", n, gen), seed, n_random, False, verbose)


def check_tempered(fn, *, seed: int = 0, n_random: int = 6, verbose: bool = True) -> CheckResult:
    """Check ``fn(decoders, sigmas, x, beta, n, generator)``: z ← ẑ(z, x) + σ·ε/√β."""
    return _gen_check("temperature-adjusted generation", fn,
                      lambda d, s, x, beta, n, gen: generate_tempered(d, s, x, beta, n=n, generator=gen),
                      lambda f, d, s, beta, n, gen: f(d, s, "x", beta, n, gen), seed, n_random, True, verbose)


def check_guided(fn, *, seed: int = 0, n_random: int = 6, verbose: bool = True) -> CheckResult:
    """Check ``fn(decoders, sigmas, x_good, x_bad, beta, n, generator)``: z ← ẑ(z, x_good) − ẑ(z, x_bad) + σε/√β."""
    return _gen_check("guidance-adjusted generation (as written)", fn,
                      lambda d, s, xg, xb, beta, n, gen: generate_guided(d, s, xg, xb, beta, n=n, generator=gen),
                      lambda f, d, s, beta, n, gen: f(d, s, "x", None, beta, n, gen), seed, n_random, True, verbose)


def check_chain_law(fn, *, seed: int = 0, n_random: int = 6, verbose: bool = True) -> CheckResult:
    """Check ``fn(decoders, sigmas, beta) -> (mean, cov)`` of z₀ for affine decoders, top first."""
    good, null = lg.example()
    enc = lg.averaging_encoders(8)
    dg, dn = lg.optimal_decoders(good, enc), lg.optimal_decoders(null, enc)
    sig = lg.ml_sigmas(dg)
    named = {"CFG, w = 2": lg.combine(dg, dn, 2.0), "as written": lg.combine(dg, dn)}
    cases = [("unit variance, β = 1", dict(decoders=dg, sigmas=[1.0] * 4, beta=1.0)),
             ("ML σ, β = 2", dict(decoders=dg, sigmas=sig, beta=2.0)),
             ("β = ∞: zero covariance", dict(decoders=dg, sigmas=sig, beta=math.inf)),
             ("CFG, w = 2", dict(decoders=named["CFG, w = 2"], sigmas=sig, beta=1.0)),
             ("the seed's difference", dict(decoders=named["as written"], sigmas=sig, beta=0.5))]
    g = torch.Generator().manual_seed(seed)
    for _ in range(n_random):
        w = float(torch.empty(1).uniform_(-1.0, 4.0, generator=g))
        cases.append(("random w, σ, β", dict(decoders=lg.combine(dg, dn, w),
                                             sigmas=[float(torch.empty(1).uniform_(0.0, 1.0, generator=g)) for _ in dg],
                                             beta=float(torch.empty(1).uniform_(0.2, 5.0, generator=g)))))

    def reference(decoders, sigmas, beta):
        law = lg.chain_law(decoders, sigmas, beta)[-1]
        return torch.cat([law.mean, law.cov.flatten()])

    def applied(decoders, sigmas, beta):
        mean, cov = fn(decoders, sigmas, beta)
        return torch.cat([torch.as_tensor(mean, **_F64).flatten(), torch.as_tensor(cov, **_F64).flatten()])

    applied.__name__ = getattr(fn, "__name__", "fn")
    result = _run("exact law of the output z₀", applied, cases, reference, _compare_tensors, verbose=False,
                  fmt=lambda v: f"<{len(v)} affine decoders>" if isinstance(v, list) and v and
                  isinstance(v[0], lg.AffineDecoder) else repr(v))
    if not result and not result.not_implemented:
        result.report += "\n  (compared: the mean (8,) followed by the flattened covariance (8 × 8))"
    return _finish(result, verbose)
