"""Colab, simulated: each notebook alone, in a venv with only what Colab preinstalls.

Issue "book and launch", item 4.  Colab receives only the notebook file.  For
each notebook (chapters and homework *solutions*; homework student notebooks
raise NotImplementedError by design) this test

1. removes `tempguide` from the Colab venv and checks it cannot be imported;
2. copies the notebook alone into an empty directory and executes it there,
   in that venv's own kernel, with `TEMPGUIDE_INSTALL_TARGET` pointing at a wheel
   built from a snapshot of this checkout (its git-tracked and new files, as a
   `pip install git+<repository>` in Colab would see them), so the setup cell
   pip-installs the package, with its dependencies, the way it does in Colab;
3. asserts the run reached the end in that venv, with `tempguide` imported from
   the venv's site-packages (not from `src/`), and that the cell after every
   slider drew a figure (the static twin);
4. stores the execution in the book's jupyter-cache (`_config.yml`:
   `execute.cache`), so that `jupyter-book build` reuses it (tests/test_book.py
   checks that it does) instead of executing every notebook a third time.

The venv (`_build/colab-venv`) has what Colab preinstalls: torch, torchvision,
numpy, matplotlib and ipywidgets, plus ipykernel/nbclient/nbformat to execute.
Torch and torchvision (with what they require: numpy, pillow, the nvidia-*
libraries of a CUDA build, ...) are this environment's own installation, linked
into the venv (tests/colab_preinstalled.py), not a second 5.7 GB copy; the rest
is installed fresh from the package index.  Every notebook's kernel is checked to
see nothing of this environment or of the repository beyond those links and what
the setup cell installed.  The venv is kept between runs (about 0.3 GB, created
in about a minute; the old full copy took 5.7 GB and 5 minutes), and `tempguide`
is removed from it before every notebook.  What the package pulls in (tqdm,
mlxtend, ...) stays: Colab preinstalls those too.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from colab_preinstalled import PTH_NAME, SHARED, link_preinstalled, requirement_closure, site_packages
from notebook_tools import COLAB_EXECUTED, ROOT, colab_notebooks, load_config, read, slider_cells
from tempguide import colab

pytestmark = pytest.mark.colab

VENV = ROOT / "_build" / "colab-venv"
# What Colab preinstalls that our notebooks use; the last three only execute notebooks.
# SHARED (torch, torchvision) is linked from this environment, the rest installed.
PREINSTALLED = ("torch", "torchvision", "numpy", "matplotlib", "ipywidgets",
                "ipykernel", "nbclient", "nbformat")
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".colab-packages"
LINKED = VENV / "preinstalled"  # symbolic links into this environment's site-packages

NOTEBOOKS = colab_notebooks()
IDS = [p.relative_to(ROOT).as_posix() for p in NOTEBOOKS]

# Runs inside the Colab venv: executes argv[1] in the venv's own python3 kernel
# (working directory: the notebook's own, otherwise empty, folder) and writes
# the result to argv[2].  A last probe cell records where the kernel ran and
# where `tempguide` came from; the test removes it again.
DRIVER = r"""
import sys, time
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

source, target = sys.argv[1], sys.argv[2]
nb = nbformat.read(source, as_version=4)
nb.cells.append(nbformat.v4.new_code_cell(
    "import json as _j, os as _o, sys as _s, tempguide as _t\n"
    "print(_j.dumps({'prefix': _s.prefix, 'tempguide': _t.__file__, 'cwd': _o.getcwd(), 'path': _s.path,\n"
    "                'base': _s.base_prefix, 'files': sorted({str(getattr(_m, '__file__', None))\n"
    "                                                         for _m in list(_s.modules.values())} - {'None'})}))"))
client = NotebookClient(nb, timeout=900, kernel_name="python3", record_timing=False,
                        resources={"metadata": {"path": "."}})
start = time.perf_counter()
try:
    client.execute()
finally:
    nb.metadata["colab_sim_seconds"] = time.perf_counter() - start
    nbformat.write(nb, target)
"""


def _venv_environment(install_target: Path) -> dict[str, str]:
    # MPLBACKEND: Colab's kernels draw inline; a backend set in this process (e.g. Agg) must not leak in.
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "MPLBACKEND"}}
    env.update(
        PATH=f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(VENV),
        PYTHONNOUSERSITE="1",
        JUPYTER_PATH=str(VENV / "share" / "jupyter"),  # its own python3 kernel first
        PIP_ROOT_USER_ACTION="ignore",
        TEMPGUIDE_PROFILE=os.environ.get("TEMPGUIDE_PROFILE", "quick"),
    )
    env[colab.INSTALL_ENV] = str(install_target)
    return env


@pytest.fixture(scope="session")
def colab_venv(stage_report) -> Path:
    """The Colab venv: SHARED linked from this environment (a .pth file), the rest of PREINSTALLED installed."""
    shared = sorted(f"{key}=={dist.version}" for key, dist in requirement_closure(SHARED).items())
    wanted = "\n".join([" ".join(PREINSTALLED), *shared])  # a new torch here means a new venv
    if not (PYTHON.exists() and STAMP.exists() and STAMP.read_text() == wanted):
        start = time.perf_counter()
        shutil.rmtree(VENV, ignore_errors=True)  # removes the links, never what they point to
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        assert link_preinstalled(LINKED) == shared
        (site_packages(VENV) / PTH_NAME).write_text(f"{LINKED}\n")
        subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
        fresh = [name for name in PREINSTALLED if name not in SHARED]
        subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", *fresh], check=True)
        STAMP.write_text(wanted)
        stage_report("Colab simulation", f"created {VENV.relative_to(ROOT)} in {time.perf_counter() - start:.0f} s "
                     f"({', '.join(SHARED)} and {len(shared) - len(SHARED)} requirements linked, not installed)")
    return VENV


@pytest.fixture(scope="session")
def checkout_wheel(tmp_path_factory) -> Path:
    """A wheel of the package from a snapshot of the checkout (tracked and new, unignored files)."""
    snapshot = tmp_path_factory.mktemp("checkout") / "tempguide"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and (name.startswith("src/") or "/" not in name):
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / name)
    wheels = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels),
                    str(snapshot)], check=True)
    (wheel,) = wheels.glob("tempguide-*.whl")
    return wheel


def _uninstall_tempguide() -> None:
    subprocess.run([str(PYTHON), "-m", "pip", "uninstall", "--quiet", "--yes", "tempguide"],
                   check=True, capture_output=True)
    probe = subprocess.run([str(PYTHON), "-c", "import tempguide"], capture_output=True,
                           cwd="/", env={"PATH": os.environ["PATH"], "PYTHONNOUSERSITE": "1"})
    assert probe.returncode != 0, "tempguide is still importable in the Colab venv"


def _assert_only_colab_packages(probe: dict, folder: Path) -> None:
    """The kernel saw the venv (linked torch included), the standard library and the notebook's folder only."""
    allowed = (VENV, Path(probe["base"]), folder)
    outside = [entry for entry in probe["path"] + probe["files"]  # relative: '' (cwd) or torch's '_ops.py'
               if Path(entry).is_absolute() and not any(Path(entry).is_relative_to(place) for place in allowed)]
    assert not outside, f"the kernel reached beyond the Colab venv: {outside[:10]}"
    torch = [f for f in probe["files"] if Path(f).parent.name == "torch" and Path(f).name == "__init__.py"]
    assert torch == [str(LINKED / "torch" / "__init__.py")], f"torch came from {torch}, not the linked copy"
    assert not (site_packages(VENV) / "torch").exists(), "pip installed a second torch into the Colab venv"


def _setup_cell_index(nb: nbformat.NotebookNode) -> int:
    """The setup cell is the first code cell (it follows the title cell in book notebooks)."""
    return next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code")


def _cache_execution(original: nbformat.NotebookNode, executed: nbformat.NotebookNode,
                     path: Path, seconds: float) -> int:
    """Put the outputs into the book's jupyter-cache, keyed on the committed notebook."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    merged = nbformat.from_dict(json.loads(json.dumps(original)))
    for cell, done in zip(merged.cells, executed.cells):
        assert cell.source == done.source
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = done.outputs, done.execution_count
    # In the book the setup cell does nothing (no Colab, no install target): show no pip output.
    merged.cells[_setup_cell_index(merged)].outputs = []
    for key in ("language_info", "widgets"):
        if key in executed.metadata:
            merged.metadata[key] = executed.metadata[key]
    cache = get_cache(str(ROOT / load_config()["execute"]["cache"]))
    record = cache.cache_notebook_bundle(
        CacheBundleIn(merged, str(path), data={"execution_seconds": seconds}),
        check_validity=False, overwrite=True)
    assert cache.match_cache_notebook(read(path)).pk == record.pk, "the book would not find it"
    return record.pk


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_alone_in_a_colab_like_venv(path, colab_venv, checkout_wheel, tmp_path, stage_report,
                                                  request):
    _uninstall_tempguide()
    folder = tmp_path / "content"  # Colab's working directory holds the notebook and nothing else
    folder.mkdir()
    shutil.copy(path, folder / path.name)
    executed_path = tmp_path / "executed.ipynb"
    start = time.perf_counter()
    run = subprocess.run([str(PYTHON), "-c", DRIVER, path.name, str(executed_path)], cwd=folder,
                         env=_venv_environment(checkout_wheel), capture_output=True, text=True,
                         timeout=1800)
    seconds = time.perf_counter() - start
    assert run.returncode == 0, f"{path.name} failed in the Colab venv:\n{run.stderr[-4000:]}"

    executed = nbformat.read(executed_path, as_version=4)
    probe = json.loads(executed.cells.pop().outputs[0]["text"])
    assert Path(probe["prefix"]) == VENV, "the kernel did not run in the Colab venv"
    assert Path(probe["tempguide"]).is_relative_to(VENV), (
        f"tempguide came from {probe['tempguide']}, not from the venv's site-packages")
    assert Path(probe["cwd"]).resolve() == folder.resolve()
    _assert_only_colab_packages(probe, folder)
    assert executed.cells[_setup_cell_index(executed)].outputs, "the setup cell installed nothing (TEMPGUIDE_INSTALL_TARGET ignored?)"

    for slider, twin in slider_cells(executed):
        images = [o for o in executed.cells[twin].outputs if "image/png" in o.get("data", {})]
        assert images, f"{path.name}: cell {twin} (static twin of the slider in cell {slider}) drew no figure"

    kernel_seconds = executed.metadata.pop("colab_sim_seconds")
    pk = _cache_execution(read(path), executed, path, kernel_seconds)
    request.config.stash.setdefault(COLAB_EXECUTED, set()).add(path.relative_to(ROOT).as_posix())
    stage_report("Colab simulation",
                 f"{path.relative_to(ROOT).as_posix():48s} {seconds:6.1f} s (kernel {kernel_seconds:5.1f} s)"
                 f"  -> jupyter-cache record {pk}")
