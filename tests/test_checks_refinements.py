"""tempguide.checks.refinements (homework 4b): accepts implementations written here from the formulas,
rejects the realistic mistakes, reports "not implemented yet" for the student stub."""
import math

import pytest

from tempguide.checks.refinements import check_apg, check_interval_denoiser


# --- independent implementations, from the formulas ---------------------------------------------------

def textbook_apg(uncond, cond, w, eta):
    dims = tuple(range(1, cond.ndim))
    delta = cond - uncond
    parallel = (delta * cond).sum(dims, keepdim=True) / (cond * cond).sum(dims, keepdim=True) * cond
    return cond + (w - 1) * (delta - parallel + eta * parallel)


def textbook_interval(uncond_denoiser, cond_denoiser, w, t_lo, t_hi):
    def denoiser(z, t):
        if t_lo <= float(t) <= t_hi:
            u, c = uncond_denoiser(z, t), cond_denoiser(z, t)
            return u + w * (c - u)
        return cond_denoiser(z, t)
    return denoiser


# --- realistic mistakes ----------------------------------------------------------------------------------

def _apg_on(uncond, cond, w, eta, axis):
    dims = tuple(range(1, cond.ndim))
    delta = cond - uncond
    parallel = (delta * axis).sum(dims, keepdim=True) / (axis * axis).sum(dims, keepdim=True) * axis
    return cond + (w - 1) * (delta - parallel + eta * parallel)


APG_MISTAKES = {
    "projects on uncond": lambda u, c, w, eta: _apg_on(u, c, w, eta, u),
    "uses w instead of w - 1": lambda u, c, w, eta: textbook_apg(u, c, w + 1, eta),
    "norm over the whole batch": lambda u, c, w, eta: c + (w - 1) * (
        (c - u) - ((c - u) * c).sum() / (c * c).sum() * c * (1 - eta)),
    "keeps the parallel part and drops the orthogonal one": lambda u, c, w, eta: textbook_apg(u, c, w, eta)
    - (w - 1) * ((c - u) - _apg_parallel(u, c)) + (w - 1) * (1 - eta) * _apg_parallel(u, c),
    "divides by the norm, not its square": lambda u, c, w, eta: _apg_norm_not_squared(u, c, w, eta),
}


def _apg_parallel(u, c):
    dims = tuple(range(1, c.ndim))
    return ((c - u) * c).sum(dims, keepdim=True) / (c * c).sum(dims, keepdim=True) * c


def _apg_norm_not_squared(u, c, w, eta):
    dims = tuple(range(1, c.ndim))
    parallel = ((c - u) * c).sum(dims, keepdim=True) / (c * c).sum(dims, keepdim=True).sqrt() * c
    return c + (w - 1) * ((c - u) - parallel + eta * parallel)


def interval_open_ends(Du, Dc, w, t_lo, t_hi):
    def denoiser(z, t):
        if t_lo < float(t) < t_hi:
            return Du(z, t) + w * (Dc(z, t) - Du(z, t))
        return Dc(z, t)
    return denoiser


def interval_unconditional_outside(Du, Dc, w, t_lo, t_hi):
    inner = textbook_interval(Du, Dc, w, t_lo, t_hi)
    return lambda z, t: inner(z, t) if t_lo <= float(t) <= t_hi else Du(z, t)


def interval_reversed(Du, Dc, w, t_lo, t_hi):
    def denoiser(z, t):
        if not t_lo <= float(t) <= t_hi:
            return Du(z, t) + w * (Dc(z, t) - Du(z, t))
        return Dc(z, t)
    return denoiser


def interval_in_sigma(Du, Dc, w, t_lo, t_hi):
    return textbook_interval(Du, Dc, w, math.sqrt(t_lo), math.sqrt(t_hi))


def not_implemented(*args, **kwargs):
    raise NotImplementedError("your code here")


def test_textbook_implementations_pass():
    assert check_apg(textbook_apg, verbose=False)
    assert check_interval_denoiser(textbook_interval, verbose=False)
    assert check_apg(textbook_apg, seed=5, n_random=30, verbose=False)
    assert check_interval_denoiser(textbook_interval, seed=5, n_random=30, verbose=False)


@pytest.mark.parametrize("name", sorted(APG_MISTAKES))
def test_apg_mistakes_fail(name):
    result = check_apg(APG_MISTAKES[name], verbose=False)
    assert not result and "failed on case" in result.report, name


@pytest.mark.parametrize("mistake", [interval_open_ends, interval_unconditional_outside, interval_reversed,
                                     interval_in_sigma])
def test_interval_mistakes_fail(mistake):
    result = check_interval_denoiser(mistake, verbose=False)
    assert not result and "failed on case" in result.report


def test_interval_open_ends_fail_at_an_end():
    result = check_interval_denoiser(interval_open_ends, verbose=False)
    assert "t = t_lo (included)" in result.report or "t = t_hi (included)" in result.report


def test_stub_is_not_implemented_yet():
    for check in (check_apg, check_interval_denoiser):
        result = check(not_implemented, verbose=False)
        assert not result and result.not_implemented and "not implemented yet" in result.report
