"""Every sampler refuses a non-finite start or time grid (ValueError naming the argument) and stops with
FloatingPointError, naming the step index and the noise level, when its state becomes NaN or ±inf."""
import math

import pytest
import torch

from tempguide.cascade.pipeline import sample_base, sample_cascade
from tempguide.cascade.sr3 import sample_sr3
from tempguide.diffusion import (
    sample_annealed_langevin,
    sample_ddim,
    sample_ddpm,
    sample_ode_euler,
    sample_ode_heun,
    sample_reverse_sde,
    sample_reverse_sde_rescaled,
)
from tempguide.flow.samplers import sample_euler, sample_heun
from tempguide.guidance.cfgpp import sample_ddim_cfgpp
from tempguide.guidance.ddpm import sample_ddpm_mean_shift
from tempguide.guidance.refinement_laws import sample_ode
from tempguide.mvae import cold
from tempguide.mvae.generate import generate_cfg, generate_guided, generate_tempered, generate_unadjusted
from tempguide.mvae.pyramid import SIZES
from tempguide.unclip import GaussianPrior, decode, sample_unclip, variations

NAN, INF = float("nan"), float("inf")
TS = torch.tensor([8.0, 4.0, 2.0, 1.0, 0.5], dtype=torch.float64)      # noise variances t
ALPHA_BARS = torch.tensor([0.2, 0.5, 0.8, 1.0], dtype=torch.float64)  # t = (1 − ᾱ)/ᾱ = 4, 1, 0.25
TAUS = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64)


def z0(bad=None):
    z = torch.zeros(3, 2, dtype=torch.float64)
    if bad is not None:
        z[1, 0] = bad
    return z


def denoiser_failing_at(t_bad, value=NAN):
    """D(z, t) = z/2, except ``value`` everywhere at the noise level t_bad (a network that blows up there)."""
    def D(z, t):
        return torch.full_like(z, value) if float(t) == t_bad else z / 2
    return D


def eps_failing_at(t_bad, value=NAN):
    def eps(x, t, labels=None):
        return torch.full_like(x, value) if math.isclose(float(t), t_bad) else 0.1 * x
    return eps


# (name, call(start, grid, model), start argument, grid argument, model that fails, expected step, level text)
DENOISER_SAMPLERS = [
    ("reverse_sde", lambda z, ts, D: sample_reverse_sde(D, z, ts, generator=torch.Generator().manual_seed(0)),
     2, "t = 2"),
    ("reverse_sde_rescaled", lambda z, ts, D: sample_reverse_sde_rescaled(
        D, z, ts, beta=1.0, generator=torch.Generator().manual_seed(0)), 2, "t = 2"),
    ("ode_euler", lambda z, ts, D: sample_ode_euler(D, z, ts), 2, "t = 2"),
    ("ode_heun", lambda z, ts, D: sample_ode_heun(D, z, ts), 1, "t = 4"),  # the corrector of step 1 is at t = 2
    ("langevin", lambda z, ts, D: sample_annealed_langevin(D, z, ts, n_steps=3,
                                                          generator=torch.Generator().manual_seed(0)), 2, "t = 2"),
]


@pytest.mark.parametrize("name,run,step,level", DENOISER_SAMPLERS, ids=[s[0] for s in DENOISER_SAMPLERS])
@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_denoiser_samplers_refuse_a_non_finite_start(name, run, step, level, bad):
    with pytest.raises(ValueError, match=r"^z must be finite"):
        run(z0(bad), TS, denoiser_failing_at(None))


@pytest.mark.parametrize("name,run,step,level", DENOISER_SAMPLERS, ids=[s[0] for s in DENOISER_SAMPLERS])
def test_denoiser_samplers_refuse_a_non_finite_grid(name, run, step, level):
    for bad in (NAN, INF):
        ts = TS.clone()
        ts[0] = bad
        with pytest.raises(ValueError, match=r"^ts must be finite"):
            run(z0(), ts, denoiser_failing_at(None))


@pytest.mark.parametrize("name,run,step,level", DENOISER_SAMPLERS, ids=[s[0] for s in DENOISER_SAMPLERS])
@pytest.mark.parametrize("value", [NAN, INF])
def test_denoiser_samplers_report_the_step_where_they_diverge(name, run, step, level, value):
    with pytest.raises(FloatingPointError, match=rf"z became non-finite .* at step {step} \({level}\)"):
        run(z0(), TS, denoiser_failing_at(2.0, value))


def test_a_finite_run_is_unchanged():
    """The guard only watches: a healthy run returns the same numbers as the plain Euler loop."""
    D = denoiser_failing_at(None)
    z = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    expected = z.clone()
    for t, t_next in zip(TS[:-1], TS[1:]):
        expected = expected + (t_next - t) * (expected - D(expected, t)) / (2 * t)
    assert torch.equal(sample_ode_euler(D, z, TS), expected)


# ---- ε-network samplers on an ᾱ grid -------------------------------------------------------------
class CondEps:
    """A conditional ε-network with a null label (num_classes = 2) that returns NaN at t = t_bad."""

    config = type("Config", (), {"num_classes": 2})()

    def __init__(self, t_bad=None):
        self.eps = eps_failing_at(t_bad)

    def __call__(self, x, t, labels):
        return self.eps(x, t, labels)


def log_prob(z, t):
    """A two-class classifier: ln softmax(±Σz)."""
    s = z.sum(-1)
    return torch.stack([s, -s], -1).log_softmax(-1)


LABELS = torch.tensor([0, 1, 0])
EPS_SAMPLERS = [
    ("ddpm", lambda x, ab, e: sample_ddpm(e, x, ab, generator=torch.Generator().manual_seed(0))),
    ("ddim", lambda x, ab, e: sample_ddim(e, x, ab)),
    ("ddim_eta", lambda x, ab, e: sample_ddim(e, x, ab, eta=0.5, generator=torch.Generator().manual_seed(0))),
    ("mean_shift", lambda x, ab, e: sample_ddpm_mean_shift(e, x, ab, log_prob, LABELS, 1.0,
                                                          generator=torch.Generator().manual_seed(0))),
    ("cfgpp", lambda x, ab, e: sample_ddim_cfgpp(e, x, ab, LABELS, 0.5)),
]


@pytest.mark.parametrize("name,run", EPS_SAMPLERS, ids=[s[0] for s in EPS_SAMPLERS])
def test_eps_samplers_refuse_a_non_finite_start_or_grid(name, run):
    for bad in (NAN, INF):
        with pytest.raises(ValueError, match=r"^z_bar must be finite"):
            run(z0(bad), ALPHA_BARS, CondEps())
        alpha_bars = ALPHA_BARS.clone()
        alpha_bars[1] = bad
        with pytest.raises(ValueError, match=r"^alpha_bars must be finite"):
            run(z0(), alpha_bars, CondEps())


@pytest.mark.parametrize("name,run", EPS_SAMPLERS, ids=[s[0] for s in EPS_SAMPLERS])
def test_eps_samplers_report_the_step_where_they_diverge(name, run):
    with pytest.raises(FloatingPointError, match=r"z_bar became non-finite .* at step 1 \(t = 1\)"):
        run(z0(), ALPHA_BARS, CondEps(t_bad=1.0))


# ---- flow samplers -------------------------------------------------------------------------------
def velocity_failing_at(tau_bad):
    return lambda x, tau: torch.full_like(x, NAN) if float(tau) == tau_bad else -x


@pytest.mark.parametrize("sampler,step,level", [(sample_euler, 2, "0.5"), (sample_heun, 1, "0.25")])
def test_flow_samplers(sampler, step, level):
    with pytest.raises(ValueError, match=r"^x must be finite"):
        sampler(velocity_failing_at(None), z0(INF), TAUS)
    taus = TAUS.clone()
    taus[2] = NAN
    with pytest.raises(ValueError, match=r"^taus must be finite"):
        sampler(velocity_failing_at(None), z0(), taus)
    with pytest.raises(FloatingPointError, match=rf"x became non-finite .* at step {step} \(tau = {level}\)"):
        sampler(velocity_failing_at(0.5), z0(), TAUS)


def test_refinement_laws_sample_ode_stops_on_a_diverging_denoiser():
    D = lambda z, t: torch.full_like(z, NAN) if float(t) < 1 else z / 2
    with pytest.raises(FloatingPointError, match=r"z became non-finite .* at step \d+ \(t = "):
        sample_ode(D, 8, 2, t_max=100.0, t_min=0.01, steps=10)


# ---- Markovian VAE: the decoder chain and cold diffusion -------------------------------------------
def decoders_failing_at(level, value=NAN):
    def make(k):
        def decoder(z, x):
            if k == level:
                return torch.full((1, 2), value)
            return torch.zeros(1, 2) if z is None else z + 1
        return decoder
    return [make(k) for k in range(3)]


@pytest.mark.parametrize("generate", [
    lambda d, s: generate_unadjusted(d, s, None, n=4, generator=torch.Generator().manual_seed(0)),
    lambda d, s: generate_tempered(d, s, None, 2.0, n=4, generator=torch.Generator().manual_seed(0)),
    lambda d, s: generate_guided(d, s, None, None, n=4, generator=torch.Generator().manual_seed(0)),
    lambda d, s: generate_cfg(d, s, None, None, 2.0, n=4, generator=torch.Generator().manual_seed(0)),
], ids=["unadjusted", "tempered", "guided", "cfg"])
def test_mvae_generation_reports_the_level_that_diverges(generate):
    with pytest.raises(FloatingPointError, match=r"z became non-finite .* at step 1 \(sigma = 0.5\)"):
        generate(decoders_failing_at(1), [1.0, 0.5, 0.25])
    with pytest.raises(FloatingPointError, match=r"at step 2 \(sigma = \[0.1, 0.2\]\)"):  # per-pixel σ
        generate(decoders_failing_at(2, INF), [1.0, 0.5, torch.tensor([0.1, 0.2])])


def fake_pyramid(bad_decoder=None):
    """model(k, z, x): decoder k upsamples z_{6−k} to the next size; decoder ``bad_decoder`` returns NaN."""
    def model(k, z, x):
        out = torch.nn.functional.interpolate(z, size=SIZES[len(SIZES) - 1 - k])
        return out * NAN if k == bad_decoder else out
    return model


def test_cold_diffusion_refuses_a_non_finite_start_and_stops_when_the_restoration_diverges():
    start = torch.ones(2, 1, 4, 4)                                     # level 3
    assert torch.isfinite(cold.sample_cold(fake_pyramid(), start, None)).all()
    with pytest.raises(ValueError, match=r"^z_start must be finite"):
        cold.sample_cold(fake_pyramid(), start * NAN, None)
    with pytest.raises(FloatingPointError, match=r"x_s became non-finite .* at step 0 \(s = 3\)"):
        cold.sample_cold(fake_pyramid(bad_decoder=5), start, None)   # the last decoder: every restoration


# ---- SR3, the cascade and unCLIP (they run sample_ddpm) ------------------------------------------
class NaNNet(torch.nn.Module):
    """An ε-network whose output is NaN: a checkpoint with a NaN weight."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(NAN))
        self.config = type("Config", (), {"num_classes": 10})()

    def forward(self, x, t, labels=None, **kwargs):
        return self.w * x


def test_sr3_refuses_a_non_finite_low_resolution_input_and_a_diverging_network():
    x_low = torch.zeros(2, 1, 14, 14)
    x_low[0, 0, 3, 3] = NAN
    with pytest.raises(ValueError, match=r"^x_low must be finite"):
        sample_sr3(NaNNet(), x_low, n_steps=3)
    with pytest.raises(FloatingPointError, match=r"z_bar became non-finite .* at step 0 \(t = "):
        sample_sr3(NaNNet(), torch.zeros(2, 1, 14, 14), n_steps=3, generator=torch.Generator().manual_seed(0))


def test_cascade_stops_when_the_base_model_diverges():
    labels = torch.tensor([1, 2])
    with pytest.raises(FloatingPointError, match=r"z_bar became non-finite .* at step 0"):
        sample_base(NaNNet(), labels, n_steps=3, generator=torch.Generator().manual_seed(0))
    with pytest.raises(FloatingPointError, match=r"z_bar became non-finite .* at step 0"):
        sample_cascade(NaNNet(), NaNNet(), labels, n_steps_base=3, n_steps_sr=3,
                       generator=torch.Generator().manual_seed(0))


def test_unclip_refuses_non_finite_embeddings_and_images():
    e = torch.nn.functional.normalize(torch.ones(2, 32), dim=-1)
    e[1, 0] = NAN
    with pytest.raises(ValueError, match=r"^e must be finite"):
        decode(NaNNet(), e, 1.0, n_steps=3)
    text = torch.ones(2, 32)
    text[0, 5] = INF
    with pytest.raises(ValueError, match=r"^text_emb must be finite"):
        sample_unclip(GaussianPrior(), NaNNet(), text, 1.0, n_steps=3)
    clip = type("Clip", (), {"encode_image": staticmethod(lambda y: torch.ones(1, 32))})()
    with pytest.raises(ValueError, match=r"^image must be finite"):
        variations(clip, NaNNet(), torch.full((1, 1, 28, 28), NAN), 2, 1.0, n_steps=3)


def test_unclip_decoder_that_diverges_is_reported():
    e = torch.nn.functional.normalize(torch.ones(2, 32), dim=-1)
    decoder = lambda x, t, E: torch.full_like(x, INF)
    with pytest.raises(FloatingPointError, match=r"z_bar became non-finite .* at step 0 \(t = "):
        decode(decoder, e, 1.0, n_steps=3)
