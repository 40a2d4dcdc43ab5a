"""Shipped checkpoints, sha256-verified (book: "Toolkit: checkpoints").

    from tempguide import pretrained
    clf = pretrained.load("mnist_classifier")    # nn.Module in eval mode
    pretrained.available()                        # names in the manifest
    pretrained.info("mnist_cond")                 # its manifest entry (config, steps, metrics, ...)

Each ``<name>.pt`` next to this file holds a plain dict ``{"model": class name,
"config": dict, "state_dict": tensors}``; ``manifest.json`` records, per name, the
config, the data source, the training run (steps, batch size, learning rate,
seconds, torch version, device), the metrics reached and the file's sha256.
``load`` checks the sha256 *before* reading the file and reads it with
``torch.load(..., weights_only=True)``, which refuses to run pickled code; it then
checks that the file's model class and config are the ones its manifest entry
records.  Every way a checkpoint or the manifest can be wrong (missing, corrupt,
unreadable JSON, disagreeing with each other) raises ``CheckpointError`` naming the file.
Checkpoints are written by ``python -m tempguide.train NAME`` (``save`` below).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import contextlib
import os
from pathlib import Path

import torch

from ..models import MLP, MLPConfig, MnistClassifier, MnistClassifierConfig, NoisyClassifier, NoisyClassifierConfig
from ..models import AttributeUNet, AttributeUNetConfig, FlowUNet, UNet, UNetConfig

DIRECTORY = Path(__file__).resolve().parent
MANIFEST = "manifest.json"


def _char_gpt():
    from ..models.char_gpt import CharGPT, CharGPTConfig  # written by the LM chapter; imported on demand
    return CharGPT, CharGPTConfig


def _lazy(module: str, *names: str):
    """(model class, config class) from ``tempguide.<module>``, imported when a checkpoint needs them."""
    def classes():
        import importlib
        mod = importlib.import_module(f"tempguide.{module}")
        return tuple(getattr(mod, name) for name in names)
    return classes


#: checkpoint "model" field -> (model class, config class); an explicit table, no name lookups.
MODELS = {
    "UNet": lambda: (UNet, UNetConfig),
    "FlowUNet": lambda: (FlowUNet, UNetConfig),
    "AttributeUNet": lambda: (AttributeUNet, AttributeUNetConfig),
    "MLP": lambda: (MLP, MLPConfig),
    "NoisyClassifier": lambda: (NoisyClassifier, NoisyClassifierConfig),
    "MnistClassifier": lambda: (MnistClassifier, MnistClassifierConfig),
    "CharGPT": _char_gpt,
    "SRUNet": _lazy("models.sr_unet", "SRUNet", "SRUNetConfig"),
    "UNet14": _lazy("models.sr_unet", "UNet14", "UNet14Config"),
    "PyramidDecoders": _lazy("mvae.pyramid", "PyramidDecoders", "PyramidConfig"),
    "Clip": _lazy("clip.model", "Clip", "ClipConfig"),
    "GaussianPrior": _lazy("unclip", "GaussianPrior", "GaussianPriorConfig"),
}


class CheckpointError(RuntimeError):
    """A checkpoint or the manifest is missing, corrupt, or the two disagree."""


def sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(directory: str | os.PathLike | None = None) -> dict:
    """The manifest as a dict name -> entry (empty if there is no manifest yet)."""
    path = Path(directory or DIRECTORY) / MANIFEST
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"manifest {path} is not valid JSON ({error}); restore it from git or reinstall "
                              "the package (pip install --force-reinstall tempguide)") from error
    if not isinstance(manifest, dict) or not all(isinstance(entry, dict) for entry in manifest.values()):
        raise CheckpointError(f"manifest {path} must map each checkpoint name to an entry (a JSON object), "
                              f"got {type(manifest).__name__}")
    return manifest


def available(directory: str | os.PathLike | None = None) -> list[str]:
    """Names of the checkpoints listed in the manifest."""
    return sorted(read_manifest(directory))


def info(name: str, directory: str | os.PathLike | None = None) -> dict:
    """The manifest entry of ``name``."""
    manifest = read_manifest(directory)
    if name not in manifest:
        raise CheckpointError(f"no checkpoint named {name!r}; available: {sorted(manifest)}. "
                              f"Train it with `python -m tempguide.train {name}`.")
    return manifest[name]


def load(name: str, *, device: torch.device | str | None = None,
         directory: str | os.PathLike | None = None) -> torch.nn.Module:
    """The shipped model ``name`` on ``device`` (default ``config.device()``), in eval mode."""
    from .. import config

    directory = Path(directory or DIRECTORY)
    entry = info(name, directory)
    path = directory / f"{name}.pt"
    fix = f"run `python -m tempguide.train {name}` or reinstall the package (pip install --force-reinstall tempguide)"
    if not path.exists():
        raise CheckpointError(f"checkpoint file {path} is missing; {fix}.")
    actual = sha256(path)
    if actual != entry.get("sha256"):
        raise CheckpointError(f"checkpoint file {path} is corrupt or was changed: its sha256 is {actual} but the "
                              f"manifest expects {entry.get('sha256')}; {fix}.")
    device = torch.device(device) if device is not None else config.device()
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    _check_against_entry(checkpoint, entry, path)
    if checkpoint["model"] not in MODELS:
        raise CheckpointError(f"{path}: unknown model class {checkpoint['model']!r}; known: {sorted(MODELS)}")
    model_cls, config_cls = MODELS[checkpoint["model"]]()
    model = model_cls(config_cls(**checkpoint["config"]))
    model.load_state_dict(checkpoint["state_dict"])
    return model.to(device).eval()


def _check_against_entry(checkpoint, entry: dict, path: Path) -> None:
    """The checkpoint's model class and config must be the ones its manifest entry records."""
    if not isinstance(checkpoint, dict) or not {"model", "config", "state_dict"} <= set(checkpoint):
        raise CheckpointError(f"checkpoint file {path} must hold a dict with 'model', 'config' and 'state_dict', "
                              f"got {sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__}")
    for key in ("model", "config"):
        if checkpoint[key] != entry.get(key):
            raise CheckpointError(f"checkpoint file {path} disagrees with its manifest entry: {key} is "
                                  f"{checkpoint[key]!r} in the file but {entry.get(key)!r} in {MANIFEST}")


def save(name: str, model: torch.nn.Module, *, config, data: str, train_info: dict, metrics: dict,
         directory: str | os.PathLike | None = None) -> Path:
    """Write ``<name>.pt`` and its manifest entry; return the path.

    ``config`` is the model's config dataclass (or its ``asdict``); ``train_info``
    has steps, batch_size, lr, seconds (torch version and device are added here).
    """
    directory = Path(directory or DIRECTORY)
    directory.mkdir(parents=True, exist_ok=True)
    model_name = type(model).__name__
    if model_name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {model_name}")
    config = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    config = json.loads(json.dumps(config))  # what the manifest will hold (tuples -> lists)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    path = directory / f"{name}.pt"
    torch.save({"model": model_name, "config": config, "state_dict": state}, path)
    with _manifest_lock(directory):
        manifest = read_manifest(directory)
        manifest[name] = {
        "file": path.name,
        "model": model_name,
        "config": config,
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": data,
        **train_info,
        "torch_version": torch.__version__,
        "device": str(next(model.parameters()).device),
        "bytes": path.stat().st_size,
        "sha256": sha256(path),
        "metrics": metrics,
        }
        _write_manifest(directory, manifest)
    return path


def update_metrics(name: str, metrics: dict, directory: str | os.PathLike | None = None) -> None:
    """Add ``metrics`` to the manifest entry of ``name`` (e.g. sample quality measured after training)."""
    directory = Path(directory or DIRECTORY)
    with _manifest_lock(directory):
        manifest = read_manifest(directory)
        if name not in manifest:
            raise CheckpointError(f"no checkpoint named {name!r} in {directory / MANIFEST}")
        manifest[name]["metrics"].update(metrics)
        _write_manifest(directory, manifest)


def _write_manifest(directory: Path, manifest: dict) -> None:
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    tmp.replace(directory / MANIFEST)  # atomic: a reader never sees half a manifest


@contextlib.contextmanager
def _manifest_lock(directory: Path):
    """Serialise manifest updates of concurrent training runs (POSIX file lock; no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(directory / ".manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
