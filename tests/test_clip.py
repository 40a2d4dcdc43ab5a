"""The tiny CLIP (``tempguide.clip``): tokens, towers, the symmetric InfoNCE loss, zero-shot glue (book: "CLIP")."""
import math

import pytest
import torch
import torch.nn.functional as F

from tempguide.captions import DIGITS, SIZE, SLANT, THICKNESS, captions
from tempguide.clip import Clip, ClipConfig, all_captions, caption_index, caption_parts, info_nce, tokenize
from tempguide.clip.zero_shot import FIELDS, caption_log_probs, marginal_log_probs

SMALL = ClipConfig(embed_dim=8, channels=(8, 8, 8), time_dim=16, word_dim=16, groups=2)  # > 1 channel per group: GN would erase t


def digits(n=12, seed=0):
    """Constructed images: a vertical bar whose width, height and shear vary with the index."""
    g = torch.Generator().manual_seed(seed)
    y = -torch.ones(n, 1, 28, 28)
    for i in range(n):
        w, h, shear = 1 + i % 4, 10 + 2 * (i % 6), (i % 3 - 1) * 0.4
        for r in range(14 - h // 2, 14 + h // 2):
            c = int(14 + shear * (14 - r))
            y[i, 0, r, c:c + w] = 1.0
    return y + 0.01 * torch.randn(y.shape, generator=g)


def test_all_captions_are_every_combination_in_caption_index_order():
    caps = all_captions()
    assert len(caps) == len(DIGITS) * len(SIZE) * len(THICKNESS) * len(SLANT) == 120 == len(set(caps))
    y, labels = digits(), torch.arange(12) % 10
    assert [caps[k] for k in caption_index(labels, y)] == captions(labels, y)


def test_caption_parts_inverts_the_template():
    assert caption_parts("a large thick seven slanting right") == {
        "size": "large", "thickness": "thick", "digit": "seven", "slant": "slanting right"}
    with pytest.raises(ValueError, match="caption"):
        caption_parts("seven")


def test_tokenize_pads_with_zero_and_rejects_unknown_words():
    ids = tokenize(["a seven", "a large thick seven slanting right"])
    assert ids.shape == (2, 7) and (ids[0, 2:] == 0).all() and (ids[1, :6] > 0).all() and ids[1, 6] == 0
    with pytest.raises(ValueError, match="unknown word 'eleven'"):
        tokenize("a eleven")
    with pytest.raises(ValueError, match="1 to 7 words"):
        tokenize("")


def test_shapes_unit_norm_and_logits():
    clip = Clip(SMALL)
    x, ids = digits(5), tokenize(all_captions()[:3])
    e_img, e_txt = clip.encode_image(x), clip.encode_text(ids)
    assert e_img.shape == (5, 8) and e_txt.shape == (3, 8)
    assert torch.allclose(e_img.norm(dim=-1), torch.ones(5)) and torch.allclose(e_txt.norm(dim=-1), torch.ones(3))
    assert torch.allclose(clip(x, ids), clip.scale() * e_img @ e_txt.T)
    assert math.isclose(clip.scale().item(), 1 / 0.07, rel_tol=1e-5)
    with pytest.raises(ValueError, match=r"z_bar must have shape \(B, 1, 28, 28\)"):
        clip.encode_image(torch.zeros(2, 28, 28))


@pytest.mark.seed("002-18")
def test_noise_level_enters_the_image_encoder():
    clip = Clip(SMALL)
    with torch.no_grad():
        for p in clip.parameters():  # some layers start at zero: give every weight a value
            p.add_(0.1 * torch.randn_like(p))
    x = digits(3)
    assert not torch.allclose(clip.encode_image(x, 1e-4), clip.encode_image(x, 10.0))


def test_text_encoder_is_a_bag_of_words():
    """Word order and padding do not change C_T: every word belongs to one slot (``tokens``)."""
    clip = Clip(SMALL)
    a = clip.encode_text(["a large thick seven slanting right"])
    b = clip.encode_text(["seven right a thick slanting large"])
    assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(a, clip.encode_text(["a large thick seven slanting left"]))


def hand_info_nce(L, same):
    """Σ over rows of −Σ_j T_ij ln softmax, both directions, written out with exp and log."""
    B = len(L)
    total = 0.0
    for M in (L, [list(col) for col in zip(*L)]):
        for i in range(B):
            norm = math.log(sum(math.exp(M[i][j]) for j in range(B)))
            pos = [j for j in range(B) if same[i][j]]
            total += -sum(M[i][j] - norm for j in pos) / len(pos) / B
    return total / 2


@pytest.mark.seed("002-14")
def test_info_nce_against_a_hand_computation_and_cross_entropy():
    g = torch.Generator().manual_seed(1)
    L = torch.randn(5, 5, generator=g, dtype=torch.float64) * 3
    eye = [[i == j for j in range(5)] for i in range(5)]
    assert math.isclose(info_nce(L).item(), hand_info_nce(L.tolist(), eye), rel_tol=1e-12)
    target = torch.arange(5)
    reference = (F.cross_entropy(L, target) + F.cross_entropy(L.T, target)) / 2   # CLIP's pseudocode
    assert torch.allclose(info_nce(L), reference)
    ids = torch.tensor([3, 1, 3, 0, 1])                                            # duplicates share the target
    same = [[ids[i] == ids[j] for j in range(5)] for i in range(5)]
    assert math.isclose(info_nce(L, ids).item(), hand_info_nce(L.tolist(), same), rel_tol=1e-12)
    assert torch.allclose(info_nce(L, torch.arange(5)), reference)


def test_info_nce_is_not_symmetric_in_one_direction_only():
    """A loss that used only the image -> text direction would differ on a non-symmetric L."""
    L = torch.tensor([[2.0, 0.0], [1.0, 0.0]])
    one_way = F.cross_entropy(L, torch.arange(2))
    assert not torch.allclose(info_nce(L), one_way)


def test_info_nce_bad_input():
    with pytest.raises(ValueError, match="square"):
        info_nce(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="caption_ids"):
        info_nce(torch.zeros(3, 3), torch.zeros(2, dtype=torch.long))


def test_marginals_sum_caption_probabilities():
    """p(digit | x) = Σ of p(c | x) over the captions of that digit: explicit loop against ``marginal_log_probs``."""
    g = torch.Generator().manual_seed(2)
    lp = torch.randn(4, 120, generator=g, dtype=torch.float64).log_softmax(-1)
    caps = all_captions()
    for field, words in FIELDS.items():
        m = marginal_log_probs(lp, field)
        assert torch.allclose(m.exp().sum(-1), torch.ones(4, dtype=torch.float64))
        w = len(words) - 1
        explicit = sum(lp[:, k].exp() for k, c in enumerate(caps) if caption_parts(c)[field] == words[w])
        assert torch.allclose(m[:, w].exp(), explicit)
    with pytest.raises(ValueError, match="field must be one of"):
        marginal_log_probs(lp, "colour")
    with pytest.raises(ValueError, match="one column per caption"):
        marginal_log_probs(lp[:, :7], "digit")


def test_caption_log_probs_is_the_clip_softmax():
    clip = Clip(SMALL)
    x = digits(3)
    lp = caption_log_probs(clip, x)
    assert lp.shape == (3, 120) and torch.allclose(lp.exp().sum(-1), torch.ones(3))
    ids = tokenize(all_captions())
    assert torch.allclose(lp, clip(x, ids).log_softmax(-1), atol=1e-6)


def test_contrastive_loss_decreases_on_a_tiny_batch():
    torch.manual_seed(0)
    clip = Clip(SMALL)
    y, labels = digits(12), torch.arange(12) % 10
    k = caption_index(labels, y)
    ids = tokenize(all_captions())[k]
    opt = torch.optim.Adam(clip.parameters(), lr=1e-3)
    losses = []
    for _ in range(20):
        loss = info_nce(clip(y, ids), k)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.75 * losses[0]
