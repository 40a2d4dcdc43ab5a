"""tempguide.toy.GaussianMixture refuses parameters that would give NaN and accepts integer points;
TEMPGUIDE_DEVICE names itself when it is wrong."""
import math

import pytest
import torch

from tempguide import config, toy

NAN, INF = float("nan"), float("inf")


# ---- GaussianMixture: parameters -------------------------------------------------------------------
@pytest.mark.parametrize("weights", [[1.0, INF], [INF, INF], [1.0, NAN], [1.0, -INF], [1.0, -0.5]])
def test_non_finite_or_negative_weights_raise(weights):
    with pytest.raises(ValueError, match=r"^weights must all be finite and > 0"):
        toy.GaussianMixture(weights, [[0.0], [1.0]], [1.0, 1.0])


@pytest.mark.parametrize("means,stds,match", [
    ([[0.0], [NAN]], [1.0, 1.0], r"^means must be finite"),
    ([[0.0], [INF]], [1.0, 1.0], r"^means must be finite"),
    ([[0.0], [1.0]], [1.0, INF], r"^stds must all be finite and > 0"),
    ([[0.0], [1.0]], [NAN, 1.0], r"^stds must all be finite and > 0"),
])
def test_non_finite_means_and_stds_raise(means, stds, match):
    with pytest.raises(ValueError, match=match):
        toy.GaussianMixture([1.0, 1.0], means, stds)


@pytest.mark.parametrize("labels", [[0.0, 1.0], [0.7, 1.2], torch.tensor([0.0, 1.0]), [True, False]])
def test_float_or_bool_labels_are_refused_not_truncated(labels):
    with pytest.raises(ValueError, match=r"^labels must be integers \(an integer tensor or list\), got dtype"):
        toy.GaussianMixture([1.0, 1.0], [[0.0], [1.0]], [1.0, 1.0], labels=labels)


@pytest.mark.parametrize("labels,match", [([0, -1], r"^labels must be integers in >= 0, got \[0, -1\]"),
                                          ([0, 1, 2], r"^labels must have shape \(2,\), got \(3,\)")])
def test_labels_out_of_range_or_of_the_wrong_shape(labels, match):
    with pytest.raises(ValueError, match=match):
        toy.GaussianMixture([1.0, 1.0], [[0.0], [1.0]], [1.0, 1.0], labels=labels)


def test_integer_labels_in_any_integer_dtype_work():
    for labels in ([0, 1], torch.tensor([0, 1], dtype=torch.int32), torch.tensor([0, 1], dtype=torch.uint8)):
        mix = toy.GaussianMixture([1.0, 3.0], [[0.0], [1.0]], [1.0, 1.0], labels=labels)
        assert mix.labels.dtype == torch.int64 and mix.labels.tolist() == [0, 1]
        assert mix.class_prior().tolist() == [0.25, 0.75]


def test_condition_and_restrict_refuse_floats():
    mix = toy.mixture_2d()
    with pytest.raises(ValueError, match=r"^class c must be one integer, got 0.7"):
        mix.condition(0.7)
    with pytest.raises(ValueError, match=r"^components must be integers"):
        mix.restrict([0.0, 2.9])
    with pytest.raises(ValueError, match=r"^components must be integers in \[0, 4\), got \[0, 4\]"):
        mix.restrict([0, 4])
    assert mix.restrict(torch.tensor([2, 3], dtype=torch.int16)).weights.tolist() == pytest.approx([0.6, 0.4])


# ---- GaussianMixture: integer points and bad noise levels -------------------------------------------
def test_integer_points_are_promoted_to_float64():
    """ln p, the score and the denoiser at integer z equal the float64 answers (they were NaN: stds cast to int)."""
    mix = toy.GaussianMixture([0.7, 0.3], [[-2.0], [2.0]], [0.5, 0.5])
    z_int = torch.tensor([[-2], [0], [1], [3]])
    z = z_int.double()
    assert torch.equal(mix.log_prob(z_int), mix.log_prob(z))
    for t in (0.0, 1, 0.25):
        assert torch.equal(mix.score(z_int, t), mix.score(z, t))
        assert torch.equal(mix.denoise(z_int, t), mix.denoise(z, t))
        assert torch.equal(mix.posterior(z_int, t), mix.posterior(z, t))
    # an exact value: one Gaussian, ln N(0; 0, 1) = −½ ln 2π
    one = toy.GaussianMixture([1.0], [[0.0]], [1.0])
    assert one.log_prob(torch.tensor([[0]])).item() == pytest.approx(-0.5 * math.log(2 * math.pi), abs=1e-15)
    assert one.score(torch.tensor([[2]]), 1).item() == -1.0  # −z / (s² + t)


def test_bool_points_and_non_finite_noise_levels_raise():
    mix = toy.mixture_1d()
    with pytest.raises(ValueError, match=r"^points z must be real numbers, got dtype torch.bool"):
        mix.log_prob(torch.tensor([[True]]))
    for t in (NAN, INF, -1.0, torch.tensor([0.5, NAN])):
        with pytest.raises(ValueError, match=r"^t \(noise variance\) must be finite and >= 0"):
            mix.denoise(torch.zeros(2, 1, dtype=torch.float64), t)


# ---- TEMPGUIDE_DEVICE ------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["bogus", "gpu", "cuda:x", "meta", "  "])
def test_a_bogus_device_names_the_variable_and_the_allowed_values(monkeypatch, value):
    monkeypatch.setenv("TEMPGUIDE_DEVICE", value)
    with pytest.raises(ValueError, match=r"^TEMPGUIDE_DEVICE=.* is not a device; allowed values: cpu, cuda, "
                                         r"cuda:N, mps"):
        config.device()
    monkeypatch.delenv("TEMPGUIDE_PROFILE", raising=False)
    with pytest.raises(ValueError, match=r"^TEMPGUIDE_DEVICE="):
        config.profile()  # the profile, which follows the device, does not guess either


def test_cuda_without_cuda_is_an_error_not_a_profile_switch(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("TEMPGUIDE_PROFILE", raising=False)
    for value in ("cuda", "CUDA", "cuda:0"):
        monkeypatch.setenv("TEMPGUIDE_DEVICE", value)
        with pytest.raises(ValueError, match=r"^TEMPGUIDE_DEVICE='(cuda|CUDA|cuda:0)' asks for CUDA, but torch "
                                             r"finds no CUDA device"):
            config.device()
        with pytest.raises(ValueError, match=r"^TEMPGUIDE_DEVICE="):
            config.profile()  # used to be the 'full' profile on a machine without a GPU


def test_a_cuda_index_beyond_the_devices_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("TEMPGUIDE_DEVICE", "cuda:2")
    with pytest.raises(ValueError, match=r"^TEMPGUIDE_DEVICE='cuda:2': this machine has CUDA devices 0\.\.1"):
        config.device()
    monkeypatch.setenv("TEMPGUIDE_DEVICE", "cuda:1")
    assert config.device() == torch.device("cuda", 1)


def test_mps_without_mps_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setenv("TEMPGUIDE_DEVICE", "mps")
    with pytest.raises(ValueError, match=r"^TEMPGUIDE_DEVICE='mps' asks for Apple's MPS"):
        config.device()


def test_valid_cpu_settings_still_work(monkeypatch):
    monkeypatch.delenv("TEMPGUIDE_PROFILE", raising=False)
    for value in ("cpu", "CPU", " cpu "):
        monkeypatch.setenv("TEMPGUIDE_DEVICE", value)
        assert config.device() == torch.device("cpu")
        assert config.profile().name == "quick"
