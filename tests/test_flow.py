"""Flow matching (``tempguide.flow``) against closed forms, the exact mixtures and the diffusion samplers.

1. The time map and the straight path: x_τ/τ is the course's z = y + √t·ε at t = ((1 − τ)/τ)².
2. The conversion u = b_τ·x + a_τ·∇ ln p_τ against Gaussian data, where every quantity is
   a closed form; the general Gaussian-path formula on a second (cosine) path.
3. The exact mixture velocities against an independent per-component formula and the
   continuity equation ∂_τ p_τ + ∇·(p_τ u) = 0 (finite differences and autograd).
4. Euler and Heun against the exact flow of Gaussian data (and their orders); one Euler
   step in τ is one DDIM step.
5. CFG on velocities: the MIT form, the seed's classifier-guidance line *with* its a_τ,
   and the same samples as CFG through the probability-flow ODE.
6. The CFM loss is minimised by the exact velocity; the batched guided network.
"""
import math

import pytest
import torch

from tempguide import toy
from tempguide.diffusion import eps_from_denoiser, karras_ts, sample_ddim, sample_ode_heun
from tempguide.flow import (cfg_velocities, cfg_velocity_net, conditional_velocity, denoiser_from_velocity, exact,
                            fm_loss, gaussian_path_coefficients, sample_euler, sample_heun, score_from_velocity,
                            straight_path, straight_path_coefficients, t_from_tau, tau_from_t, tau_grid,
                            velocity_from_denoiser, velocity_from_score, x0_from_velocity, x1_from_velocity)
from tempguide.guidance import cfg_denoisers

F64 = torch.float64
TAUS = [0.05, 0.3, 0.5, 0.8, 0.97]
M, S = 1.5, 0.6                                   # Gaussian data N(M, S² I)


def gaussian_quantities(x, tau, m=M, s=S):
    """Closed forms for x₁ ~ N(m, s² I), x_τ = (1 − τ)x₀ + τx₁ (Gaussian conditioning, written out)."""
    v = (1 - tau) ** 2 + tau ** 2 * s ** 2                     # Var x_τ
    x1_hat = m + tau * s ** 2 / v * (x - tau * m)              # E[x₁ | x_τ]
    x0_hat = (1 - tau) / v * (x - tau * m)                     # E[x₀ | x_τ]
    return {"u": x1_hat - x0_hat, "score": -(x - tau * m) / v, "x1": x1_hat, "x0": x0_hat}


def gaussian_denoiser(z, t, m=M, s=S):
    """The course's D(z, t) = E[y | y + √t ε = z] for y ~ N(m, s²)."""
    return m + s ** 2 / (s ** 2 + t) * (z - m)


def points(n=64, d=2, seed=0):
    return torch.randn(n, d, dtype=F64, generator=torch.Generator().manual_seed(seed)) * 2


# -- 1. time map and path ---------------------------------------------------------------------

@pytest.mark.seed("004-01")
def test_path_ends_and_time_map():
    g = torch.Generator().manual_seed(0)
    x0, y = torch.randn(50, 3, dtype=F64, generator=g), torch.randn(50, 3, dtype=F64, generator=g)
    torch.testing.assert_close(straight_path(x0, y, 0.0), x0)           # τ = 0: noise
    torch.testing.assert_close(straight_path(x0, y, 1.0), y)            # τ = 1: data
    for tau in TAUS:
        t = t_from_tau(torch.tensor(tau, dtype=F64))
        torch.testing.assert_close(straight_path(x0, y, tau) / tau, y + t.sqrt() * x0)   # z = x_τ/τ
        torch.testing.assert_close(tau_from_t(t), torch.tensor(tau, dtype=F64))
    tau = torch.rand(50, dtype=F64, generator=g)                        # one τ per example
    torch.testing.assert_close(straight_path(x0, y, tau), (1 - tau[:, None]) * x0 + tau[:, None] * y)
    torch.testing.assert_close(conditional_velocity(straight_path(x0, y, tau), y, tau), y - x0)


# -- 2. the conversion ------------------------------------------------------------------------

def test_straight_path_coefficients():
    for tau in TAUS:
        a, b = straight_path_coefficients(tau)
        assert math.isclose(a, (1 - tau) / tau, rel_tol=1e-12) and math.isclose(b, 1 / tau, rel_tol=1e-12)
        a2, b2 = gaussian_path_coefficients(torch.tensor(tau, dtype=F64), 1.0, 1 - tau, -1.0)   # α = τ, β = 1 − τ
        torch.testing.assert_close((a2, b2), (a, b))


@pytest.mark.parametrize("tau", TAUS + [1.0])
@pytest.mark.seed("004-06")
def test_velocity_from_score_on_gaussian_data(tau):
    x = points(d=3)
    ref = gaussian_quantities(x, tau)
    u = velocity_from_score(lambda x, tau: gaussian_quantities(x, tau)["score"])(x, tau)
    torch.testing.assert_close(u, ref["u"], rtol=1e-10, atol=1e-10)
    if tau < 1:
        a, b = straight_path_coefficients(tau)
        if abs(a - 1) > 0.1:                                             # a_τ = 1 at τ = 1/2 only
            assert (b * x + ref["score"] - ref["u"]).abs().max() > 0.05  # the a_τ cannot be dropped
        s = score_from_velocity(lambda x, tau: gaussian_quantities(x, tau)["u"])(x, tau)
        torch.testing.assert_close(s, ref["score"], rtol=1e-9, atol=1e-9)
    else:
        torch.testing.assert_close(u, x)                                 # u(x, 1) = x − E[x₀] = x


@pytest.mark.parametrize("tau", TAUS)
def test_velocity_and_denoiser_of_the_course(tau):
    x = points(d=3)
    ref = gaussian_quantities(x, tau)
    torch.testing.assert_close(velocity_from_denoiser(gaussian_denoiser)(x, tau), ref["u"], rtol=1e-10, atol=1e-10)
    # the other way: D(z, t) of the exact velocity is the course's denoiser at z = x/τ, t = ((1 − τ)/τ)²
    z, t = x / tau, t_from_tau(torch.tensor(tau, dtype=F64))
    D = denoiser_from_velocity(lambda x, tau: gaussian_quantities(x, tau)["u"])(z, t)
    torch.testing.assert_close(D, gaussian_denoiser(z, t), rtol=1e-10, atol=1e-10)
    # x̂₁ is the course's D and x̂₀ its ε̂ = (z − D)/√t
    torch.testing.assert_close(x1_from_velocity(ref["u"], x, tau), ref["x1"])
    torch.testing.assert_close(x0_from_velocity(ref["u"], x, tau), (z - gaussian_denoiser(z, t)) / t.sqrt())
    # a swapped clock (τ ↔ 1 − τ) gives another velocity
    if tau != 0.5:
        assert (velocity_from_denoiser(gaussian_denoiser)(x, 1 - tau) - ref["u"]).abs().max() > 0.05


@pytest.mark.parametrize("tau", [0.1, 0.4, 0.75])
def test_general_gaussian_path_formula_on_the_cosine_path(tau):
    """x_τ = sin(πτ/2)·x₁ + cos(πτ/2)·x₀: u = α̇ E[x₁|x] + β̇ E[x₀|x] against b·x + a·∇ ln p_τ."""
    alpha, beta = math.sin(math.pi * tau / 2), math.cos(math.pi * tau / 2)
    alpha_dot, beta_dot = math.pi / 2 * beta, -math.pi / 2 * alpha
    x = points(d=2)
    v = alpha ** 2 * S ** 2 + beta ** 2
    u_ref = alpha_dot * (M + alpha * S ** 2 / v * (x - alpha * M)) + beta_dot * beta / v * (x - alpha * M)
    a, b = gaussian_path_coefficients(torch.tensor(alpha, dtype=F64), alpha_dot, beta, beta_dot)
    torch.testing.assert_close(b * x + a * (-(x - alpha * M) / v), u_ref, rtol=1e-10, atol=1e-10)


# -- 3. exact mixture velocities --------------------------------------------------------------

def per_component_velocity(mix, x, tau):
    """Σ_k r_k(x) (E[x₁|x, k] − E[x₀|x, k]) with x | k ~ N(τμ_k, ((1 − τ)² + τ² s_k²) I), written out."""
    mu, s2 = mix.means, mix.stds ** 2
    v = (1 - tau) ** 2 + tau ** 2 * s2                                           # (K,)
    diff = x[:, None, :] - tau * mu[None]                                        # (n, K, d)
    log_r = mix.weights.log() - 0.5 * diff.pow(2).sum(-1) / v - 0.5 * mix.dim * v.log()
    r = torch.softmax(log_r, dim=1)[..., None]
    u_k = mu[None] + ((tau * s2 - (1 - tau)) / v)[None, :, None] * diff
    return (r * u_k).sum(1)


@pytest.mark.parametrize("mix", [toy.mixture_1d(), toy.mixture_2d()], ids=["1d", "2d"])
def test_exact_velocity_against_components(mix):
    x = points(d=mix.dim)
    for tau in TAUS + [1.0]:
        torch.testing.assert_close(exact.velocity(mix)(x, tau), per_component_velocity(mix, x, tau),
                                   rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(exact.velocity(mix)(x, 1.0), x)                                   # τ = 1
    torch.testing.assert_close(exact.velocity(mix)(x, 0.0), mix.weights @ mix.means - x, rtol=0, atol=2e-3)  # τ = 0
    for c in range(mix.num_classes):
        torch.testing.assert_close(exact.conditional_velocity(mix, c)(x, 0.5),
                                   per_component_velocity(mix.condition(c), x, 0.5))


@pytest.mark.parametrize("tau", [0.2, 0.5, 0.85])
def test_exact_velocity_solves_the_continuity_equation(tau):
    """∂_τ p_τ + ∇·(p_τ u) = 0 on mixture_2d: ∂_τ by central differences, the divergence by autograd."""
    mix, h = toy.mixture_2d(), 1e-5
    x = points(n=40, d=2, seed=3).requires_grad_(True)
    p = exact.log_prob(mix, x, tau).exp()
    flux = p[:, None] * exact.velocity(mix)(x, tau)                               # p_τ u, (n, 2)
    div = sum(torch.autograd.grad(flux[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(2))
    with torch.no_grad():
        dp = (exact.log_prob(mix, x, tau + h).exp() - exact.log_prob(mix, x, tau - h).exp()) / (2 * h)
    torch.testing.assert_close(dp + div, torch.zeros_like(dp), rtol=0, atol=1e-7 * p.max().item() + 1e-9)
    assert (dp.abs().max() > 1e-3 * p.max())                                      # not trivially zero


# -- 4. samplers ------------------------------------------------------------------------------

def gaussian_velocity(x, tau):
    return gaussian_quantities(x, torch.as_tensor(tau, dtype=F64))["u"]


def test_euler_and_heun_reach_the_exact_flow_with_their_orders():
    x0 = points(n=200, d=1, seed=4) / 2
    end = exact.gaussian_flow_map(M, S, x0, 1.0)
    torch.testing.assert_close(end, M + S * x0)
    errors = {name: [] for name in ("euler", "heun")}
    for n in (20, 40, 80):
        errors["euler"].append((sample_euler(gaussian_velocity, x0, tau_grid(n)) - end).abs().max().item())
        errors["heun"].append((sample_heun(gaussian_velocity, x0, tau_grid(n)) - end).abs().max().item())
    for e_coarse, e_fine in zip(errors["euler"][:-1], errors["euler"][1:]):
        assert 1.7 < e_coarse / e_fine < 2.3                                  # first order
    for e_coarse, e_fine in zip(errors["heun"][:-1], errors["heun"][1:]):
        assert 3.4 < e_coarse / e_fine < 4.6                                  # second order
    assert errors["heun"][-1] < 1e-4
    half = sample_heun(gaussian_velocity, x0, tau_grid(200, 0.0, 0.5))       # stop half way
    torch.testing.assert_close(half, exact.gaussian_flow_map(M, S, x0, 0.5), rtol=0, atol=1e-5)


def test_euler_in_tau_is_ddim():
    """One Euler step in τ on the straight path = one DDIM step between t(τ_i) and t(τ_{i+1}) (float64)."""
    mix, c, w = toy.mixture_2d(), 1, 3.0
    taus = tau_grid(12, 0.02, 1.0)
    x = points(n=30, d=2, seed=5)
    flow = sample_euler(exact.cfg_velocity(mix, c, w), x, taus)
    t = t_from_tau(taus)
    alpha_bars = 1 / (1 + t)                                                 # ᾱ = 1/(1 + t), ends at 1
    x_ddim = x / (taus[0] ** 2 + (1 - taus[0]) ** 2).sqrt()                  # z/√(1+t) with z = x/τ
    eps = eps_from_denoiser(cfg_denoisers(mix.denoise, mix.condition(c).denoise, w))
    torch.testing.assert_close(sample_ddim(eps, x_ddim, alpha_bars), flow, rtol=1e-9, atol=1e-9)


def test_sampler_bad_input():
    x = points(n=4, d=2)
    for bad in ([0.0], [1.0, 0.5, 0.0], [0.0, 0.5, 1.5], [-0.1, 0.5], [0.0, 0.5, 0.5, 1.0]):
        with pytest.raises(ValueError, match="taus"):
            sample_euler(gaussian_velocity, x, torch.tensor(bad))
        with pytest.raises(ValueError, match="taus"):
            sample_heun(gaussian_velocity, x, torch.tensor(bad))
    with pytest.raises(ValueError, match="velocity returned shape"):
        sample_euler(lambda x, tau: x[:, :1], x, tau_grid(3))
    with pytest.raises(ValueError, match="n_steps"):
        tau_grid(0)
    with pytest.raises(ValueError, match="tau_min"):
        tau_grid(5, 0.6, 0.4)
    for bad_tau in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"tau must be in \[0, 1\]"):
            straight_path(x, x, bad_tau)
        with pytest.raises(ValueError, match=r"tau must be in \[0, 1\]"):
            exact.velocity(toy.mixture_2d())(x, bad_tau)
    with pytest.raises(ValueError, match="tau must be < 1"):
        velocity_from_denoiser(gaussian_denoiser)(x, 1.0)
    with pytest.raises(ValueError, match="tau must be < 1"):
        score_from_velocity(gaussian_velocity)(x, 1.0)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        gaussian_path_coefficients(torch.tensor(0.0), 1.0, 1.0, -1.0)
    with pytest.raises(ValueError, match="mix must be"):
        exact.velocity("mixture")


# -- 5. CFG on velocities ---------------------------------------------------------------------

WEIGHTS = [0.0, 1.0, 3.0, 5.0, -1.0]


@pytest.mark.parametrize("w", WEIGHTS)
@pytest.mark.seed("004-10", "004-11")
def test_cfg_velocity_is_the_mit_form_and_the_cfg_score(w):
    mix, c = toy.mixture_2d(), 0
    x = points(d=2, seed=6)
    u_null, u_cond = exact.velocity(mix), exact.conditional_velocity(mix, c)
    for tau in TAUS:
        guided = exact.cfg_velocity(mix, c, w)(x, tau)
        torch.testing.assert_close(guided, (1 - w) * u_null(x, tau) + w * u_cond(x, tau))    # MIT 6.S184
        via_denoiser = velocity_from_denoiser(cfg_denoisers(mix.denoise, mix.condition(c).denoise, w))(x, tau)
        torch.testing.assert_close(guided, via_denoiser, rtol=1e-9, atol=1e-9)
        # facebookresearch/flow_matching's w is ours − 1: the same number there is another field
        assert ((1 + w) * u_cond(x, tau) - w * u_null(x, tau) - guided).abs().max() > 1e-3


@pytest.mark.parametrize("tau", [0.3, 0.6, 0.9])
@pytest.mark.seed("004-06", "004-07", "004-08")
def test_classifier_guidance_line_needs_a_tau(tau):
    """The seed: ũ = u(x) + w·a_τ·∇ ln p_τ(c | x).  With exact models it equals CFG; without a_τ it does not."""
    mix, c, w = toy.mixture_2d(), 1, 3.0
    x = points(n=30, d=2, seed=7).requires_grad_(True)
    t = t_from_tau(torch.tensor(tau, dtype=F64))
    log_post = mix.class_posterior(x / tau, t)[:, c].log()                    # ln p_τ(c | x) = ln p_t(c | x/τ)
    grad = torch.autograd.grad(log_post.sum(), x)[0]
    x = x.detach()
    a, _ = straight_path_coefficients(tau)
    u = exact.velocity(mix)(x, tau)
    guided = exact.cfg_velocity(mix, c, w)(x, tau)
    torch.testing.assert_close(u + w * a * grad, guided, rtol=1e-8, atol=1e-8)
    assert (u + w * grad - guided).abs().max() > 0.05                        # the slide's first line, a_τ dropped


@pytest.mark.parametrize("w", [3.0, 5.0])
@pytest.mark.seed("004-11")
def test_cfg_on_velocities_gives_the_samples_of_cfg_through_the_pf_ode(w):
    """Same start noise: Heun in τ on ũ, and Heun in t on the PF-ODE dz/dt = (z − D_w)/(2t), z = x_τ/τ.

    The two discretisations differ; their gap (≈ 5e-3) is the PF-ODE's discretisation error on
    its Karras grid (the flow's, 100 uniform steps in τ, is ≈ 6e-4 against 4,000 steps).
    """
    mix, c = toy.mixture_2d(), 1
    tau0, t_end = 0.02, 1e-4
    tau_end = tau_from_t(torch.tensor(t_end, dtype=F64)).item()
    x_start = (1 - tau0) * points(n=50, d=2, seed=8) / 2                     # x_τ0 = (1 − τ0)·x₀: noise only
    flow = sample_heun(exact.cfg_velocity(mix, c, w), x_start, tau_grid(100, tau0, tau_end)) / tau_end
    ts = karras_ts(t_from_tau(torch.tensor(tau0, dtype=F64)).item(), t_end, 200)
    pf = sample_ode_heun(cfg_denoisers(mix.denoise, mix.condition(c).denoise, w), x_start / tau0, ts)
    deviation = (flow - pf).abs().max().item()
    assert deviation < 1e-2, deviation
    # the comparison discriminates: Ho & Salimans' w' = w (our w + 1) gives other samples
    other = sample_heun(exact.cfg_velocity(mix, c, w + 1), x_start, tau_grid(100, tau0, tau_end)) / tau_end
    assert (other - pf).abs().max() > 50 * deviation


# -- 6. the loss and the network wrapper ----------------------------------------------------------

class ExactVelocityModel:
    """The exact velocity of a 1-D mixture, shaped like an image network: (n, 1, 1, 1), τ (n,)."""

    def __init__(self, velocity, shift=None):
        self.velocity, self.shift = velocity, shift

    def __call__(self, x, tau, labels):
        u = self.velocity(x.reshape(-1, 1), tau).reshape(x.shape)
        return u if self.shift is None else u + self.shift(x, tau.reshape(-1, 1, 1, 1))


@pytest.mark.seed("004-02")
def test_fm_loss_is_minimised_by_the_exact_velocity():
    """L(u + δ) − L(u) = E[δ²] + 2·E[(u − (x₁ − x₀))·δ]; the cross term vanishes for every δ iff u = E[x₁ − x₀ | x_τ]."""
    mix, n = toy.mixture_1d(), 100_000
    x1 = mix.sample(n, generator=torch.Generator().manual_seed(9)).reshape(n, 1, 1, 1)
    labels = torch.zeros(n, dtype=torch.long)
    loss = lambda model: fm_loss(model, x1, labels, torch.Generator().manual_seed(10)).item()  # same draws
    g = torch.Generator().manual_seed(10)                     # fm_loss's draws: x₀, then τ (next test)
    x0, tau = torch.randn(x1.shape, generator=g), torch.rand(n, generator=g)
    x_tau, tau4 = straight_path(x0, x1, tau), tau.view(-1, 1, 1, 1)
    u = exact.velocity(mix)
    residual = ExactVelocityModel(u)(x_tau, tau, labels) - (x1 - x0)
    best = loss(ExactVelocityModel(u))
    torch.testing.assert_close(best, residual.pow(2).mean().item())
    shifts = {"constant": lambda x, tau: 0.2 + 0 * x, "linear": lambda x, tau: 0.1 * x,
              "time": lambda x, tau: 0.3 * (tau - 0.5) + 0 * x}
    for name, shift in shifts.items():
        delta = shift(x_tau, tau4)
        gap = loss(ExactVelocityModel(u, shift)) - best
        cross = 2 * residual * delta                          # per-sample cross term, mean 0 at the minimiser
        se = cross.std().item() / math.sqrt(n)
        assert gap > 0 and abs(gap - delta.pow(2).mean().item()) < 4 * se + 1e-9, (name, gap, se)
    # a dropped a_τ (u = x/τ + ∇ ln p_τ) and a swapped clock (u(x, 1 − τ)) are far from the minimiser
    no_a = ExactVelocityModel(lambda x, tau: x / tau[:, None].clamp_min(1e-4)
                              + exact.score(mix, x, tau))
    swapped = ExactVelocityModel(lambda x, tau: u(x, 1 - tau))
    assert loss(no_a) > best + 0.5 and loss(swapped) > best + 0.5


@pytest.mark.seed("001-17", "004-12")
def test_fm_loss_draws_and_label_dropout():
    seen = {}

    class Recorder(torch.nn.Module):
        class config:
            num_classes = 10

        def forward(self, x, tau, labels):
            seen.update(x=x, tau=tau, labels=labels)
            return torch.zeros_like(x)

    x1 = torch.randn(256, 1, 4, 4, generator=torch.Generator().manual_seed(11))
    labels = torch.arange(256) % 10
    value = fm_loss(Recorder(), x1, labels, torch.Generator().manual_seed(12))
    g = torch.Generator().manual_seed(12)
    x0, tau = torch.randn(x1.shape, generator=g), torch.rand(256, generator=g)      # x₀ first, then τ
    torch.testing.assert_close(seen["x"], straight_path(x0, x1, tau))
    torch.testing.assert_close(value, (x1 - x0).pow(2).mean())                       # target x₁ − x₀
    assert torch.equal(seen["labels"], labels)                                       # p_uncond = 0
    fm_loss(Recorder(), x1, labels, torch.Generator().manual_seed(12), p_uncond=1.0)
    assert bool((seen["labels"] == 10).all())                                        # all dropped to ∅
    fm_loss(Recorder(), x1, labels, torch.Generator().manual_seed(12), p_uncond=0.3)
    assert 0.2 < (seen["labels"] == 10).float().mean().item() < 0.4


@pytest.mark.seed("004-12")
def test_cfg_velocity_net_one_batched_call():
    from tempguide.models import FlowUNet, UNetConfig      # tests may import the models; tempguide.flow may not

    net = FlowUNet(UNetConfig(channels=(8, 16, 16), emb_dim=16, num_classes=10)).double().eval()
    calls = []
    counted = lambda x, tau, labels: calls.append(len(x)) or net(x, tau, labels)    # noqa: E731
    counted.config = net.config
    g = torch.Generator().manual_seed(13)
    x, c = torch.randn(3, 1, 28, 28, dtype=F64, generator=g), torch.tensor([0, 4, 9])
    for w in (0.0, 1.0, 3.0):
        calls.clear()
        with torch.no_grad():
            guided = cfg_velocity_net(counted, w)(x, torch.tensor(0.4, dtype=F64), c)
            u_c, u_null = net(x, 0.4, c), net(x, 0.4, torch.full_like(c, 10))
        assert calls == [6]                                                          # one call on [x; x]
        torch.testing.assert_close(guided, (1 - w) * u_null + w * u_c, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="labels are required"):
        cfg_velocity_net(net, 3.0)(x, 0.4)
    with pytest.raises(ValueError, match="w must be a finite number"):
        cfg_velocity_net(net, float("nan"))
    with pytest.raises(ValueError, match="w must be a finite number"):
        cfg_velocities(gaussian_velocity, gaussian_velocity, float("inf"))
