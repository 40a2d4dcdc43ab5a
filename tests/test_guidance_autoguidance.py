"""Autoguidance (``tempguide.guidance.autoguidance``; Karras et al. 2024) against closed forms and diffusers.

1. The combination: w = 1 is the main model, w = 0 the weak one, per-example w; it equals diffusers'
   ``AutoGuidance`` guider's combination (whose "uncond" is the degraded model's prediction).
2. Exact on a toy: main and weak "models" are Gaussians with closed-form denoisers
   D(z, t) = μ + s²/(s² + t)·(z − μ); the autoguided denoiser built from their ε-networks is
   z + t·[w (μ − z)/(s² + t) + (1 − w)(μ' − z)/(s'² + t)], the same rule in ε, D and score.
3. Glue: both networks get the same class c (never the null label), one call each at batch B,
   a DDPM run equals the run on the closed-form guided denoiser; bad input names the argument.
"""
import math

import pytest
import torch
from diffusers.guiders import AutoGuidance

from tempguide import toy
from tempguide.diffusion import ddpm_alpha_bars, denoiser_from_eps, eps_from_denoiser, sample_ddpm
from tempguide.guidance import cfg
from tempguide.guidance.autoguidance import autoguidance, autoguided_eps
from tempguide.guidance.gaussian_pair import GaussianPair, guided_denoiser


def random_pair(shape=(4, 1, 5, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(shape, generator=g, dtype=torch.float64)


# -- 1. the combination ----------------------------------------------------------------------------

def test_autoguidance_endpoints_and_per_example_w():
    d_weak, d = random_pair()
    torch.testing.assert_close(autoguidance(d_weak, d, 1.0), d, rtol=0, atol=1e-15)      # w = 1: main model
    torch.testing.assert_close(autoguidance(d_weak, d, 0.0), d_weak, rtol=0, atol=0)     # w = 0: weak model
    torch.testing.assert_close(autoguidance(d_weak, d, 3.0), d + 2.0 * (d - d_weak))     # away from the weak one
    w = torch.tensor([1.0, 0.0, 2.5, -1.0], dtype=torch.float64)
    out = autoguidance(d_weak, d, w)
    for b in range(4):
        torch.testing.assert_close(out[b], autoguidance(d_weak[b:b + 1], d[b:b + 1], w[b].item())[0])


@pytest.mark.parametrize("w", [0.5, 2.0, 3.0, 7.5])
def test_autoguidance_equals_diffusers_autoguidance_combination(w):
    """diffusers' AutoGuidance: pred_uncond (the degraded model) + scale·(pred_cond − pred_uncond)."""
    d_weak, d = random_pair(seed=1)
    guider = AutoGuidance(guidance_scale=w, auto_guidance_layers=0, dropout=1.0)
    torch.testing.assert_close(autoguidance(d_weak, d, w), guider.forward(pred_cond=d, pred_uncond=d_weak).pred,
                               rtol=1e-12, atol=1e-12)
    original = AutoGuidance(guidance_scale=w - 1, auto_guidance_layers=0, dropout=1.0, use_original_formulation=True)
    torch.testing.assert_close(autoguidance(d_weak, d, w), original.forward(pred_cond=d, pred_uncond=d_weak).pred,
                               rtol=1e-12, atol=1e-12)


# -- 2. exact on two Gaussian "models" ----------------------------------------------------------------

MU, S = [[1.0, -0.5], [-1.5, 1.0]], [0.4, 0.6]              # the main model: one Gaussian per class
MU_WEAK, S_WEAK = [[0.7, -0.2], [-1.0, 0.6]], [0.9, 1.1]    # the weak one: blurrier and off-centre


class GaussianEpsNet:
    """The exact ε-network of a class-conditional model whose class c is N(μ_c, s_c² I); records its calls."""

    def __init__(self, means, stds):
        self.config = type("Config", (), {"num_classes": len(means)})()
        self.classes = [toy.GaussianMixture([1.0], [m], [s]) for m, s in zip(means, stds)]
        self.calls = []

    def __call__(self, x, t, labels):
        self.calls.append((x.shape[0], labels.tolist()))
        out = torch.empty_like(x)
        for c in labels.unique().tolist():
            rows = labels == c
            out[rows] = eps_from_denoiser(self.classes[c].denoise)(x[rows], t)
        return out


def closed_form(z, t, c, w):
    """z + t·[w (μ − z)/(s² + t) + (1 − w)(μ' − z)/(s'² + t)] for the class c of every row."""
    mu, mu_w = torch.tensor(MU, dtype=torch.float64)[c], torch.tensor(MU_WEAK, dtype=torch.float64)[c]
    s2, s2_w = (torch.tensor(S, dtype=torch.float64)[c] ** 2)[:, None], (torch.tensor(S_WEAK, dtype=torch.float64)[c] ** 2)[:, None]
    return z + t * (w * (mu - z) / (s2 + t) + (1 - w) * (mu_w - z) / (s2_w + t))


def start(n=6, seed=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g, dtype=torch.float64), torch.arange(n) % 2


@pytest.mark.parametrize("w", [0.0, 1.0, 2.0, 3.5])
@pytest.mark.parametrize("t", [0.01, 0.5, 4.0, 100.0])
def test_autoguided_denoiser_of_two_gaussians_is_the_closed_form(w, t):
    z, c = start()
    t = torch.tensor(t, dtype=torch.float64)
    eps_w = autoguided_eps(GaussianEpsNet(MU, S), GaussianEpsNet(MU_WEAK, S_WEAK), w)
    torch.testing.assert_close(denoiser_from_eps(eps_w, c)(z, t), closed_form(z, t, c, w), rtol=1e-10, atol=1e-10)
    # the same as CFG on the Gaussian pair (main, weak) in place of (cond, uncond)
    pair = GaussianPair(MU[1], S[1], MU_WEAK[1], S_WEAK[1])
    torch.testing.assert_close(denoiser_from_eps(eps_w, c)(z, t)[c == 1], guided_denoiser(pair, w)(z[c == 1], t),
                               rtol=1e-10, atol=1e-10)


def test_autoguidance_is_one_rule_in_eps_denoiser_and_score_space():
    """D = z − √t·ε̂ and the score (D − z)/t are affine in ε̂ with the same coefficients for both models."""
    z, c = start()
    t, w = torch.tensor(1.7, dtype=torch.float64), 2.5
    main, weak = GaussianEpsNet(MU, S), GaussianEpsNet(MU_WEAK, S_WEAK)
    d, d_weak = denoiser_from_eps(main, c)(z, t), denoiser_from_eps(weak, c)(z, t)
    d_eps_space = denoiser_from_eps(autoguided_eps(main, weak, w), c)(z, t)
    torch.testing.assert_close(d_eps_space, autoguidance(d_weak, d, w), rtol=1e-12, atol=1e-12)
    score = lambda d_: (d_ - z) / t                                                       # noqa: E731
    torch.testing.assert_close(score(d_eps_space), autoguidance(score(d_weak), score(d), w), rtol=1e-12, atol=1e-12)


# -- 3. glue ------------------------------------------------------------------------------------------

def test_both_networks_get_the_same_class_one_call_each():
    z, c = start()
    main, weak = GaussianEpsNet(MU, S), GaussianEpsNet(MU_WEAK, S_WEAK)
    autoguided_eps(main, weak, 2.0)(z, torch.tensor(1.0, dtype=torch.float64), c)
    assert main.calls == [(6, c.tolist())] and weak.calls == [(6, c.tolist())]     # no null label, batch B


def test_ddpm_run_equals_the_run_on_the_closed_form_denoiser():
    alpha_bars = torch.cat([ddpm_alpha_bars()[::100].flip(0), torch.ones(1, dtype=torch.float64)])
    x, c = start()
    w = 2.0
    ours = sample_ddpm(autoguided_eps(GaussianEpsNet(MU, S), GaussianEpsNet(MU_WEAK, S_WEAK), w), x, alpha_bars,
                       labels=c, generator=torch.Generator().manual_seed(0))
    exact = eps_from_denoiser(lambda z, t: closed_form(z, t, c, w))
    ref = sample_ddpm(exact, x, alpha_bars, labels=c, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-9)


@torch.no_grad()
def test_float32_unets_endpoints():
    from tempguide.models import UNet, UNetConfig
    torch.manual_seed(0)
    nets = [UNet(UNetConfig(channels=ch, emb_dim=32, groups=4, num_classes=10)).eval() for ch in ((8, 8, 16), (4, 8, 8))]
    for net in nets:
        for p in net.parameters():     # the output layer starts at zero: perturb every weight
            p.add_(0.1 * torch.randn_like(p))
    net, weak = nets
    x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    t, c = torch.tensor(2.0), torch.tensor([0, 4, 9])
    torch.testing.assert_close(autoguided_eps(net, weak, 1.0)(x, t, c), net(x, t, c), rtol=0, atol=1e-6)
    torch.testing.assert_close(autoguided_eps(net, weak, 0.0)(x, t, c), weak(x, t, c), rtol=0, atol=0)
    out = autoguided_eps(net, weak, 3.0)(x, t, c)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, cfg(weak(x, t, c), net(x, t, c), 3.0))


def test_bad_input():
    z, c = start()
    main, weak = GaussianEpsNet(MU, S), GaussianEpsNet(MU_WEAK, S_WEAK)
    t = torch.tensor(1.0, dtype=torch.float64)
    with pytest.raises(ValueError, match="labels are required"):
        autoguided_eps(main, weak, 2.0)(z, t)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
        autoguided_eps(main, weak, 2.0)(z, t, torch.full((6,), 2))
    with pytest.raises(ValueError, match="w must be a finite number"):
        autoguided_eps(main, weak, math.inf)
    with pytest.raises(ValueError, match="weak_net must be a class-conditional"):
        autoguided_eps(main, lambda x, t_, labels: x, 2.0)
    with pytest.raises(ValueError, match="weak_net must know the same classes"):
        autoguided_eps(main, GaussianEpsNet(MU + [[0.0, 0.0]], S + [1.0]), 2.0)
    with pytest.raises(ValueError, match="d_weak and d must have the same shape"):
        autoguidance(z, z[:2], 2.0)
