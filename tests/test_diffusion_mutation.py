"""Survivors of `make mutation` in diffusion/ and guidance/ classifier and attribute modules (issue 20)."""
from __future__ import annotations

import math

import pytest
import torch

from tempguide.diffusion.adapters import denoiser_from_eps
from tempguide.diffusion.langevin import sample_annealed_langevin
from tempguide.diffusion.ode import sample_ode_euler, sample_ode_heun
from tempguide.diffusion.reverse_sde import sample_reverse_sde_rescaled
from tempguide.guidance.attribute import attribute_cfg_eps, check_attribute
from tempguide.guidance.classifier import (classifier_gradient, classifier_guided, classifier_guided_x0, clean_log_prob,
                                          noise_aware_log_prob)
from tempguide.metrics.image import sharpness

TS = torch.tensor([1.0, 0.5, 0.1], dtype=torch.float64)


def wrong_shape(z, t):
    return z[:, :1]


def test_samplers_name_the_denoiser_and_beta_in_their_errors():
    z = torch.zeros(2, 2, dtype=torch.float64)
    for sample in (sample_ode_euler, sample_reverse_sde_rescaled):
        with pytest.raises(ValueError, match=r"^denoiser returned shape \(2, 1\) for input of shape \(2, 2\)$"):
            sample(wrong_shape, z, TS)
    with pytest.raises(ValueError, match="^beta must be"):
        sample_reverse_sde_rescaled(lambda z, t: z, z, TS, beta=-1.0)


def test_rescaled_reverse_sde_defaults_to_beta_one():
    z = torch.ones(3, 1, dtype=torch.float64)

    def run(**kw):
        return sample_reverse_sde_rescaled(lambda z, t: 0 * z, z, TS, generator=torch.Generator().manual_seed(0), **kw)

    assert torch.equal(run(), run(beta=1.0)) and not torch.equal(run(), run(beta=2.0))


def test_denoiser_from_eps_computes_t_in_float64_and_gives_the_net_z_dtype():
    seen = []

    def net(z_bar, t, labels):
        seen.append(t.dtype)
        return torch.ones_like(z_bar)

    z = torch.zeros(1, 1, dtype=torch.float64)
    assert denoiser_from_eps(net)(z, 0.3).item() == pytest.approx(-math.sqrt(0.3), abs=1e-15)  # D = z − √t·ε̂
    denoiser_from_eps(net)(z.float(), 0.3)
    assert seen == [torch.float64, torch.float32]


class Recorder(torch.nn.Module):
    """A 'classifier' with logits (B, 3) = the first three coordinates; it records the t it gets."""

    def __init__(self):
        super().__init__()
        self.ts = []

    def forward(self, z, t):
        self.ts.append(t)
        return z[:, :3]


def test_clean_log_prob_uses_t_clean_and_normalises_over_classes():
    clf = Recorder()
    z = torch.tensor([[0.0, 1.0, 2.0, 5.0]] * 2)  # B = 2 rows, 3 classes: a wrong axis would not sum to 1
    logp = clean_log_prob(clf)(z, 0.7)
    assert clf.ts == [1e-4] and logp.exp().sum(-1).tolist() == pytest.approx([1.0, 1.0])
    noisy = noise_aware_log_prob(clf)(z.double(), 0.7)
    assert clf.ts[-1].dtype == torch.float64 and noisy.exp().sum(-1).tolist() == pytest.approx([1.0, 1.0])


def test_classifier_guidance_names_gamma():
    for guided in (classifier_guided, classifier_guided_x0):
        with pytest.raises(ValueError, match="^gamma must be"):
            guided(lambda z, t: z, lambda z, t: z, torch.tensor([0]), float("nan"))


def test_attributes_become_float32_and_are_required():
    E = check_attribute(torch.tensor([1, 2]), 2)
    assert E.dtype == torch.float32 and E.tolist() == [1.0, 2.0]
    assert check_attribute(torch.tensor([0.5, 1.5], dtype=torch.float64), 2).dtype == torch.float64  # floats kept
    with pytest.raises(ValueError, match=r"got \[nan, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0\]$"):
        check_attribute(torch.tensor([float("nan")] + [float(i) for i in range(1, 10)]), 10)
    with pytest.raises(ValueError, match=r"^eps_net must be a callable eps_net\(z_bar, t, E\), got int$"):
        attribute_cfg_eps(3, 2.0)
    eps = attribute_cfg_eps(lambda z_bar, t, E: z_bar, 2.0)
    with pytest.raises(ValueError, match=r"^E is required: the attribute to guide towards, a number or shape \(B,\)$"):
        eps(torch.zeros(1, 1), torch.tensor(1.0))
    seen = []
    attribute_cfg_eps(lambda z_bar, t, E: seen.append(E.dtype) or z_bar, 2.0)(torch.zeros(1, 1, dtype=torch.float64),
                                                                             torch.tensor(1.0), 0.5)
    assert seen == [torch.float64]  # E in z̄'s dtype


def test_annealed_langevin_defaults_and_a_single_level():
    z = torch.zeros(2, 1, dtype=torch.float64)
    seen = []

    def denoiser(z, t):
        seen.append(float(t))
        return 0 * z

    out = sample_annealed_langevin(denoiser, z, torch.tensor([0.5], dtype=torch.float64),
                                   generator=torch.Generator().manual_seed(0))  # one level is enough
    assert len(seen) == 100  # n_steps = 100 by default
    again = sample_annealed_langevin(denoiser, z, torch.tensor([0.5], dtype=torch.float64), n_steps=100,
                                     step_size=2e-5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)  # the documented defaults n_steps = 100, step_size = 2e-5


def test_classifier_log_prob_shape_error_names_what_it_got():
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"^log_prob must return \(B, C\) = \(2, C\) log-probabilities, got \(2,\)$"):
        classifier_gradient(lambda z, t: z.sum(-1), z, 1.0, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"got float$"):
        classifier_gradient(lambda z, t: 0.5, z, 1.0, torch.tensor([0, 1]))


def test_heun_takes_every_step_and_names_the_denoiser():
    calls = []

    def denoiser(z, t):
        calls.append(float(t))
        return 0 * z

    sample_ode_heun(denoiser, torch.ones(1, 1, dtype=torch.float64), TS)
    assert calls == [1.0, 0.5, 0.5, 0.1]  # two calls per step, both steps
    with pytest.raises(ValueError, match=r"^denoiser returned shape"):
        sample_ode_heun(wrong_shape, torch.zeros(2, 2, dtype=torch.float64), TS)


def test_image_metrics_name_the_images_argument():
    with pytest.raises(ValueError, match=r"^images must have shape \(B, 1, H, W\), got \(2, 2\)$"):
        sharpness(torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"got \(2, 1, 5\)$"):  # one channel, but not 4-D
        sharpness(torch.zeros(2, 1, 5))


def test_annealed_langevin_step_recipe_and_argument_names():
    z = torch.ones(3, 1, dtype=torch.float64)
    ts = torch.tensor([0.5], dtype=torch.float64)
    out = sample_annealed_langevin(lambda z, t: 0 * z, z, ts, n_steps=1, step_size=0.1, temperature=2.0,
                                   generator=torch.Generator().manual_seed(0))
    eps = torch.randn(3, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    score = -z / 0.5  # (D − z)/t with D = 0; α = step_size at the last level
    assert torch.equal(out, z + 0.1 / 2 * score + math.sqrt(2.0 * 0.1) * eps)
    for kwargs, match in [({"step_size": -1.0}, "^step_size must be"), ({"n_steps": 1.5}, "^n_steps must be an int >= 1")]:
        with pytest.raises(ValueError, match=match):
            sample_annealed_langevin(lambda z, t: z, z, ts, **kwargs)
    with pytest.raises(ValueError, match="^denoiser returned shape"):
        sample_annealed_langevin(wrong_shape, torch.zeros(2, 2, dtype=torch.float64), ts, n_steps=1)
