"""Checkpoints: sha256 verification before loading, weights-only loading, clear errors, the shipped set."""
import dataclasses
import json
import shutil

import pytest
import torch

from tempguide import pretrained
from tempguide.models import MLP, MLPConfig
from tempguide.train import recipes, recipes_cfg_variants, recipes_ch6_clip, recipes_ch6_sr, recipes_guidance, recipes_mvae

SHIPPED = {  # name -> the config the recipe builds today
    "mnist_classifier": recipes.CLASSIFIER_CONFIG,
    "mnist_uncond": recipes.UNCOND_CONFIG,
    "mnist_cond": recipes.COND_CONFIG,
    "mnist_noisy_classifier": recipes.NOISY_CLASSIFIER_CONFIG,
    "toy_2d": recipes.TOY_CONFIG,
    **recipes_guidance.CONFIGS,
    **recipes_cfg_variants.CONFIGS,
    **recipes_mvae.CONFIGS,
    **recipes_ch6_sr.CONFIGS,
    **recipes_ch6_clip.CONFIGS,
}

FITTED_IN_CLOSED_FORM = {"unclip_prior"}  # a Gaussian fitted by its sample moments: no gradient steps


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = MLP(MLPConfig(dim=2, hidden=16, depth=1, num_classes=2))
    pretrained.save("tiny", model, config=model.config, data="test", train_info={"steps": 0}, metrics={"m": 1.0},
                    directory=tmp_path)
    return model, tmp_path


def test_save_load_roundtrip(saved):
    model, directory = saved
    loaded = pretrained.load("tiny", device="cpu", directory=directory)
    assert not loaded.training and loaded.config == model.config
    x = torch.randn(5, 2)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, 0.3, torch.tensor([0, 1, 2, 0, 1])),
                                   model.eval()(x, 0.3, torch.tensor([0, 1, 2, 0, 1])))
    entry = pretrained.info("tiny", directory)
    assert entry["sha256"] == pretrained.sha256(directory / "tiny.pt") and entry["metrics"] == {"m": 1.0}
    assert pretrained.available(directory) == ["tiny"]


def test_corrupt_copy_is_refused_before_loading(saved, tmp_path):
    _, directory = saved
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    data = bytearray((copy / "tiny.pt").read_bytes())
    data[-100] ^= 0xFF  # flip one byte
    (copy / "tiny.pt").write_bytes(bytes(data))
    with pytest.raises(pretrained.CheckpointError) as err:
        pretrained.load("tiny", directory=copy)
    message = str(err.value)
    assert "tiny.pt" in message and pretrained.sha256(copy / "tiny.pt") in message
    assert pretrained.info("tiny", copy)["sha256"] in message and "python -m tempguide.train tiny" in message


def test_missing_file_and_unknown_name(saved):
    _, directory = saved
    (directory / "tiny.pt").unlink()
    with pytest.raises(pretrained.CheckpointError, match=r"missing; run `python -m tempguide.train tiny` or reinstall"):
        pretrained.load("tiny", directory=directory)
    with pytest.raises(pretrained.CheckpointError, match="no checkpoint named 'nope'"):
        pretrained.load("nope", directory=directory)


@dataclasses.dataclass
class Payload:  # not a tensor: a weights-only unpickler must refuse to build it
    x: int = 1


def test_load_is_weights_only(saved):
    _, directory = saved
    checkpoint = torch.load(directory / "tiny.pt", weights_only=True)
    checkpoint["config"] = Payload()
    torch.save(checkpoint, directory / "tiny.pt")
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["tiny"]["sha256"] = pretrained.sha256(directory / "tiny.pt")  # a "valid" but malicious file
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(Exception, match="[Ww]eights only load failed|Unsupported global"):
        pretrained.load("tiny", directory=directory)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoint(name):
    entry = pretrained.info(name)
    path = pretrained.DIRECTORY / entry["file"]
    assert path.stat().st_size < 3e6
    # the manifest's config is exactly what the recipe's config dataclass gives now
    assert entry["config"] == json.loads(json.dumps(dataclasses.asdict(SHIPPED[name])))
    model = pretrained.load(name, device="cpu")
    assert not model.training and model.config == SHIPPED[name]
    min_steps = 0 if name in FITTED_IN_CLOSED_FORM else 500  # no smoke-test checkpoint is shipped
    assert entry["steps"] >= min_steps and entry["seconds"] > 0 and entry["sha256"] == pretrained.sha256(path)


def test_shipped_total_size():
    total = sum((pretrained.DIRECTORY / pretrained.info(n)["file"]).stat().st_size for n in pretrained.available())
    assert total < 40e6  # Colab clones the repository: every model a few MB, the set well under 40 MB
