"""Classifier-free guidance (``tempguide.guidance.cfg``) against diffusers, two separate calls, and Bayes.

1. ``cfg`` equals diffusers' ``ClassifierFreeGuidance`` guider: ``guidance_scale = w`` in
   diffusers' own convention, and Ho & Salimans' ``w′ = w − 1`` with
   ``use_original_formulation=True`` (book: "Classifier-free guidance", the conventions table).
2. ``cfg_eps`` makes exactly one network call per step, on [x; x] with labels [c; u],
   and its output is ε_u + w (ε_c − ε_u) computed from two separate calls of a real
   conditional UNet (random weights, float64).
3. With exact models CFG of weight w *is* classifier guidance of strength γ = w on the
   unconditional model, pointwise: D + w (D_c − D) = D + w t ∇ ln p_t(c | z), because
   p(c) does not depend on z.
"""
import math

import pytest
import torch
from diffusers.guiders import ClassifierFreeGuidance

from tempguide import toy
from tempguide.guidance import cfg, cfg_denoiser, cfg_denoisers, cfg_eps, classifier_guided
from tempguide.models import UNet, UNetConfig

WEIGHTS = [0.0, 1.0, 1.5, 3.0, 7.5, -1.0, -0.3]


def diffusers_cfg(cond, uncond, guidance_scale, **kwargs):
    """diffusers' guider applied to two predictions (its ``forward``; ``__call__`` takes pipeline block states)."""
    return ClassifierFreeGuidance(guidance_scale=guidance_scale, **kwargs).forward(pred_cond=cond,
                                                                                  pred_uncond=uncond).pred


def random_pair(shape=(6, 1, 5, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


# -- 1. the combination, against diffusers ------------------------------------------------------

@pytest.mark.parametrize("w", WEIGHTS)
@pytest.mark.seed("003-26")
def test_cfg_equals_diffusers_guidance_scale(w):
    uncond, cond = random_pair()
    ref = diffusers_cfg(cond, uncond, w)
    torch.testing.assert_close(cfg(uncond, cond, w), ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("w", WEIGHTS)
@pytest.mark.seed("001-13")
def test_ho_salimans_weight_is_w_minus_one(w):
    """Ho & Salimans write (1 + w′) ε_c − w′ ε_∅: diffusers' original formulation with w′ = w − 1."""
    uncond, cond = random_pair(seed=1)
    ref = diffusers_cfg(cond, uncond, w - 1, use_original_formulation=True)
    torch.testing.assert_close(cfg(uncond, cond, w), ref, rtol=1e-6, atol=1e-6)
    # w′ handed to diffusers' default formulation is a different combination: the conventions must not mix
    assert not torch.allclose(diffusers_cfg(cond, uncond, w - 1), cfg(uncond, cond, w))


@pytest.mark.seed("000-23", "000-25")
def test_w_one_is_the_conditional_and_w_zero_the_unconditional():
    uncond, cond = random_pair(seed=2)
    torch.testing.assert_close(cfg(uncond, cond, 1.0), cond, rtol=0, atol=1e-6)
    torch.testing.assert_close(cfg(uncond, cond, 0.0), uncond, rtol=0, atol=0)


def test_per_example_w_equals_a_loop_of_diffusers_calls():
    uncond, cond = random_pair(seed=3)
    w = torch.tensor([0.0, 1.0, 2.0, -1.0, 4.5, 0.25])
    ours = cfg(uncond, cond, w)
    for b in range(len(w)):
        ref = diffusers_cfg(cond[b:b + 1], uncond[b:b + 1], w[b].item())
        torch.testing.assert_close(ours[b:b + 1], ref, rtol=1e-6, atol=1e-6)


def test_cfg_bad_input():
    uncond, cond = random_pair()
    with pytest.raises(ValueError, match="same shape"):
        cfg(uncond, cond[:3], 2.0)
    with pytest.raises(ValueError, match="per-example weights have 2 entries"):
        cfg(uncond, cond, torch.tensor([1.0, 2.0]))
    for bad in (math.nan, math.inf, -math.inf, torch.tensor(math.inf), torch.tensor([1.0, math.inf, 0, 0, 0, 0])):
        with pytest.raises(ValueError, match="w must be finite|w must be a finite number"):
            cfg(uncond, cond, bad)
    with pytest.raises(ValueError, match="w must be a number or a 1-D tensor"):
        cfg(uncond, cond, torch.ones(6, 1))


# -- 2. the one-call ε-network -------------------------------------------------------------------

class RecordingNet:
    """A fake conditional ε-network (10 classes, null label 10) that records every call.

    Its output depends on the label and on t, so a swapped [∅; c] or a wrong t shows.
    """

    class config:
        num_classes = 10

    def __init__(self):
        self.calls = []

    def __call__(self, x, t, labels):
        self.calls.append((x.clone(), torch.as_tensor(t).clone(), labels.clone()))
        t = torch.as_tensor(t, dtype=x.dtype)
        t = t.reshape(-1, *[1] * (x.ndim - 1)) if t.ndim else t
        return x * (labels.to(x.dtype) + 1).reshape(-1, *[1] * (x.ndim - 1)) + t


@pytest.mark.seed("001-14", "004-14")
def test_cfg_eps_makes_one_call_on_x_x_with_labels_c_null():
    net = RecordingNet()
    x = torch.randn(3, 2)
    c = torch.tensor([0, 7, 9])
    out = cfg_eps(net, 2.0)(x, torch.tensor(0.5), c)
    assert len(net.calls) == 1
    xx, t, labels = net.calls[0]
    torch.testing.assert_close(xx, torch.cat([x, x]))
    assert labels.tolist() == [0, 7, 9, 10, 10, 10]
    assert t.ndim == 0 and t.item() == 0.5
    eps_c = x * (c + 1)[:, None] + 0.5
    eps_u = x * 11 + 0.5
    torch.testing.assert_close(out, eps_u + 2.0 * (eps_c - eps_u))


def test_cfg_eps_per_example_t_is_duplicated_in_order():
    net = RecordingNet()
    x = torch.randn(3, 2)
    t = torch.tensor([0.1, 1.0, 10.0])
    out = cfg_eps(net, 3.0)(x, t, torch.tensor([1, 2, 3]))
    assert net.calls[0][1].tolist() == pytest.approx([0.1, 1.0, 10.0, 0.1, 1.0, 10.0])
    eps_c = x * torch.tensor([2.0, 3.0, 4.0])[:, None] + t[:, None]
    eps_u = x * 11 + t[:, None]
    torch.testing.assert_close(out, eps_u + 3.0 * (eps_c - eps_u))


def test_cfg_eps_uncond_label_replaces_null():
    """Guiding away from another condition ("blurry" = label 10 of an 11-label model): [c; u] with u given."""
    net = RecordingNet()
    x = torch.randn(2, 2)
    out = cfg_eps(net, 1.5, uncond_label=4)(x, 1.0, torch.tensor([3, 8]))
    assert net.calls[0][2].tolist() == [3, 8, 4, 4]
    eps_c, eps_u = x * torch.tensor([4.0, 9.0])[:, None] + 1.0, x * 5 + 1.0
    torch.testing.assert_close(out, eps_u + 1.5 * (eps_c - eps_u))


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    net = UNet(UNetConfig(channels=(8, 8, 16), emb_dim=32, groups=4, num_classes=10)).double().eval()
    with torch.no_grad():  # the output layer starts at zero: perturb every weight so the output depends on all inputs
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net


@pytest.mark.parametrize("w", [0.0, 1.0, 3.0, -1.0, torch.tensor([0.0, 2.0, 5.0, -0.5])])
@pytest.mark.parametrize("t", [0.3, torch.tensor([0.01, 0.1, 1.0, 10.0])], ids=["scalar_t", "per_example_t"])
@torch.no_grad()
def test_cfg_eps_equals_two_separate_calls_of_a_unet(unet, w, t):
    x = torch.randn(4, 1, 28, 28, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    c = torch.tensor([0, 3, 9, 3])
    eps_c = unet(x, t, c)
    eps_u = unet(x, t, torch.full((4,), 10))
    assert (eps_c - eps_u).abs().max() > 1e-2  # the labels matter, so a swapped pair would show
    w_b = w.reshape(-1, 1, 1, 1).double() if isinstance(w, torch.Tensor) else w
    torch.testing.assert_close(cfg_eps(unet, w)(x, t, c), eps_u + w_b * (eps_c - eps_u), rtol=1e-9, atol=1e-9)
    # the "blurry" negative condition: label 5 takes the place of ∅
    eps_5 = unet(x, t, torch.full((4,), 5))
    torch.testing.assert_close(cfg_eps(unet, w, uncond_label=5)(x, t, c), eps_5 + w_b * (eps_c - eps_5),
                               rtol=1e-9, atol=1e-9)


@torch.no_grad()
def test_cfg_denoiser_is_the_guided_eps_through_the_adapter(unet):
    """D_w(z, t) = z − √t ε̃(z/√(1+t), t): the same affine map for ε_c, ε_∅ and their combination."""
    z = torch.randn(2, 1, 28, 28, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    t, c, w = torch.tensor(2.0, dtype=torch.float64), torch.tensor([1, 6]), 4.0
    d_c = z - t.sqrt() * unet(z / (1 + t).sqrt(), t, c)
    d_u = z - t.sqrt() * unet(z / (1 + t).sqrt(), t, None)
    torch.testing.assert_close(cfg_denoiser(unet, c, w)(z, t), d_u + w * (d_c - d_u), rtol=1e-9, atol=1e-9)


def test_cfg_eps_bad_input(unet):
    x = torch.randn(2, 1, 28, 28, dtype=torch.float64)
    uncond_net = UNet(UNetConfig(channels=(8, 8, 16), emb_dim=32, groups=4)).double()
    with pytest.raises(ValueError, match="no null label.*num_classes=None"):
        cfg_eps(uncond_net, 2.0)
    for bad in (math.nan, math.inf, torch.tensor([1.0, math.inf])):
        with pytest.raises(ValueError, match="w must be"):
            cfg_eps(unet, bad)
    guided = cfg_eps(unet, 2.0)
    with pytest.raises(ValueError, match="labels are required"):
        guided(x, 1.0)
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        guided(x, 1.0, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\)"):
        guided(x, 1.0, torch.tensor([1, 10]))  # the null label is not a class to guide towards
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\)"):
        guided(x, 1.0, torch.tensor([-1, 2]))
    with pytest.raises(ValueError, match="integer class indices"):
        guided(x, 1.0, torch.tensor([1.0, 2.0]))
    for u in (11, -1):
        with pytest.raises(ValueError, match=r"uncond_label must be in \[0, 10\]"):
            cfg_eps(unet, 2.0, uncond_label=u)
    with pytest.raises(ValueError, match="per-example weights have 3 entries for a batch of 2"):
        with torch.no_grad():
            cfg_eps(unet, torch.tensor([1.0, 2.0, 3.0]))(x, 1.0, torch.tensor([1, 2]))


# -- 3. CFG = classifier guidance with γ = w, exactly, on the toys -------------------------------

@pytest.mark.parametrize("mixture", [toy.mixture_1d(), toy.mixture_2d()], ids=["mixture_1d", "mixture_2d"])
@pytest.mark.parametrize("w", [0.0, 1.0, 2.5, 8.0, -1.0])
@pytest.mark.parametrize("t", [0.01, 0.3, 2.0, 25.0])
@pytest.mark.seed("000-27", "001-11", "002-11", "003-25")
def test_cfg_equals_classifier_guidance_with_exact_models(mixture, w, t):
    """D + w (D_c − D) = D + w t ∇ ln p_t(c | z): Bayes for the noisy marginals, p(c) constant in z."""
    g = torch.Generator().manual_seed(4)
    z = 3 * torch.randn(200, mixture.dim, dtype=torch.float64, generator=g)
    log_post = lambda z_, t_: mixture.class_posterior(z_, t_).log()
    for c in range(mixture.num_classes):
        d_cfg = cfg_denoisers(mixture.denoise, mixture.condition(c).denoise, w)(z, t)
        d_cg = classifier_guided(mixture.denoise, log_post, c, w)(z, t)
        torch.testing.assert_close(d_cfg, d_cg, rtol=1e-9, atol=1e-9)


@pytest.mark.seed("001-13")
def test_cfg_with_the_wrong_weight_convention_is_not_classifier_guidance():
    """The test above would catch w read as Ho & Salimans' w′ (= w − 1)."""
    mixture, t, w = toy.mixture_1d(), 1.0, 3.0
    z = torch.linspace(-3, 3, 50, dtype=torch.float64)[:, None]
    log_post = lambda z_, t_: mixture.class_posterior(z_, t_).log()
    d_cg = classifier_guided(mixture.denoise, log_post, 1, w)(z, t)
    d_wrong = cfg_denoisers(mixture.denoise, mixture.condition(1).denoise, w + 1)(z, t)
    assert (d_wrong - d_cg).abs().max() > 0.1
