"""unCLIP (``tempguide.unclip``): the linear-Gaussian prior in closed form, decoding, variations (book: "DALL·E 2")."""
import math

import pytest
import torch

from tempguide.clip import Clip, ClipConfig
from tempguide.models.attribute_unet import AttributeUNet, AttributeUNetConfig
from tempguide.train.recipes import noisy, sample_noise_levels
from tempguide.unclip import GaussianPrior, GaussianPriorConfig, decode, sample_unclip, variations

F64 = {"dtype": torch.float64}


def linear_gaussian_data(N=4000, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(d, d, generator=g, **F64)
    b = torch.randn(d, generator=g, **F64)
    L = torch.tril(torch.randn(d, d, generator=g, **F64)) * 0.3 + 0.5 * torch.eye(d, **F64)
    u = torch.randn(N, d, generator=g, **F64)
    e = u @ A.T + b + torch.randn(N, d, generator=g, **F64) @ L.T
    return u, e, A, b, L


def test_fit_is_least_squares_with_the_unbiased_residual_covariance():
    u, e, *_ = linear_gaussian_data(N=50)
    prior = GaussianPrior(GaussianPriorConfig(embed_dim=3, ridge=0.0)).fit(u, e)
    X = torch.cat([u, torch.ones(50, 1, **F64)], 1)
    W = torch.linalg.lstsq(X, e).solution                                       # (d+1, d)
    torch.testing.assert_close(prior.A.double(), W[:3].T, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(prior.b.double(), W[3], atol=1e-5, rtol=1e-5)
    R = e - X @ W
    torch.testing.assert_close(prior.covariance().double(), R.T @ R / (50 - 3 - 1), atol=1e-5, rtol=1e-4)
    assert not torch.allclose(prior.covariance().double(), R.T @ R / 50, atol=1e-4)  # N, not N − d − 1


@pytest.mark.seed("002-23")
def test_fit_recovers_a_known_linear_gaussian():
    u, e, A, b, L = linear_gaussian_data()
    prior = GaussianPrior(GaussianPriorConfig(embed_dim=3)).fit(u, e)
    torch.testing.assert_close(prior.A.double(), A, atol=0.03, rtol=0)
    torch.testing.assert_close(prior.b.double(), b, atol=0.03, rtol=0)
    torch.testing.assert_close(prior.covariance().double(), L @ L.T, atol=0.03, rtol=0)


@pytest.mark.seed("002-23")
def test_sample_is_mean_plus_cholesky_noise_and_normalises():
    u, e, *_ = linear_gaussian_data(N=200)
    prior = GaussianPrior(GaussianPriorConfig(embed_dim=3)).fit(u, e)
    uf = u[:5].float()
    raw = prior.sample(uf, generator=torch.Generator().manual_seed(3), normalise=False)
    eps = torch.randn(5, 3, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(raw, uf @ prior.A.T + prior.b + eps @ prior.L.T)
    unit = prior.sample(uf, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(unit, raw / raw.norm(dim=-1, keepdim=True))


def test_log_prob_is_the_gaussian_density():
    u, e, *_ = linear_gaussian_data(N=200)
    prior = GaussianPrior(GaussianPriorConfig(embed_dim=3)).fit(u, e)
    uf, ef = u[:4].float(), e[:4].float()
    r = (ef - prior.mean(uf)).double()
    S = prior.covariance().double()
    manual = -0.5 * (r @ torch.linalg.inv(S) * r).sum(1) - 0.5 * torch.logdet(S) - 1.5 * math.log(2 * math.pi)
    torch.testing.assert_close(prior.log_prob(uf, ef).double(), manual, atol=1e-4, rtol=1e-5)


def test_prior_bad_input():
    with pytest.raises(ValueError, match="embed_dim"):
        GaussianPriorConfig(embed_dim=0)
    with pytest.raises(ValueError, match="ridge"):
        GaussianPriorConfig(ridge=-1.0)
    prior = GaussianPrior(GaussianPriorConfig(embed_dim=3))
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        prior.fit(torch.zeros(10, 3), torch.zeros(10, 2))
    with pytest.raises(ValueError, match="N > d \\+ 1"):
        prior.fit(torch.zeros(4, 3), torch.zeros(4, 3))


SMALL_UNET = AttributeUNetConfig(channels=(8, 8, 8), emb_dim=16, attention=False, null_flag=True, cond_dim=4)


def test_decode_and_variations_shapes():
    torch.manual_seed(0)
    decoder = AttributeUNet(SMALL_UNET).eval()
    e = torch.nn.functional.normalize(torch.randn(3, 4), dim=-1)
    out = decode(decoder, e, 2.0, n_steps=3, generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 1, 28, 28) and torch.isfinite(out).all()
    prior = GaussianPrior(GaussianPriorConfig(embed_dim=4))
    assert sample_unclip(prior, decoder, e, 1.0, n_steps=2).shape == (3, 1, 28, 28)
    clip = Clip(ClipConfig(embed_dim=4, channels=(8, 8, 8), time_dim=16, word_dim=16, groups=2))
    v = variations(clip, decoder, torch.zeros(1, 1, 28, 28), 5, 1.0, n_steps=2)
    assert v.shape == (5, 1, 28, 28)
    with pytest.raises(ValueError, match=r"image must have shape \(1, 1, 28, 28\)"):
        variations(clip, decoder, torch.zeros(2, 1, 28, 28), 5, 1.0)


def test_decoder_loss_decreases_on_a_tiny_batch():
    """The recipe's ε-loss with embedding dropout to NaN, on 8 images and embeddings."""
    torch.manual_seed(0)
    net = AttributeUNet(SMALL_UNET)
    g = torch.Generator().manual_seed(0)
    y = torch.rand(8, 1, 28, 28, generator=g) * 2 - 1
    E = torch.nn.functional.normalize(torch.randn(8, 4, generator=g), dim=-1)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(16):
        t = sample_noise_levels(8, g)
        x, eps = noisy(y, t, g)
        drop = torch.rand(8, generator=g) < 0.15
        loss = torch.nn.functional.mse_loss(net(x, t, torch.where(drop[:, None], float("nan"), E)), eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-4:]) / 4 < 0.8 * sum(losses[:4]) / 4
