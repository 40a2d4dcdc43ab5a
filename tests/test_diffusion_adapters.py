"""Adapters (ε-network ↔ denoiser ↔ score), temperature wrappers, and the samplers' error messages."""
import math

import pytest
import torch

from tempguide import toy
from tempguide.diffusion import (denoiser_from_eps, denoiser_from_score, eps_from_denoiser, geometric_ts,
                                 sample_annealed_langevin, sample_ddim, sample_ddpm, sample_ode_euler,
                                 sample_ode_heun, sample_prior, sample_reverse_sde, sample_reverse_sde_rescaled,
                                 scale_eps, scale_score, score_from_denoiser, tempered_probabilities)

MIX = toy.mixture_2d()
T = torch.tensor(0.7, dtype=torch.float64)


def points(n=200, seed=0):
    return 2 * torch.randn(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.seed("001-03", "003-14")
def test_eps_of_exact_mixture_is_the_noise_posterior_mean():
    """ε̂(x, t) = E[ε | z]: with z = y + √t ε, (z − E[y|z])/√t; x = z/√(1+t) is DDPM's x_t."""
    z = points()
    x = z / math.sqrt(1 + T.item())
    eps_hat = eps_from_denoiser(MIX.denoise)(x, T)
    torch.testing.assert_close(eps_hat, (z - MIX.denoise(z, T)) / T.sqrt())
    torch.testing.assert_close(-eps_hat / T.sqrt(), MIX.score(z, T))  # s = −ε̂/√t


@pytest.mark.seed("001-03")
def test_denoiser_from_eps_inverts_eps_from_denoiser():
    z = points()
    for t in (1e-3, 0.7, 50.0):
        t = torch.tensor(t, dtype=torch.float64)
        torch.testing.assert_close(denoiser_from_eps(eps_from_denoiser(MIX.denoise))(z, t), MIX.denoise(z, t))


def test_denoiser_from_eps_passes_labels_and_rescales_x():
    seen = {}

    def net(x, t, labels):
        seen.update(x=x, t=t, labels=labels)
        return torch.zeros_like(x)

    z, labels = points(4), torch.tensor([0, 1, 10, 3])
    D = denoiser_from_eps(net, labels=labels)
    torch.testing.assert_close(D(z, T), z)  # ε̂ = 0 ⇒ D = z
    torch.testing.assert_close(seen["x"], z / (1 + T).sqrt())
    assert seen["labels"] is labels and seen["t"].ndim == 0


@pytest.mark.seed("001-03", "003-14")
def test_score_and_denoiser_round_trip():
    z = points()
    torch.testing.assert_close(score_from_denoiser(MIX.denoise)(z, T), MIX.score(z, T))
    torch.testing.assert_close(denoiser_from_score(MIX.score)(z, T), MIX.denoise(z, T))


def test_scale_score_multiplies_the_score_and_scale_eps_divides_eps():
    z, beta = points(), 3.0
    torch.testing.assert_close(score_from_denoiser(scale_score(MIX.denoise, beta))(z, T), beta * MIX.score(z, T))
    net = eps_from_denoiser(MIX.denoise)
    x = z / (1 + T).sqrt()
    torch.testing.assert_close(scale_eps(net, 1 / beta)(x, T), beta * net(x, T))
    # the two wrappers agree through the adapter
    torch.testing.assert_close(denoiser_from_eps(scale_eps(net, 1 / beta))(z, T), scale_score(MIX.denoise, beta)(z, T))


def test_tempered_probabilities_is_softmax_of_beta_log_p():
    log_p = torch.log(torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64))
    p2 = torch.tensor([0.25, 0.09, 0.04], dtype=torch.float64)
    torch.testing.assert_close(tempered_probabilities(log_p, 2.0), p2 / p2.sum())
    torch.testing.assert_close(tempered_probabilities(log_p, 1.0), log_p.exp())
    torch.testing.assert_close(tempered_probabilities(log_p, math.inf), torch.tensor([1.0, 0, 0], dtype=torch.float64))


@pytest.mark.seed("003-09")
def test_sample_prior_variance_is_temperature_times_t_max():
    z = sample_prior((200_000,), 9.0, temperature=0.25, generator=torch.Generator().manual_seed(0))
    assert z.var().item() == pytest.approx(0.25 * 9.0, rel=5 * math.sqrt(2 / 200_000))


# -- errors --------------------------------------------------------------------------------

SDE_SAMPLERS = [
    lambda D, z, ts, **kw: sample_reverse_sde(D, z, ts, **kw),
    lambda D, z, ts, **kw: sample_reverse_sde_rescaled(D, z, ts, **{"beta": 1 / kw["temperature"]} if kw else {}),
    lambda D, z, ts, **kw: sample_annealed_langevin(D, z, ts, n_steps=2, **kw),
]
ALL_T_SAMPLERS = SDE_SAMPLERS + [lambda D, z, ts: sample_ode_euler(D, z, ts), lambda D, z, ts: sample_ode_heun(D, z, ts)]


@pytest.mark.parametrize("sampler", ALL_T_SAMPLERS)
@pytest.mark.parametrize("ts,match", [
    (torch.tensor([1.0, 2.0, 0.5]), "decreasing"),
    (torch.tensor([1.0, 1.0, 0.5]), "decreasing"),
    (torch.tensor([1.0, 0.5, 0.0]), "> 0"),
    (torch.tensor([1.0, -0.5]), "> 0"),
    (torch.tensor([[1.0, 0.5]]), "1-D"),
    (torch.tensor([1.0, float("nan")]), "finite"),
])
def test_bad_grids_are_rejected(sampler, ts, match):
    with pytest.raises(ValueError, match=match):
        sampler(MIX.denoise, points(3), ts)


@pytest.mark.parametrize("sampler", SDE_SAMPLERS[:1] + SDE_SAMPLERS[2:])
def test_negative_temperature_is_rejected(sampler):
    with pytest.raises(ValueError, match="temperature"):
        sampler(MIX.denoise, points(3), geometric_ts(1.0, 0.1, 3), temperature=-0.5)


def test_rescaled_form_needs_positive_beta():
    for beta in (0.0, -1.0, math.inf):
        with pytest.raises(ValueError, match="beta"):
            sample_reverse_sde_rescaled(MIX.denoise, points(3), geometric_ts(1.0, 0.1, 3), beta=beta)


@pytest.mark.parametrize("sampler", ALL_T_SAMPLERS)
def test_denoiser_shape_mismatch_is_rejected(sampler):
    with pytest.raises(ValueError, match="shape"):
        sampler(lambda z, t: z[:, :1], points(3), geometric_ts(1.0, 0.1, 3))


@pytest.mark.parametrize("sampler", [sample_ddpm, sample_ddim])
def test_ddpm_ddim_errors(sampler):
    net = eps_from_denoiser(MIX.denoise)
    x = points(3)
    with pytest.raises(ValueError, match="increasing"):
        sampler(net, x, torch.tensor([0.5, 0.1, 1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        sampler(net, x, torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="shape"):
        sampler(lambda x, t, labels: x[:, :1], x, torch.tensor([0.1, 0.5, 1.0], dtype=torch.float64))


def test_ddpm_negative_temperature_and_ddim_eta_range():
    net, x, ab = eps_from_denoiser(MIX.denoise), points(3), torch.tensor([0.1, 0.5, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="temperature"):
        sample_ddpm(net, x, ab, temperature=-1.0)
    with pytest.raises(ValueError, match="eta"):
        sample_ddim(net, x, ab, eta=1.5)


def test_wrapper_and_prior_errors():
    with pytest.raises(ValueError, match="beta"):
        scale_score(MIX.denoise, 0.0)
    with pytest.raises(ValueError, match="tau"):
        scale_eps(lambda x, t, labels=None: x, -1.0)
    with pytest.raises(ValueError, match="temperature"):
        sample_prior((3,), 1.0, temperature=-1.0)
    with pytest.raises(ValueError, match="beta"):
        tempered_probabilities(torch.zeros(3), 0.0)
    from tempguide.diffusion import ode_scaled_start_1d
    with pytest.raises(ValueError, match="1-D"):
        ode_scaled_start_1d(MIX, 0.5)


def test_temperature_zero_sde_is_deterministic():
    """T = 0 (β = ∞) drops the noise: two generators give the same path."""
    ts = geometric_ts(10.0, 0.01, 20)
    z = points(50)
    a = sample_reverse_sde(MIX.denoise, z, ts, temperature=0.0, generator=torch.Generator().manual_seed(1))
    b = sample_reverse_sde(MIX.denoise, z, ts, temperature=0.0, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b)


def test_adapters_accept_one_noise_level_per_example():
    """Training calls ε-networks with t of shape (B,); the adapters broadcast it per row."""
    z = points(5)
    t = torch.tensor([1e-3, 0.1, 1.0, 10.0, 100.0], dtype=torch.float64)
    x = z / (1 + t[:, None]).sqrt()
    eps_hat = eps_from_denoiser(MIX.denoise)(x, t)
    rows = torch.cat([eps_from_denoiser(MIX.denoise)(x[i:i + 1], t[i]) for i in range(5)])
    torch.testing.assert_close(eps_hat, rows)
    torch.testing.assert_close(denoiser_from_eps(eps_from_denoiser(MIX.denoise))(z, t), MIX.denoise(z, t))
