"""Torch for the Colab simulation: this environment's copy, linked, not installed a second time.

Issue 18 ("costs").  Colab preinstalls torch and torchvision, so the simulated
Colab venv (tests/test_colab_sim.py) need not download them: it gets the very
installation this environment has.  `link_preinstalled` puts symbolic links to
the files of torch, torchvision and every distribution they require (numpy,
pillow, sympy, the nvidia-* libraries of a CUDA build, ...), dist-info included,
into one folder, and a `.pth` file puts that folder on the venv's `sys.path`.

- pip in the venv sees these distributions as installed, so `pip install
  tempguide` keeps them, as it keeps Colab's torch;
- nothing else of this environment is reachable: not `tempguide` (its editable
  install lives in a `.pth` file of this environment, which the venv never reads),
  not its other dependencies, not the test tools;
- pip never removes a linked distribution: their real files lie outside the
  venv, and pip refuses to uninstall outside its environment.
"""
from __future__ import annotations

import importlib.metadata as metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

SHARED = ("torch", "torchvision")
PTH_NAME = "colab-preinstalled.pth"


def requirement_closure(names: tuple[str, ...]) -> dict[str, metadata.Distribution]:
    """The installed distributions `names` need: themselves and their requirements, recursively.

    A requirement counts if its environment marker holds here, for the extras it
    was asked with (`cuda-toolkit[cublas]` pulls nvidia-cublas).  Keys are
    canonical names.
    """
    found: dict[str, metadata.Distribution] = {}
    seen: set[tuple[str, frozenset]] = set()
    pending = [(name, frozenset()) for name in names]
    while pending:
        name, extras = pending.pop()
        key = canonicalize_name(name)
        if (key, extras) in seen:
            continue
        seen.add((key, extras))
        found[key] = dist = metadata.distribution(name)
        for line in dist.requires or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in ("", *extras)):
                pending.append((requirement.name, frozenset(requirement.extras)))
    return found


def top_level_entries(dist: metadata.Distribution) -> set[str]:
    """The names a distribution puts directly into site-packages (packages, modules, .libs, dist-info)."""
    entries = {file.parts[0] for file in dist.files or []}
    # Scripts (../../bin), byte code caches and .pth hooks (never read from a linked folder) stay out.
    return {e for e in entries if e not in {"..", "__pycache__"} and not e.endswith(".pth")}


def link_preinstalled(folder: Path, names: tuple[str, ...] = SHARED) -> list[str]:
    """Link `names` and their requirements into `folder`; return the linked 'name==version' list."""
    folder.mkdir(parents=True, exist_ok=True)
    dists = requirement_closure(names)
    for dist in dists.values():
        for entry in top_level_entries(dist):
            source, link = Path(dist.locate_file(entry)), folder / entry
            if source.exists() and not link.is_symlink():
                link.symlink_to(source)
    return sorted(f"{key}=={dist.version}" for key, dist in dists.items())


def site_packages(venv: Path) -> Path:
    (found,) = venv.glob("lib/python3*/site-packages")
    return found
