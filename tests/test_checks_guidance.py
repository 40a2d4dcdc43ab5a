"""tempguide.checks.guidance: accepts correct implementations (written here from the formulas, not from the
library), rejects the realistic mistakes at the case that shows them, and its closed forms are exact."""
import math

import pytest
import torch

from tempguide import checks, toy
from tempguide.checks import guidance as cg
from tempguide.checks._toys import _RecordingEpsNet
from tempguide.diffusion import eps_from_denoiser, geometric_ts, sample_ode_heun
from tempguide.guidance import classifier_guided

F64 = dict(dtype=torch.float64)


# --- independent implementations ------------------------------------------------------------------

def _grad_log_prob(log_prob, z, t, labels):
    """∇_z ln p_t(c_b | z_b), one autograd call per example (the definition, no batching tricks)."""
    rows = []
    for b in range(z.shape[0]):
        t_b = t[b] if isinstance(t, torch.Tensor) and t.ndim else t
        with torch.enable_grad():
            z_b = z[b:b + 1].detach().clone().requires_grad_(True)
            lp = log_prob(z_b, t_b.reshape(1) if isinstance(t_b, torch.Tensor) else t_b)[0, int(labels[b])]
            rows.append(torch.autograd.grad(lp, z_b)[0])
    return torch.cat(rows)


def _t_column(t, z):
    t = torch.as_tensor(t, dtype=z.dtype)
    return t.reshape(-1, 1) if t.ndim else t


def guided_ok(denoiser, log_prob, labels, gamma, *, power=1.0, sign=1.0, per_example_t=True):
    """D + γ·t·∇ ln p_t(c|z); ``power``/``sign``/``per_example_t`` build the wrong variants."""
    def D_gamma(z, t):
        t_used = t if per_example_t or not (isinstance(t, torch.Tensor) and t.ndim) else t.mean()
        grad = _grad_log_prob(log_prob, z, t_used, labels)
        return denoiser(z, t) + sign * gamma * _t_column(t_used, z) ** power * grad
    return D_gamma


def guided_without_enable_grad(denoiser, log_prob, labels, gamma):
    def D_gamma(z, t):
        z_ = z.detach().requires_grad_(True)
        lp = log_prob(z_, t).gather(1, torch.as_tensor(labels)[:, None]).sum()
        return denoiser(z, t) + gamma * _t_column(t, z) * torch.autograd.grad(lp, z_)[0]
    return D_gamma


def guided_broadcast_bug(denoiser, log_prob, labels, gamma):
    """t (B,) multiplied into (B, d) without reshaping: silently wrong when B = d, an error otherwise."""
    def D_gamma(z, t):
        return denoiser(z, t) + gamma * torch.as_tensor(t, dtype=z.dtype) * _grad_log_prob(log_prob, z, t, labels)
    return D_gamma


def eps_ok(eps_net, log_prob, gamma, *, chain_rule=True, power=0.5, sign=1.0):
    """ε̂(z̄) − γ·√t·∇_z ln p_t(c|z) at z = z̄·√(1+t) (derived: ∇_z̄ = √(1+t)∇_z, √(1−ᾱ) = √(t/(1+t)))."""
    def eps_tilde(z_bar, t, labels):
        tc = _t_column(t, z_bar)
        grad_z = _grad_log_prob(log_prob, z_bar * (1 + tc).sqrt(), t, labels)
        factor = tc ** power if chain_rule else (tc / (1 + tc)).sqrt()   # the wrong one forgets ∇_z̄ = √(1+t)∇_z
        with torch.no_grad():
            return eps_net(z_bar, t) - sign * gamma * factor * grad_z
    return eps_tilde


def cfg_ok(eps_net, w, null_label, *, null_first=False):
    """One call on [z̄; z̄]; labels [c; ∅] (or [∅; c], also correct)."""
    def eps_w(z_bar, t, labels):
        t = torch.as_tensor(t)
        t2 = torch.cat([t, t]) if t.ndim else t
        null = torch.full_like(labels, null_label)
        both = torch.cat([null, labels] if null_first else [labels, null])
        eps = eps_net(torch.cat([z_bar, z_bar]), t2, both)
        eps_u, eps_c = eps.chunk(2) if null_first else eps.chunk(2)[::-1]
        return eps_u + w * (eps_c - eps_u)
    return eps_w


def cfg_two_calls(eps_net, w, null_label):
    def eps_w(z_bar, t, labels):
        eps_c, eps_u = eps_net(z_bar, t, labels), eps_net(z_bar, t, torch.full_like(labels, null_label))
        return eps_u + w * (eps_c - eps_u)
    return eps_w


def cfg_swapped(eps_net, w, null_label):
    """Labels [∅; c] in the call but chunked as if they were [c; ∅]."""
    def eps_w(z_bar, t, labels):
        t = torch.as_tensor(t)
        eps_c, eps_u = eps_net(torch.cat([z_bar, z_bar]), torch.cat([t, t]) if t.ndim else t,
                               torch.cat([torch.full_like(labels, null_label), labels])).chunk(2)
        return eps_u + w * (eps_c - eps_u)
    return eps_w


def cfg_t_not_repeated(eps_net, w, null_label):
    def eps_w(z_bar, t, labels):
        both = torch.cat([labels, torch.full_like(labels, null_label)])
        eps_c, eps_u = eps_net(torch.cat([z_bar, z_bar]), t, both).chunk(2)
        return eps_u + w * (eps_c - eps_u)
    return eps_w


def target_ok(mu_c, s2_c, mu_u, s2_u, w):
    """Complete the square in w·ln N(μ_c, s_c²) + (1−w)·ln N(μ_∅, s_∅²)."""
    a = w / (2 * s2_c) + (1 - w) / (2 * s2_u)       # coefficient of y²
    b = w * mu_c / s2_c + (1 - w) * mu_u / s2_u     # coefficient of y
    return b / (2 * a), 1 / (2 * a)


def ode_variance_ok(s2_c, s2_u, w, t0, tN):
    """exp ∫_{t0}^{tN} λ(t) dt · t0 with the integral of λ = w/(s_c²+t) + (1−w)/(s_∅²+t) written out."""
    log_ratio = w * (math.log(s2_c + tN) - math.log(s2_c + t0)) + (1 - w) * (math.log(s2_u + tN) - math.log(s2_u + t0))
    return t0 * math.exp(log_ratio)


CORRECT = [
    (checks.check_classifier_guided, guided_ok),
    (checks.check_classifier_guided, classifier_guided),
    (checks.check_eps_correction, eps_ok),
    (checks.check_cfg_eps, cfg_ok),
    (checks.check_cfg_eps, lambda n, w, u: cfg_ok(n, w, u, null_first=True)),
    (checks.check_cfg_target, target_ok),
    (checks.check_cfg_ode_variance, ode_variance_ok),
]


@pytest.mark.parametrize("check, fn", CORRECT, ids=lambda x: getattr(x, "__name__", ""))
@pytest.mark.parametrize("seed", [0, 1])
def test_correct_implementations_pass(check, fn, seed):
    result = check(fn, seed=seed, verbose=False)
    assert result and not result.not_implemented, result.report
    assert result.cases >= 15


WRONG = [
    (checks.check_classifier_guided, lambda D, lp, c, g: guided_ok(D, lp, c, g, power=0.5),
     "gamma = 1 is the exact conditional", "values differ"),                                         # γ·√t
    (checks.check_classifier_guided, lambda D, lp, c, g: guided_ok(D, lp, c, g, sign=-1.0),
     "gamma = 1", "values differ"),                                                                  # wrong sign
    (checks.check_classifier_guided, lambda D, lp, c, g: guided_ok(D, lp, c, g, per_example_t=False),
     "per-example t (B,)", "values differ"),                                                         # one t for all
    (checks.check_classifier_guided, guided_broadcast_bug, "per-example t (B,)", "shape"),
    (checks.check_classifier_guided, guided_without_enable_grad, "torch.no_grad()", "raised RuntimeError"),
    (checks.check_classifier_guided, lambda D, lp, c, g: (lambda z, t: D(z, t)), "gamma = 1", "values differ"),
    (checks.check_eps_correction, lambda n, lp, g: eps_ok(n, lp, g, power=1.0), "gamma = 1", "values differ"),
    (checks.check_eps_correction, lambda n, lp, g: eps_ok(n, lp, g, sign=-1.0), "gamma = 1", "values differ"),
    (checks.check_eps_correction, lambda n, lp, g: eps_ok(n, lp, g, chain_rule=False), "gamma = 1", "values differ"),
    (checks.check_cfg_eps, cfg_two_calls, "w = 1", "called 2 times"),
    (checks.check_cfg_eps, cfg_swapped, "w = 1", "values differ"),
    (checks.check_cfg_eps, lambda n, w, u: cfg_ok(n, w, 0), "w = 0 is the unconditional", "values differ"),
    (checks.check_cfg_eps, lambda n, w, u: cfg_ok(n, 1 + w, u), "w = 1", "values differ"),   # Ho & Salimans' w
    (checks.check_cfg_eps, cfg_t_not_repeated, "per-example t (B,)", "raised ValueError"),
    (checks.check_cfg_target, lambda mc, sc, mu, su, w: (w * mc + (1 - w) * mu, target_ok(mc, sc, mu, su, w)[1]),
     "w = 3", "mean"),                                                                    # means mixed, not precisions
    (checks.check_cfg_target, lambda mc, sc, mu, su, w: (target_ok(mc, sc, mu, su, w)[0], w * sc + (1 - w) * su),
     "w = 3", "variance"),
    (checks.check_cfg_ode_variance, lambda sc, su, w, t0, tN: target_ok(0, sc, 0, su, w)[1], "w = 1", "variance"),
    (checks.check_cfg_ode_variance, lambda sc, su, w, t0, tN: t0 * (ode_variance_ok(sc, su, w, t0, tN) / t0) ** 2,
     "w = 1", "variance"),                                                        # dv/dt = 2λv: the SDE's drift
]


@pytest.mark.parametrize("check, fn, case, problem", WRONG)
def test_wrong_implementations_fail_at_the_telling_case(check, fn, case, problem, capsys):
    result = check(fn)
    printed = capsys.readouterr().out
    assert not result and not result.not_implemented
    assert case in result.report and problem in result.report and "input:" in result.report, result.report
    assert printed.strip() == result.report


def test_swapped_labels_are_caught_at_w_1_by_value():
    """Labels [∅; c] chunked as [c; ∅]: at w = 1 the result is ε_∅ instead of ε_c, so the very first case fails."""
    result = checks.check_cfg_eps(cfg_swapped, verbose=False)
    assert result.cases == 1


# --- the network input was x in older scaffolds, now z_bar (issue 17) -------------------------------

def positional_only(make):
    """``make``'s guided network with the old scaffolds' parameter name x, callable only positionally."""
    def outer(*args):
        guided = make(*args)

        def eps(x, t, labels, /):
            return guided(x, t, labels)
        return eps
    return outer


def eps_keyword_x(eps_net, log_prob, gamma):
    """An older solution that calls the network by the keyword x (correct otherwise)."""
    eps_tilde = eps_ok(lambda z_bar, t: eps_net(x=z_bar, t=t), log_prob, gamma)
    return lambda z_bar, t, labels: eps_tilde(z_bar, t, labels)


def cfg_keyword_x(eps_net, w, null_label):
    """An older solution that calls the network by the keywords x, t and labels (correct otherwise)."""
    return cfg_ok(lambda z_bar, t, labels: eps_net(x=z_bar, t=t, labels=labels), w, null_label)


@pytest.mark.parametrize("check, make", [(checks.check_eps_correction, eps_ok), (checks.check_cfg_eps, cfg_ok)])
def test_checks_call_the_guided_network_positionally(check, make):
    """Whatever the student named the input (x before the rename, z_bar now), the checks pass it by position."""
    result = check(positional_only(make), verbose=False)
    assert result and not result.not_implemented, result.report


@pytest.mark.parametrize("check, fn", [(checks.check_eps_correction, eps_keyword_x),
                                       (checks.check_cfg_eps, cfg_keyword_x)])
def test_the_networks_still_accept_the_old_keyword_x_with_a_warning(check, fn):
    with pytest.warns(DeprecationWarning, match="keyword 'x' is deprecated, use 'z_bar'"):
        result = check(fn, verbose=False)
    assert result and not result.not_implemented, result.report
    assert result.cases >= 15


def test_a_wrong_network_call_still_fails_with_the_recording_network():
    """The recording network counts calls made with the old keyword too: two calls by x= are still refused."""
    def two_calls_by_keyword(eps_net, w, null_label):
        return cfg_two_calls(lambda z_bar, t, labels: eps_net(x=z_bar, t=t, labels=labels), w, null_label)

    with pytest.warns(DeprecationWarning):
        result = checks.check_cfg_eps(two_calls_by_keyword, verbose=False)
    assert not result and "called 2 times" in result.report, result.report


@pytest.mark.parametrize("check", [checks.check_classifier_guided, checks.check_eps_correction, checks.check_cfg_eps,
                                   checks.check_cfg_target, checks.check_cfg_ode_variance])
def test_not_implemented_is_reported_as_such(check, capsys):
    def student(*args, **kwargs):
        raise NotImplementedError("later")

    result = check(student)
    assert not result and result.not_implemented and result.cases == 1
    assert "student is not implemented yet" in capsys.readouterr().out


def test_recording_network_is_exact_and_counts_calls():
    """The CFG check's network: label c gives ε of p(y|c), the null label ε of p(y), one record per call."""
    mix = toy.mixture_2d()
    net = _RecordingEpsNet(mix, "toy.mixture_2d()")
    z_bar, t = torch.randn(5, 2, generator=torch.Generator().manual_seed(0), **F64), torch.tensor(0.7, **F64)
    labels = torch.tensor([0, 2, 1, 2, 0])
    got = net(z_bar, t, labels)
    for b, c in enumerate(labels.tolist()):
        D = mix.denoise if c == 2 else mix.condition(c).denoise
        assert torch.allclose(got[b:b + 1], eps_from_denoiser(D)(z_bar[b:b + 1], t), atol=1e-12)
    assert net.calls == [5] and net.config.num_classes == 2


def test_check_cases_gamma_1_is_the_exact_conditional_denoiser():
    """The first case of check_classifier_guided says γ = 1 is E[y | z, c]: Bayes' rule on the exact toy."""
    mix = toy.mixture_1d()
    z = torch.linspace(-4, 4, 41, **F64)[:, None]
    for t in (0.01, 1.0, 9.0):
        D1 = classifier_guided(mix.denoise, lambda z, t: mix.class_posterior(z, t).log(), 1, 1.0)(z, t)
        assert torch.allclose(D1, mix.condition(1).denoise(z, t), atol=1e-10)


@pytest.mark.parametrize("w", [0.0, 0.5, 1.0, 3.0])
def test_cfg_target_reference_against_a_grid(w):
    """Mean and variance of the normalised p(y|c)^w p(y)^(1−w) on a fine grid."""
    mu_c, s2_c, mu_u, s2_u = 2.0, 0.25, -0.5, 1.5
    y = torch.linspace(-15, 15, 300001, **F64)
    log_q = w * (-(y - mu_c) ** 2 / (2 * s2_c)) + (1 - w) * (-(y - mu_u) ** 2 / (2 * s2_u))
    q = torch.softmax(log_q, 0)
    mean = float((q * y).sum())
    var = float((q * (y - mean) ** 2).sum())
    m, v = cg.cfg_target_reference(mu_c, s2_c, mu_u, s2_u, w)
    assert abs(m - mean) < 1e-8 and abs(v - var) < 1e-8


@pytest.mark.parametrize("w", [0.0, 1.0, 3.0, -0.5])
def test_cfg_ode_variance_reference_against_heun(w):
    """The guided PF-ODE on the Gaussian pair is affine in its start: z_N = A z_0 + b, so v_N = A² t0."""
    mu_c, s2_c, mu_u, s2_u, t0, tN = 2.0, 0.25, -0.5, 1.5, 100.0, 0.001
    pc, pu = toy.GaussianMixture([1.0], [[mu_c]], [s2_c ** 0.5]), toy.GaussianMixture([1.0], [[mu_u]], [s2_u ** 0.5])
    D_w = lambda z, t: pu.denoise(z, t) + w * (pc.denoise(z, t) - pu.denoise(z, t))  # noqa: E731
    z_N = sample_ode_heun(D_w, torch.tensor([[0.0], [1.0]], **F64), geometric_ts(t0, tN, 2000))
    A = float(z_N[1, 0] - z_N[0, 0])
    expected = cg.cfg_ode_variance_reference(s2_c, s2_u, w, t0, tN)
    assert abs(A * A * t0 - expected) < 1e-4 * expected          # Heun, 2000 steps: ~2e-5 relative
    if w > 1:  # the guided ODE is sharper than the target it is meant to sample
        assert expected < cg.cfg_target_reference(mu_c, s2_c, mu_u, s2_u, w)[1]


def test_cfg_target_refuses_an_improper_target():
    with pytest.raises(ValueError, match="not normalisable"):
        cg.cfg_target_reference(0.0, 2.0, 0.0, 1.0, 3.0)   # precision 3/2 − 2/1 < 0
