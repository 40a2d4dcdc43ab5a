"""Building the book from tests (not a test module): the command, its output, the cache."""
from __future__ import annotations

import os
import re
import subprocess
import textwrap
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from notebook_tools import ROOT, load_config, read

BUILD = ROOT / "_build"
ARTIFACTS = BUILD / "artifacts"
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"
BUILD_COMMAND = [str(JUPYTER_BOOK), "build", "--all", "-W", "-n", "--keep-going", "."]
# Lines that say WARNING/ERROR but come from outside Sphinx and are not the book's to fix.
# (ipykernel's "Kernel is running over TCP without encryption" is not one of them: the
# extension tempguide.sphinx_kernels gives the book's kernels CurveZMQ keys.)
KNOWN_NOISE: tuple[str, ...] = ()
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class BookBuild:
    returncode: int
    output: str
    seconds: float
    html: Path
    cached_before: list[str] = field(default_factory=list)  # book notebooks with a cache hit
    executed: list[str] = field(default_factory=list)  # notebooks the build executed itself
    reused: list[str] = field(default_factory=list)  # notebooks taken from the cache

    def problems(self) -> list[str]:
        return [line for line in self.output.splitlines()
                if ("WARNING" in line or "ERROR" in line) and not line.startswith(KNOWN_NOISE)]


def run_book_build(source: Path, timeout: float = 3600) -> tuple[int, str, float]:
    """`jupyter-book build --all -W -n --keep-going .` in `source` -> (exit code, output, seconds)."""
    start = time.perf_counter()
    run = subprocess.run(BUILD_COMMAND, cwd=source, capture_output=True, text=True, timeout=timeout)
    return run.returncode, ANSI.sub("", run.stdout + run.stderr), time.perf_counter() - start


def cache_hits(notebooks: list[Path]) -> list[Path]:
    """Notebooks whose committed code has an execution in the book's jupyter-cache."""
    from jupyter_cache import get_cache

    cache = get_cache(str(ROOT / load_config()["execute"]["cache"]))
    hits = []
    for path in notebooks:
        try:
            cache.match_cache_notebook(read(path))
        except KeyError:
            continue
        hits.append(path)
    return hits


def mystnb_notebooks(output: str, message: str) -> list[str]:
    """Notebooks (relative to the repository) that myst-nb logged `message` for."""
    found = re.findall(rf"^(\S+\.ipynb): {message}", output, flags=re.MULTILINE)
    return sorted(Path(p).resolve().relative_to(ROOT).as_posix() for p in found)


def tiny_book(folder: Path, toc: str, pages: dict[str, str | nbformat.NotebookNode]) -> Path:
    """A throw-away book with the real _config.yml (and its vendored assets)."""
    (folder / "book").mkdir(parents=True)
    (folder / "_config.yml").write_text((ROOT / "_config.yml").read_text())
    os.symlink(ROOT / "book" / "_vendor", folder / "book" / "_vendor")
    (folder / "_toc.yml").write_text(textwrap.dedent(toc))
    for name, content in pages.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            (folder / name).write_text(textwrap.dedent(content))
        else:
            nbformat.write(content, folder / name)
    return folder


def notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# A notebook")] + [nbformat.v4.new_code_cell(s) for s in sources]
    return nb
