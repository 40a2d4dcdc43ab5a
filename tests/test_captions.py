"""Captions and their measurers (``tempguide.captions``) on constructed images with known answers."""
import pytest
import torch

from tempguide import captions
from tempguide.data import load_mnist


def blank(b=1):
    return torch.full((b, 1, 28, 28), -1.0)


def test_slant_of_upright_and_sheared_strokes():
    x = blank(3)
    x[0, 0, 4:24, 13:15] = 1.0                      # upright bar: slant 0
    for r in range(4, 24):                          # "/" : one column right per row up, slant +1
        x[1, 0, r, 23 - r] = 1.0
        x[2, 0, r, 2 + (r - 4) // 2] = 1.0          # "\" at half the lean: slant ≈ −0.5
    s = captions.slant(x)
    assert s[0].item() == pytest.approx(0.0, abs=1e-6)
    assert s[1].item() == pytest.approx(1.0, abs=1e-6)
    assert s[2].item() == pytest.approx(-0.5, abs=0.03)


def test_size_is_the_bounding_box_area_of_the_ink():
    x = blank(3)
    x[0, 0, 5:25, 10:14] = 1.0                      # 20 × 4
    x[1, 0, 3, 3] = 1.0
    x[1, 0, 12, 20] = 1.0                           # two dots: box 10 rows × 18 columns
    x[2, 0, 5:25, 10:14] = 0.0                      # grey (ink exactly 0.5) is not ink > 0.5
    assert captions.size(x).tolist() == [80.0, 180.0, 0.0]


def test_caption_words_and_order():
    x = blank(2)
    x[0, 0, 4:24, 4:24] = 1.0                       # big, thick, upright square
    x[1, 0, 10:14, 13:15] = 1.0                     # small, thin, upright
    assert captions.captions(torch.tensor([7, 1]), x) == ["a large thick seven upright", "a small thin one upright"]
    with pytest.raises(ValueError, match="same length"):
        captions.captions(torch.tensor([1]), x)
    with pytest.raises(ValueError, match=r"images must have shape \(B, 1, H, W\)"):
        captions.slant(torch.zeros(2, 28, 28))


def test_thresholds_are_the_training_medians_and_split_the_data():
    images, _ = load_mnist("train", source="subset", verbose=False)
    measured = captions.measure_thresholds(images)
    assert measured["thickness"] == pytest.approx(captions.THRESHOLDS["thickness"], abs=1e-4)
    assert measured["size"] == captions.THRESHOLDS["size"]
    words = captions.attribute_words(images)
    for key, vocab in [("thickness", captions.THICKNESS), ("slant", captions.SLANT), ("size", captions.SIZE)]:
        fractions = [words[key].count(v) / len(images) for v in vocab]
        assert min(fractions) > 0.1, (key, fractions)  # every word is common enough to learn
