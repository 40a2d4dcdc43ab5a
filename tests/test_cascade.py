"""The cascade (``tempguide.cascade.pipeline``, ``models.sr_unet.UNet14``) against exact answers.

1. The base sampler on a stub that is the exact ε of Gaussian classes, y | c ~ N(μ_c, σ_c²) and
   y | ∅ ~ N(μ_∅, σ_∅²): at w = 1 and with CFG (ε̃ = ε_∅ + w(ε_c − ε_∅), one batched call), the
   per-pixel mean and variance equal DDPM's closed-form law for the guided affine ε.
2. The cascade hands the base samples (clamped to [−1, 1]) and the labels to the SR stage.
3. UNet14: shapes, bad input, its ε-loss decreases on a tiny batch of 14×14 digits.
"""
import math

import pytest
import torch

from tempguide.cascade.pipeline import sample_base, sample_cascade
from tempguide.cascade.resample import up
from tempguide.diffusion.schedules import ddpm_alpha_bars
from tempguide.models.sr_unet import SRUNetConfig, UNet14, UNet14Config
from tempguide.train.recipes import eps_loss

MU = torch.linspace(-0.8, 0.8, 10)   # μ_c per class (every pixel alike)
SIG = torch.linspace(0.2, 0.5, 10)   # σ_c
MU_U, SIG_U = 0.0, 0.7               # the null label's Gaussian


class GaussianClasses(torch.nn.Module):
    """Exact ε of y | c ~ N(μ_c, σ_c² I) (label 10 = ∅: N(μ_∅, σ_∅² I)) on 14×14 images."""

    def __init__(self):
        super().__init__()
        self.config = UNet14Config(num_classes=10)
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # so the sampler finds a device
        self.batches = []

    def forward(self, x, t, labels=None):
        self.batches.append(len(x))
        mu = torch.cat([MU, torch.tensor([MU_U])])[labels].view(-1, 1, 1, 1).double()
        sig = torch.cat([SIG, torch.tensor([SIG_U])])[labels].view(-1, 1, 1, 1).double()
        a = 1 / (1 + torch.as_tensor(t, dtype=torch.float64))
        return ((1 - a).sqrt() * (x - a.sqrt() * mu) / (a * sig**2 + 1 - a)).to(x.dtype)


def guided_law(c, w, n_steps):
    """Closed-form (mean, variance) of DDPM with ε̃ = ε_∅ + w(ε_c − ε_∅) for the Gaussian stub: an affine recursion."""
    idx = torch.linspace(999, 0, n_steps).round().long()
    abars = torch.cat([ddpm_alpha_bars()[idx], torch.ones(1, dtype=torch.float64)]).tolist()
    m, v = 0.0, 1.0
    for a_t, a_s in zip(abars[:-1], abars[1:]):
        def coef(mu, sig):  # ε = k·x − k·√ᾱ·μ
            k = math.sqrt(1 - a_t) / (a_t * sig**2 + 1 - a_t)
            return k, -k * math.sqrt(a_t) * mu
        (kc, bc), (ku, bu) = coef(MU[c].item(), SIG[c].item()), coef(MU_U, SIG_U)
        k, b = ku + w * (kc - ku), bu + w * (bc - bu)
        p, q = (1 - math.sqrt(1 - a_t) * k) / math.sqrt(a_t), -math.sqrt(1 - a_t) * b / math.sqrt(a_t)
        beta = 1 - a_t / a_s
        c0, c1 = math.sqrt(a_s) * beta / (1 - a_t), math.sqrt(a_t / a_s) * (1 - a_s) / (1 - a_t)
        m, v = (c0 * p + c1) * m + c0 * q, (c0 * p + c1) ** 2 * v + ((1 - a_s) / (1 - a_t) * beta if a_s < 1 else 0)
    return m, v


@pytest.mark.parametrize("w", [1.0, 3.0])
def test_base_sampler_has_the_closed_form_law(w):
    n_steps, per_class = 10, 40
    labels = torch.tensor([2, 7]).repeat_interleave(per_class)
    net = GaussianClasses()
    x = sample_base(net, labels, w=w, n_steps=n_steps, generator=torch.Generator().manual_seed(0))
    assert x.shape == (2 * per_class, 1, 14, 14)
    assert net.batches == [len(labels) * (1 if w == 1 else 2)] * n_steps  # CFG: one call on [x; x]
    for c in (2, 7):
        m, v = guided_law(c, w, n_steps)
        pixels = x[labels == c].flatten()
        assert pixels.mean().item() == pytest.approx(m, abs=4 * math.sqrt(v / 196))
        assert pixels.var().item() == pytest.approx(v, rel=0.06)


def test_guided_law_differs_from_unguided_and_tends_to_the_class_at_w1():
    m1, v1 = guided_law(7, 1.0, 1000)
    assert m1 == pytest.approx(MU[7].item(), abs=2e-3) and v1 == pytest.approx(SIG[7].item() ** 2, rel=3e-2)
    m3, v3 = guided_law(7, 3.0, 1000)
    assert m3 > m1 + 0.1 and v3 < v1  # guidance pushes away from μ_∅ = 0 and shrinks the variance


class SRRecorder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.config = SRUNetConfig(num_classes=10)
        self.calls = []

    def forward(self, x, t, labels=None, *, cond, s=0.0):
        self.calls.append((labels, cond, float(s)))
        return torch.zeros_like(x)


@pytest.mark.seed("002-13")
def test_cascade_hands_base_samples_and_labels_to_the_sr_stage():
    labels = torch.tensor([0, 9, 4])
    base, sr = GaussianClasses(), SRRecorder()
    x, y = sample_cascade(base, sr, labels, w=2.0, s=0.0, n_steps_base=3, n_steps_sr=2,
                          generator=torch.Generator().manual_seed(1))
    assert x.shape == (3, 1, 14, 14) and y.shape == (3, 1, 28, 28)
    got_labels, cond, s = sr.calls[0]
    assert torch.equal(got_labels, labels) and s == 0.0 and len(sr.calls) == 2
    torch.testing.assert_close(cond, up(x.clamp(-1, 1)))


def test_unet14_shapes_and_bad_input():
    net = UNet14(UNet14Config(channels=(8, 8, 16), emb_dim=32, num_classes=10))
    assert net(torch.zeros(3, 1, 14, 14), torch.tensor(1.0), torch.tensor([1, 2, 10])).shape == (3, 1, 14, 14)
    with pytest.raises(ValueError, match="z_bar must have shape"):
        net(torch.zeros(3, 1, 28, 28), 1.0)
    with pytest.raises(ValueError, match="n_steps"):
        sample_base(net, torch.tensor([1]), n_steps=1001)
    with pytest.raises(ValueError, match="labels"):
        sample_base(net, torch.tensor([11]), n_steps=2)


def test_unet14_eps_loss_decreases_on_a_tiny_batch():
    torch.manual_seed(0)
    net = UNet14(UNet14Config(channels=(8, 8, 16), emb_dim=32, num_classes=10))
    torch.nn.init.normal_(net.out.weight, std=0.1)
    y = torch.rand(8, 1, 14, 14, generator=torch.Generator().manual_seed(2)) * 2 - 1
    c = torch.arange(8)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = eps_loss(net, y, c, torch.Generator().manual_seed(3))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
