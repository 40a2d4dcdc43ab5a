"""Instant feedback for homeworks 3 and 4 (classifier and classifier-free guidance) against the reference.

Same contract as ``tempguide.checks.lm``: each ``check_*`` runs edge cases and
random inputs on the exact toys, prints the first failing input with what was
expected and what came back, and returns a truthy ``CheckResult`` when every
case passed.

- ``check_classifier_guided(fn)``: ``fn(denoiser, log_prob, labels, gamma) -> denoiser``,
  D_γ(z, t) = D(z, t) + γ · t · ∇_z ln p_t(c | z); reference
  ``tempguide.guidance.classifier_guided``.  Called at a float t, a 0-dim t, a per-example t (B,)
  and inside ``torch.no_grad()``; γ = 0, 1 and more.
- ``check_eps_correction(fn)``: ``fn(eps_net, log_prob, gamma) -> eps_tilde(z_bar, t, labels)``,
  Algorithm 2: ε̃ = ε̂(z̄, t) − γ · √(1 − ᾱ) · ∇_z̄ ln p(c | z̄) with z̄ = z/√(1+t), 1 − ᾱ = t/(1+t);
  reference ``tempguide.guidance.eps_classifier_guided``.
- ``check_cfg_eps(fn)``: ``fn(eps_net, w, null_label) -> eps_w(z_bar, t, labels)``, the batched
  classifier-free-guidance ε-network ε̂_∅ + w · (ε̂_c − ε̂_∅) with ONE network call on [z̄; z̄]
  (labels [c; ∅]); reference ``tempguide.guidance.cfg_eps``.  A recording network counts the calls.
- ``check_cfg_target(fn)``: ``fn(mu_c, s2_c, mu_u, s2_u, w) -> (mean, variance)`` of the intended
  target p(y | c)^w p(y)^{1−w} for p(y | c) = N(μ_c, s_c²), p(y) = N(μ_∅, s_∅²) (1-D); reference
  ``tempguide.guidance.gaussian_pair.target``.
- ``check_cfg_ode_variance(fn)``: ``fn(s2_c, s2_u, w, t0, tN) -> float``, the variance at t_N of the
  CFG-guided probability-flow ODE on that pair, started from N(0, t0) at t0; reference
  ``tempguide.guidance.gaussian_pair.cfg_law``.

Every check calls the student's functions (and the networks they return) with positional
arguments, so a parameter may have any name: ``eps_tilde(x, t, labels)`` from an older scaffold,
written when the network input z̄ (``z_bar``, book: "Notation") was still called x, passes too.

``log_prob(z, t)`` returns (B, C) class log-probabilities at noise variance t, e.g.
``lambda z, t: mix.class_posterior(z, t).log()`` on a toy.  Book: "Homework", and the chapters
"Classifier guidance" and "Classifier-free guidance".
"""
from __future__ import annotations

import math

import torch

from .. import toy
from ..diffusion.adapters import eps_from_denoiser
from ..guidance import cfg_eps, classifier_guided, eps_classifier_guided
from ..guidance.gaussian_pair import GaussianPair, cfg_law, target
from ._core import CheckResult, _compare_tensors, _finish, _run
from ._toys import _LinearClassifier, _NamedNet, _RecordingEpsNet, _toys

__all__ = ["CheckResult", "check_classifier_guided", "check_eps_correction", "check_cfg_eps", "check_cfg_target",
           "check_cfg_ode_variance", "cfg_target_reference", "cfg_ode_variance_reference"]

_F64 = dict(dtype=torch.float64)


def _call_note(result: CheckResult, cases: list, call: str) -> CheckResult:
    """Say how the check called the function, and what ``no_grad=True`` means when that case failed."""
    if not result and not result.not_implemented:
        result.report += f"\n  (the check calls {call}"
        if cases[result.cases - 1][1]["no_grad"]:
            result.report += ("; `no_grad=True` means inside `with torch.no_grad():`, as a sampler may: "
                              "take your gradient inside `with torch.enable_grad():`")
        result.report += ")"
    return result


# --- classifier guidance --------------------------------------------------------------------------

def check_classifier_guided(fn, *, seed: int = 0, n_random: int = 12, verbose: bool = True) -> CheckResult:
    """Check ``fn(denoiser, log_prob, labels, gamma)(z, t)`` against ``classifier_guided`` on the exact toys."""
    g = torch.Generator().manual_seed(seed)
    (mix1, D1, lp1), (mix2, D2, lp2) = _toys()
    z1 = torch.tensor([[-3.0], [-0.5], [0.3], [2.5]], **_F64)
    z2 = torch.tensor([[0.0, 1.0], [3.0, -2.0], [-1.0, -1.0]], **_F64)
    one = torch.ones(4, dtype=torch.long)
    cases = [
        ("gamma = 1 is the exact conditional denoiser E[y | z, c]",
         dict(denoiser=D1, log_prob=lp1, labels=one, gamma=1.0, z=z1, t=2.0, no_grad=False)),
        ("gamma = 0 is the unguided denoiser", dict(denoiser=D1, log_prob=lp1, labels=one, gamma=0.0, z=z1, t=1.0,
                                                   no_grad=False)),
        ("gamma = 4, towards class 0", dict(denoiser=D1, log_prob=lp1, labels=0 * one, gamma=4.0, z=z1, t=2.0,
                                            no_grad=False)),
        ("small t: guidance fades as t -> 0", dict(denoiser=D1, log_prob=lp1, labels=one, gamma=3.0, z=z1, t=0.01,
                                                  no_grad=False)),
        ("large t", dict(denoiser=D1, log_prob=lp1, labels=one, gamma=2.0, z=4 * z1, t=25.0, no_grad=False)),
        ("t as a 0-dim tensor (as samplers pass it)",
         dict(denoiser=D1, log_prob=lp1, labels=one, gamma=2.0, z=z1, t=torch.tensor(0.5, **_F64), no_grad=False)),
        ("a 2-D mixture, one class per example",
         dict(denoiser=D2, log_prob=lp2, labels=torch.tensor([0, 1, 1]), gamma=2.5, z=z2, t=1.5, no_grad=False)),
        ("per-example t (B,): each example at its own noise level",
         dict(denoiser=D1, log_prob=lp1, labels=one, gamma=2.0, z=z1, t=torch.tensor([0.1, 1.0, 4.0, 9.0], **_F64),
              no_grad=False)),
        ("per-example t (B,) with B = d = 2",
         dict(denoiser=D2, log_prob=lp2, labels=torch.tensor([1, 0]), gamma=1.5, z=z2[:2],
              t=torch.tensor([0.2, 3.0], **_F64), no_grad=False)),
        ("called inside torch.no_grad()", dict(denoiser=D1, log_prob=lp1, labels=one, gamma=2.0, z=z1, t=1.0,
                                               no_grad=True)),
    ]
    for i in range(n_random):
        mix, D, lp = [(mix1, D1, lp1), (mix2, D2, lp2)][i % 2]
        B = int(torch.randint(1, 7, (1,), generator=g))
        t = float(torch.empty(1).uniform_(0.01, 10.0, generator=g))
        if i % 3 == 2:  # a classifier that is not the exact posterior
            lp = _LinearClassifier(torch.randn(3, mix.dim, generator=g, **_F64), torch.randn(3, generator=g, **_F64))
        C = 3 if isinstance(lp, _LinearClassifier) else mix.num_classes
        cases.append(("random", dict(denoiser=D, log_prob=lp, labels=torch.randint(0, C, (B,), generator=g),
                                     gamma=float(torch.empty(1).uniform_(0.0, 8.0, generator=g)),
                                     z=3 * torch.randn(B, mix.dim, generator=g, **_F64),
                                     t=t if i % 4 else t * torch.rand(B, generator=g, **_F64) + 0.01, no_grad=i % 5 == 0)))

    def reference(denoiser, log_prob, labels, gamma, z, t, no_grad):
        return classifier_guided(denoiser, log_prob, labels, gamma)(z, t)

    def applied(denoiser, log_prob, labels, gamma, z, t, no_grad):
        D_gamma = fn(denoiser, log_prob, labels, gamma)
        if no_grad:
            with torch.no_grad():
                return D_gamma(z, t)
        return D_gamma(z, t)

    applied.__name__ = getattr(fn, "__name__", "fn")
    result = _run("classifier guidance", applied, cases, reference, _compare_tensors, verbose=False)
    return _finish(_call_note(result, cases, f"{applied.__name__}(denoiser, log_prob, labels, gamma)(z, t)"), verbose)


def check_eps_correction(fn, *, seed: int = 0, n_random: int = 12, verbose: bool = True) -> CheckResult:
    """Check Algorithm 2 ``fn(eps_net, log_prob, gamma)(z_bar, t, labels)`` against ``eps_classifier_guided``.

    ``eps_net(z_bar, t)`` is the exact ε-network of a toy (``eps_from_denoiser(mix.denoise)``), z̄ = z/√(1+t).
    """
    g = torch.Generator().manual_seed(seed)
    nets = []
    for mix, D, lp in _toys():
        nets.append((mix, _NamedNet(eps_from_denoiser(mix.denoise), f"eps_from_denoiser({D!r})"), lp))
    (mix1, E1, lp1), (mix2, E2, lp2) = nets
    z_bar1 = torch.tensor([[-2.0], [-0.3], [0.2], [1.5]], **_F64)
    z_bar2 = torch.tensor([[0.5, 1.0], [1.0, -1.0], [-1.0, -0.5]], **_F64)
    one = torch.ones(4, dtype=torch.long)
    cases = [
        ("gamma = 0 is the unguided network", dict(eps_net=E1, log_prob=lp1, gamma=0.0, z_bar=z_bar1, t=1.0, labels=one,
                                                  no_grad=False)),
        ("gamma = 1", dict(eps_net=E1, log_prob=lp1, gamma=1.0, z_bar=z_bar1, t=2.0, labels=one, no_grad=False)),
        ("gamma = 4, towards class 0", dict(eps_net=E1, log_prob=lp1, gamma=4.0, z_bar=z_bar1, t=3.0, labels=0 * one,
                                            no_grad=False)),
        ("small t", dict(eps_net=E1, log_prob=lp1, gamma=2.0, z_bar=z_bar1, t=0.01, labels=one, no_grad=False)),
        ("large t (z̄ is almost pure noise)", dict(eps_net=E1, log_prob=lp1, gamma=2.0, z_bar=z_bar1, t=50.0,
                                                  labels=one, no_grad=False)),
        ("t as a 0-dim tensor (as samplers pass it)",
         dict(eps_net=E1, log_prob=lp1, gamma=2.0, z_bar=z_bar1, t=torch.tensor(0.5, **_F64), labels=one,
              no_grad=False)),
        ("a 2-D mixture", dict(eps_net=E2, log_prob=lp2, gamma=2.5, z_bar=z_bar2, t=1.5, labels=torch.tensor([0, 1, 1]),
                               no_grad=False)),
        ("per-example t (B,)", dict(eps_net=E1, log_prob=lp1, gamma=2.0, z_bar=z_bar1,
                                    t=torch.tensor([0.1, 1.0, 4.0, 9.0], **_F64), labels=one, no_grad=False)),
        ("per-example t (B,) with B = d = 2",
         dict(eps_net=E2, log_prob=lp2, gamma=1.5, z_bar=z_bar2[:2], t=torch.tensor([0.2, 3.0], **_F64),
              labels=torch.tensor([1, 0]), no_grad=False)),
        ("called inside torch.no_grad()", dict(eps_net=E1, log_prob=lp1, gamma=2.0, z_bar=z_bar1, t=1.0, labels=one,
                                               no_grad=True)),
    ]
    for i in range(n_random):
        mix, E, lp = nets[i % 2]
        B = int(torch.randint(1, 7, (1,), generator=g))
        t = float(torch.empty(1).uniform_(0.01, 10.0, generator=g))
        if i % 3 == 2:
            lp = _LinearClassifier(torch.randn(3, mix.dim, generator=g, **_F64), torch.randn(3, generator=g, **_F64))
        C = 3 if isinstance(lp, _LinearClassifier) else mix.num_classes
        cases.append(("random", dict(eps_net=E, log_prob=lp, gamma=float(torch.empty(1).uniform_(0.0, 8.0, generator=g)),
                                     z_bar=2 * torch.randn(B, mix.dim, generator=g, **_F64),
                                     t=t if i % 4 else t * torch.rand(B, generator=g, **_F64) + 0.01,
                                     labels=torch.randint(0, C, (B,), generator=g), no_grad=i % 5 == 0)))

    def reference(eps_net, log_prob, gamma, z_bar, t, labels, no_grad):
        return eps_classifier_guided(eps_net, log_prob, gamma)(z_bar, t, labels)

    def applied(eps_net, log_prob, gamma, z_bar, t, labels, no_grad):
        eps_tilde = fn(eps_net, log_prob, gamma)
        if no_grad:
            with torch.no_grad():
                return eps_tilde(z_bar, t, labels)
        return eps_tilde(z_bar, t, labels)

    applied.__name__ = getattr(fn, "__name__", "fn")
    result = _run("ε-correction (Algorithm 2)", applied, cases, reference, _compare_tensors, verbose=False)
    call = f"{applied.__name__}(eps_net, log_prob, gamma)(z_bar, t, labels), positionally"
    return _finish(_call_note(result, cases, call), verbose)


# --- classifier-free guidance ---------------------------------------------------------------------

def check_cfg_eps(fn, *, seed: int = 0, n_random: int = 10, verbose: bool = True) -> CheckResult:
    """Check ``fn(eps_net, w, null_label)(z_bar, t, labels)`` against ``cfg_eps`` and count the network's calls.

    The guided network must call ``eps_net(z_bar2, t2, labels2)`` exactly once per call, on twice the batch.
    """
    g = torch.Generator().manual_seed(seed)
    net1, net2 = _RecordingEpsNet(toy.mixture_1d(), "toy.mixture_1d()"), _RecordingEpsNet(toy.mixture_2d(),
                                                                                        "toy.mixture_2d()")
    z_bar1 = torch.tensor([[-2.0], [-0.3], [0.2], [1.5]], **_F64)
    z_bar2 = torch.tensor([[0.5, 1.0], [1.0, -1.0], [-1.0, -0.5]], **_F64)
    c1 = torch.tensor([1, 1, 0, 1])
    cases = [
        ("w = 1 is the conditional network", dict(eps_net=net1, w=1.0, null_label=2, z_bar=z_bar1, t=1.0, labels=c1)),
        ("w = 0 is the unconditional network (label ∅)", dict(eps_net=net1, w=0.0, null_label=2, z_bar=z_bar1, t=1.0,
                                                               labels=c1)),
        ("w = 3", dict(eps_net=net1, w=3.0, null_label=2, z_bar=z_bar1, t=2.0, labels=c1)),
        ("w = 7.5, small t", dict(eps_net=net1, w=7.5, null_label=2, z_bar=z_bar1, t=0.05, labels=c1)),
        ("t as a 0-dim tensor (as samplers pass it)",
         dict(eps_net=net1, w=2.0, null_label=2, z_bar=z_bar1, t=torch.tensor(0.5, **_F64), labels=c1)),
        ("a 2-D mixture", dict(eps_net=net2, w=4.0, null_label=2, z_bar=z_bar2, t=1.5, labels=torch.tensor([0, 1, 1]))),
        ("per-example t (B,): t must be repeated for the doubled batch",
         dict(eps_net=net1, w=2.0, null_label=2, z_bar=z_bar1, t=torch.tensor([0.1, 1.0, 4.0, 9.0], **_F64),
              labels=c1)),
        ("a batch of one", dict(eps_net=net2, w=2.0, null_label=2, z_bar=z_bar2[:1], t=1.0, labels=torch.tensor([1]))),
    ]
    for i in range(n_random):
        net, d = [(net1, 1), (net2, 2)][i % 2]
        B = int(torch.randint(1, 7, (1,), generator=g))
        t = float(torch.empty(1).uniform_(0.01, 10.0, generator=g))
        cases.append(("random", dict(eps_net=net, w=float(torch.empty(1).uniform_(-1.0, 8.0, generator=g)),
                                     null_label=2, z_bar=2 * torch.randn(B, d, generator=g, **_F64),
                                     t=t if i % 3 else t * torch.rand(B, generator=g, **_F64) + 0.01,
                                     labels=torch.randint(0, 2, (B,), generator=g))))

    def reference(eps_net, w, null_label, z_bar, t, labels):
        return cfg_eps(eps_net, w, uncond_label=null_label)(z_bar, t, labels)

    def applied(eps_net, w, null_label, z_bar, t, labels):
        eps_net.calls.clear()
        out = fn(eps_net, w, null_label)(z_bar, t, labels)
        return out, list(eps_net.calls)

    def compare(args, expected, got):
        out, calls = got
        B = args["z_bar"].shape[0]
        if len(calls) != 1:
            return (f"the network was called {len(calls)} times (batch sizes {calls}); call it ONCE on the "
                    f"batch [z̄; z̄] of size {2 * B} with labels [c; ∅]")
        if calls[0] != 2 * B:
            return f"the network was called on a batch of {calls[0]}, expected [z̄; z̄] of size {2 * B}"
        return _compare_tensors(args, expected, out)

    applied.__name__ = getattr(fn, "__name__", "fn")
    result = _run("classifier-free guidance ε-network", applied, cases, reference, compare, verbose=False)
    if not result and not result.not_implemented:
        result.report += (f"\n  (the check calls {applied.__name__}(eps_net, w, null_label)(z_bar, t, labels) "
                          "positionally; eps_net "
                          "is exact on the toy: label c gives ε of p(y | c), the null label ε of p(y))")
    return _finish(result, verbose)


# --- the Gaussian pair: closed forms for homework 4 -------------------------------------------------

def _pair(mu_c: float, s2_c: float, mu_u: float, s2_u: float) -> GaussianPair:
    return GaussianPair(mu_c, math.sqrt(s2_c), mu_u, math.sqrt(s2_u))


def cfg_target_reference(mu_c: float, s2_c: float, mu_u: float, s2_u: float, w: float) -> tuple[float, float]:
    """(mean, variance) of p(y | c)^w p(y)^{1−w}: ``tempguide.guidance.gaussian_pair.target`` in variances.

    Precisions add: 1/v = w/s_c² + (1 − w)/s_∅², m = v · (w μ_c/s_c² + (1 − w) μ_∅/s_∅²).
    """
    mean, variance = target(_pair(mu_c, s2_c, mu_u, s2_u), w)
    return float(mean[0]), float(variance)


def cfg_ode_variance_reference(s2_c: float, s2_u: float, w: float, t0: float, tN: float) -> float:
    """Variance at t_N of the CFG probability-flow ODE started from N(0, t0) at t0: ``gaussian_pair.cfg_law``.

    dv/dt = λ v with λ = w/(s_c² + t) + (1 − w)/(s_∅² + t), so
    v_N = t0 · ((s_c² + t_N)/(s_c² + t0))^w · ((s_∅² + t_N)/(s_∅² + t0))^{1−w}.
    """
    return cfg_law(_pair(0.0, s2_c, 0.0, s2_u), w, sampler="ode", t0=t0, tN=tN)[1]


def _positional(fn):
    """Call ``fn`` with the case's arguments in order (the student may name the parameters differently)."""
    def applied(**args):
        return fn(*args.values())
    applied.__name__ = getattr(fn, "__name__", "fn")
    return applied


def _compare_numbers(expected, got, names: tuple[str, ...]) -> str | None:
    expected = expected if isinstance(expected, tuple) else (expected,)
    try:
        got = tuple(float(v) for v in got) if isinstance(got, (tuple, list)) else (float(got),)
    except Exception:
        return f"returned a {type(got).__name__}, expected {' and '.join(names)} as float(s)"
    if len(got) != len(expected):
        return f"returned {len(got)} number(s), expected {len(expected)}: ({', '.join(names)})"
    for name, e, v in zip(names, expected, got):
        if not abs(v - e) <= 1e-8 + 1e-6 * abs(e):
            return f"{name}: expected {e:.8g}, got {v:.8g}"
    return None


def _pair_cases(g: torch.Generator, n_random: int) -> list:
    def u(lo, hi):
        return float(torch.empty(1).uniform_(lo, hi, generator=g))
    cases = []
    for _ in range(n_random):
        s2_c, s2_u = u(0.05, 2.0), u(0.05, 4.0)
        w_max = 8.0 if s2_c <= s2_u else 0.9 * s2_c / (s2_c - s2_u)   # keep w/s_c² + (1−w)/s_∅² > 0
        cases.append(dict(mu_c=u(-3, 3), s2_c=s2_c, mu_u=u(-3, 3), s2_u=s2_u, w=u(0.0, min(8.0, w_max))))
    return cases


def check_cfg_target(fn, *, seed: int = 0, n_random: int = 12, verbose: bool = True) -> CheckResult:
    """Check ``fn(mu_c, s2_c, mu_u, s2_u, w) -> (mean, variance)`` of p(y | c)^w p(y)^{1−w}."""
    cases = [
        ("w = 1 is p(y | c)", dict(mu_c=2.0, s2_c=0.25, mu_u=0.0, s2_u=1.0, w=1.0)),
        ("w = 0 is p(y)", dict(mu_c=2.0, s2_c=0.25, mu_u=0.0, s2_u=1.0, w=0.0)),
        ("w = 3", dict(mu_c=2.0, s2_c=0.25, mu_u=0.0, s2_u=1.0, w=3.0)),
        ("equal variances: only the mean moves", dict(mu_c=1.0, s2_c=0.5, mu_u=-1.0, s2_u=0.5, w=4.0)),
        ("w = 1/2", dict(mu_c=-1.0, s2_c=2.0, mu_u=3.0, s2_u=0.5, w=0.5)),
    ]
    cases += [("random", args) for args in _pair_cases(torch.Generator().manual_seed(seed), n_random)]
    return _run("CFG target p(y|c)^w p(y)^(1-w)", _positional(fn), cases, cfg_target_reference,
                lambda args, e, got: _compare_numbers(e, got, ("mean", "variance")), verbose)


def check_cfg_ode_variance(fn, *, seed: int = 0, n_random: int = 12, verbose: bool = True) -> CheckResult:
    """Check ``fn(s2_c, s2_u, w, t0, tN)`` = the guided probability-flow ODE's final variance (closed form)."""
    cases = [
        ("w = 1: the conditional ODE", dict(s2_c=0.25, s2_u=1.0, w=1.0, t0=100.0, tN=0.001)),
        ("w = 0: the unconditional ODE", dict(s2_c=0.25, s2_u=1.0, w=0.0, t0=100.0, tN=0.001)),
        ("w = 3", dict(s2_c=0.25, s2_u=1.0, w=3.0, t0=100.0, tN=0.001)),
        ("equal variances: w does not matter", dict(s2_c=0.5, s2_u=0.5, w=4.0, t0=50.0, tN=0.01)),
        ("a short run", dict(s2_c=2.0, s2_u=0.5, w=0.5, t0=3.0, tN=1.0)),
    ]
    g = torch.Generator().manual_seed(seed)
    for _ in range(n_random):
        t0 = float(torch.empty(1).uniform_(0.5, 500.0, generator=g))
        cases.append(("random", dict(s2_c=float(torch.empty(1).uniform_(0.05, 3.0, generator=g)),
                                     s2_u=float(torch.empty(1).uniform_(0.05, 3.0, generator=g)),
                                     w=float(torch.empty(1).uniform_(-1.0, 8.0, generator=g)), t0=t0,
                                     tN=t0 * float(torch.empty(1).uniform_(0.0, 0.9, generator=g)))))
    return _run("guided probability-flow ODE, final variance", _positional(fn), cases, cfg_ode_variance_reference,
                lambda args, e, got: _compare_numbers(e, got, ("variance",)), verbose)
