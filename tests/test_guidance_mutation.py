"""Survivors of `make mutation` in guidance/ (issue 20): argument checks, the uncond label, float64 weights."""
from __future__ import annotations

import math
import types

import pytest
import torch

from tempguide.guidance.attribute_exact import JointGaussian
from tempguide.guidance.autoguidance import autoguided_eps
from tempguide.guidance.cfg import cfg_denoiser, cfg_denoisers, cfg_eps
from tempguide.guidance.cfgpp import cfgpp_weight
from tempguide.guidance.ddpm import eps_classifier_guided
from tempguide.guidance.tilted import tilted_log_density
from tempguide.toy import mixture_1d


class LabelNet:
    """An ε-network with 3 classes (null label 3) whose output is its label: ε̂(z̄, t, c) = c."""

    config = types.SimpleNamespace(num_classes=3)

    def __init__(self):
        self.labels = []

    def __call__(self, z_bar, t, labels):
        self.labels.append(labels.tolist())
        return labels.to(z_bar.dtype).reshape(-1, *[1] * (z_bar.dim() - 1)).expand_as(z_bar)


@pytest.mark.parametrize("rho", [-1.0, -1.5, 1.0])
def test_joint_gaussian_refuses_correlations_outside_the_open_interval(rho):
    with pytest.raises(ValueError, match=rf"rho must be a correlation in \(-1, 1\), got {rho}"):
        JointGaussian(rho=rho)


def test_tilted_density_names_gamma_in_its_error():
    with pytest.raises(ValueError, match="^gamma must be"):
        tilted_log_density(mixture_1d(), torch.zeros(1, 1, dtype=torch.float64), 0, float("nan"))


def test_cfg_denoiser_guides_away_from_the_uncond_label():
    net = LabelNet()
    denoiser = cfg_denoiser(net, torch.tensor([1]), 2.0, uncond_label=0)
    denoiser(torch.zeros(1, 1, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    assert net.labels == [[1, 0]]  # one call on [c; u] with u = 0, not the null label 3


@pytest.mark.parametrize("guided", ["cfg", "autoguidance"])
def test_guided_networks_require_labels(guided):
    eps = cfg_eps(LabelNet(), 2.0) if guided == "cfg" else autoguided_eps(LabelNet(), LabelNet(), 2.0)
    why = "to guide towards" if guided == "cfg" else "both models are conditioned on"
    with pytest.raises(ValueError, match=rf"^labels are required: the classes c {why}, shape \(B,\)$"):
        eps(torch.zeros(1, 1), torch.tensor(1.0))


def test_autoguidance_names_the_network_without_classes():
    with pytest.raises(ValueError, match=r"^net must be a class-conditional .* got object with num_classes=None$"):
        autoguided_eps(object(), LabelNet(), 2.0)


def test_cfgpp_weight_is_computed_in_float64():
    sigma_t, sigma_s = math.sqrt(0.7 / 0.3), math.sqrt(0.4 / 0.6)
    w = cfgpp_weight(0.3, 0.6, 0.5)
    assert w.dtype == torch.float64 and w.item() == pytest.approx(0.5 * sigma_t / (sigma_t - sigma_s), abs=1e-14)


def test_cfg_names_a_network_without_a_null_label():
    with pytest.raises(ValueError, match=r"^eps_net has no null label: classifier-free guidance needs a conditional "
                                         r"network trained with label dropout \(config.num_classes set, null label = "
                                         r"num_classes\); got object with num_classes=None$"):
        cfg_eps(object(), 2.0)


def test_cfg_accepts_the_null_label_as_uncond_label():
    net = LabelNet()
    cfg_eps(net, 2.0, uncond_label=3)(torch.zeros(1, 1), torch.tensor(1.0), torch.tensor([0]))
    assert net.labels == [[0, 3]]  # u = num_classes = ∅ is allowed explicitly
    with pytest.raises(ValueError, match=r"uncond_label must be in \[0, 3\] \(3 = the null label\), got 4"):
        cfg_eps(net, 2.0, uncond_label=4)


def test_eps_classifier_guided_checks_gamma_and_labels():
    with pytest.raises(ValueError, match="^gamma must be"):
        eps_classifier_guided(LabelNet(), lambda z, t: z.sum(-1), float("inf"))
    eps = eps_classifier_guided(lambda z_bar, t: z_bar, lambda z, t: z.sum(-1), 1.0)
    with pytest.raises(ValueError, match=r"^labels are required: the classes c to guide towards, shape \(B,\)$"):
        eps(torch.zeros(1, 1), torch.tensor(1.0))


def test_cfg_denoisers_names_w_in_its_error():
    with pytest.raises(ValueError, match="^w must be"):
        cfg_denoisers(lambda z, t: z, lambda z, t: z, float("nan"))
