"""Instant feedback for homework 1 (temperature in language models): a student's function against the reference.

Each ``check_*`` calls the student's function on edge cases and random inputs,
compares with the reference implementation in ``tempguide.lm`` and prints what
happened: the first input that failed, what was expected and what came back, or
"not implemented yet" while the function still raises ``NotImplementedError``.
It returns a ``CheckResult`` that is truthy when every case passed, so a test
cell can say ``assert result, result.report``.

- ``check_temperature(fn)``: ``fn(logits, temperature) -> logits``, reference
  ``filter_logits(logits, temperature=T)`` (T = 0 keeps only the first argmax).
- ``check_top_k(fn)``: ``fn(logits, k)``, reference ``filter_logits(logits, top_k=k)``.
- ``check_top_p(fn)``: ``fn(logits, top_p)``, reference ``filter_logits(logits, top_p=p)``.
- ``check_per_token_distribution(fn)``: ``fn(lm, beta) -> (S,)`` = Q_β over
  ``exact.sequences(lm)``, reference ``exact.per_token_distribution``.
- ``check_sequence_level_distribution(fn)``: ``fn(lm, beta) -> (S,)`` = P^β,
  reference ``exact.sequence_level_distribution``.

Logits are compared as the distribution a sampler draws from: the same tokens
removed (−∞) and the same ``softmax`` (a constant shift of the logits is fine).
"""
from __future__ import annotations

import torch

from ..lm import exact
from ..lm.filters import filter_logits
from ._core import INF, CheckResult, _describe as _core_describe, _fmt as _core_fmt, _run as _core_run, _short

__all__ = ["CheckResult", "check_temperature", "check_top_k", "check_top_p", "check_per_token_distribution",
           "check_sequence_level_distribution"]


def _same_lm(a: exact.MarkovLM, b: exact.MarkovLM) -> bool:
    return a.tokens == b.tokens and a.max_len == b.max_len and torch.equal(a.transition, b.transition)


def _fmt(x) -> str:
    """An argument as the student would type it (tensors rounded to 4 digits, the toy LM by name)."""
    if isinstance(x, exact.MarkovLM):
        if _same_lm(x, exact.toy_lm()):
            return "exact.toy_lm()"
        return f"MarkovLM(tokens={x.tokens}, transition={_fmt(x.transition)}, max_len={x.max_len})"
    return _core_fmt(x)


def _describe(args: dict) -> str:
    return _core_describe(args, _fmt)


def _run(name: str, fn, cases: list, reference, compare, verbose: bool, *, fmt=_fmt) -> CheckResult:
    """``_core._run`` writing language models as the student would (``exact.toy_lm()`` by name)."""
    return _core_run(name, fn, cases, reference, compare, verbose, fmt=fmt)


def _compare_logits(expected: torch.Tensor, got) -> str | None:
    """None if ``got`` removes the same tokens and gives the same softmax as ``expected``; else why not."""
    if not isinstance(got, torch.Tensor):
        return f"returned a {type(got).__name__}, expected a torch.Tensor of shape {tuple(expected.shape)}"
    if got.shape != expected.shape:
        return f"returned shape {tuple(got.shape)}, expected {tuple(expected.shape)} (the input's shape)"
    if torch.isnan(got).any():
        return f"the result contains NaN: expected {_short(expected)}, got {_short(got)}"
    removed, got_removed = expected == -INF, got == -INF
    if not torch.equal(removed, got_removed):
        wrong = (removed != got_removed).nonzero().tolist()
        return (f"different tokens removed (-inf) at positions {wrong[:5]}: expected "
                f"{_short(expected)}, got {_short(got)}")
    p, q = expected.double().softmax(-1), got.double().softmax(-1)
    if not torch.allclose(p, q, rtol=1e-5, atol=1e-6):
        return (f"different probabilities softmax(logits): expected {_short(p)} (logits {_short(expected)}), "
                f"got {_short(q)} (logits {_short(got)})")
    return None


def _compare_distributions(lm: exact.MarkovLM, expected: torch.Tensor, got) -> str | None:
    try:
        q = torch.as_tensor(got, dtype=torch.float64)
    except Exception:
        return f"returned a {type(got).__name__}, expected a tensor of shape ({len(expected)},)"
    if q.shape != expected.shape:
        return (f"returned shape {tuple(q.shape)}, expected ({len(expected)},): one probability per sequence "
                "of exact.sequences(lm), in that order")
    if torch.isnan(q).any():
        return f"the result contains NaN at {torch.isnan(q).nonzero().flatten().tolist()[:5]} (of {len(q)})"
    err = (q - expected).abs()
    if not torch.allclose(q, expected, rtol=1e-7, atol=1e-10):
        i = int(err.argmax())
        return (f"for the sequence {lm.decode(exact.sequences(lm)[i])!r} (index {i}) expected "
                f"{float(expected[i]):.6g}, got {float(q[i]):.6g}; expected sum {float(expected.sum()):.6g}, "
                f"got sum {float(q.sum()):.6g}")
    return None


def _random_logits(g: torch.Generator) -> torch.Tensor:
    B, V = int(torch.randint(1, 4, (1,), generator=g)), int(torch.randint(2, 9, (1,), generator=g))
    return torch.randn(B, V, generator=g) * float(torch.empty(1).uniform_(0.5, 4.0, generator=g))


def check_temperature(fn, *, seed: int = 0, n_random: int = 20, verbose: bool = True) -> CheckResult:
    """Check ``fn(logits, temperature)`` against ``filter_logits(logits, temperature=temperature)``."""
    x = torch.tensor([[2.0, -1.0, 0.5, 3.0, 0.0]])
    cases = [
        ("T = 1 changes nothing", dict(logits=x, temperature=1.0)),
        ("T = 0.5 sharpens", dict(logits=x, temperature=0.5)),
        ("T = 3 flattens", dict(logits=x, temperature=3.0)),
        ("T = 0 is greedy: only the argmax stays, the rest -inf", dict(logits=x, temperature=0.0)),
        ("T = 0 with a tie: keep only the first maximum, as torch.argmax",
         dict(logits=torch.tensor([[1.0, 4.0, 4.0, 0.0]]), temperature=0.0)),
        ("T = 0 row by row", dict(logits=torch.tensor([[0.0, 1.0, 2.0], [5.0, 1.0, 2.0]]), temperature=0.0)),
        ("-inf logits stay -inf", dict(logits=torch.tensor([[1.0, -INF, 0.0, -INF]]), temperature=2.0)),
        ("a 3-d batch (B1, B2, V)", dict(logits=torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(1)),
                                         temperature=0.7)),
        ("float64 logits, tiny T", dict(logits=x.double(), temperature=1e-3)),
    ]
    g = torch.Generator().manual_seed(seed)
    for _ in range(n_random):
        T = float(torch.empty(1).uniform_(0.05, 5.0, generator=g))
        cases.append(("random", dict(logits=_random_logits(g), temperature=T)))
    return _run("check_temperature", fn, cases, lambda logits, temperature: filter_logits(
        logits, temperature=temperature), lambda args, e, got: _compare_logits(e, got), verbose)


def check_top_k(fn, *, seed: int = 0, n_random: int = 20, verbose: bool = True) -> CheckResult:
    """Check ``fn(logits, k)`` against ``filter_logits(logits, top_k=k)`` (ties with the k-th largest stay)."""
    x = torch.tensor([[2.0, -1.0, 0.5, 3.0, 0.0]])
    cases = [
        ("k = 1 keeps the argmax", dict(logits=x, k=1)),
        ("k = 3", dict(logits=x, k=3)),
        ("k = V changes nothing", dict(logits=x, k=5)),
        ("k > V changes nothing", dict(logits=x, k=50)),
        ("ties with the k-th largest all stay", dict(logits=torch.tensor([[1.0, 2.0, 2.0, 3.0, 0.0]]), k=2)),
        ("row by row", dict(logits=torch.tensor([[0.0, 1.0, 2.0, 3.0], [3.0, 2.0, 1.0, 0.0]]), k=2)),
        ("a 3-d batch (B1, B2, V)", dict(logits=torch.randn(2, 3, 6, generator=torch.Generator().manual_seed(1)),
                                         k=2)),
    ]
    g = torch.Generator().manual_seed(seed)
    for _ in range(n_random):
        logits = _random_logits(g)
        cases.append(("random", dict(logits=logits, k=int(torch.randint(1, logits.shape[-1] + 1, (1,), generator=g)))))
    return _run("check_top_k", fn, cases, lambda logits, k: filter_logits(logits, top_k=k),
                lambda args, e, got: _compare_logits(e, got), verbose)


def _near_top_p_boundary(logits: torch.Tensor, top_p: float, margin: float = 1e-4) -> bool:
    """True if a cumulative mass is within ``margin`` of the cut (rounding could decide), or logits tie."""
    p = logits.double().softmax(-1).sort(dim=-1).values.cumsum(-1)  # mass of each token and all below it
    return bool(((p - (1 - top_p)).abs() < margin).any()) or any(
        len(set(row.tolist())) < len(row) for row in logits.reshape(-1, logits.shape[-1]))


def check_top_p(fn, *, seed: int = 0, n_random: int = 20, verbose: bool = True) -> CheckResult:
    """Check ``fn(logits, top_p)`` against ``filter_logits(logits, top_p=top_p)`` (nucleus, Holtzman et al. 2020).

    Kept: the smallest set of most probable tokens whose probability mass is at
    least ``top_p``; the most probable token always stays.  Random cases avoid
    masses within 1e-4 of the cut and ties, where rounding decides.
    """
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3]])  # unsorted on purpose
    x = probs.log()
    cases = [
        ("top_p = 1 changes nothing", dict(logits=x, top_p=1.0)),
        ("tiny top_p keeps only the most probable token", dict(logits=x, top_p=1e-4)),
        ("P = (.05, .5, .15, .3), top_p = 0.45: the .5 token alone reaches it", dict(logits=x, top_p=0.45)),
        ("P = (.05, .5, .15, .3), top_p = 0.7: keep .5 and .3", dict(logits=x, top_p=0.7)),
        ("P = (.05, .5, .15, .3), top_p = 0.9: keep .5, .3 and .15", dict(logits=x, top_p=0.9)),
        ("logits that are not log-probabilities (softmax first)", dict(logits=x * 2.0 + 7.0, top_p=0.7)),
        ("row by row", dict(logits=torch.tensor([[3.0, 0.0, 0.2, -1.0], [0.1, 0.0, 0.3, 0.2]]), top_p=0.6)),
        ("-inf logits stay -inf", dict(logits=torch.tensor([[1.0, -INF, 0.5, -INF, 0.0]]), top_p=0.8)),
        ("a 3-d batch (B1, B2, V)", dict(logits=torch.tensor([[[2.0, 1.0, 0.0]], [[0.0, 1.5, 1.0]]]), top_p=0.5)),
    ]
    g = torch.Generator().manual_seed(seed)
    while len(cases) < 9 + n_random:
        logits, top_p = _random_logits(g), float(torch.empty(1).uniform_(0.05, 0.99, generator=g))
        if not _near_top_p_boundary(logits, top_p):
            cases.append(("random", dict(logits=logits, top_p=top_p)))
    return _run("check_top_p", fn, cases, lambda logits, top_p: filter_logits(logits, top_p=top_p),
                lambda args, e, got: _compare_logits(e, got), verbose)


def _random_lm(g: torch.Generator) -> exact.MarkovLM:
    """A small chain over ``. x y`` (max_len 3) with random transitions, never the empty sentence."""
    T = -torch.rand(3, 3, generator=g, dtype=torch.float64).log()  # Exp(1): rows ~ Dirichlet(1, 1, 1)
    T[0, 0] = 0.0
    return exact.MarkovLM(tokens=[".", "x", "y"], transition=T / T.sum(1, keepdim=True), max_len=3)


def _sequence_cases(seed: int, n_random: int, toy: bool) -> list:
    cases = [(f"the chapter's toy, beta = {b}", dict(lm=exact.toy_lm(), beta=b))
             for b in ((1.0, 0.5, 2.0, 4.0, INF) if toy else ())]
    g = torch.Generator().manual_seed(seed)
    for _ in range(n_random):
        beta = float(torch.empty(1).uniform_(0.2, 5.0, generator=g))
        cases.append(("a random chain", dict(lm=_random_lm(g), beta=beta)))
    cases.append(("a random chain, beta = inf", dict(lm=_random_lm(g), beta=INF)))
    return cases


def check_per_token_distribution(fn, *, seed: int = 0, n_random: int = 8, toy: bool = True,
                                 verbose: bool = True) -> CheckResult:
    """Check ``fn(lm, beta)`` = Q_β(y) = Π_i P^β(y_i | y_<i) over ``exact.sequences(lm)`` (book §1.5).

    Cases: ``exact.toy_lm()`` at β = 1, 0.5, 2, 4, ∞ (unless ``toy=False``), then
    ``n_random`` random chains over ``. x y`` (at most 3 words) and random β, and one at β = ∞.
    """
    return _run("check_per_token_distribution", fn, _sequence_cases(seed, n_random, toy), exact.per_token_distribution,
                lambda args, e, got: _compare_distributions(args["lm"], e, got), verbose)


def check_sequence_level_distribution(fn, *, seed: int = 0, n_random: int = 8, toy: bool = True,
                                      verbose: bool = True) -> CheckResult:
    """Check ``fn(lm, beta)`` = P^β(y) = P(y)^β / Σ P^β over ``exact.sequences(lm)`` (book §1.5).

    The same cases as ``check_per_token_distribution``.
    """
    return _run("check_sequence_level_distribution", fn, _sequence_cases(seed, n_random, toy),
                exact.sequence_level_distribution,
                lambda args, e, got: _compare_distributions(args["lm"], e, got), verbose)
