"""CLIP guidance (``tempguide.clip.guidance``) against exact answers (book: "GLIDE").

CLIP guidance is classifier guidance with ln p_t(c | z) = CLIP's log-softmax over
candidate captions.  A stub CLIP whose logits *are* the exact log class posterior
of a toy mixture makes γ = 1 the exact conditional denoiser; random stubs check the
gradient against finite differences and the sign of the guidance term.
"""
import pytest
import torch

from tempguide import toy
from tempguide.clip import Clip, ClipConfig, all_captions, tokenize
from tempguide.clip.guidance import clip_log_prob, clip_similarity, embedding_cfg_eps
from tempguide.guidance.classifier import classifier_gradient, classifier_guided
from tempguide.models.attribute_unet import AttributeUNet, AttributeUNetConfig

F64 = {"dtype": torch.float64}


class ExactClip:
    """C_I(x, t) = ln p_t(· | z) of the mixture (z = x·√(1+t)), C_T = one-hot rows, exp(s) = 1."""

    def __init__(self, mixture):
        self.mixture = mixture

    def encode_image(self, x, t):
        t = torch.as_tensor(t, **F64)
        tb = t.reshape(-1, 1) if t.ndim else t
        return self.mixture.class_posterior(x * (1 + tb).sqrt(), t).log()

    def encode_text(self, captions):
        return torch.eye(len(captions), **F64)

    def scale(self):
        return torch.tensor(1.0, **F64)


class LinearClip:
    """A smooth stub with unnormalised logits: C_I(x, t) = tanh(W x)·(1 + t)^(−1/4), C_T random, exp(s) = 3."""

    def __init__(self, d=2, k=4, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.W = torch.randn(5, d, generator=g, **F64)
        self.T = torch.randn(k, 5, generator=g, **F64)

    def encode_image(self, x, t):
        t = torch.as_tensor(t, **F64)
        return torch.tanh(x @ self.W.T) * (1 + (t.reshape(-1, 1) if t.ndim else t)) ** -0.25

    def encode_text(self, captions):
        return self.T[: len(captions)]

    def scale(self):
        return torch.tensor(3.0, **F64)


CAPTIONS = ["a zero", "a one"]
MIX = toy.mixture_2d()


def points(n=16, seed=0):
    return 2.0 * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), **F64)


@pytest.mark.parametrize("t", [0.05, 1.0, 20.0])
@pytest.mark.parametrize("c", [0, 1])
def test_gamma_one_with_an_exact_clip_is_the_exact_conditional_denoiser(t, c):
    """D + t·∇ ln p_t(c | z) = E[y | z, c]: the log-softmax sees x = z/√(1+t) and t as the networks do."""
    z = points()
    guided = classifier_guided(MIX.denoise, clip_log_prob(ExactClip(MIX), CAPTIONS), c, 1.0)
    torch.testing.assert_close(guided(z, torch.tensor(t, **F64)), MIX.condition(c).denoise(z, t))


@pytest.mark.seed("002-17")
def test_the_seeds_ln_p_z_given_text_is_the_wrong_term():
    """Adding t·∇ ln p_t(z | c) (the seed's ln P(z | x)) instead of t·∇ ln p_t(c | z) misses E[y | z, c]."""
    z, t, c = points(), torch.tensor(1.0, **F64), 1
    exact = MIX.condition(c).denoise(z, t)
    seed_term = MIX.denoise(z, t) + t * MIX.condition(c).score(z, t)           # D + t ∇ ln p_t(z | c)
    assert (seed_term - exact).abs().max() > 0.1
    bayes = MIX.denoise(z, t) + t * (MIX.condition(c).score(z, t) - MIX.score(z, t))   # ∇ ln p(c|z) by Bayes
    torch.testing.assert_close(bayes, exact)


@pytest.mark.seed("002-17")
def test_clip_log_prob_is_a_log_softmax_and_its_gradient_matches_finite_differences():
    clip, z, t = LinearClip(), points(4), torch.tensor(0.7, **F64)
    lp = clip_log_prob(clip, ["w"] * 4)(z, t)
    torch.testing.assert_close(lp.exp().sum(-1), torch.ones(4, **F64))
    labels = torch.tensor([0, 1, 2, 3])
    grad = classifier_gradient(clip_log_prob(clip, ["w"] * 4), z, t, labels)
    h = 1e-6
    for i in range(2):
        dz = torch.zeros_like(z)
        dz[:, i] = h
        f = lambda zz: clip_log_prob(clip, ["w"] * 4)(zz, t).gather(1, labels[:, None])[:, 0]  # noqa: E731
        torch.testing.assert_close(grad[:, i], (f(z + dz) - f(z - dz)) / (2 * h), rtol=1e-6, atol=1e-8)


def test_similarity_and_log_softmax_differ_by_the_pull_away_from_other_captions():
    """∇ ln softmax_k = ∇ sim_k − Σ_j p_j ∇ sim_j (GLIDE's raw similarity drops the second term)."""
    clip, z, t = LinearClip(), points(3), torch.tensor(2.0, **F64)
    caps = ["w"] * 4
    k = torch.tensor([2, 2, 2])
    g_lp = classifier_gradient(clip_log_prob(clip, caps), z, t, k)
    g_sim = classifier_gradient(clip_similarity(clip, caps), z, t, k)
    p = clip_log_prob(clip, caps)(z, t).exp()
    pull = sum(p[:, j:j + 1] * classifier_gradient(clip_similarity(clip, caps), z, t, torch.full((3,), j))
               for j in range(4))
    torch.testing.assert_close(g_lp, g_sim - pull)
    assert (g_lp - g_sim).abs().max() > 1e-3


def test_guidance_raises_the_clip_probability_of_the_caption():
    """Sign: a small step along D_γ − D = γ·t·∇ ln p_t(c | z) increases ln p_t(c | z)."""
    clip, z, t, k = LinearClip(), points(8), torch.tensor(1.0, **F64), torch.full((8,), 1)
    log_prob = clip_log_prob(clip, ["w"] * 4)
    step = classifier_guided(lambda zz, tt: torch.zeros_like(zz), log_prob, k, 2.0)(z, t)   # D = 0: the term
    before = log_prob(z, t)[:, 1]
    after = log_prob(z + 1e-3 * step, t)[:, 1]
    assert (after > before).all()


def test_clip_log_prob_with_the_real_module():
    clip = Clip(ClipConfig(embed_dim=8, channels=(8, 8, 8), time_dim=16, word_dim=16, groups=2))
    z = torch.randn(3, 1, 28, 28)
    lp = clip_log_prob(clip)(z, torch.tensor(4.0))
    assert lp.shape == (3, 120)
    x = z / 5 ** 0.5
    torch.testing.assert_close(lp, clip(x, tokenize(all_captions()), 4.0).log_softmax(-1))   # x = z/√(1+t)
    grad = classifier_gradient(clip_log_prob(clip), z, torch.tensor(4.0), torch.tensor([0, 5, 119]))
    assert grad.shape == z.shape and torch.isfinite(grad).all()


# -- CFG on an embedding -------------------------------------------------------------------------------
class StubEps:
    """ε̂(x, t, E) = x/2 + t·(Σ E or −1 for a NaN row); counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x, t, E):
        self.calls += 1
        null = E.isnan().any(1)
        s = torch.where(null, -1.0, E.nan_to_num().sum(1)).view(-1, 1, 1, 1)
        return x / 2 + torch.as_tensor(t).view(-1, 1, 1, 1) * s if torch.as_tensor(t).ndim else x / 2 + t * s


@pytest.mark.parametrize("w", [0.0, 1.0, 3.0])
@pytest.mark.seed("002-15", "002-25")
def test_embedding_cfg_is_the_cfg_combination_in_one_call(w):
    net, x, t = StubEps(), torch.randn(2, 1, 28, 28), torch.tensor(0.5)
    E = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    out = embedding_cfg_eps(net, w)(x, t, E)
    cond, uncond = x / 2 + 0.5 * E.sum(1).view(-1, 1, 1, 1), x / 2 - 0.5
    torch.testing.assert_close(out, uncond + w * (cond - uncond))
    assert net.calls == 1


@pytest.mark.seed("002-25")
def test_embedding_cfg_with_an_attribute_unet_equals_two_calls():
    torch.manual_seed(0)
    net = AttributeUNet(AttributeUNetConfig(channels=(8, 8, 8), emb_dim=16, attention=False, null_flag=True,
                                            cond_dim=4)).eval()
    with torch.no_grad():
        net.null_emb.normal_()
    x, t, E = torch.randn(3, 1, 28, 28), torch.tensor(2.0), torch.randn(3, 4)
    with torch.no_grad():
        out = embedding_cfg_eps(net, 2.5)(x, t, E)
        cond, uncond = net(x, t, E), net(x, t, None)
    torch.testing.assert_close(out, uncond + 2.5 * (cond - uncond), atol=1e-5, rtol=1e-5)


def test_embedding_cfg_bad_input():
    f = embedding_cfg_eps(StubEps(), 2.0)
    x = torch.zeros(2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"E must have shape \(2, d\)"):
        f(x, 0.5, torch.zeros(3, 2))
    with pytest.raises(ValueError, match="E must be finite"):
        f(x, 0.5, torch.tensor([[0.0, float("nan")], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="eps_net must be a callable"):
        embedding_cfg_eps(3, 2.0)
    with pytest.raises(ValueError, match="w"):
        embedding_cfg_eps(StubEps(), float("inf"))


# -- the judges of caption-match (glide.caption_match) -----------------------------------------------------
class FixedJudge(torch.nn.Module):
    """A stand-in for the evaluation classifier that answers fixed digits (the judge's own tests live elsewhere)."""

    def __init__(self, digits):
        super().__init__()
        self.digits = torch.as_tensor(digits)
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, images):
        return torch.nn.functional.one_hot(self.digits[: len(images)], 10).float()


def test_caption_match_counts_each_word_and_all_four():
    from tempguide.captions import captions
    from tempguide.clip import caption_index
    from tempguide.glide import caption_match
    from test_clip import digits as constructed

    y, labels = constructed(6), torch.tensor([3, 3, 7, 7, 1, 1])
    k = caption_index(labels, y)                                         # the true captions of the images
    assert caption_match(FixedJudge(labels), y, k) == {
        "match_digit": 1.0, "match_size": 1.0, "match_thickness": 1.0, "match_slant": 1.0, "match_all": 1.0}
    wrong_digit = torch.tensor([3, 3, 7, 7, 1, 2])                       # the judge disagrees once
    m = caption_match(FixedJudge(wrong_digit), y, k)
    assert m["match_digit"] == pytest.approx(5 / 6) and m["match_all"] == pytest.approx(5 / 6)
    flipped = k.clone()
    flipped[0] = flipped[0] - flipped[0] % 3 + (flipped[0] % 3 + 1) % 3  # another slant word for image 0
    m = caption_match(FixedJudge(labels), y, flipped)
    assert m["match_slant"] == pytest.approx(5 / 6) and m["match_size"] == 1.0 and m["match_digit"] == 1.0
    assert captions(labels, y)[0] != all_captions()[int(flipped[0])]
