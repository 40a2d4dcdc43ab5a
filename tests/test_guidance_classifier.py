"""Classifier guidance (``tempguide.guidance.classifier``), exactly, in float64, on the toy mixtures.

With the exact noisy classifier p_t(c | z) of a labelled mixture, Bayes' rule makes
γ = 1 guidance the exact conditional denoiser E[y | z, c] = ``mixture.condition(c).denoise``,
and more generally D_γ = D + γ (D_c − D) (since t ∇ ln p_t(c | z) = D_c − D by Tweedie).
Every comparison below is pointwise, to rounding (rtol = atol = 1e-10 or tighter).
"""
import math

import pytest
import torch

from tempguide import toy
from tempguide.guidance import (classifier_gradient, classifier_guided, classifier_guided_x0, clean_log_prob,
                                noise_aware_log_prob)

F64 = dict(dtype=torch.float64)
EXACT = dict(rtol=1e-10, atol=1e-10)
MIXTURES = {"1d": toy.mixture_1d, "2d": toy.mixture_2d}
TS = [1e-3, 0.1, 1.0, 10.0, 100.0]


def exact_classifier(mixture):
    """The seed's exact noise-aware classifier: ln p_t(c | z) of the mixture (as the brief writes it)."""
    return lambda z, t: mixture.class_posterior(z, t).log()


def points(mixture, n=64, seed=0):
    """n points spread over the data and between the modes."""
    g = torch.Generator().manual_seed(seed)
    return 3.0 * torch.randn(n, mixture.dim, generator=g, **F64)


def mixed_labels(mixture, n):
    return torch.arange(n) % mixture.num_classes


def conditional_denoiser(mixture, z, t, labels):
    """Row b: E[y | z_b, c_b] at noise level t (a number) or t_b (t of shape (n,))."""
    t = torch.as_tensor(t, **F64)
    out = torch.empty_like(z)
    for c in range(mixture.num_classes):
        rows = labels == c
        out[rows] = mixture.condition(c).denoise(z[rows], t[rows] if t.ndim else t)
    return out


# -- γ = 1 is Bayes: the exact conditional denoiser ---------------------------------------------------
@pytest.mark.parametrize("name", MIXTURES)
@pytest.mark.parametrize("t", TS)
@pytest.mark.parametrize("c", [0, 1])
@pytest.mark.seed("000-19", "000-20", "002-05")
def test_gamma_one_is_the_exact_conditional_denoiser(name, t, c):
    mix = MIXTURES[name]()
    z = points(mix)
    guided = classifier_guided(mix.denoise, exact_classifier(mix), c, 1.0)
    torch.testing.assert_close(guided(z, torch.tensor(t, **F64)), mix.condition(c).denoise(z, t), **EXACT)


@pytest.mark.parametrize("name", MIXTURES)
def test_gamma_one_with_mixed_labels_and_per_example_t(name):
    mix = MIXTURES[name]()
    z = points(mix, n=60)
    labels = mixed_labels(mix, 60)
    t = torch.logspace(-3, 2, 60, **F64)                       # one noise level per example
    guided = classifier_guided(mix.denoise, exact_classifier(mix), labels, 1.0)
    torch.testing.assert_close(guided(z, t), conditional_denoiser(mix, z, t, labels), **EXACT)
    for t0 in TS:                                               # and one scalar t for the mixed batch
        torch.testing.assert_close(guided(z, torch.tensor(t0, **F64)),
                                   conditional_denoiser(mix, z, t0, labels), **EXACT)


@pytest.mark.parametrize("name", MIXTURES)
@pytest.mark.parametrize("gamma", [-1.0, 0.5, 2.0, 7.0])
@pytest.mark.seed("000-20", "003-25")
def test_any_gamma_is_the_affine_combination_of_denoisers(name, gamma):
    """D_γ = D + γ (D_c − D): classifier guidance with the exact classifier is CFG with w = γ."""
    mix = MIXTURES[name]()
    z, labels, t = points(mix), mixed_labels(mix, 64), torch.logspace(-2, 2, 64, **F64)
    d, d_c = mix.denoise(z, t), conditional_denoiser(mix, z, t, labels)
    guided = classifier_guided(mix.denoise, exact_classifier(mix), labels, gamma)
    torch.testing.assert_close(guided(z, t), d + gamma * (d_c - d), **EXACT)


@pytest.mark.parametrize("name", MIXTURES)
def test_gamma_zero_is_the_unguided_denoiser_bit_for_bit(name):
    mix = MIXTURES[name]()
    z = points(mix)
    for t in [torch.tensor(1.0, **F64), torch.logspace(-2, 2, 64, **F64)]:
        guided = classifier_guided(mix.denoise, exact_classifier(mix), mixed_labels(mix, 64), 0.0)
        assert torch.equal(guided(z, t), mix.denoise(z, t))


def test_per_example_gamma_equals_one_call_per_gamma():
    mix = toy.mixture_2d()
    z, labels = points(mix, n=8), mixed_labels(mix, 8)
    gammas = torch.tensor([0.0, 1.0, 2.0, 4.0, 8.0, -1.0, 0.5, 3.0], **F64)
    for t in [torch.tensor(0.7, **F64), torch.logspace(-2, 1, 8, **F64)]:
        batched = classifier_guided(mix.denoise, exact_classifier(mix), labels, gammas)(z, t)
        for b, gamma in enumerate(gammas.tolist()):
            one = classifier_guided(mix.denoise, exact_classifier(mix), labels, gamma)(z, t)[b]
            torch.testing.assert_close(batched[b], one, rtol=1e-14, atol=1e-14)


def test_per_example_t_and_gamma_broadcast_over_image_shapes():
    """z of shape (B, C, H, W): t and γ of shape (B,) scale example b only (linear-logit classifier)."""
    g = torch.Generator().manual_seed(1)
    B, W = 3, torch.randn(4, 1 * 2 * 2, generator=g, **F64)   # 4 classes of flattened 1×2×2 images
    z = torch.randn(B, 1, 2, 2, generator=g, **F64)
    t, gammas = torch.tensor([0.1, 1.0, 10.0], **F64), torch.tensor([0.5, 1.0, 2.0], **F64)
    labels = torch.tensor([0, 3, 1])
    log_prob = lambda z, t: (z.flatten(1) @ W.T).log_softmax(-1)
    denoiser = lambda z, t: 0.5 * z
    out = classifier_guided(denoiser, log_prob, labels, gammas)(z, t)
    for b in range(B):
        p = log_prob(z[b:b + 1], None).exp()[0]
        grad = (W[labels[b]] - p @ W).reshape(1, 2, 2)           # ∇ ln softmax(W z)_c = W_c − Σ_k p_k W_k
        torch.testing.assert_close(out[b], 0.5 * z[b] + gammas[b] * t[b] * grad, **EXACT)


def test_works_under_no_grad_and_leaves_no_graph():
    mix = toy.mixture_2d()
    z = points(mix)
    guided = classifier_guided(mix.denoise, exact_classifier(mix), 1, 1.0)
    with torch.no_grad():
        out = guided(z, torch.tensor(0.5, **F64))
    assert not out.requires_grad
    torch.testing.assert_close(out, mix.condition(1).denoise(z, 0.5), **EXACT)


# -- the classifier's gradient --------------------------------------------------------------------------
@pytest.mark.parametrize("name", MIXTURES)
@pytest.mark.parametrize("t", TS)
@pytest.mark.seed("001-10")
def test_classifier_gradient_is_the_difference_of_scores(name, t):
    """∇ ln p_t(c | z) = ∇ ln p_t(z | c) − ∇ ln p_t(z): the class's mixture's score minus the whole one's."""
    mix = MIXTURES[name]()
    z = points(mix)
    for c in range(mix.num_classes):
        grad = classifier_gradient(exact_classifier(mix), z, torch.tensor(t, **F64), c)
        torch.testing.assert_close(grad, mix.condition(c).score(z, t) - mix.score(z, t), **EXACT)


def test_classifier_gradient_per_example_t_mixed_labels_and_no_grad():
    mix = toy.mixture_2d()
    z, labels, t = points(mix, n=40), mixed_labels(mix, 40), torch.logspace(-3, 2, 40, **F64)
    expected = torch.stack([mix.condition(int(c)).score(z[b:b + 1], t[b]) - mix.score(z[b:b + 1], t[b])
                            for b, c in enumerate(labels)])[:, 0]
    with torch.no_grad():
        grad = classifier_gradient(exact_classifier(mix), z, t, labels)
    torch.testing.assert_close(grad, expected, **EXACT)
    assert not z.requires_grad and z.grad is None


# -- adapters -------------------------------------------------------------------------------------------
class Recorder(torch.nn.Module):
    """A fake classifier(x, t) -> logits that records what it was shown."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x, t):
        self.calls.append((x.detach().clone(), t.clone() if isinstance(t, torch.Tensor) else t))
        return torch.stack([x.flatten(1).sum(1), -x.flatten(1).sum(1), torch.zeros(len(x), **F64)], 1)


def test_noise_aware_log_prob_shows_the_network_x_over_sqrt_one_plus_t_and_t():
    z = torch.randn(3, 1, 2, 2, generator=torch.Generator().manual_seed(0), **F64)
    for t in [torch.tensor(3.0, **F64), torch.tensor([0.0, 1.0, 8.0], **F64)]:
        net = Recorder()
        lp = noise_aware_log_prob(net)(z, t)
        (x, t_seen), = net.calls
        scale = (1 + t).sqrt().reshape(-1, 1, 1, 1) if t.ndim else (1 + t).sqrt()
        torch.testing.assert_close(x, z / scale, rtol=0, atol=0)           # x = z/√(1+t) = √ᾱ z
        torch.testing.assert_close(t_seen, t, rtol=0, atol=0)              # and t itself, unchanged
        torch.testing.assert_close(lp, net(x, t).log_softmax(-1), rtol=0, atol=0)
        torch.testing.assert_close(lp.exp().sum(-1), torch.ones(3, **F64))


def test_clean_log_prob_ignores_t():
    z = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), **F64)
    net = Recorder()
    lp = clean_log_prob(net, t_clean=1e-4)
    a, b = lp(z, torch.tensor(0.01, **F64)), lp(z, torch.tensor([5.0, 50.0, 500.0], **F64))
    assert torch.equal(a, b)
    for x, t_seen in net.calls:
        assert torch.equal(x, z) and t_seen == 1e-4                       # z as if clean, always at t_clean


# -- the x̂₀ variant: the gradient goes through the denoiser --------------------------------------------
def linear_softmax(W, b):
    return lambda y: (y @ W.T + b).log_softmax(-1)


def test_x0_guidance_on_one_gaussian_is_the_jacobian_transpose_times_the_clean_gradient():
    """One Gaussian N(μ, s² I): D = μ + s²/(s²+t)(z − μ), Jacobian J = s²/(s²+t) I;
    D_γ = ŷ + γ t Jᵀ ∇_y ln p(c | y)|_{y = ŷ} with a linear-logit clean classifier."""
    mu, s = torch.tensor([1.0, -0.5], **F64), 0.7
    gauss = toy.GaussianMixture([1.0], [mu.tolist()], [s])
    g = torch.Generator().manual_seed(2)
    W, bias = torch.randn(3, 2, generator=g, **F64), torch.randn(3, generator=g, **F64)
    z, labels = 2 * torch.randn(6, 2, generator=g, **F64), torch.tensor([0, 1, 2, 0, 1, 2])
    for t in [0.05, 1.0, 20.0]:
        J = s**2 / (s**2 + t) * torch.eye(2, **F64)
        y_hat = mu + (z - mu) @ J.T
        p = linear_softmax(W, bias)(y_hat).exp()
        grad_y = W[labels] - p @ W                               # ∇_y ln p(c | y) at ŷ
        expected = y_hat + 1.5 * t * grad_y @ J                  # Jᵀ g, row-wise: g @ J
        out = classifier_guided_x0(gauss.denoise, linear_softmax(W, bias), labels, 1.5)(z, torch.tensor(t, **F64))
        torch.testing.assert_close(out, expected, **EXACT)


def test_x0_guidance_uses_the_transpose_of_a_non_symmetric_jacobian():
    """A linear D(z, t) = A(t) z + a with A not symmetric: the correction is γ t A(t)ᵀ ∇_y ln p(c | ŷ),
    checked against torch.autograd.functional.jacobian of D; per-example t and γ."""
    g = torch.Generator().manual_seed(3)
    A0, A1, a = torch.randn(2, 2, generator=g, **F64), torch.randn(2, 2, generator=g, **F64), torch.randn(2, **F64)
    W, bias = torch.randn(3, 2, generator=g, **F64), torch.randn(3, generator=g, **F64)

    def A(t):
        return A0 + torch.as_tensor(t, **F64).reshape(-1, 1, 1) * A1 if torch.as_tensor(t).ndim else A0 + t * A1

    def denoiser(z, t):
        return (A(t) @ z[..., None])[..., 0] + a if torch.as_tensor(t).ndim else z @ A(t).T + a

    z, labels = torch.randn(4, 2, generator=g, **F64), torch.tensor([2, 0, 1, 2])
    t, gammas = torch.tensor([0.1, 0.5, 1.0, 3.0], **F64), torch.tensor([1.0, 2.0, -1.0, 0.5], **F64)
    out = classifier_guided_x0(denoiser, linear_softmax(W, bias), labels, gammas)(z, t)
    for i in range(4):
        J = torch.autograd.functional.jacobian(lambda zz: denoiser(zz[None], t[i])[0], z[i])   # ∂D/∂z, (2, 2)
        torch.testing.assert_close(J, A0 + t[i] * A1, **EXACT)
        y_hat = denoiser(z[i:i + 1], t[i])[0]
        p = linear_softmax(W, bias)(y_hat[None]).exp()[0]
        expected = y_hat + gammas[i] * t[i] * J.T @ (W[labels[i]] - p @ W)
        torch.testing.assert_close(out[i], expected, **EXACT)


def test_x0_guidance_under_no_grad_and_gamma_zero():
    mix = toy.mixture_2d()
    z = points(mix)
    clean = lambda y: mix.class_posterior(y, 0.0).log()
    with torch.no_grad():
        out = classifier_guided_x0(mix.denoise, clean, 0, 2.0)(z, torch.tensor(0.3, **F64))
        zero = classifier_guided_x0(mix.denoise, clean, 0, 0.0)(z, torch.tensor(0.3, **F64))
    assert not out.requires_grad and torch.isfinite(out).all()
    assert torch.equal(zero, mix.denoise(z, torch.tensor(0.3, **F64)))


def test_x0_guidance_is_exact_where_the_posterior_is_a_point():
    """As t → 0, D → z and p(c | D(z, t)) → p_0(c | z) = p_t(c | z): the x̂₀ variant meets exact guidance."""
    mix = toy.mixture_1d()
    z = torch.linspace(-3, 3, 25, **F64)[:, None]
    t = torch.tensor(1e-6, **F64)
    clean = lambda y: mix.class_posterior(y, 0.0).log()
    x0 = classifier_guided_x0(mix.denoise, clean, 1, 1.0)(z, t)
    exact = classifier_guided(mix.denoise, exact_classifier(mix), 1, 1.0)(z, t)
    torch.testing.assert_close(x0, exact, rtol=0, atol=1e-5)
    t = torch.tensor(1.0, **F64)                                # but not at t = 1, where the posterior is wide
    x0 = classifier_guided_x0(mix.denoise, clean, 1, 1.0)(z, t)
    exact = classifier_guided(mix.denoise, exact_classifier(mix), 1, 1.0)(z, t)
    assert (x0 - exact).abs().max() > 0.1


# -- every ValueError, one test per boundary ------------------------------------------------------------
def guide_and_call(labels=1, gamma=1.0, log_prob=None, n=4, mix=None):
    mix = mix or toy.mixture_2d()
    guided = classifier_guided(mix.denoise, log_prob or exact_classifier(mix), labels, gamma)
    return guided(points(mix, n=n), torch.tensor(0.5, **F64))


@pytest.mark.parametrize("labels", [0, 1, torch.tensor([0, 1, 1, 0]), [1, 1, 0, 0]])
def test_labels_in_range_are_accepted(labels):
    assert guide_and_call(labels=labels).shape == (4, 2)


@pytest.mark.parametrize("labels", [-1, 2, torch.tensor([0, 1, 2, 0]), torch.tensor([0, -1, 1, 0])])
def test_label_out_of_range_raises(labels):
    with pytest.raises(ValueError, match=r"in \[0, 2\)"):
        guide_and_call(labels=labels)


@pytest.mark.parametrize("labels", [torch.tensor([0, 1, 1]), torch.tensor([0, 1, 1, 0, 1]),
                                    torch.tensor([[0], [1], [1], [0]]), torch.zeros(1, 4, dtype=torch.long)])
def test_labels_of_the_wrong_shape_raise(labels):
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        guide_and_call(labels=labels)


@pytest.mark.parametrize("labels", [1.0, 0.5, torch.tensor([0.0, 1.0, 1.0, 0.0]), [0, 1, 1.5, 0]])
def test_float_labels_raise(labels):
    with pytest.raises(ValueError, match="integer class indices"):
        guide_and_call(labels=labels)


@pytest.mark.parametrize("gamma", [math.inf, -math.inf, math.nan, torch.tensor(math.nan),
                                   torch.tensor([1.0, math.inf, 1.0, 1.0]), "strong", None])
def test_non_finite_or_non_numeric_gamma_raises_at_construction(gamma):
    mix = toy.mixture_2d()
    with pytest.raises(ValueError, match="gamma"):
        classifier_guided(mix.denoise, exact_classifier(mix), 1, gamma)
    with pytest.raises(ValueError, match="gamma"):
        classifier_guided_x0(mix.denoise, lambda y: mix.class_posterior(y, 0.0).log(), 1, gamma)


@pytest.mark.parametrize("gamma", [1e300, -1e300, 0, torch.tensor(2.0), torch.zeros(4, **F64)])
def test_large_but_finite_gamma_is_accepted(gamma):
    mix = toy.mixture_2d()
    classifier_guided(mix.denoise, exact_classifier(mix), 1, gamma)


def test_gamma_as_a_matrix_raises():
    mix = toy.mixture_2d()
    with pytest.raises(ValueError, match="1-D tensor"):
        classifier_guided(mix.denoise, exact_classifier(mix), 1, torch.ones(4, 1))


@pytest.mark.parametrize("n_gamma", [3, 5])
def test_per_example_gamma_for_another_batch_size_raises(n_gamma):
    with pytest.raises(ValueError, match=f"{n_gamma} entries for a batch of 4"):
        guide_and_call(gamma=torch.ones(n_gamma, **F64))


@pytest.mark.parametrize("bad", [
    lambda z, t: torch.zeros(len(z), **F64),                  # (B,): one number per example
    lambda z, t: torch.zeros(len(z), 2, 1, **F64),            # (B, C, 1)
    lambda z, t: torch.zeros(len(z) + 1, 2, **F64),           # another batch size
    lambda z, t: torch.zeros(1, 2, **F64),                    # one row for the whole batch
    lambda z, t: [[0.0, 0.0]] * len(z),                       # not a tensor
])
def test_log_prob_of_the_wrong_shape_raises(bad):
    with pytest.raises(ValueError, match=r"log_prob must return \(B, C\)"):
        guide_and_call(log_prob=bad)
    with pytest.raises(ValueError, match=r"log_prob must return \(B, C\)"):
        classifier_gradient(bad, torch.zeros(4, 2, **F64), 0.5, 0)


def test_labels_are_checked_against_the_classes_the_log_prob_returns():
    """C comes from log_prob: with C = 3 columns label 2 is valid, label 3 is not."""
    three = lambda z, t: (z[:, :1] * torch.arange(3, **F64)).log_softmax(-1)
    assert guide_and_call(labels=2, log_prob=three).shape == (4, 2)
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        guide_and_call(labels=3, log_prob=three)


def test_x0_guidance_checks_labels_and_the_clean_classifier():
    mix = toy.mixture_2d()
    clean = lambda y: mix.class_posterior(y, 0.0).log()
    z, t = points(mix, n=4), torch.tensor(0.5, **F64)
    with pytest.raises(ValueError, match=r"in \[0, 2\)"):
        classifier_guided_x0(mix.denoise, clean, 2, 1.0)(z, t)
    with pytest.raises(ValueError, match="integer class indices"):
        classifier_guided_x0(mix.denoise, clean, 1.0, 1.0)(z, t)
    with pytest.raises(ValueError, match=r"log_prob must return \(B, C\)"):
        classifier_guided_x0(mix.denoise, lambda y: clean(y)[:, 0], 1, 1.0)(z, t)
