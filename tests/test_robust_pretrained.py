"""tempguide.pretrained: a corrupt manifest, or a checkpoint that disagrees with its manifest entry, is a
CheckpointError naming the file (never a raw JSONDecodeError, never a silent load). All on a tiny fake
directory in tmp_path: the shipped checkpoints and manifest are not touched."""
import json

import pytest
import torch

from tempguide import pretrained
from tempguide.models import MLP, MLPConfig
from tempguide.pretrained import CheckpointError


@pytest.fixture
def tiny(tmp_path):
    """A directory with one checkpoint, 'tiny' (an MLP), and its manifest, written by ``pretrained.save``."""
    torch.manual_seed(0)
    model = MLP(MLPConfig(dim=2, hidden=16, depth=1, num_classes=2))
    pretrained.save("tiny", model, config=model.config, data="test", train_info={"steps": 0}, metrics={},
                    directory=tmp_path)
    return tmp_path


def edit_manifest(directory, change):
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest["tiny"])
    path.write_text(json.dumps(manifest))


def replace_checkpoint(directory, payload):
    """Overwrite tiny.pt with ``payload`` and record its new sha256, so only the content can disagree."""
    torch.save(payload, directory / "tiny.pt")
    edit_manifest(directory, lambda entry: entry.update(sha256=pretrained.sha256(directory / "tiny.pt")))


def test_the_fake_directory_loads(tiny):
    model = pretrained.load("tiny", device="cpu", directory=tiny)
    assert isinstance(model, MLP) and model.config.hidden == 16


@pytest.mark.parametrize("text", ['{"tiny": {"file": "tiny.pt",', "", "\x00\xff garbage"])
def test_a_corrupt_manifest_is_a_checkpoint_error_naming_the_file(tiny, text):
    (tiny / "manifest.json").write_bytes(text.encode("latin-1"))
    path = str(tiny / "manifest.json")
    for call in (lambda: pretrained.load("tiny", device="cpu", directory=tiny),
                 lambda: pretrained.info("tiny", tiny),
                 lambda: pretrained.available(tiny),
                 lambda: pretrained.read_manifest(tiny)):
        with pytest.raises(CheckpointError, match=r"^manifest .* is not valid JSON") as caught:
            call()
        assert path in str(caught.value)


def test_a_manifest_that_is_not_a_mapping_is_refused(tiny):
    (tiny / "manifest.json").write_text('["tiny"]')
    with pytest.raises(CheckpointError, match=r"^manifest .*manifest\.json must map each checkpoint name"):
        pretrained.load("tiny", device="cpu", directory=tiny)


def test_a_manifest_model_class_that_disagrees_is_refused(tiny):
    edit_manifest(tiny, lambda entry: entry.update(model="UNet"))
    with pytest.raises(CheckpointError, match=r"tiny\.pt disagrees with its manifest entry: model is 'MLP' in "
                                              r"the file but 'UNet' in manifest\.json"):
        pretrained.load("tiny", device="cpu", directory=tiny)


def test_a_manifest_config_that_disagrees_is_refused(tiny):
    edit_manifest(tiny, lambda entry: entry["config"].update(hidden=32))
    with pytest.raises(CheckpointError, match=r"tiny\.pt disagrees with its manifest entry: config is "
                                              r"\{.*'hidden': 16.*\} in the file but \{.*'hidden': 32.*\}"):
        pretrained.load("tiny", device="cpu", directory=tiny)


def test_a_replaced_checkpoint_of_another_config_is_refused(tiny):
    """The file itself swapped for a bigger MLP (sha256 updated): its config is not the manifest's."""
    other = MLP(MLPConfig(dim=2, hidden=8, depth=1, num_classes=2))
    config = json.loads(json.dumps(other.config.__dict__))
    replace_checkpoint(tiny, {"model": "MLP", "config": config, "state_dict": other.state_dict()})
    with pytest.raises(CheckpointError, match=r"config is \{.*'hidden': 8.*\} in the file but \{.*'hidden': 16"):
        pretrained.load("tiny", device="cpu", directory=tiny)


@pytest.mark.parametrize("payload", [torch.zeros(3), {"model": "MLP", "state_dict": {}}])
def test_a_checkpoint_without_model_config_and_weights_is_refused(tiny, payload):
    replace_checkpoint(tiny, payload)
    with pytest.raises(CheckpointError, match=r"tiny\.pt must hold a dict with 'model', 'config' and 'state_dict'"):
        pretrained.load("tiny", device="cpu", directory=tiny)


def test_an_entry_without_sha256_is_a_checkpoint_error(tiny):
    edit_manifest(tiny, lambda entry: entry.pop("sha256"))
    with pytest.raises(CheckpointError, match=r"tiny\.pt is corrupt or was changed: .* manifest expects None"):
        pretrained.load("tiny", device="cpu", directory=tiny)
