"""The machinery every check shares: the result, the case loop, and the report (book: "Homework").

A check is a list of ``(label, args)`` cases, a reference ``reference(**args)`` and
a comparison ``compare(args, expected, got) -> None | str`` (``None`` = the same).
:func:`_run` calls the student's function on each case, stops at the first
mismatch and reports its input as the student would type it.
"""
from __future__ import annotations

import dataclasses
import math

import torch

INF = math.inf


@dataclasses.dataclass
class CheckResult:
    """Outcome of one check; ``bool(result)`` is ``result.passed``."""

    name: str
    passed: bool
    cases: int  # cases run (up to and including the first failure)
    report: str  # what the check printed
    not_implemented: bool = False

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"CheckResult({self.name!r}, passed={self.passed}, cases={self.cases})"


def _short(values) -> str:
    if isinstance(values, torch.Tensor):
        values = values.tolist()
    if isinstance(values, list):
        return "[" + ", ".join(_short(v) for v in values) + "]"
    if isinstance(values, float):
        return "-inf" if values == -INF else f"{values:.4g}"
    return repr(values)


def _fmt_tensor(x: torch.Tensor) -> str:
    """A tensor as the student would type it (rounded to 4 digits)."""
    return f"tensor({_short(x)}{'' if x.dtype == torch.float32 else f', dtype={x.dtype}'})"


def _fmt(x) -> str:
    """An argument as the student would type it: tensors rounded to 4 digits, ∞ as ``math.inf``, else repr."""
    if isinstance(x, torch.Tensor):
        return _fmt_tensor(x)
    return "math.inf" if isinstance(x, float) and x == INF else repr(x)


def _describe(args: dict, fmt=_fmt) -> str:
    return ", ".join(f"{k}={fmt(v)}" for k, v in args.items())


class _Named:
    """A denoiser that prints as the code that builds it (for the failure report)."""

    def __init__(self, fn, text: str):
        self.fn, self.text = fn, text

    def __call__(self, z, t):
        return self.fn(z, t)

    def __repr__(self) -> str:
        return self.text


def _compare_tensors(args, expected: torch.Tensor, got) -> str | None:
    if not isinstance(got, torch.Tensor):
        return f"returned a {type(got).__name__}, expected a torch.Tensor of shape {tuple(expected.shape)}"
    if got.shape != expected.shape:
        return f"returned shape {tuple(got.shape)}, expected {tuple(expected.shape)} (the shape of the input z or z̄)"
    if not torch.allclose(got.double(), expected.double(), rtol=1e-6, atol=1e-8):
        i = int((got.double() - expected.double()).abs().flatten().argmax())
        return (f"values differ: expected {_short(expected.flatten()[:4])}…, got {_short(got.flatten()[:4])}… "
                f"(largest difference at flat index {i}: {expected.flatten()[i].item():.6g} vs "
                f"{got.flatten()[i].item():.6g})")
    return None


def _run(name: str, fn, cases: list, reference, compare, verbose: bool, *, fmt=_fmt) -> CheckResult:
    """Run ``fn(**args)`` for every ``(label, args)`` and stop at the first mismatch with ``reference(**args)``.

    ``fmt`` writes one argument of the failing input for the report.
    """
    fn_name = getattr(fn, "__name__", repr(fn))
    for n, (label, args) in enumerate(cases, start=1):
        expected = reference(**args)
        try:
            got = fn(**{k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in args.items()})
        except NotImplementedError:
            report = (f"… {name}: {fn_name} is not implemented yet (it raises NotImplementedError); "
                      "write your code where it says `raise NotImplementedError`.")
            return _finish(CheckResult(name, False, n, report, not_implemented=True), verbose)
        except Exception as e:  # the student's bug, reported with its input
            problem = f"raised {type(e).__name__}: {e}"
        else:
            problem = compare(args, expected, got)
        if problem is not None:
            report = (f"✗ {name}: {fn_name} failed on case {n} of {len(cases)} ({label})\n"
                      f"  input:    {fn_name}({_describe(args, fmt)})\n  problem:  {problem}")
            return _finish(CheckResult(name, False, n, report), verbose)
    report = f"✓ {name}: {fn_name} passed all {len(cases)} cases (edge cases and random inputs)."
    return _finish(CheckResult(name, True, len(cases), report), verbose)


def _finish(result: CheckResult, verbose: bool) -> CheckResult:
    if verbose:
        print(result.report)
    return result
