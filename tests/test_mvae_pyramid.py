"""The image pyramid (``tempguide.mvae.pyramid``; book: "The image pyramid").

1. The encoder is exact 2×2 average pooling, checked against block means written out
   with loops, including the 7 → 4 step whose last block holds the pixels that exist
   (ceil mode: a 2×1, 1×2 or 1×1 block); ``pool(up(z)) = z`` at every level.
2. Shapes per level: the encoder's 28, 14, 7, 4, 2, 1 and every decoder's output.
3. The condition: ``None`` is the null label 10, each example sees its own label,
   labels outside 0..10 and wrongly shaped z are refused.
4. The objective is the seed's sum of per-level squared errors (per coordinate) and it
   falls when a few Adam steps fit a tiny batch.
5. The fitted σ_k is the maximum-likelihood estimate Σ‖r‖²/(N·d_k), the same in batches,
   and the Gaussian log-likelihood is largest there.
6. The decoders plug into ``tempguide.mvae.generate``: β = ∞ is the chain of means.
7. The blur measurements (``pyramid_blur``) and cold diffusion (``cold``, Bansal et al. 2022
   Algorithms 1 and 2) against hand computations.
"""
import math

import pytest
import torch

from tempguide.mvae import generate_cfg, generate_tempered, generate_unadjusted
from tempguide.mvae.cold import class_gaussian_codes, degrade, sample_cold, upsample
from tempguide.mvae.pyramid_blur import code_neighbours, decode_means, gray_pixel_modes, pairwise_rms
from tempguide.mvae.pyramid import (NULL_LABEL, SIZES, PyramidConfig, PyramidDecoders, encode, fit_level_sigmas,
                                    pool, pyramid_loss, up)

SMALL = PyramidConfig(channels=(8, 8, 8, 8, 8), blocks=(1, 1, 1, 1, 1), emb_dim=8, groups=4)


def images(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g, dtype=torch.float64) * 2 - 1


def random_model(seed=0, config=SMALL):
    """A pyramid whose zero-initialised output convolutions are randomised, so every decoder uses its inputs."""
    torch.manual_seed(seed)
    model = PyramidDecoders(config).double()
    with torch.no_grad():
        for level in model.levels:
            level.conv_out.weight.normal_(0, 0.3)
        model.top.weight.normal_()
    return model.eval()


def block_means(z):
    """Average pooling written out: block (i, j) is the mean of z[2i:2i+2, 2j:2j+2]'s existing pixels."""
    B, _, s, _ = z.shape
    m = math.ceil(s / 2)
    out = torch.empty(B, 1, m, m, dtype=z.dtype)
    for i in range(m):
        for j in range(m):
            pixels = [z[:, 0, a, b] for a in (2 * i, 2 * i + 1) for b in (2 * j, 2 * j + 1) if a < s and b < s]
            out[:, 0, i, j] = sum(pixels) / len(pixels)
    return out


# -- 1. the encoder ---------------------------------------------------------------------------------

@pytest.mark.seed("000-30")
def test_encoder_is_exact_average_pooling():
    y = images()
    levels = encode(y)
    for fine, coarse in zip(levels[:-1], levels[1:]):
        torch.testing.assert_close(coarse, block_means(fine), rtol=0, atol=1e-12)


def test_seven_to_four_averages_only_existing_pixels():
    z = torch.arange(49, dtype=torch.float64).reshape(1, 1, 7, 7)
    c = pool(z)
    assert c.shape == (1, 1, 4, 4)
    assert c[0, 0, 0, 0] == (0 + 1 + 7 + 8) / 4
    assert c[0, 0, 0, 3] == (6 + 13) / 2          # last column: a 2×1 block
    assert c[0, 0, 3, 0] == (42 + 43) / 2         # last row: a 1×2 block
    assert c[0, 0, 3, 3] == 48                    # the corner pixel alone, not 48/4 (no zero padding)


def test_top_level_weighs_the_last_row_and_column_of_the_7x7_level_double():
    y = images()
    z2 = encode(y)[2]                                          # 7×7
    weights = torch.ones(7, 7, dtype=torch.float64)
    weights[6, :] *= 2                                         # one-pixel rows and columns of the 7 → 4 step
    weights[:, 6] *= 2
    expected = (z2[:, 0] * weights).sum(dim=(1, 2)) / 64       # 4 × 4 blocks, each 1/16 of z_5
    torch.testing.assert_close(encode(y)[-1].flatten(), expected)


@pytest.mark.parametrize("size", SIZES[:-1])
def test_pool_inverts_nearest_upsampling(size):
    g = torch.Generator().manual_seed(size)
    z = torch.randn(3, 1, math.ceil(size / 2), math.ceil(size / 2), generator=g, dtype=torch.float64)
    u = up(z, size)
    assert u.shape == (3, 1, size, size)
    torch.testing.assert_close(pool(u), z, rtol=0, atol=1e-12)


def test_encoder_refuses_other_shapes():
    with pytest.raises(ValueError, match="y must have shape"):
        encode(torch.zeros(2, 1, 32, 32))


# -- 2. shapes ----------------------------------------------------------------------------------------

@pytest.mark.seed("000-33")
def test_shapes_per_level():
    y = images(5)
    assert [tuple(z.shape) for z in encode(y)] == [(5, 1, s, s) for s in SIZES]
    model = random_model()
    levels = encode(y)[::-1]                          # z_5 first
    assert model(0, None, torch.arange(5)).shape == (5, 1, 1, 1)
    assert model(0, None, None).shape == (1, 1, 1, 1)  # ∅ given ∅: one prediction, expanded by generate
    for k in range(1, len(SIZES)):
        assert model(k, levels[k - 1], torch.arange(5)).shape == levels[k].shape


def test_config_validation():
    with pytest.raises(ValueError, match="channels and blocks"):
        PyramidConfig(channels=(8, 8), blocks=(1, 1))
    with pytest.raises(ValueError, match="multiples of groups"):
        PyramidConfig(channels=(8, 8, 8, 8, 12), groups=8)


# -- 3. the condition -------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", range(len(SIZES)))
def test_none_is_the_null_label(k):
    model, y = random_model(), images(4)
    z = None if k == 0 else encode(y)[::-1][k - 1]
    torch.testing.assert_close(model(k, z, None).expand(4, -1, -1, -1),
                               model(k, z, torch.full((4,), NULL_LABEL)))
    assert not torch.allclose(model(k, z, None).expand(4, -1, -1, -1), model(k, z, torch.zeros(4, dtype=torch.long)))


@pytest.mark.parametrize("k", [1, 3, 5])
def test_each_example_sees_its_own_label(k):
    model, y = random_model(), images(4)
    z = encode(y)[::-1][k - 1]
    labels = torch.tensor([3, 7, NULL_LABEL, 0])
    batched = model(k, z, labels)
    for i in range(4):
        torch.testing.assert_close(batched[i:i + 1], model(k, z[i:i + 1], labels[i:i + 1]))
    changed = model(k, z, torch.tensor([3, 7, NULL_LABEL, 5]))
    torch.testing.assert_close(changed[:3], batched[:3])
    assert not torch.allclose(changed[3], batched[3])


def test_bad_labels_and_shapes_are_refused():
    model, y = random_model(), images(2)
    with pytest.raises(ValueError, match=r"x must be labels in 0\.\.10"):
        model(1, encode(y)[-1], torch.tensor([0, 11]))
    with pytest.raises(ValueError, match="x must be None, an int or have shape"):
        model(1, encode(y)[-1], torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"z must have shape \(B, 1, 2, 2\) for decoder 2"):
        model(2, encode(y)[-1], None)
    with pytest.raises(ValueError, match=r"k must be in 0\.\.5"):
        model(6, encode(y)[0], None)


# -- 4. the objective --------------------------------------------------------------------------------------

@pytest.mark.seed("000-35")
def test_loss_is_the_per_coordinate_sum_of_squared_errors():
    model, y = random_model(), images(3)
    labels = torch.tensor([1, 2, NULL_LABEL])
    levels = encode(y)[::-1]
    expected = (levels[0] - model.top.weight[labels].view(3, 1, 1, 1)).pow(2).mean()
    for k in range(1, len(SIZES)):
        expected = expected + (levels[k] - model(k, levels[k - 1], labels)).pow(2).mean()
    torch.testing.assert_close(pyramid_loss(model, y, labels), expected)


def test_loss_decreases_on_a_tiny_batch():
    torch.manual_seed(0)
    model = PyramidDecoders(SMALL)
    from tempguide.data import load_mnist
    y, labels = load_mnist("train", source="subset", verbose=False)
    y, labels = y[:16], labels[:16]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = pyramid_loss(model, y, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# -- 5. σ by maximum likelihood ------------------------------------------------------------------------------

@pytest.mark.seed("000-34")
def test_fitted_sigma_is_the_ml_estimate():
    model, y = random_model(), images(7)
    labels = torch.tensor([0, 1, 2, 3, 4, 5, NULL_LABEL])
    sigmas = fit_level_sigmas(model, y, labels, batch_size=3)             # batches of 3, 3, 1
    residuals = model.level_residuals(y, labels)
    for k, r in enumerate(residuals):
        d = SIZES[-1 - k] ** 2
        ml = math.sqrt(r.pow(2).sum().item() / (7 * d))                    # N·d, not N·d − 1
        assert sigmas[k].item() == pytest.approx(ml, rel=1e-6)

        def log_lik(s):
            return (-r.pow(2).sum() / (2 * s * s) - 7 * d * math.log(s)).item()
        assert log_lik(ml) > max(log_lik(ml * 1.01), log_lik(ml * 0.99))


def test_fitted_sigmas_are_per_decoder_top_first():
    # a model that predicts every level exactly has σ = 0 except at the top, where σ is the spread of the mean pixel
    model, y = PyramidDecoders(SMALL).double(), torch.full((4, 1, 28, 28), 0.5, dtype=torch.float64)
    y[:2] = -0.5
    with torch.no_grad():
        model.top.weight.zero_()
    sigmas = fit_level_sigmas(model, y, None)
    torch.testing.assert_close(sigmas, torch.tensor([0.5, 0, 0, 0, 0, 0]))


# -- 6. with the generators -----------------------------------------------------------------------------------

def test_beta_infinity_is_the_chain_of_means():
    model = random_model()
    labels = torch.tensor([2, 5, NULL_LABEL])
    with torch.no_grad():
        z = model(0, None, labels)
        for k in range(1, len(SIZES)):
            z = model(k, z, labels)
        out = generate_tempered(model.decoders(), [1.0] * 6, labels, math.inf, n=3)
    torch.testing.assert_close(out, z)


def test_generators_run_with_the_null_label_and_sigmas():
    model = random_model().float()
    g = torch.Generator().manual_seed(0)
    levels = generate_unadjusted(model.decoders(), model.sigmas, None, n=4, generator=g, return_levels=True)
    assert [tuple(z.shape) for z in levels] == [(4, 1, s, s) for s in SIZES[::-1]]
    out = generate_cfg(model.decoders(), model.sigmas, torch.arange(4), None, 2.0, n=4, generator=g)
    assert out.shape == (4, 1, 28, 28)


# -- 7. the blur measurements and cold diffusion ------------------------------------------------------------

def test_decode_means_is_the_chain_from_the_given_level():
    model, y = random_model(), images(3)
    labels = torch.tensor([1, 4, NULL_LABEL])
    z = encode(y)[2]                                       # 7×7: decoders 4 (→ 14×14) and 5 (→ 28×28)
    torch.testing.assert_close(decode_means(model, z, labels, 2), model(5, model(4, z, labels), labels))


def test_code_neighbours_same_class_nearest_first():
    pool_y, query = images(6, seed=1), images(1, seed=1)[:1]
    pool_labels = torch.tensor([0, 1, 0, 0, 1, 0])
    idx, dist = code_neighbours(query, torch.tensor([0]), pool_y, pool_labels, level=2, k=3)
    assert idx[0, 0] == 0 and dist[0, 0] == 0              # the query itself, at distance 0
    assert set(pool_labels[idx[0]].tolist()) == {0}        # never another class
    codes = encode(pool_y)[2].flatten(1)
    by_hand = ((codes - codes[0]).pow(2).mean(1)).sqrt()   # RMS per coordinate
    torch.testing.assert_close(dist[0], by_hand[idx[0]])
    assert dist[0].diff().ge(0).all()


def test_pairwise_rms_by_hand():
    a = torch.zeros(1, 3, 1, 2, 2, dtype=torch.float64)
    a[0, 1] += 1.0
    a[0, 2] += 2.0                                         # pairwise RMS distances 1, 2, 1
    assert pairwise_rms(a).item() == pytest.approx(4 / 3)


def test_gray_pixel_modes_counts():
    z_hat = torch.tensor([0.0, 0.1, -0.2, 0.9])            # three gray predictions
    z = torch.tensor([0.1, 1.0, -1.0, 0.9])                # residuals 0.1, 0.9, −0.8 there
    m = gray_pixel_modes(z, z_hat)
    assert m["count"] == 3 and m["near"] == pytest.approx(1 / 3) and m["far"] == pytest.approx(2 / 3)
    s = math.sqrt((0.01 + 0.81 + 0.64) / 3)
    assert m["gauss_near"] == pytest.approx(math.erf(0.25 / (s * math.sqrt(2))))


@pytest.mark.parametrize("s", range(len(SIZES)))
def test_degrade_keeps_exactly_the_level_s_code(s):
    y = images(2)
    d = degrade(y, s)
    assert d.shape == y.shape
    torch.testing.assert_close(encode(d)[s], encode(y)[s], rtol=0, atol=1e-12)
    if s == 0:
        torch.testing.assert_close(d, y)


def test_cold_sampling_one_step_by_hand():
    model, labels = random_model(), torch.tensor([3, NULL_LABEL])
    z1 = encode(images(2))[1]                              # start at 14×14: one step of Algorithm 2
    x1 = upsample(z1)
    x0_hat = model(5, z1, labels)
    torch.testing.assert_close(sample_cold(model, z1, labels), x1 - degrade(x0_hat, 1) + x0_hat)
    torch.testing.assert_close(sample_cold(model, z1, labels, improved=False), x0_hat)


def test_class_gaussian_codes_reproduce_a_class_without_spread():
    y = torch.zeros(4, 1, 28, 28)
    y[2:] = 0.5
    codes = class_gaussian_codes(y, torch.tensor([0, 0, 1, 1]), 4, torch.tensor([1, 0, 1]),
                                 generator=torch.Generator().manual_seed(0), jitter=1e-12)
    torch.testing.assert_close(codes, torch.tensor([0.5, 0.0, 0.5]).view(3, 1, 1, 1).expand(3, 1, 2, 2))
