import dataclasses

import pytest
import torch

from tempguide import config


def test_profile_follows_environment(monkeypatch):
    monkeypatch.setenv("TEMPGUIDE_PROFILE", "full")
    assert config.profile().name == "full"
    monkeypatch.setenv("TEMPGUIDE_PROFILE", "QUICK")
    assert config.profile().name == "quick"
    monkeypatch.setenv("TEMPGUIDE_PROFILE", "huge")
    with pytest.raises(ValueError, match="TEMPGUIDE_PROFILE"):
        config.profile()


def test_default_profile_is_quick_on_cpu(monkeypatch):
    monkeypatch.delenv("TEMPGUIDE_PROFILE", raising=False)
    monkeypatch.setenv("TEMPGUIDE_DEVICE", "cpu")
    assert config.device() == torch.device("cpu")
    assert config.profile().name == "quick"


def test_quick_is_smaller_than_full_everywhere():
    """Every size of the profile, found from the dataclass (a new field is checked without editing this test)."""
    q, f = config.profile("quick"), config.profile("full")
    sizes = [field.name for field in dataclasses.fields(q)
             if isinstance(getattr(q, field.name), (int, float)) and not isinstance(getattr(q, field.name), bool)]
    assert {"n_samples", "train_steps", "lm_sweep_prompts", "lm_sweep_length"} <= set(sizes)
    for field in sizes:
        assert getattr(q, field) <= getattr(f, field), field
    assert q.mnist_source == "subset" and f.mnist_source == "torchvision"


def test_seed_everything_reproduces():
    g1 = config.seed_everything(7)
    a = torch.randn(3), torch.randn(3, generator=g1)
    g2 = config.seed_everything(7)
    b = torch.randn(3), torch.randn(3, generator=g2)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    with pytest.raises(ValueError, match="seed"):
        config.seed_everything(-1)
