"""Shared helpers for the notebook, Colab, book and browser tests (not a test module).

Which notebooks exist, which of them the book shows, which Colab runs, and
where a notebook offers an ipywidgets slider (issue "book and launch", item 5).
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
HOMEWORK = NOTEBOOKS / "homework"

# A cell that puts a slider on screen: a call of ipywidgets' interact family
# (or its decorator) or of a *Slider widget (an import alone does not count).
SLIDER = re.compile(r"@interact\b|\b(interact|interactive|interact_manual|\w*Slider)\s*\(")
# A cell that draws an ordinary figure: matplotlib, or one of our plotting helpers
# (by convention named plot_*/draw_*/show_*).
FIGURE = re.compile(
    r"\bplt\.|\.(plot|imshow|scatter|contourf?|hist|bar|pcolormesh|fill_between)\(|"
    r"\b(plot|draw|show)_\w*\("
)


def all_notebooks() -> list[Path]:
    """Every committed notebook, homework included."""
    return sorted(NOTEBOOKS.rglob("*.ipynb"), key=lambda p: p.relative_to(ROOT).as_posix())


def homework_student_notebooks() -> list[Path]:
    """Homework assignments as students get them: they raise NotImplementedError by design."""
    return sorted(HOMEWORK.glob("*.ipynb"))


def colab_notebooks() -> list[Path]:
    """What a student runs in Colab: chapter notebooks and homework *solutions*."""
    return sorted(NOTEBOOKS.glob("*.ipynb")) + sorted((HOMEWORK / "solutions").glob("*.ipynb"))


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def load_config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def toc_files() -> list[str]:
    """Every `file:` entry of _toc.yml (root included), without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found = [toc["root"], *toc_entries({k: v for k, v in toc.items() if k != "root"})]
    return [str(Path(f).with_suffix("")) if Path(f).suffix in {".md", ".ipynb"} else f for f in found]


def toc_entries(node) -> list[str]:
    """Every `file:` value below ``node`` (a part, a chapter or the whole _toc.yml), in order."""
    if isinstance(node, dict):
        own = [node["file"]] if "file" in node else []
        return own + [f for value in node.values() for f in toc_entries(value)]
    if isinstance(node, list):
        return [f for value in node for f in toc_entries(value)]
    return []


def book_notebooks() -> list[Path]:
    """Notebooks that the book renders (listed in _toc.yml)."""
    return [ROOT / f"{f}.ipynb" for f in toc_files() if (ROOT / f"{f}.ipynb").is_file()]


def slider_cells(nb: nbformat.NotebookNode) -> list[tuple[int, int | None]]:
    """(index of each code cell that shows a slider, index of the next code cell or None)."""
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    pairs = []
    for k, i in enumerate(code):
        if SLIDER.search(nb.cells[i].source):
            pairs.append((i, code[k + 1] if k + 1 < len(code) else None))
    return pairs


# Notebooks the Colab simulation executed into the book's cache (read by the book test).
COLAB_EXECUTED = pytest.StashKey[set]()
