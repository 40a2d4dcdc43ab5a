"""Homework 5's instant feedback (tempguide.checks.mvae) passes the reference and catches the realistic bugs."""
import math

import torch

from tempguide.checks import mvae as checks
from tempguide.mvae import generate_guided, generate_tempered, generate_unadjusted
from tempguide.mvae import linear_gaussian as lg


def _nll(r, sigma, divisor_2=True):
    return float(r.pow(2).sum(1).mean() / ((2 if divisor_2 else 1) * sigma ** 2)
                 + r.shape[1] / 2 * math.log(2 * math.pi * sigma ** 2))


def test_objective_checks():
    assert checks.check_level_nll(_nll, verbose=False)
    assert not checks.check_level_nll(lambda r, sigma: _nll(r, sigma, divisor_2=False), verbose=False)
    assert checks.check_ml_sigma(lambda r: float(r.pow(2).mean().sqrt()), verbose=False)
    assert not checks.check_ml_sigma(lambda r: float(r.std(unbiased=False)), verbose=False)       # around the sample mean
    assert not checks.check_ml_sigma(lambda r: float((r.pow(2).sum() / max(r.numel() - 1, 1)).sqrt()), verbose=False)


def test_generator_checks_accept_the_library_and_reject_beta_instead_of_sqrt_beta():
    assert checks.check_unadjusted(lambda d, s, x, n, g: generate_unadjusted(d, s, x, n=n, generator=g), verbose=False)
    assert checks.check_tempered(lambda d, s, x, b, n, g: generate_tempered(d, s, x, b, n=n, generator=g), verbose=False)
    assert checks.check_guided(lambda d, s, xg, xb, b, n, g: generate_guided(d, s, xg, xb, b, n=n, generator=g),
                               verbose=False)
    wrong = lambda d, s, x, b, n, g: generate_tempered(d, s, x, b * b if math.isfinite(b) else b, n=n, generator=g)
    assert not checks.check_tempered(wrong, verbose=False)
    swapped = lambda d, s, xg, xb, b, n, g: generate_guided(d, s, xb, xg, b, n=n, generator=g)
    assert not checks.check_guided(swapped, verbose=False)


def test_chain_law_check():
    def law(decoders, sigmas, beta):
        out = lg.chain_law(decoders, sigmas, beta)[-1]
        return out.mean, out.cov
    assert checks.check_chain_law(law, verbose=False)

    def no_top_noise(decoders, sigmas, beta):
        return law(decoders, [0.0] + list(sigmas[1:]), beta)
    assert not checks.check_chain_law(no_top_noise, verbose=False)
