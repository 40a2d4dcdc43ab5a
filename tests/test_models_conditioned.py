"""FlowUNet (τ through t = ((1−τ)/τ)²) and AttributeUNet (a continuous E; NaN = the unconditional query)."""
import math

import pytest
import torch

from tempguide.flow import TAU_MIN, t_from_tau, tau_from_t
from tempguide.models import AttributeUNet, AttributeUNetConfig, FlowUNet, UNet, UNetConfig

SMALL = dict(channels=(8, 8, 8), emb_dim=16)


def _perturbed(model):
    with torch.no_grad(), torch.random.fork_rng():  # the output layer starts at zero: make the net non-trivial
        torch.manual_seed(0)
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def test_tau_to_t_is_the_straight_path_noise_variance():
    # x_τ = (1 − τ)x₀ + τy  ⇒  x_τ/τ = y + ((1 − τ)/τ)·x₀: t = ((1 − τ)/τ)².
    tau = torch.tensor([0.2, 0.5, 0.9, 1.0], dtype=torch.float64)
    torch.testing.assert_close(t_from_tau(tau), torch.tensor([16.0, 1.0, 1 / 81, 0.0], dtype=torch.float64))
    torch.testing.assert_close(tau_from_t(t_from_tau(tau)), tau)
    assert math.isfinite(t_from_tau(torch.tensor(0.0)).item())  # τ = 0 clamps to TAU_MIN, not t = ∞
    assert t_from_tau(torch.tensor(0.0)) == t_from_tau(torch.tensor(TAU_MIN))


def test_flow_unet_sees_tau_as_the_noise_variance():
    net = _perturbed(FlowUNet(UNetConfig(num_classes=10, **SMALL)))
    plain = UNet(net.config)
    plain.load_state_dict(net.state_dict())
    x, tau, c = torch.randn(3, 1, 28, 28), torch.tensor([0.1, 0.5, 0.8]), torch.tensor([1, 2, 10])
    torch.testing.assert_close(net(x, tau, c), plain.eval()(x, ((1 - tau) / tau) ** 2, c))
    assert not torch.allclose(net(x, tau, c), plain(x, tau, c))  # τ itself would be the wrong time


@pytest.mark.parametrize("null_flag", [False, True])
def test_attribute_nan_is_the_unconditional_query_per_example(null_flag):
    net = _perturbed(AttributeUNet(AttributeUNetConfig(null_flag=null_flag, **SMALL)))
    x, t = torch.randn(3, 1, 28, 28), torch.tensor([0.5, 1.0, 2.0])
    E = torch.tensor([0.7, float("nan"), -1.2])
    mixed = net(x, t, E)
    torch.testing.assert_close(mixed[1], net(x[1:2], t[1:2])[0])  # NaN = E=None (all null)
    torch.testing.assert_close(mixed[0], net(x[:1], t[:1], 0.7)[0])
    zero = net(x[1:2], t[1:2], 0.0)[0]
    if null_flag:  # a separate null: E = 0 stays "average ink"
        assert not torch.allclose(mixed[1], zero)
    else:  # seed 001: the null query *is* E = 0
        torch.testing.assert_close(mixed[1], zero)


def test_attribute_config_validation():
    with pytest.raises(ValueError, match="num_classes must be None"):
        AttributeUNetConfig(num_classes=10)
    with pytest.raises(ValueError, match="attribute_std must be > 0"):
        AttributeUNetConfig(attribute_std=0.0)
    with pytest.raises(ValueError, match=r"z_bar must have shape \(B, 1, 28, 28\)"):
        AttributeUNet(AttributeUNetConfig(**SMALL))(torch.randn(2, 1, 14, 14), 1.0)


def test_vector_condition_rows_with_nan_are_null():
    net = _perturbed(AttributeUNet(AttributeUNetConfig(null_flag=True, cond_dim=4, **SMALL)))
    x, E = torch.randn(2, 1, 28, 28), torch.randn(2, 4)
    E[1, 2] = float("nan")
    out = net(x, 1.0, E)
    torch.testing.assert_close(out[1], net(x[1:], 1.0)[0])
    torch.testing.assert_close(out[0], net(x[:1], 1.0, E[:1])[0])
    with pytest.raises(ValueError, match="cond_dim must be an int >= 1"):
        AttributeUNetConfig(cond_dim=0)
