"""SR3 (``tempguide.cascade.resample``, ``.sr3``, ``models.sr_unet.SRUNet``) against exact answers.

1. down is the exact 2×2 mean; down(up_nearest(x)) = x exactly; bicubic up is not consistent:
   down∘up is a linear smoothing whose weights sum to 1 (constants pass, a random image does not).
2. Noise-conditioning augmentation: x̃ = (x + √s·ε′)/√(1+s) has mean x/√(1+s) and variance s/(1+s);
   sr3_loss feeds the network exactly up(x̃) and s (reproduced draw by draw), or up(down(y)) and 0.
3. The sampler on a stub that is the exact ε of Gaussian data y ~ N(cond, σ²): per-pixel mean and
   variance equal the DDPM chain's closed-form law (an affine recursion), which tends to N(cond, σ²);
   the conditioning is held fixed and is up(x̃) with the sampler's own first draw.
4. SRUNet: shapes, s and cond change the output, losses decrease on a tiny batch, bad input.
"""
import math

import pytest
import torch

from tempguide.cascade.resample import consistency, down, up, up_nearest
from tempguide.cascade.sr3 import (S_LEVELS, augment_condition, regress, regression_loss, sample_s, sample_sr3,
                                   sr3_loss, sr_eps)
from tempguide.diffusion.schedules import ddpm_alpha_bars, ddpm_ts
from tempguide.models.sr_unet import SRUNet, SRUNetConfig

TINY = SRUNetConfig(channels=(8, 8, 16), emb_dim=32, num_classes=10)


def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ---------------------------------------------------------------- 1. resampling
@pytest.mark.seed("002-12")
def test_down_is_the_exact_two_by_two_mean():
    y = _rand(3, 1, 28, 28)
    expected = y.reshape(3, 1, 14, 2, 14, 2).mean(dim=(3, 5))
    torch.testing.assert_close(down(y), expected, rtol=0, atol=1e-7)
    assert down(y)[0, 0, 2, 5] == pytest.approx(y[0, 0, 4:6, 10:12].mean().item(), abs=1e-7)


def test_factor_four_is_the_four_by_four_mean_and_nearest_inverts_it():
    y = _rand(2, 1, 28, 28, seed=20)
    x = down(y, 4)
    torch.testing.assert_close(x, y.reshape(2, 1, 7, 4, 7, 4).mean(dim=(3, 5)), rtol=0, atol=1e-7)
    torch.testing.assert_close(down(up_nearest(x), 4), x, rtol=0, atol=1e-6)  # 16 equal terms: float rounding
    assert up(x).shape == (2, 1, 28, 28)
    assert consistency(up_nearest(x), x).max() < 1e-6 and (consistency(up(x), x) > 1e-2).all()


def test_sr3_loss_at_factor_four_conditions_on_up_of_the_7x7_input():
    y = _rand(3, 1, 28, 28, seed=21)
    net = Recorder()
    net.config = SRUNetConfig(num_classes=10, low_res=7)
    sr3_loss(net, y, None, torch.Generator().manual_seed(22), augment=False)
    assert torch.equal(net.calls[0][3], up(down(y, 4)))


def test_nearest_upsampling_is_consistent_bicubic_is_not():
    x = _rand(4, 1, 14, 14, seed=1)
    assert torch.equal(down(up_nearest(x)), x)
    assert consistency(up_nearest(x), x).abs().max() == 0
    assert up(x).shape == (4, 1, 28, 28)
    gap = consistency(up(x), x)
    assert (gap > 1e-2).all()  # bicubic does not return its input
    const = torch.full((1, 1, 14, 14), 0.3)
    torch.testing.assert_close(down(up(const)), const, rtol=0, atol=1e-6)  # constants pass


def test_down_up_is_a_smoothing_with_weights_summing_to_one():
    basis = torch.eye(196).reshape(196, 1, 14, 14)
    A = down(up(basis)).reshape(196, 196).T  # column i: the image of basis pixel i, so down(up(x)) = A x
    torch.testing.assert_close(A.sum(dim=1), torch.ones(196), rtol=0, atol=1e-5)  # each output: weights sum to 1
    interior = 7 * 14 + 7
    assert 0.5 < A[interior, interior] < 1.0  # a pixel keeps most, not all, of itself


def test_consistency_measures_the_offset():
    x = _rand(2, 1, 14, 14, seed=2)
    assert consistency(up_nearest(x) + 0.1, x) == pytest.approx([0.1, 0.1], abs=1e-6)


# ---------------------------------------------------------------- 2. augmentation
@pytest.mark.parametrize("s", [0.01, 0.25, 1.0])
def test_augment_condition_has_the_exact_mean_and_variance(s):
    x = torch.full((2000, 1, 14, 14), 0.6)
    x_s = augment_condition(x, s, torch.Generator().manual_seed(3))
    assert x_s.mean().item() == pytest.approx(0.6 / math.sqrt(1 + s), abs=4e-3)
    assert x_s.var().item() == pytest.approx(s / (1 + s), rel=1e-2)


def test_augment_condition_per_example_s():
    x = torch.zeros(2, 1, 14, 14).repeat(1000, 1, 1, 1)
    s = torch.tensor([0.0, 3.0]).repeat(1000)
    x_s = augment_condition(x, s, torch.Generator().manual_seed(4))
    assert x_s[s == 0].abs().max() == 0
    assert x_s[s == 3].var().item() == pytest.approx(0.75, rel=1e-2)


def test_sample_s_covers_the_first_levels():
    s = sample_s(5000, torch.Generator().manual_seed(5))
    ts = ddpm_ts()
    assert s.min() >= ts[0].float() * (1 - 1e-5) and s.max() <= ts[S_LEVELS - 1].float() * (1 + 1e-5)
    assert s.max() > 0.5 * ts[S_LEVELS - 1]


class Recorder(torch.nn.Module):
    """A stub SR network that records its inputs and answers 0 (as ε̂ and as D̂)."""

    def __init__(self):
        super().__init__()
        self.config = SRUNetConfig(num_classes=10)
        self.calls = []

    def forward(self, x, t, labels=None, *, cond, s=0.0):
        self.calls.append((x.clone(), torch.as_tensor(t).clone(), labels, cond.clone(), torch.as_tensor(s).clone()))
        return torch.zeros_like(x)

    denoise = forward


@pytest.mark.seed("002-12")
def test_sr3_loss_feeds_up_of_the_noised_input_and_its_level():
    y, c = _rand(6, 1, 28, 28, seed=6), torch.arange(6)
    net = Recorder()
    sr3_loss(net, y, c, torch.Generator().manual_seed(7), augment=True)
    _, _, labels, cond, s = net.calls[0]
    g = torch.Generator().manual_seed(7)  # the same draws, in the loss's order
    s_ref = sample_s(6, g)
    torch.testing.assert_close(s, s_ref)
    torch.testing.assert_close(cond, up(augment_condition(down(y), s_ref, g)))
    assert torch.equal(labels, c)


def test_sr3_loss_without_augmentation_is_exact_conditioning():
    y = _rand(5, 1, 28, 28, seed=8)
    net = Recorder()
    sr3_loss(net, y, None, torch.Generator().manual_seed(9), augment=False)
    _, _, _, cond, s = net.calls[0]
    assert torch.equal(cond, up(down(y))) and torch.equal(s, torch.zeros(5))


class Constant(torch.nn.Module):
    """D̂ = 0 whatever the input: the loss is then the weighted mean of y²."""

    def __init__(self):
        super().__init__()
        self.config = SRUNetConfig(num_classes=10)

    def denoise(self, x, t, labels=None, *, cond, s=0.0):
        self.t = t
        return torch.zeros_like(x)


def test_sr3_loss_is_min_snr_weighted_squared_error_of_the_denoiser():
    y = _rand(64, 1, 28, 28, seed=15)
    net = Constant()
    loss = sr3_loss(net, y, None, torch.Generator().manual_seed(16), augment=False)
    weight = (1 / net.t).clamp(max=5.0)  # min(SNR, γ), SNR = ᾱ/(1 − ᾱ) = 1/t
    assert net.t.min() < 0.2 and net.t.max() > 5  # both sides of the cap are exercised
    torch.testing.assert_close(loss, (weight.view(-1, 1, 1, 1) * y.pow(2)).mean())


def test_regression_sees_zero_x_and_the_bicubic_input():
    y = _rand(3, 1, 28, 28, seed=10)
    net = Recorder()
    regress(net, down(y))
    x, _, _, cond, s = net.calls[0]
    assert x.abs().max() == 0 and torch.equal(cond, up(down(y))) and float(s) == 0.0


# ---------------------------------------------------------------- 3. the sampler on Gaussian data
class GaussianEps(torch.nn.Module):
    """The exact ε of y ~ N(cond, σ² I): E[ε | x_t] = √(1−ᾱ)(x_t − √ᾱ·cond)/(ᾱσ² + 1 − ᾱ), ᾱ = 1/(1+t)."""

    def __init__(self, sigma):
        super().__init__()
        self.sigma = sigma
        self.conds, self.ss = [], []

    def forward(self, x, t, labels=None, *, cond, s=0.0):
        self.conds.append(cond)
        self.ss.append(float(s))
        a = 1 / (1 + torch.as_tensor(t, dtype=torch.float64))
        return ((1 - a).sqrt() * (x - a.sqrt() * cond) / (a * self.sigma**2 + 1 - a)).to(x.dtype)


def ddpm_gaussian_law(mu, sigma, n_steps):
    """Closed form of DDPM ancestral sampling with the exact Gaussian ε: (mean, variance) by the affine recursion."""
    idx = torch.linspace(999, 0, n_steps).round().long()
    abars = torch.cat([ddpm_alpha_bars()[idx], torch.ones(1, dtype=torch.float64)]).tolist()
    m, v = torch.zeros_like(mu, dtype=torch.float64), 1.0
    for a_t, a_s in zip(abars[:-1], abars[1:]):
        k = math.sqrt(1 - a_t) / (a_t * sigma**2 + 1 - a_t)      # ε̂ = k (x − √ᾱ_t μ)
        p, q = (1 - math.sqrt(1 - a_t) * k) / math.sqrt(a_t), math.sqrt(1 - a_t) * k * mu.double()  # x̂₀ = p x + q
        beta = 1 - a_t / a_s
        c0, c1 = math.sqrt(a_s) * beta / (1 - a_t), math.sqrt(a_t / a_s) * (1 - a_s) / (1 - a_t)
        m, v = (c0 * p + c1) * m + c0 * q, (c0 * p + c1) ** 2 * v + ((1 - a_s) / (1 - a_t) * beta if a_s < 1 else 0)
    return m, v


@pytest.mark.parametrize("n_steps", [5, 25])
def test_sampler_has_the_closed_form_law_of_ddpm(n_steps):
    sigma, B = 0.4, 1500
    x_low = _rand(1, 1, 14, 14, seed=11).repeat(B, 1, 1, 1)
    net = GaussianEps(sigma)
    out = sample_sr3(net, x_low, s=0.0, n_steps=n_steps, generator=torch.Generator().manual_seed(12))
    m, v = ddpm_gaussian_law(up(x_low[:1]), sigma, n_steps)
    assert (out.mean(0) - m[0].float()).abs().max() < 4.5 * math.sqrt(v / B)
    assert out.var(0).mean().item() == pytest.approx(v, rel=0.03)
    assert all(c is net.conds[0] for c in net.conds) and torch.equal(net.conds[0], up(x_low))


def test_closed_form_law_tends_to_the_data_law():
    mu = torch.tensor([0.7])
    m, v = ddpm_gaussian_law(mu, 0.4, 1000)
    assert m.item() == pytest.approx(0.7, abs=1e-3) and v == pytest.approx(0.16, rel=2e-2)
    _, v_few = ddpm_gaussian_law(mu, 0.4, 5)
    assert v_few < 0.9 * 0.16  # few ancestral steps under-disperse (β̃ is the smaller posterior variance)


def test_sampler_conditions_on_the_input_noised_once_at_level_s():
    x_low, s = _rand(3, 1, 14, 14, seed=13), 0.2
    net = GaussianEps(0.3)
    sample_sr3(net, x_low, s=s, n_steps=4, generator=torch.Generator().manual_seed(14))
    x_s = augment_condition(x_low, s, torch.Generator().manual_seed(14))  # the sampler's first draw
    torch.testing.assert_close(net.conds[0], up(x_s))
    assert net.ss == [s] * 4 and all(c is net.conds[0] for c in net.conds)


def test_sr_eps_passes_labels_cond_and_s():
    net = Recorder()
    cond = _rand(2, 1, 28, 28)
    sr_eps(net, cond, 0.3)(torch.zeros(2, 1, 28, 28), torch.tensor(1.0), torch.tensor([4, 10]))
    _, _, labels, got, s = net.calls[0]
    assert torch.equal(labels, torch.tensor([4, 10])) and got is not None and torch.equal(got, cond)
    assert float(s) == pytest.approx(0.3)


# ---------------------------------------------------------------- 4. the network and its losses
def _perturbed(config=TINY, seed=0):
    torch.manual_seed(seed)
    net = SRUNet(config)
    torch.nn.init.normal_(net.out.weight, std=0.1)  # the output layer starts at zero
    return net


def test_srunet_shapes_and_inputs_that_matter():
    net = _perturbed()
    x, cond = _rand(2, 1, 28, 28, seed=1), _rand(2, 1, 28, 28, seed=2)
    out = net(x, torch.tensor([0.1, 5.0]), torch.tensor([3, 10]), cond=cond, s=0.1)
    assert out.shape == (2, 1, 28, 28)
    assert not torch.allclose(out, net(x, 1.0, None, cond=cond, s=0.5))
    assert not torch.allclose(out, net(x, torch.tensor([0.1, 5.0]), torch.tensor([3, 10]), cond=-cond, s=0.1))
    assert not torch.allclose(out, net(x, torch.tensor([0.1, 5.0]), torch.tensor([3, 10]), cond=cond, s=0.5))
    # s = 0 is embedded as S_FLOOR
    torch.testing.assert_close(net(x, 1.0, None, cond=cond, s=0.0), net(x, 1.0, None, cond=cond, s=1e-4))


@pytest.mark.parametrize("t", [1e-3, 1.0, 300.0])
def test_srunet_eps_is_the_one_its_denoiser_implies(t):
    net = _perturbed()
    x, cond = _rand(2, 1, 28, 28, seed=3), _rand(2, 1, 28, 28, seed=4)
    alpha_bar = 1 / (1 + t)
    eps_hat = net(x, t, None, cond=cond, s=0.1)
    x0_hat = (x - math.sqrt(1 - alpha_bar) * eps_hat) / math.sqrt(alpha_bar)  # what the DDPM sampler computes
    torch.testing.assert_close(x0_hat, net.denoise(x, t, None, cond=cond, s=0.1), rtol=1e-4, atol=1e-4)


def test_fresh_srunet_denoises_to_its_conditioning_image():
    net = SRUNet(TINY)  # the output layer starts at zero: D̂ = cond, the bicubic image
    cond = _rand(2, 1, 28, 28, seed=5)
    torch.testing.assert_close(net.denoise(_rand(2, 1, 28, 28), 7.0, None, cond=cond), cond)


def _descends(loss_fn, steps=12):
    net = _perturbed(seed=1)
    y, c = _rand(4, 1, 28, 28, seed=3), torch.arange(4)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for i in range(steps):
        loss = loss_fn(net, y, c, torch.Generator().manual_seed(100))  # the same draws every step
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_sr3_loss_decreases_on_a_tiny_batch():
    losses = _descends(lambda n, y, c, g: sr3_loss(n, y, c, g, augment=True, p_uncond=0.1))
    assert losses[-1] < 0.7 * losses[0]


def test_regression_loss_decreases_on_a_tiny_batch():
    losses = _descends(regression_loss)
    assert losses[-1] < 0.5 * losses[0]


def test_bad_input():
    net = _perturbed()
    x = torch.zeros(2, 1, 28, 28)
    with pytest.raises(ValueError, match="cond"):
        net(x, 1.0, cond=torch.zeros(2, 1, 14, 14))
    with pytest.raises(ValueError, match="z_bar must have shape"):
        net(torch.zeros(2, 1, 14, 14), 1.0, cond=torch.zeros(2, 1, 14, 14))
    with pytest.raises(ValueError, match="s "):
        net(x, 1.0, cond=x, s=-0.1)
    with pytest.raises(ValueError, match="s "):
        augment_condition(torch.zeros(1, 1, 14, 14), -1.0)
    with pytest.raises(ValueError, match="n_steps"):
        sample_sr3(net, torch.zeros(1, 1, 14, 14), n_steps=0)
    with pytest.raises(ValueError, match="s must be"):
        sample_sr3(net, torch.zeros(1, 1, 14, 14), s=float("nan"))
    with pytest.raises(ValueError, match="y must have shape"):
        down(torch.zeros(1, 1, 14, 14))
    with pytest.raises(ValueError, match="x must have shape"):
        up(torch.zeros(1, 1, 28, 28))
    with pytest.raises(ValueError, match="factor"):
        down(torch.zeros(1, 1, 28, 28), 3)
    with pytest.raises(ValueError, match="low_res"):
        SRUNetConfig(low_res=10)
