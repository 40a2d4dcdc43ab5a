"""Instant feedback for homework 2 (diffusion temperature): a student's function against the reference.

Same contract as ``tempguide.checks.lm``: each ``check_*`` runs edge cases and
random inputs, prints the first failing input with what was expected and what
came back, and returns a truthy ``CheckResult`` when every case passed.

- ``check_temperature_step(fn)``: ``fn(denoiser, z, t, t_next, temperature, eps) -> z_next``,
  one Euler–Maruyama step z + (D(z,t) − z)/t·Δt + √(T·Δt)·ε; reference ``sample_reverse_sde``
  on the grid (t, t_next) with the same ε.
- ``check_sample_tempered(fn)``: ``fn(denoiser, z, ts, temperature, generator) -> z_N``; reference
  ``sample_reverse_sde`` with an identically seeded generator (so ε must be drawn as
  ``torch.randn(z.shape, generator=generator, dtype=z.dtype)``, once per step).
- ``check_final_variance(fn)``: ``fn(s2, t0, tN, temperature) -> float``, the closed-form final
  variance of the temperature-adjusted reverse SDE on y ~ N(μ, s²) started from N(0, t0);
  reference ``tempguide.diffusion.linear_reverse_moments``.
"""
from __future__ import annotations

import torch

from .. import toy
from ..diffusion import geometric_ts, linear_reverse_moments, sample_reverse_sde
from ._core import CheckResult, _compare_tensors, _finish, _Named, _run, _short  # noqa: F401 (_short: old import path)

__all__ = ["CheckResult", "check_temperature_step", "check_sample_tempered", "check_final_variance"]


def _denoisers() -> list[_Named]:
    one = toy.GaussianMixture([1.0], [[1.5]], [0.7])
    return [_Named(toy.mixture_1d().denoise, "toy.mixture_1d().denoise"),
            _Named(toy.mixture_2d().denoise, "toy.mixture_2d().denoise"),
            _Named(one.denoise, "toy.GaussianMixture([1.0], [[1.5]], [0.7]).denoise")]


def check_temperature_step(fn, *, seed: int = 0, n_random: int = 12, verbose: bool = True) -> CheckResult:
    """Check ``fn(denoiser, z, t, t_next, temperature, eps)`` against one step of ``sample_reverse_sde``."""
    g = torch.Generator().manual_seed(seed)
    mix1, mix2, one = _denoisers()
    z1 = torch.tensor([[-1.0], [0.5], [2.5]], dtype=torch.float64)
    e1 = torch.tensor([[0.3], [-1.2], [0.8]], dtype=torch.float64)
    cases = [
        ("T = 1, the plain reverse SDE", dict(denoiser=mix1, z=z1, t=1.0, t_next=0.5, temperature=1.0, eps=e1)),
        ("T = 0: no noise at all", dict(denoiser=mix1, z=z1, t=1.0, t_next=0.5, temperature=0.0, eps=e1)),
        ("T = 1/4 (β = 4)", dict(denoiser=mix1, z=z1, t=2.0, t_next=1.0, temperature=0.25, eps=e1)),
        ("a 2-D mixture", dict(denoiser=mix2, z=torch.tensor([[0.0, 1.0], [3.0, -2.0]], dtype=torch.float64),
                               t=4.0, t_next=3.0, temperature=0.5,
                               eps=torch.tensor([[1.0, -1.0], [0.5, 0.2]], dtype=torch.float64))),
    ]
    for _ in range(n_random):
        D = [mix1, mix2, one][int(torch.randint(0, 3, (1,), generator=g))]
        d = 2 if D is mix2 else 1
        t = float(torch.empty(1).uniform_(0.01, 20.0, generator=g))
        t_next = t * float(torch.empty(1).uniform_(0.1, 0.95, generator=g))
        T = float(torch.empty(1).uniform_(0.0, 2.0, generator=g))
        cases.append(("random", dict(denoiser=D, z=3 * torch.randn(5, d, generator=g, dtype=torch.float64),
                                     t=t, t_next=t_next, temperature=T,
                                     eps=torch.randn(5, d, generator=g, dtype=torch.float64))))

    def reference(denoiser, z, t, t_next, temperature, eps):
        # sample_reverse_sde on the grid (t, t_next) without noise, plus √(T·Δt)·ε with the given ε
        ts = torch.tensor([t, t_next], dtype=torch.float64)
        return sample_reverse_sde(denoiser, z, ts, temperature=0.0) + (temperature * (t - t_next)) ** 0.5 * eps

    return _run("temperature step", fn, cases, reference, _compare_tensors, verbose)


def check_sample_tempered(fn, *, seed: int = 0, n_random: int = 4, verbose: bool = True) -> CheckResult:
    """Check the loop ``fn(denoiser, z, ts, temperature, generator)`` against ``sample_reverse_sde``."""
    g = torch.Generator().manual_seed(seed)
    mix1, mix2, one = _denoisers()
    cases = [
        ("T = 1, 1-D mixture", dict(denoiser=mix1, z=4 * torch.randn(6, 1, generator=g, dtype=torch.float64),
                                    ts=geometric_ts(16.0, 0.01, 8), temperature=1.0, seed=1)),
        ("T = 1/4, 1-D mixture", dict(denoiser=mix1, z=4 * torch.randn(6, 1, generator=g, dtype=torch.float64),
                                      ts=geometric_ts(16.0, 0.01, 8), temperature=0.25, seed=2)),
        ("two levels only", dict(denoiser=one, z=torch.zeros(3, 1, dtype=torch.float64),
                                 ts=torch.tensor([1.0, 0.5], dtype=torch.float64), temperature=1.0, seed=3)),
    ]
    for i in range(n_random):
        D = [mix1, mix2][i % 2]
        d = 2 if D is mix2 else 1
        cases.append(("random", dict(denoiser=D, z=5 * torch.randn(4, d, generator=g, dtype=torch.float64),
                                     ts=geometric_ts(25.0, 0.001, int(torch.randint(3, 20, (1,), generator=g))),
                                     temperature=float(torch.empty(1).uniform_(0.1, 1.5, generator=g)),
                                     seed=10 + i)))

    def reference(denoiser, z, ts, temperature, seed):
        return sample_reverse_sde(denoiser, z, ts, temperature=temperature,
                                  generator=torch.Generator().manual_seed(seed))

    def with_generator(denoiser, z, ts, temperature, seed):
        return fn(denoiser, z, ts, temperature, torch.Generator().manual_seed(seed))

    with_generator.__name__ = getattr(fn, "__name__", "fn")
    result = _run("reverse-SDE loop", with_generator, cases, reference, _compare_tensors, verbose=False)
    if not result and not result.not_implemented:
        result.report += "\n  (`seed=s` means generator=torch.Generator().manual_seed(s); draw ε once per step " \
                         "with torch.randn(z.shape, generator=generator, dtype=z.dtype))"
    return _finish(result, verbose)


def check_final_variance(fn, *, seed: int = 0, n_random: int = 10, verbose: bool = True) -> CheckResult:
    """Check ``fn(s2, t0, tN, temperature)`` against the closed form of ``linear_reverse_moments``."""
    g = torch.Generator().manual_seed(seed)
    cases = [
        ("T = 1, started from N(0, t0)", dict(s2=0.49, t0=100.0, tN=0.001, temperature=1.0)),
        ("T = 1/2", dict(s2=0.49, t0=100.0, tN=0.001, temperature=0.5)),
        ("T = 0: a deterministic, contracting flow", dict(s2=1.0, t0=10.0, tN=0.1, temperature=0.0)),
        ("short run, large data variance", dict(s2=9.0, t0=2.0, tN=1.0, temperature=2.0)),
    ]
    for _ in range(n_random):
        t0 = float(torch.empty(1).uniform_(0.5, 500.0, generator=g))
        cases.append(("random", dict(s2=float(torch.empty(1).uniform_(0.05, 5.0, generator=g)), t0=t0,
                                     tN=t0 * float(torch.empty(1).uniform_(0.0, 0.9, generator=g)),
                                     temperature=float(torch.empty(1).uniform_(0.0, 3.0, generator=g)))))

    def reference(s2, t0, tN, temperature):
        return linear_reverse_moments(s2, t0, tN, 0.0, t0, score_scale=1.0, noise=temperature)[1]

    def compare(args, expected, got):
        try:
            got = float(got)
        except Exception:
            return f"returned a {type(got).__name__}, expected a number"
        if abs(got - expected) > 1e-8 + 1e-6 * abs(expected):
            return f"expected {expected:.8g}, got {got:.8g}"
        return None

    return _run("closed-form final variance", fn, cases, reference, compare, verbose)
