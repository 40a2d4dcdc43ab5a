"""Refinements of CFG (``tempguide.guidance.refinements``, ``.interval``, ``.cfgpp``) against diffusers and the papers.

1. ``rescale`` equals diffusers' ``rescale_noise_cfg``; φ = 0 is plain CFG, φ = 1 matches the
   conditional prediction's per-example std (Lin et al. 2024, §3.4).
2. ``apg`` equals diffusers' ``normalized_guidance`` in the paper's formulation
   (cond + (w − 1)·update, i.e. ``use_original_formulation=True`` with guidance_scale w − 1);
   diffusers' default formulation uncond + w·update agrees only at η = 1 without cap, and
   differs by exactly (1 − η)·Δ∥ otherwise.  Endpoints: w = 1 → cond (any η, cap, momentum);
   η = 1, no cap → plain CFG; η = 0 → the update is orthogonal to cond.  Momentum against
   diffusers' ``MomentumBuffer`` over several steps.
3. ``cfg_zero_star`` equals diffusers' ``ClassifierFreeZeroStarGuidance`` after its zero-init
   steps; w = 1 → cond, w = 0 → s*·uncond; zero-init of K DDIM steps is "start K levels later
   from the same z", checked against a DDIM loop driven by diffusers' guider.
4. The guidance interval: plain CFG inside [t_lo, t_hi] (both ends included), the conditional
   prediction outside with one network call at batch B; per-example t; whole DDIM runs.
5. CFG++: one step against Chung et al.'s DDIM-CFG++ update written out here; λ = 0 is unconditional
   DDIM; a label-blind network gives plain DDIM; every step equals a DDIM-CFG step with
   w_t = λ σ_t / (σ_t − σ_s).
"""
import math

import pytest
import torch
from diffusers.guiders import ClassifierFreeZeroStarGuidance
from diffusers.guiders.adaptive_projected_guidance import MomentumBuffer, normalized_guidance
from diffusers.guiders.classifier_free_zero_star_guidance import cfg_zero_star_scale
from diffusers.guiders.guider_utils import rescale_noise_cfg

from tempguide import toy
from tempguide.diffusion import ddpm_alpha_bars, eps_from_denoiser, sample_ddim
from tempguide.guidance import cfg, cfg_denoiser, cfg_denoisers, cfg_eps
from tempguide.guidance.cfgpp import cfgpp_weight, sample_ddim_cfgpp
from tempguide.guidance.interval import (cfg_interval_denoiser, cfg_interval_denoisers, cfg_interval_eps,
                                         interval_weight)
from tempguide.guidance.refinements import (APGMomentum, apg, cfg_zero_star, combined_denoiser, combined_eps,
                                            rescale, zero_star_scale)

SHAPES = [(5, 7), (4, 3, 6), (3, 2, 5, 5)]
WEIGHTS = [0.0, 1.5, 3.0, 7.5, -0.5]


def random_pair(shape=(3, 2, 5, 5), seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=dtype), torch.randn(shape, generator=g, dtype=dtype)


def parallel_part(delta, cond):
    """Δ∥ = ⟨Δ, cond⟩/‖cond‖² · cond per example, written out."""
    d, c = delta.flatten(1), cond.flatten(1)
    return ((d * c).sum(1) / (c * c).sum(1)).reshape(-1, *[1] * (cond.ndim - 1)) * cond


# -- 1. rescaled CFG -------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("phi", [0.0, 0.3, 0.7, 1.0])
def test_rescale_equals_diffusers(shape, phi):
    uncond, cond = random_pair(shape, seed=1)
    guided = cfg(uncond, cond, 5.0)
    torch.testing.assert_close(rescale(guided, cond, phi), rescale_noise_cfg(guided, cond, phi),
                               rtol=1e-12, atol=1e-12)


def test_rescale_endpoints():
    uncond, cond = random_pair(seed=2)
    cond = 0.3 * cond + 0.1                                   # different stds per example, so the rescale matters
    guided = cfg(uncond, cond, 6.0)
    torch.testing.assert_close(rescale(guided, cond, 0.0), guided, rtol=0, atol=0)   # φ = 0: plain CFG
    out = rescale(guided, cond, 1.0)
    std = lambda x: x.flatten(1).std(1)                                             # noqa: E731
    torch.testing.assert_close(std(out), std(cond), rtol=1e-12, atol=1e-12)        # φ = 1: std of x_c
    assert not torch.allclose(std(guided), std(cond), rtol=0.1)
    # per example: an example's output does not depend on the rest of the batch
    other = guided.clone()
    other[1:] *= 10
    torch.testing.assert_close(rescale(other, cond, 1.0)[0], out[0], rtol=1e-12, atol=1e-12)


def test_rescale_bad_input():
    uncond, cond = random_pair()
    for bad in (-0.1, 1.5, math.nan, math.inf):
        with pytest.raises(ValueError, match=r"phi must be a finite number in \[0.0, 1.0\]"):
            rescale(cond, uncond, bad)
    with pytest.raises(ValueError, match="guided and cond must have the same shape"):
        rescale(cond, uncond[:2], 0.5)
    with pytest.raises(ValueError, match="at least one non-batch dimension"):
        rescale(torch.randn(4), torch.randn(4), 0.5)


# -- 2. APG ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("w", WEIGHTS + [1.0])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0, 1.7])
@pytest.mark.parametrize("norm_threshold", [0.0, 0.5, 50.0])
def test_apg_equals_diffusers_normalized_guidance(shape, w, eta, norm_threshold):
    """Sadat et al.'s Algorithm 1 ends with cond + (w − 1)·update: diffusers' original formulation at w − 1."""
    uncond, cond = random_pair(shape, seed=3)
    ref = normalized_guidance(cond, uncond, w - 1, None, eta, norm_threshold, use_original_formulation=True)
    torch.testing.assert_close(apg(uncond, cond, w, eta=eta, norm_threshold=norm_threshold), ref,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("w", WEIGHTS)
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.7])
def test_apg_versus_diffusers_default_formulation(w, eta):
    """diffusers' guider default is uncond + w·update: the same at η = 1, otherwise off by (1 − η)·Δ∥."""
    uncond, cond = random_pair(seed=4)
    default = lambda e: normalized_guidance(cond, uncond, w, None, e)                    # noqa: E731
    torch.testing.assert_close(apg(uncond, cond, w, eta=1.0), default(1.0), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(apg(uncond, cond, w, eta=eta) - default(eta),
                               (1 - eta) * parallel_part(cond - uncond, cond), rtol=1e-10, atol=1e-10)


def test_apg_float32_matches_diffusers():
    uncond, cond = random_pair(seed=5, dtype=torch.float32)
    ref = normalized_guidance(cond, uncond, 4.0, None, 0.0, 2.0, use_original_formulation=True)
    torch.testing.assert_close(apg(uncond, cond, 5.0, eta=0.0, norm_threshold=2.0), ref)


@pytest.mark.parametrize("w", WEIGHTS)
def test_apg_eta_one_without_cap_is_plain_cfg(w):
    uncond, cond = random_pair(seed=6)
    torch.testing.assert_close(apg(uncond, cond, w), cfg(uncond, cond, w), rtol=1e-12, atol=1e-12)
    # the cap is inactive when r exceeds every ‖Δ‖
    r = (cond - uncond).flatten(1).norm(dim=1).max().item() * 1.01
    torch.testing.assert_close(apg(uncond, cond, w, norm_threshold=r), cfg(uncond, cond, w), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("eta,norm_threshold,beta", [(0.0, 0.0, None), (0.3, 1.0, None), (0.0, 2.0, -0.5),
                                                     (1.0, 0.0, -0.75)])
def test_apg_w_one_is_the_conditional_prediction(eta, norm_threshold, beta):
    uncond, cond = random_pair(seed=7)
    momentum = None if beta is None else APGMomentum(beta)
    for step in range(3):  # with momentum, at every step of a run
        torch.testing.assert_close(apg(uncond + step, cond, 1.0, eta=eta, norm_threshold=norm_threshold,
                                       momentum=momentum), cond, rtol=0, atol=0)


def test_apg_geometry_orthogonal_update_and_cap():
    uncond, cond = random_pair(seed=8)
    w, r = 4.0, 1.5
    update = (apg(uncond, cond, w, eta=0.0) - cond) / (w - 1)
    torch.testing.assert_close((update * cond).flatten(1).sum(1), torch.zeros(3, dtype=torch.float64),
                               rtol=0, atol=1e-10)                                     # η = 0: Δ⊥ only
    torch.testing.assert_close(update + parallel_part(cond - uncond, cond), cond - uncond, rtol=1e-12, atol=1e-12)
    capped = (apg(uncond, cond, w, norm_threshold=r) - cond) / (w - 1)                   # η = 1: the capped Δ
    norms = (cond - uncond).flatten(1).norm(dim=1)
    torch.testing.assert_close(capped.flatten(1).norm(dim=1), norms.clamp(max=r), rtol=1e-12, atol=1e-12)
    assert (norms > r).all()


def test_apg_per_example_w_equals_a_loop():
    uncond, cond = random_pair(seed=9)
    w = torch.tensor([1.0, 3.0, -2.0])
    out = apg(uncond, cond, w, eta=0.2, norm_threshold=3.0)
    for b in range(3):
        torch.testing.assert_close(out[b:b + 1], apg(uncond[b:b + 1], cond[b:b + 1], w[b].item(), eta=0.2,
                                                     norm_threshold=3.0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("beta", [-0.5, -0.75, 0.3])
def test_apg_momentum_equals_diffusers_momentum_buffer(beta):
    """Four steps of a run: Δ̄ ← Δ + β Δ̄ before the cap, the same state object carried along."""
    ours, theirs = APGMomentum(beta), MomentumBuffer(beta)
    for step in range(4):
        uncond, cond = random_pair(seed=10 + step)
        ref = normalized_guidance(cond, uncond, 2.0, theirs, 0.0, 4.0, use_original_formulation=True)
        torch.testing.assert_close(apg(uncond, cond, 3.0, eta=0.0, norm_threshold=4.0, momentum=ours), ref,
                                   rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(ours.average, theirs.running_average, rtol=1e-12, atol=1e-12)
        if step == 0:   # the first step has no history: momentum changes nothing yet
            torch.testing.assert_close(ref, apg(uncond, cond, 3.0, eta=0.0, norm_threshold=4.0))
    assert not torch.allclose(ref, apg(uncond, cond, 3.0, eta=0.0, norm_threshold=4.0))


def test_apg_bad_input():
    uncond, cond = random_pair()
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="eta must be a finite number"):
            apg(uncond, cond, 2.0, eta=bad)
    for bad in (-0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match=r"norm_threshold must be a finite number in \[0.0, inf\]"):
            apg(uncond, cond, 2.0, norm_threshold=bad)
    with pytest.raises(ValueError, match="w must be a finite number"):
        apg(uncond, cond, math.inf)
    with pytest.raises(ValueError, match="uncond and cond must have the same shape"):
        apg(uncond, cond[:1], 2.0)
    with pytest.raises(ValueError, match="beta must be a finite number"):
        APGMomentum(math.nan)


# -- 3. CFG-Zero* ----------------------------------------------------------------------------------

def zero_star_guider(w, step, n_steps=10, zero_init_steps=1, **kwargs):
    guider = ClassifierFreeZeroStarGuidance(guidance_scale=w, zero_init_steps=zero_init_steps, **kwargs)
    guider.set_state(step=step, num_inference_steps=n_steps, timestep=torch.tensor(999 - step))
    return guider


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("w", WEIGHTS)
def test_cfg_zero_star_equals_diffusers_after_zero_init(shape, w):
    uncond, cond = random_pair(shape, seed=20, dtype=torch.float32)
    uncond = 0.8 * cond + 0.6 * uncond                  # correlated, as real predictions are: s* far from 0
    ours = cfg_zero_star(uncond, cond, w)
    for step in (2, 5):
        ref = zero_star_guider(w, step, zero_init_steps=2).forward(pred_cond=cond, pred_uncond=uncond).pred
        torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-6)
        ref = zero_star_guider(w - 1, step, zero_init_steps=2, use_original_formulation=True).forward(
            pred_cond=cond, pred_uncond=uncond).pred
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    zeros = zero_star_guider(w, 1, zero_init_steps=2).forward(pred_cond=cond, pred_uncond=uncond).pred
    assert (zeros == 0).all()                           # the zero-init steps are the sampler's business


def test_zero_star_scale_is_the_least_squares_factor():
    uncond, cond = random_pair((4, 3, 5), seed=21)
    s = zero_star_scale(uncond, cond)
    torch.testing.assert_close(s.flatten(), cfg_zero_star_scale(cond.flatten(1), uncond.flatten(1)).flatten(),
                               rtol=1e-6, atol=1e-7)
    residual = cond - s * uncond                        # ⟨cond − s*·uncond, uncond⟩ = 0: s* minimises the residual
    torch.testing.assert_close((residual * uncond).flatten(1).sum(1), torch.zeros(4, dtype=torch.float64),
                               rtol=0, atol=1e-7)
    torch.testing.assert_close(zero_star_scale(uncond, 2.5 * uncond).flatten(), torch.full((4,), 2.5,
                                                                                          dtype=torch.float64))


def test_cfg_zero_star_endpoints():
    uncond, cond = random_pair(seed=22)
    torch.testing.assert_close(cfg_zero_star(uncond, cond, 1.0), cond, rtol=0, atol=1e-12)          # w = 1
    torch.testing.assert_close(cfg_zero_star(uncond, cond, 0.0), zero_star_scale(uncond, cond) * uncond)
    assert not torch.allclose(cfg_zero_star(uncond, cond, 0.0), uncond)                               # not ∅
    # when cond is a multiple of uncond, s*·uncond = cond and no weight changes anything
    torch.testing.assert_close(cfg_zero_star(uncond, 2.0 * uncond, 7.0), 2.0 * uncond, rtol=1e-6, atol=1e-6)
    w = torch.tensor([1.0, 4.0, 0.0])
    for b in range(3):
        torch.testing.assert_close(cfg_zero_star(uncond, cond, w)[b:b + 1],
                                   cfg_zero_star(uncond[b:b + 1], cond[b:b + 1], w[b].item()))


class ToyEpsNet:
    """The exact conditional ε-network of a toy mixture: label c < C → p(y | c), the null label C → p(y).

    What a perfectly trained network with label dropout computes; records the batch size of every call.
    """

    def __init__(self, mixture, ignore_labels=False):
        self.config = type("Config", (), {"num_classes": mixture.num_classes})()
        self.ignore_labels = ignore_labels
        self._eps = [eps_from_denoiser(mixture.condition(c).denoise) for c in range(mixture.num_classes)]
        self._eps.append(eps_from_denoiser(mixture.denoise))
        self.calls = []

    def __call__(self, x, t, labels=None):
        self.calls.append(x.shape[0])
        null = len(self._eps) - 1
        labels = torch.full((x.shape[0],), null) if labels is None or self.ignore_labels else labels
        t = torch.as_tensor(t, dtype=torch.float64)
        out = torch.empty_like(x)
        for c in labels.unique().tolist():
            rows = labels == c
            out[rows] = self._eps[c](x[rows], t[rows] if t.ndim else t)
        return out


@pytest.fixture
def toy_net():
    return ToyEpsNet(toy.mixture_2d())


NULL = toy.mixture_2d().num_classes   # 2 classes, the null label ∅ = 2


def toy_start(n=6, seed=30):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g, dtype=torch.float64), torch.arange(n) % toy.mixture_2d().num_classes


def test_cfg_zero_star_zero_init_recipe_equals_a_ddim_loop_driven_by_diffusers(toy_net):
    """DDIM with diffusers' guider (zero-init K = 2 steps) = our recipe: start K levels later from the same z."""
    alpha_bars = torch.cat([ddpm_alpha_bars()[::100].flip(0), torch.ones(1, dtype=torch.float64)])
    x, c = toy_start()
    w, K = 3.0, 2
    guider = ClassifierFreeZeroStarGuidance(guidance_scale=w, zero_init_steps=K)
    step = [0]

    def eps_diffusers(x_, t, labels):
        guider.set_state(step=step[0], num_inference_steps=len(alpha_bars) - 1, timestep=t)
        step[0] += 1
        return guider.forward(pred_cond=toy_net(x_, t, labels),
                              pred_uncond=toy_net(x_, t, torch.full_like(labels, NULL))).pred

    ref = sample_ddim(eps_diffusers, x, alpha_bars, labels=c)
    eps_w = combined_eps(toy_net, lambda u, cond: cfg_zero_star(u, cond, w))
    ours = sample_ddim(eps_w, x * (alpha_bars[K] / alpha_bars[0]).sqrt(), alpha_bars[K:], labels=c)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)   # diffusers computes s* in float32
    no_zero_init = sample_ddim(eps_w, x, alpha_bars, labels=c)
    assert (no_zero_init - ref).abs().max() > 1e-3      # the zero-init steps do change the samples


# -- applying a rule to a network: combined_eps / combined_denoiser --------------------------------

def test_combined_eps_and_denoiser_with_the_cfg_rule_are_cfg(toy_net):
    x, c = toy_start()
    for t in (torch.tensor(0.7, dtype=torch.float64), torch.tensor([0.1, 1.0, 5.0, 0.1, 1.0, 5.0],
                                                                   dtype=torch.float64)):
        torch.testing.assert_close(combined_eps(toy_net, lambda u, cond: cfg(u, cond, 2.5))(x, t, c),
                                   cfg_eps(toy_net, 2.5)(x, t, c))
        torch.testing.assert_close(combined_denoiser(toy_net, c, lambda u, cond: cfg(u, cond, 2.5))(x, t),
                                   cfg_denoiser(toy_net, c, 2.5)(x, t))
    toy_net.calls.clear()
    combined_eps(toy_net, lambda u, cond: cond)(x, 0.5, c)
    assert toy_net.calls == [12]                        # one batched call on [x; x]


def test_combined_denoiser_applies_apg_to_the_exact_denoisers(toy_net):
    """Sadat et al. apply APG to D: D_∅ and D_c of the toy are the mixture's exact denoisers."""
    mix = toy.mixture_2d()
    z, c = toy_start(4)
    c = torch.full((4,), 1)
    t = torch.tensor(2.0, dtype=torch.float64)
    d_u, d_c = mix.denoise(z, t), mix.condition(1).denoise(z, t)
    out = combined_denoiser(toy_net, c, lambda u, cond: apg(u, cond, 4.0, eta=0.0))(z, t)
    torch.testing.assert_close(out, apg(d_u, d_c, 4.0, eta=0.0), rtol=1e-10, atol=1e-10)


# -- 4. the guidance interval ----------------------------------------------------------------------

T_LO, T_HI = 0.25, 4.0


@pytest.mark.parametrize("t", [0.25, 1.0, 4.0])
def test_interval_eps_inside_is_plain_cfg_boundaries_included(toy_net, t):
    x, c = toy_start()
    t = torch.tensor(t, dtype=torch.float64)
    out = cfg_interval_eps(toy_net, 3.0, T_LO, T_HI)(x, t, c)
    torch.testing.assert_close(out, cfg_eps(toy_net, 3.0)(x, t, c), rtol=0, atol=0)
    assert toy_net.calls[-1] == 12


@pytest.mark.parametrize("t", [0.2499999, 0.01, 4.0000001, 80.0])
def test_interval_eps_outside_is_the_conditional_eps_in_one_call(toy_net, t):
    x, c = toy_start()
    t = torch.tensor(t, dtype=torch.float64)
    toy_net.calls.clear()
    out = cfg_interval_eps(toy_net, 3.0, T_LO, T_HI)(x, t, c)
    assert toy_net.calls == [6]                         # batch B, not 2B: no unconditional call
    torch.testing.assert_close(out, toy_net(x, t, c), rtol=0, atol=0)
    assert (out - cfg_eps(toy_net, 3.0)(x, t, c)).abs().max() > 1e-3


def test_interval_eps_per_example_t(toy_net):
    x, c = toy_start()
    t = torch.tensor([0.1, 0.25, 1.0, 4.0, 4.5, 50.0], dtype=torch.float64)
    inside = torch.tensor([False, True, True, True, False, False])
    for w in (3.0, torch.tensor([2.0, 3.0, 4.0, 5.0, 6.0, 7.0], dtype=torch.float64)):
        out = cfg_interval_eps(toy_net, w, T_LO, T_HI)(x, t, c)
        guided, cond = cfg_eps(toy_net, w)(x, t, c), toy_net(x, t, c)
        torch.testing.assert_close(out[inside], guided[inside], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(out[~inside], cond[~inside], rtol=1e-12, atol=1e-12)
    assert interval_weight(3.0, t, T_LO, T_HI).tolist() == [1.0, 3.0, 3.0, 3.0, 1.0, 1.0]


def test_interval_denoisers_on_the_exact_toy():
    mix = toy.mixture_2d()
    calls = []
    d_u = lambda z, t: calls.append("u") or mix.denoise(z, t)                         # noqa: E731
    d_c = lambda z, t: calls.append("c") or mix.condition(1).denoise(z, t)            # noqa: E731
    z, _ = toy_start()
    guided = cfg_interval_denoisers(d_u, d_c, 4.0, T_LO, T_HI)
    for t, inside in ((0.25, True), (2.0, True), (4.0, True), (0.1, False), (9.0, False)):
        calls.clear()
        t = torch.tensor(t, dtype=torch.float64)
        expected = cfg_denoisers(d_u, d_c, 4.0)(z, t) if inside else mix.condition(1).denoise(z, t)
        torch.testing.assert_close(guided(z, t), expected, rtol=0, atol=0)
        assert calls == (["u", "c", "u", "c"] if inside else ["c"])


def test_interval_ddim_endpoints_and_a_switching_reference(toy_net):
    """[0, ∞) is plain CFG, an interval above every level is the conditional model, and in between
    the sampler equals DDIM with an ε-network that switches w by hand at the grid's levels."""
    alpha_bars = torch.cat([ddpm_alpha_bars()[::50].flip(0), torch.ones(1, dtype=torch.float64)])
    x, c = toy_start()
    run = lambda eps: sample_ddim(eps, x, alpha_bars, labels=c)                       # noqa: E731
    torch.testing.assert_close(run(cfg_interval_eps(toy_net, 3.0, 0.0, math.inf)), run(cfg_eps(toy_net, 3.0)))
    torch.testing.assert_close(run(cfg_interval_eps(toy_net, 3.0, 1e6, 2e6)), run(toy_net))
    ts = (1 - alpha_bars[:-1]) / alpha_bars[:-1]
    t_lo, t_hi = ts[12].item(), ts[5].item()            # two grid levels: both must be guided

    def switching(x_, t, labels):
        k = int((ts - t).abs().argmin())
        return cfg_eps(toy_net, 3.0)(x_, t, labels) if 5 <= k <= 12 else toy_net(x_, t, labels)

    torch.testing.assert_close(run(cfg_interval_eps(toy_net, 3.0, t_lo, t_hi)), run(switching))
    assert (run(cfg_interval_eps(toy_net, 3.0, t_lo, t_hi)) - run(cfg_eps(toy_net, 3.0))).abs().max() > 1e-3


def test_interval_denoiser_is_the_interval_eps_through_the_adapter(toy_net):
    z, c = toy_start()
    for t in (0.5, 10.0):
        t = torch.tensor(t, dtype=torch.float64)
        ref = cfg_denoiser(toy_net, c, 3.0)(z, t) if t <= T_HI else cfg_denoiser(toy_net, c, 1.0)(z, t)
        torch.testing.assert_close(cfg_interval_denoiser(toy_net, c, 3.0, T_LO, T_HI)(z, t), ref)


def test_interval_bad_input(toy_net):
    with pytest.raises(ValueError, match="t_lo must be <= t_hi"):
        cfg_interval_eps(toy_net, 2.0, 4.0, 1.0)
    for bad in (-0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match="t_lo must be a finite noise variance >= 0"):
            cfg_interval_eps(toy_net, 2.0, bad, 5.0)
    with pytest.raises(ValueError, match="t_hi must be a noise variance >= 0"):
        cfg_interval_denoisers(toy.mixture_1d().denoise, toy.mixture_1d().denoise, 2.0, 0.0, math.nan)
    with pytest.raises(ValueError, match="w must be a finite number"):
        cfg_interval_eps(toy_net, math.nan, 0.1, 1.0)
    x, _ = toy_start()
    with pytest.raises(ValueError, match="labels are required"):
        cfg_interval_eps(toy_net, 2.0, 0.1, 1.0)(x, torch.tensor(10.0))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
        cfg_interval_eps(toy_net, 2.0, 0.1, 1.0)(x, torch.tensor(10.0), torch.full((6,), NULL))


# -- 5. CFG++ --------------------------------------------------------------------------------------

def ddim_grid(n=20):
    return torch.cat([ddpm_alpha_bars()[::1000 // n].flip(0), torch.ones(1, dtype=torch.float64)])


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
def test_cfgpp_one_step_is_the_papers_algorithm(toy_net, lam):
    """Chung et al.'s DDIM-CFG++ update, one step ᾱ_t → ᾱ_s written out from the two ε predictions."""
    x, c = toy_start()
    a_t, a_s = torch.tensor(0.2, dtype=torch.float64), torch.tensor(0.6, dtype=torch.float64)
    t = (1 - a_t) / a_t
    eps_u, eps_c = toy_net(x, t, torch.full((6,), NULL)), toy_net(x, t, c)
    eps_lam = eps_u + lam * (eps_c - eps_u)
    x0 = (x - math.sqrt(1 - 0.2) * eps_lam) / math.sqrt(0.2)
    expected = math.sqrt(0.6) * x0 + math.sqrt(1 - 0.6) * eps_u
    torch.testing.assert_close(sample_ddim_cfgpp(toy_net, x, torch.stack([a_t, a_s]), c, lam), expected,
                               rtol=1e-12, atol=1e-12)
    if lam > 0:  # not DDIM-CFG with w = λ, which re-noises with the guided ε
        ddim_cfg = math.sqrt(0.6) * x0 + math.sqrt(1 - 0.6) * eps_lam
        assert (expected - ddim_cfg).abs().max() > 1e-3


def test_cfgpp_lambda_zero_is_unconditional_ddim(toy_net):
    x, c = toy_start()
    ref = sample_ddim(toy_net, x, ddim_grid(), labels=torch.full((6,), NULL))
    torch.testing.assert_close(sample_ddim_cfgpp(toy_net, x, ddim_grid(), c, 0.0), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_cfgpp_with_a_label_blind_network_is_plain_ddim(lam):
    net = ToyEpsNet(toy.mixture_2d(), ignore_labels=True)
    x, c = toy_start()
    torch.testing.assert_close(sample_ddim_cfgpp(net, x, ddim_grid(), c, lam), sample_ddim(net, x, ddim_grid()),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("n", [10, 40])
def test_cfgpp_is_ddim_cfg_with_a_step_dependent_weight(toy_net, n):
    """z_s = z_t − (σ_t − σ_s) ε_∅ − λ σ_t Δ: a DDIM-CFG step with w_t = λ σ_t / (σ_t − σ_s)."""
    alpha_bars, lam = ddim_grid(n), 0.4
    x, c = toy_start()
    ts = (1 - alpha_bars) / alpha_bars
    weights = [cfgpp_weight(a, b, lam) for a, b in zip(alpha_bars[:-1], alpha_bars[1:])]

    def eps_w(x_, t, labels):
        k = int((ts[:-1] - t).abs().argmin())
        return cfg_eps(toy_net, weights[k].item())(x_, t, labels)

    torch.testing.assert_close(sample_ddim_cfgpp(toy_net, x, alpha_bars, c, lam),
                               sample_ddim(eps_w, x, alpha_bars, labels=c), rtol=1e-9, atol=1e-9)
    assert weights[-1].item() == pytest.approx(lam)     # last step to ᾱ = 1 (σ_s = 0): w = λ
    assert all(w_k > lam for w_k in weights[:-1])       # larger than λ elsewhere, and a finer grid guides harder:
    assert cfgpp_weight(alpha_bars[0], (alpha_bars[0] + alpha_bars[1]) / 2, lam) > weights[0]


def test_cfgpp_one_batched_call_per_step_and_per_example_lam(toy_net):
    x, c = toy_start()
    toy_net.calls.clear()
    lam = torch.tensor([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], dtype=torch.float64)
    out = sample_ddim_cfgpp(toy_net, x, ddim_grid(5), c, lam)
    assert toy_net.calls == [12] * 5
    for b in (0, 3, 5):
        torch.testing.assert_close(out[b:b + 1], sample_ddim_cfgpp(toy_net, x[b:b + 1], ddim_grid(5), c[b:b + 1],
                                                                   lam[b].item()), rtol=1e-12, atol=1e-12)


def test_cfgpp_bad_input(toy_net):
    x, c = toy_start()
    for bad in (-0.1, 1.5, torch.tensor([0.0, 0.5, 1.2, 0.0, 0.0, 0.0])):
        with pytest.raises(ValueError, match=r"lam must be in \[0, 1\]"):
            sample_ddim_cfgpp(toy_net, x, ddim_grid(3), c, bad)
    with pytest.raises(ValueError, match="lam must be a finite number"):
        sample_ddim_cfgpp(toy_net, x, ddim_grid(3), c, math.nan)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
        sample_ddim_cfgpp(toy_net, x, ddim_grid(3), torch.full((6,), NULL), 0.5)
    with pytest.raises(ValueError, match="labels are required"):
        sample_ddim_cfgpp(toy_net, x, ddim_grid(3), None, 0.5)
    with pytest.raises(ValueError, match="alpha_bars must be strictly increasing"):
        sample_ddim_cfgpp(toy_net, x, ddim_grid(3).flip(0), c, 0.5)
    with pytest.raises(ValueError, match="no null label"):
        sample_ddim_cfgpp(lambda x_, t, labels: x_, x, ddim_grid(3), c, 0.5)


# -- a real conditional UNet in float32 (dtypes, shapes, the null label) ---------------------------

@torch.no_grad()
def test_wrappers_on_a_float32_unet():
    from tempguide.models import UNet, UNetConfig
    torch.manual_seed(0)
    net = UNet(UNetConfig(channels=(8, 8, 16), emb_dim=32, groups=4, num_classes=10)).eval()
    for p in net.parameters():  # the output layer starts at zero: perturb every weight
        p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    c, null = torch.tensor([0, 4, 9]), torch.full((3,), 10)
    t = torch.tensor([0.05, 1.0, 20.0])
    eps_c, eps_u = net(x, t, c), net(x, t, null)
    out = cfg_interval_eps(net, 3.0, 0.5, 5.0)(x, t, c)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out[1], cfg(eps_u, eps_c, 3.0)[1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[[0, 2]], eps_c[[0, 2]], rtol=1e-5, atol=1e-5)
    out = combined_eps(net, lambda u, cond: apg(u, cond, 4.0, eta=0.0, norm_threshold=10.0))(x, t, c)
    torch.testing.assert_close(out, apg(eps_u, eps_c, 4.0, eta=0.0, norm_threshold=10.0), rtol=1e-5, atol=1e-5)
    a_t, a_s = 0.3, 0.7
    t_net = torch.tensor((1 - a_t) / a_t)
    e_c, e_u = net(x, t_net, c), net(x, t_net, null)
    x0 = (x - math.sqrt(1 - a_t) * (e_u + 0.6 * (e_c - e_u))) / math.sqrt(a_t)
    step = sample_ddim_cfgpp(net, x, torch.tensor([a_t, a_s], dtype=torch.float64), c, 0.6)
    assert step.dtype == torch.float32
    torch.testing.assert_close(step, math.sqrt(a_s) * x0 + math.sqrt(1 - a_s) * e_u, rtol=1e-5, atol=1e-5)
