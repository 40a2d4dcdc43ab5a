"""The homework-2 checks accept correct answers and reject typical mistakes."""
import math

import torch

from tempguide import checks_diffusion as cd


def step(denoiser, z, t, t_next, temperature, eps):
    dt = t - t_next
    return z + (denoiser(z, t) - z) / t * dt + math.sqrt(temperature * dt) * eps


def test_temperature_step_check():
    assert cd.check_temperature_step(step, verbose=False)
    wrong_noise = lambda D, z, t, tn, T, eps: step(D, z, t, tn, 1.0, eps)  # noqa: E731  (ignores T)
    half_drift = lambda D, z, t, tn, T, eps: step(D, z, t, tn, T, eps) - (D(z, t) - z) / t * (t - tn) / 2  # noqa: E731
    assert not cd.check_temperature_step(wrong_noise, verbose=False)
    assert not cd.check_temperature_step(half_drift, verbose=False)


def test_loop_check():
    def loop(D, z, ts, T, generator):
        for t, tn in zip(ts[:-1].tolist(), ts[1:].tolist()):
            z = step(D, z, t, tn, T, torch.randn(z.shape, generator=generator, dtype=z.dtype))
        return z

    def noise_first_missing(D, z, ts, T, generator):  # skips the draw at the last step
        for i, (t, tn) in enumerate(zip(ts[:-1].tolist(), ts[1:].tolist())):
            eps = torch.randn(z.shape, generator=generator, dtype=z.dtype) if i < len(ts) - 2 else torch.zeros_like(z)
            z = step(D, z, t, tn, T, eps)
        return z

    assert cd.check_sample_tempered(loop, verbose=False)
    result = cd.check_sample_tempered(noise_first_missing, verbose=False)
    assert not result and "manual_seed" in result.report


def test_final_variance_check():
    def closed(s2, t0, tN, temperature):
        a0, aN = s2 + t0, s2 + tN
        return temperature * aN + (t0 - temperature * a0) * (aN / a0) ** 2

    assert cd.check_final_variance(closed, verbose=False)
    assert not cd.check_final_variance(lambda s2, t0, tN, temperature: temperature * s2, verbose=False)
    def not_yet(s2, t0, tN, temperature):
        raise NotImplementedError("derive it first")

    result = cd.check_final_variance(not_yet, verbose=False)
    assert not result and result.not_implemented
