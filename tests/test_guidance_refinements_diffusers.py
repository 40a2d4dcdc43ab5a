"""The refinements of CFG against diffusers' *guiders* and at their endpoints (what tests/test_guidance_refinements.py
does not already cover; issue 13's list).

1. Rescaled CFG as diffusers' ``ClassifierFreeGuidance(guidance_scale=w, guidance_rescale=φ)`` applies it
   (the guider, not only the helper ``rescale_noise_cfg``); at w = 1 it is the conditional prediction for every φ.
2. APG: diffusers' ``AdaptiveProjectedGuidance`` guider at η = 1 without norm cap is plain CFG, and so is ``apg``.
3. The guidance interval in t = diffusers' ``start``/``stop`` step fractions on the same grid: a DDIM run with
   ``cfg_interval_eps`` equals a DDIM run driven by the ``ClassifierFreeGuidance`` guider whose enabled steps are
   exactly the grid levels inside [t_lo, t_hi]; with w = 1 the interval is the conditional model at every t.
4. Every rule applied to a network (``combined_eps``) at w = 1 is the conditional ε-network.
"""
import pytest
import torch
from diffusers.guiders import AdaptiveProjectedGuidance, ClassifierFreeGuidance

from tempguide import toy
from tempguide.diffusion import ddpm_alpha_bars, eps_from_denoiser, sample_ddim
from tempguide.guidance import cfg, cfg_eps
from tempguide.guidance.interval import cfg_interval_eps
from tempguide.guidance.refinements import apg, cfg_zero_star, combined_eps, rescale


def random_pair(shape=(3, 2, 5, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(shape, generator=g, dtype=torch.float64)


class ToyEpsNet:
    """The exact ε-network of mixture_2d: label c < 2 → p(y | c), the null label 2 → p(y)."""

    def __init__(self):
        mix = toy.mixture_2d()
        self.config = type("Config", (), {"num_classes": mix.num_classes})()
        self._eps = [eps_from_denoiser(mix.condition(c).denoise) for c in range(mix.num_classes)]
        self._eps.append(eps_from_denoiser(mix.denoise))

    def __call__(self, x, t, labels):
        out = torch.empty_like(x)
        for c in labels.unique().tolist():
            rows = labels == c
            out[rows] = self._eps[c](x[rows], t)
        return out


def toy_start(n=6, seed=30):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g, dtype=torch.float64), torch.arange(n) % 2


# -- 1. rescale -------------------------------------------------------------------------------------

@pytest.mark.parametrize("w", [1.5, 3.0, 7.5])
@pytest.mark.parametrize("phi", [0.0, 0.7, 1.0])
def test_rescale_equals_diffusers_cfg_guider_with_guidance_rescale(w, phi):
    uncond, cond = random_pair(seed=1)
    guider = ClassifierFreeGuidance(guidance_scale=w, guidance_rescale=phi)
    torch.testing.assert_close(rescale(cfg(uncond, cond, w), cond, phi),
                               guider.forward(pred_cond=cond, pred_uncond=uncond).pred, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("phi", [0.0, 0.3, 0.7, 1.0])
def test_rescale_at_w_one_is_the_conditional_prediction(phi):
    uncond, cond = random_pair(seed=2)
    torch.testing.assert_close(rescale(cfg(uncond, cond, 1.0), cond, phi), cond, rtol=1e-12, atol=1e-12)


# -- 2. APG's guider ----------------------------------------------------------------------------------

@pytest.mark.parametrize("w", [1.5, 3.0, 7.5])
def test_apg_guider_eta_one_without_cap_is_plain_cfg(w):
    uncond, cond = random_pair(seed=3)
    guider = AdaptiveProjectedGuidance(guidance_scale=w, eta=1.0, adaptive_projected_guidance_rescale=0.0)
    ref = guider.forward(pred_cond=cond, pred_uncond=uncond).pred
    torch.testing.assert_close(ref, cfg(uncond, cond, w), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(apg(uncond, cond, w, eta=1.0, norm_threshold=0.0), ref, rtol=1e-12, atol=1e-12)


# -- 3. the interval against diffusers' start/stop -----------------------------------------------------

def test_interval_in_t_equals_diffusers_start_stop_on_the_same_grid():
    """Grid of N = 10 DDIM steps; guide steps 3..6 (levels t_3 ≥ … ≥ t_6): [t_lo, t_hi] between grid levels in t,
    start = 3/N, stop = 7/N in diffusers (enabled when int(start·N) ≤ step < int(stop·N))."""
    alpha_bars = torch.cat([ddpm_alpha_bars()[::100].flip(0), torch.ones(1, dtype=torch.float64)])
    ts = (1 - alpha_bars[:-1]) / alpha_bars[:-1]
    n_steps, w = len(ts), 3.0
    t_hi = ((ts[2] * ts[3]).sqrt()).item()               # between levels 2 and 3: level 3 is the first guided
    t_lo = ((ts[6] * ts[7]).sqrt()).item()               # between levels 6 and 7: level 6 is the last guided
    net = ToyEpsNet()
    x, c = toy_start()
    guider = ClassifierFreeGuidance(guidance_scale=w, start=3 / n_steps, stop=7 / n_steps)
    step = [0]

    def eps_diffusers(x_, t, labels):
        guider.set_state(step=step[0], num_inference_steps=n_steps, timestep=t)
        step[0] += 1
        return guider.forward(pred_cond=net(x_, t, labels), pred_uncond=net(x_, t, torch.full_like(labels, 2))).pred

    ref = sample_ddim(eps_diffusers, x, alpha_bars, labels=c)
    ours = sample_ddim(cfg_interval_eps(net, w, t_lo, t_hi), x, alpha_bars, labels=c)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)
    # an off-by-one interval (one more level guided) is a different run
    wider = sample_ddim(cfg_interval_eps(net, w, t_lo, ((ts[1] * ts[2]).sqrt()).item()), x, alpha_bars, labels=c)
    assert (wider - ref).abs().max() > 1e-4


@pytest.mark.parametrize("t", [0.01, 1.0, 30.0, 1e4])
def test_interval_at_w_one_is_the_conditional_eps_everywhere(t):
    net = ToyEpsNet()
    x, c = toy_start()
    t = torch.tensor(t, dtype=torch.float64)
    torch.testing.assert_close(cfg_interval_eps(net, 1.0, 0.0, 100.0)(x, t, c), net(x, t, c), rtol=1e-12, atol=1e-12)


# -- 4. every rule on a network, at w = 1 ----------------------------------------------------------------

RULES_AT_W_ONE = {
    "cfg": lambda u, c: cfg(u, c, 1.0),
    "rescale": lambda u, c: rescale(cfg(u, c, 1.0), c, 0.7),
    "apg": lambda u, c: apg(u, c, 1.0, eta=0.0, norm_threshold=0.5),
    "cfg_zero_star": lambda u, c: cfg_zero_star(u, c, 1.0),
}


@pytest.mark.parametrize("rule", RULES_AT_W_ONE, ids=list(RULES_AT_W_ONE))
def test_every_rule_on_a_network_at_w_one_is_the_conditional_network(rule):
    net = ToyEpsNet()
    x, c = toy_start()
    for t in (0.05, 2.0, 50.0):
        t = torch.tensor(t, dtype=torch.float64)
        torch.testing.assert_close(combined_eps(net, RULES_AT_W_ONE[rule])(x, t, c), net(x, t, c),
                                   rtol=1e-12, atol=1e-12)
    # and away from w = 1 they do guide
    t = torch.tensor(2.0, dtype=torch.float64)
    assert (cfg_eps(net, 3.0)(x, t, c) - net(x, t, c)).abs().max() > 1e-3
