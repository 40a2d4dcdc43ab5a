"""Closed forms for every sampler on one Gaussian y ~ N(μ, s² I) (book: "Diffusion temperature", closed forms).

With p_t = N(μ, (s² + t) I) the score is −(z − μ)/a with a = s² + t.  Every
continuous-time sampler of the chapter is then linear: run from t_0 down to t_N,

    dz = λ · (μ − z)/a · (−dt) + √ν · dW        (λ: score scale, ν: noise variance per unit of t)

and the deviation of the mean m = E z − μ and the variance v per coordinate obey,
as functions of a (decreasing),

    dm/da = λ m / a,     dv/da = 2λ v / a − ν,

solved by

    m(a) = m_0 (a/a_0)^λ,
    v(a) = ν a/(2λ − 1) + (v_0 − ν a_0/(2λ − 1)) (a/a_0)^{2λ}      (λ ≠ ½),
    v(a) = a (v_0/a_0 + ν ln(a_0/a))                                 (λ = ½).

The samplers: reverse SDE at temperature T (λ = 1, ν = T); probability-flow ODE
(λ = ½, ν = 0); score scaled by β (λ = β, or β/2 for the ODE); P^β itself has
variance s²/β.
"""
from __future__ import annotations

import math


def linear_reverse_moments(s2: float, t0: float, tN: float, m0: float, v0: float, *,
                           score_scale: float = 1.0, noise: float = 1.0) -> tuple[float, float]:
    """(mean deviation, variance) at t_N of dz = λ·score·|dt| + √ν dW started with (m0, v0) at t_0.

    ``score_scale`` is λ, ``noise`` is ν (see the module docstring); per coordinate.
    """
    if not (s2 > 0 and t0 > tN >= 0):
        raise ValueError(f"need s2 > 0 and t0 > tN >= 0, got s2={s2}, t0={t0}, tN={tN}")
    if noise < 0 or v0 < 0:
        raise ValueError(f"noise and v0 must be >= 0, got noise={noise}, v0={v0}")
    lam, a0, aN = score_scale, s2 + t0, s2 + tN
    m = m0 * (aN / a0) ** lam
    if abs(2 * lam - 1) < 1e-12:
        v = aN * (v0 / a0 + noise * math.log(a0 / aN))
    else:
        v = noise * aN / (2 * lam - 1) + (v0 - noise * a0 / (2 * lam - 1)) * (aN / a0) ** (2 * lam)
    return m, v


def final_variances(s2: float, t0: float, tN: float, beta: float) -> dict[str, float]:
    """Final variance of each temperature variant at inverse temperature β, started from N(0, t_0)
    (the ODE from N(0, T t_0)); the book's table of closed forms.
    """
    T = 1.0 / beta
    return {
        "P^beta (exact)": s2 / beta,
        "reverse SDE, noise x sqrt(T)": linear_reverse_moments(s2, t0, tN, 0.0, t0, score_scale=1.0, noise=T)[1],
        "ODE from scaled start": linear_reverse_moments(s2, t0, tN, 0.0, T * t0, score_scale=0.5, noise=0.0)[1],
        "reverse SDE, score x beta": linear_reverse_moments(s2, t0, tN, 0.0, t0, score_scale=beta, noise=1.0)[1],
        "ODE, score x beta": linear_reverse_moments(s2, t0, tN, 0.0, t0, score_scale=beta / 2, noise=0.0)[1],
    }
