"""The standardisation of the ink condition: E = 0 is the training digits' mean, unit spread (N − 1)."""
import pytest
import torch

from tempguide import attributes
from tempguide.data import load_mnist
from tempguide.train.recipes_cfg_variants import ink_statistics


def test_ink_statistics_standardise_the_training_digits():
    mean, std = ink_statistics()
    images, _ = load_mnist("train", source="subset", verbose=False)
    E = attributes.standardise(attributes.ink(images), mean, std).double()
    assert abs(E.mean().item()) < 1e-5 and abs(E.std(correction=1).item() - 1) < 1e-5
    assert 0.05 < mean < 0.4  # MNIST digits cover a minority of the frame


def test_standardise_rejects_a_non_positive_std():
    with pytest.raises(ValueError, match="std must be > 0"):
        attributes.standardise(torch.zeros(3), 0.1, 0.0)
