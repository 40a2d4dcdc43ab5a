"""CFG on a continuous condition (``guidance.attribute``) and the zero-null flaw in closed form (``attribute_exact``).

1. ``attribute_cfg_eps`` against a stub network whose answers are known: w = 1 is the
   conditional call, w = 0 the unconditional (NaN) call, one batched call on [x; x]
   with attributes [E; NaN] equals two separate calls, per-example E and w are routed
   to their own rows, and ``ddpm_samples(..., labels=E)`` hands each batch its own E.
2. With a real ``AttributeUNet`` (random weights): the zero-null network's
   unconditional query *is* its E = 0 query, so guidance towards E = 0 does nothing
   whatever w; the null-flag network's is not.
3. The jointly Gaussian toy: p(y | E) from the 2 × 2 covariance (Schur complement);
   the zero null turns CFG into a pure mean shift (target and exact SDE/ODE laws
   N(w ρ s E, s²(1 − ρ²))), while the null flag narrows; targets against a grid.
"""
import math

import pytest
import torch

from tempguide.guidance.attribute import attribute_cfg_eps
from tempguide.guidance.attribute_exact import JointGaussian
from tempguide.guidance.gaussian_pair import cfg_law, target
from tempguide.models.attribute_unet import AttributeUNet, AttributeUNetConfig
from tempguide.train.evaluate import ddpm_samples

NULL_ANSWER = -2.0


class Stub:
    """ε̂(x, t, E) = E·x + t, and −2·x + t for the unconditional query E = NaN; records every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, x, t, E):
        self.calls.append((x.shape[0], E.clone()))
        scale = torch.where(E.isnan(), torch.full_like(E, NULL_ANSWER), E)
        return scale.view(-1, 1, 1, 1) * x + torch.as_tensor(t).reshape(-1, 1, 1, 1)


def batch(b=3, seed=0):
    return torch.randn(b, 1, 4, 4, generator=torch.Generator().manual_seed(seed))


# -- 1. the wrapper against a stub --------------------------------------------------------------

def test_w_one_is_the_conditional_call_and_w_zero_the_null_call():
    x, t, E = batch(), torch.tensor(0.7), torch.tensor([-1.0, 0.0, 2.0])
    torch.testing.assert_close(attribute_cfg_eps(Stub(), 1.0)(x, t, E), E.view(-1, 1, 1, 1) * x + 0.7)
    torch.testing.assert_close(attribute_cfg_eps(Stub(), 0.0)(x, t, E), NULL_ANSWER * x + 0.7)


@pytest.mark.parametrize("w", [2.0, 4.0, -1.0, 0.5])
@pytest.mark.seed("001-14")
def test_one_batched_call_equals_two_separate_calls(w):
    stub, x, t = Stub(), batch(4, seed=1), torch.tensor([3.0, 1.0, 0.5, 0.1])
    E = torch.tensor([-1.0, 0.0, 1.0, 2.0])
    out = attribute_cfg_eps(stub, w)(x, t, E)
    assert len(stub.calls) == 1 and stub.calls[0][0] == 8                      # one call at twice the batch
    eps_E, eps_null = stub(x, t, E), stub(x, t, torch.full((4,), math.nan))
    torch.testing.assert_close(out, eps_null + w * (eps_E - eps_null))


def test_each_example_gets_its_own_E_and_the_null_rows_get_nan():
    stub, x = Stub(), batch(3, seed=2)
    attribute_cfg_eps(stub, 3.0)(x, torch.tensor(0.5), torch.tensor([-1.0, 0.0, 2.0]))
    seen = stub.calls[0][1]
    assert seen[:3].tolist() == [-1.0, 0.0, 2.0]                                # [E; ∅], E first
    assert bool(seen[3:].isnan().all())


def test_a_number_is_one_E_for_the_whole_batch_and_w_may_be_per_example():
    x, t = batch(3, seed=3), torch.tensor(0.2)
    w = torch.tensor([0.0, 1.0, 3.0])
    out = attribute_cfg_eps(Stub(), w)(x, t, 1.5)
    expected = NULL_ANSWER * x + w.view(-1, 1, 1, 1) * (1.5 - NULL_ANSWER) * x + 0.2
    torch.testing.assert_close(out, expected)


def test_ddpm_samples_hands_each_batch_its_own_E():
    """E travels as ``labels``: batches of 2 out of 5 examples must see E[0:2], E[2:4], E[4:5]."""
    stub = Stub()
    E = torch.tensor([-1.0, 0.0, 1.0, 2.0, 3.0])
    ddpm_samples(attribute_cfg_eps(stub, 2.0), 5, labels=E, n_steps=3, batch_size=2, progress=False,
                 generator=torch.Generator().manual_seed(0), device="cpu")
    firsts = [c[1][: c[0] // 2].tolist() for c in stub.calls[::3]]             # 3 steps per batch
    assert firsts == [[-1.0, 0.0], [1.0, 2.0], [3.0]]


def test_bad_input():
    x = batch()
    with pytest.raises(ValueError, match="eps_net must be a callable"):
        attribute_cfg_eps("net", 2.0)
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="w must be a finite number"):
            attribute_cfg_eps(Stub(), bad)
    eps_w = attribute_cfg_eps(Stub(), 2.0)
    with pytest.raises(ValueError, match="E is required"):
        eps_w(x, 0.5)
    with pytest.raises(ValueError, match=r"E must be finite \(the unconditional query NaN is added"):
        eps_w(x, 0.5, torch.tensor([0.0, math.nan, 1.0]))
    with pytest.raises(ValueError, match=r"E must be a number or have shape \(3,\)"):
        eps_w(x, 0.5, torch.zeros(2))


# -- 2. a real AttributeUNet: the zero null is the E = 0 query -----------------------------------

def tiny_net(null_flag: bool) -> AttributeUNet:
    torch.manual_seed(0)
    net = AttributeUNet(AttributeUNetConfig(channels=(4, 8, 8), emb_dim=16, groups=4, attention=False,
                                            null_flag=null_flag)).eval()
    for p in net.parameters():                                                  # a trained net: no zero layers,
        torch.nn.init.normal_(p, std=0.2)                                       # and a null that is not zero
    return net


def test_real_network_batched_call_equals_separate_calls():
    net = tiny_net(null_flag=True)
    x, t, E = batch(3, seed=4).repeat(1, 1, 7, 7), torch.tensor(1.3), torch.tensor([-1.0, 0.5, 2.0])
    with torch.no_grad():
        out = attribute_cfg_eps(net, 3.0)(x, t, E)
        eps_E, eps_null = net(x, t, E), net(x, t, None)
    torch.testing.assert_close(out, eps_null + 3.0 * (eps_E - eps_null), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("w", [0.0, 2.0, 7.5])
@pytest.mark.seed("001-09", "001-12")
def test_zero_null_guidance_towards_E_zero_does_nothing(w):
    """Seed 001's null: ε̂(x, t, ∅) = ε̂(x, t, 0), so ε̃ at E = 0 is the conditional whatever w."""
    x, t = batch(2, seed=5).repeat(1, 1, 7, 7), torch.tensor(0.8)
    zero_null, flag = tiny_net(null_flag=False), tiny_net(null_flag=True)
    with torch.no_grad():
        torch.testing.assert_close(zero_null(x, t, None), zero_null(x, t, torch.zeros(2)), rtol=0, atol=0)
        torch.testing.assert_close(attribute_cfg_eps(zero_null, w)(x, t, 0.0), zero_null(x, t, torch.zeros(2)),
                                   rtol=0, atol=1e-6)                           # batch 4 vs 2: float rounding
        if w != 1:
            assert not torch.allclose(attribute_cfg_eps(flag, w)(x, t, 0.0), flag(x, t, torch.zeros(2)))


# -- 3. the jointly Gaussian toy ------------------------------------------------------------------

@pytest.mark.parametrize("s, rho, E", [(1.0, 0.8, 1.5), (2.5, -0.4, -1.0), (0.3, 0.95, 0.2)])
@pytest.mark.seed("001-04")
def test_conditional_is_the_schur_complement(s, rho, E):
    cov = torch.tensor([[s**2, rho * s], [rho * s, 1.0]], dtype=torch.float64)  # (y, E), E standardised
    mean = cov[0, 1] / cov[1, 1] * E
    var = cov[0, 0] - cov[0, 1] ** 2 / cov[1, 1]
    m, sd = JointGaussian(s, rho).conditional(E)
    assert m == pytest.approx(mean.item(), rel=1e-12) and sd**2 == pytest.approx(var.item(), rel=1e-12)


@pytest.mark.seed("001-09")
def test_the_two_nulls():
    toy = JointGaussian(1.5, 0.8)
    assert toy.null("flag") == (0.0, 1.5)                                       # p(y)
    assert toy.null("zero") == pytest.approx((0.0, 1.5 * 0.6))                  # p(y | E = 0): s √(1 − ρ²)


def grid_moments(log_density, lo=-30.0, hi=30.0, n=600_001):
    y = torch.linspace(lo, hi, n, dtype=torch.float64)
    p = torch.softmax(log_density(y), 0)
    m = (p * y).sum()
    return m.item(), (p * (y - m) ** 2).sum().item()


@pytest.mark.parametrize("null", ["flag", "zero"])
@pytest.mark.parametrize("w", [1.0, 2.0, 4.0])
@pytest.mark.seed("000-24")
def test_target_is_the_powered_product_on_a_grid(null, w):
    toy, E = JointGaussian(1.0, 0.8), 1.5
    (mc, sc), (mu, su) = toy.conditional(E), toy.null(null)
    log_target = lambda y: w * -(y - mc) ** 2 / (2 * sc**2) + (1 - w) * -(y - mu) ** 2 / (2 * su**2)  # noqa: E731
    m, v = target(toy.pair(E, null), w)
    gm, gv = grid_moments(log_target)
    assert m.item() == pytest.approx(gm, abs=1e-8) and v == pytest.approx(gv, rel=1e-6)


@pytest.mark.parametrize("w", [0.0, 1.0, 2.0, 4.0])
@pytest.mark.parametrize("sampler", ["sde", "ode"])
@pytest.mark.seed("001-09", "001-12")
def test_zero_null_cfg_is_a_pure_mean_shift(w, sampler):
    """Equal variances: the CFG score w(μ − z)/a + (1 − w)(0 − z)/a is the score of N(wμ, ·):
    guided samplers end exactly at N(w ρ s E, s²(1 − ρ²)); at w = 0 the 'unconditional' is p(y | E = 0)."""
    toy, E = JointGaussian(1.0, 0.8), 1.5
    m, v = cfg_law(toy.pair(E, "zero"), w, sampler=sampler)
    assert m.item() == pytest.approx(w * 0.8 * E, abs=1e-9)
    assert v == pytest.approx(1 - 0.8**2, rel=1e-9)                              # never narrower, never wider
    m_target, v_target = target(toy.pair(E, "zero"), w)
    assert (m_target.item(), v_target) == pytest.approx((m.item(), v), rel=1e-9, abs=1e-9)


def test_flag_null_unconditional_is_p_y_and_guidance_narrows():
    toy, E = JointGaussian(1.0, 0.8), 1.5
    m0, v0 = cfg_law(toy.pair(E, "flag"), 0.0, sampler="sde")
    assert (m0.item(), v0) == pytest.approx((0.0, 1.0), abs=1e-9)                # p(y), not p(y | E = 0)
    _, v1 = cfg_law(toy.pair(E, "flag"), 1.0, sampler="sde")
    _, v4 = cfg_law(toy.pair(E, "flag"), 4.0, sampler="sde")
    assert v4 < v1 == pytest.approx(1 - 0.8**2, rel=1e-9)
    _, v4_zero = cfg_law(toy.pair(E, "zero"), 4.0, sampler="sde")
    assert v4 < v4_zero                                                          # only the flag narrows


def test_attribute_of_is_unbiased_under_the_conditional():
    toy = JointGaussian(2.0, 0.6)
    mean, _ = toy.conditional(-1.25)
    assert toy.attribute_of(mean) == pytest.approx(-1.25)


def test_toy_bad_input():
    with pytest.raises(ValueError, match=r"rho must be a correlation in \(-1, 1\)"):
        JointGaussian(1.0, 1.0)
    with pytest.raises(ValueError, match="s must be a finite standard deviation"):
        JointGaussian(0.0, 0.5)
    with pytest.raises(ValueError, match="null must be one of"):
        JointGaussian().null("none")
    with pytest.raises(ValueError, match="E must be a finite attribute value"):
        JointGaussian().conditional(math.nan)
