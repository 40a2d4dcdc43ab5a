"""The measured attribute of a digit (``tempguide.attributes``) on constructed images with known answers."""
import pytest
import torch

from tempguide import attributes


def blank(b=1, h=28, w=28):
    return torch.full((b, 1, h, w), -1.0)   # all background


def test_background_has_no_ink_and_full_ink_has_one():
    assert attributes.ink(blank()).tolist() == [0.0]
    assert attributes.ink(torch.ones(1, 1, 28, 28)).tolist() == [1.0]


def test_a_square_has_its_area_fraction():
    x = blank(3)
    x[0, 0, 4:11, 4:11] = 1.0               # 7 × 7 = 49 pixels of full ink
    x[1, 0, :14, :] = 1.0                   # the top half
    x[2, 0, 10:20, 3:7] = 0.0               # 40 pixels at half ink (y = 0 is grey, (0 + 1)/2 = 0.5)
    torch.testing.assert_close(attributes.ink(x), torch.tensor([49 / 784, 0.5, 20 / 784]), rtol=0, atol=1e-7)


def test_ink_is_per_image_and_independent_of_the_image_size():
    x = blank(2, 10, 10)
    x[1, 0, :5, :2] = 1.0                   # 10 of 100 pixels
    torch.testing.assert_close(attributes.ink(x), torch.tensor([0.0, 0.1]))


def test_values_outside_the_range_are_clamped():
    """A sampler may overshoot [−1, 1]; ink must stay in [0, 1] and count 3.0 as full ink, −5 as none."""
    x = blank(2)
    x[0] = 3.0
    x[1, 0, :7, :] = -5.0                   # below background: still 0
    x[1, 0, 7:14, :] = 2.0                  # a quarter of the image, above full ink: counts as 1
    torch.testing.assert_close(attributes.ink(x), torch.tensor([1.0, 0.25]))


def test_ink_rejects_images_without_one_channel():
    for bad in (torch.zeros(28, 28), torch.zeros(2, 3, 28, 28), torch.zeros(1, 28, 28)):
        with pytest.raises(ValueError, match=r"images must have shape \(B, 1, H, W\)"):
            attributes.ink(bad)


def test_standardise_is_zero_mean_unit_std_on_the_statistics_it_is_given():
    g = torch.Generator().manual_seed(0)
    a = 0.13 + 0.04 * torch.randn(4000, generator=g, dtype=torch.float64)
    E = attributes.standardise(a, a.mean().item(), a.std().item())
    assert abs(E.mean().item()) < 1e-12 and abs(E.std().item() - 1) < 1e-12
    # E = (a − mean)/std, not (a − mean)/std² nor the other way round
    assert attributes.standardise(torch.tensor([0.2]), 0.1, 0.05).item() == pytest.approx(2.0)
    assert attributes.standardise(torch.tensor([0.1]), 0.1, 0.05).item() == 0.0
