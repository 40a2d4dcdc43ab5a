"""Noise-level conversions and time grids against their formulas and diffusers' implementations."""
import numpy as np
import pytest
import torch

from tempguide.diffusion import (alpha_bar_from_t, ddpm_alpha_bars, ddpm_ts, geometric_ts, karras_ts,
                                 sigma_from_t, t_from_alpha_bar, t_from_sigma)


def test_conversions_round_trip():
    t = torch.logspace(-5, 5, 101, dtype=torch.float64)
    torch.testing.assert_close(t_from_alpha_bar(alpha_bar_from_t(t)), t, rtol=1e-10, atol=0)
    torch.testing.assert_close(t_from_sigma(sigma_from_t(t)), t, rtol=1e-14, atol=0)
    a = torch.linspace(1e-4, 1, 50, dtype=torch.float64)
    torch.testing.assert_close(alpha_bar_from_t(t_from_alpha_bar(a)), a, rtol=1e-12, atol=0)


@pytest.mark.seed("003-12")
def test_conversions_match_ddpm_definition():
    """x = √ᾱ y + √(1−ᾱ) ε divided by √ᾱ is z = y + √t ε: t = (1−ᾱ)/ᾱ."""
    a = ddpm_alpha_bars()
    torch.testing.assert_close(ddpm_ts(), (1 - a) / a)
    assert bool((ddpm_ts().diff() > 0).all())


def test_ddpm_alpha_bars_equal_diffusers():
    from diffusers import DDPMScheduler
    s = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02)
    torch.testing.assert_close(ddpm_alpha_bars().float(), s.alphas_cumprod, rtol=1e-5, atol=1e-7)


@pytest.mark.seed("003-07")
def test_geometric_grid_is_equally_spaced_in_log_t():
    ts = geometric_ts(100.0, 1e-3, 26)
    assert ts.dtype == torch.float64
    assert ts[0].item() == pytest.approx(100.0) and ts[-1].item() == pytest.approx(1e-3)
    ratios = ts[1:] / ts[:-1]
    torch.testing.assert_close(ratios, torch.full_like(ratios, (1e-5) ** (1 / 25)))


@pytest.mark.parametrize("rho", [7.0, 3.0])
def test_karras_grid_matches_edm_formula_and_diffusers(rho):
    sigma_min, sigma_max, n = 0.002, 80.0, 18
    ts = karras_ts(sigma_max**2, sigma_min**2, n, rho=rho)
    assert ts.dtype == torch.float64 and bool((ts.diff() < 0).all())
    # NVlabs/edm generate.py, written out with numpy:
    i = np.arange(n)
    sig = (sigma_max ** (1 / rho) + i / (n - 1) * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    np.testing.assert_allclose(ts.sqrt().numpy(), sig, rtol=1e-12)
    if rho == 7.0:  # diffusers' EulerDiscreteScheduler uses ρ = 7
        from diffusers import EulerDiscreteScheduler
        sched = EulerDiscreteScheduler()
        ref = sched._convert_to_karras(torch.tensor([sigma_max, sigma_min]), n)
        np.testing.assert_allclose(ts.sqrt().numpy(), np.asarray(ref, dtype=np.float64), rtol=1e-5)


@pytest.mark.parametrize("grid", [geometric_ts, karras_ts])
@pytest.mark.parametrize("args", [(1.0, 0.0, 5), (1.0, -1.0, 5), (1.0, 2.0, 5), (1.0, 1.0, 5), (2.0, 1.0, 1)])
def test_grid_errors(grid, args):
    with pytest.raises(ValueError):
        grid(*args)


def test_karras_rho_must_be_positive():
    with pytest.raises(ValueError, match="rho"):
        karras_ts(10.0, 0.1, 5, rho=0)
