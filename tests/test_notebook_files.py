"""The committed notebooks as files: clean, Colab-ready, in the book, widgets with a static twin.

Issue "Foundation" item 7 (committed without outputs) and issue "book and
launch" items 4-5 (one setup cell first; every slider followed by an ordinary
figure).  Source checks only: the Colab simulation checks the executed figures.
"""
from __future__ import annotations

import pytest

from notebook_tools import (
    FIGURE,
    NOTEBOOKS,
    ROOT,
    SLIDER,
    all_notebooks,
    load_config,
    read,
    slider_cells,
    toc_files,
)
from tempguide import colab

NOTEBOOK_PATHS = all_notebooks()
IDS = [p.relative_to(ROOT).as_posix() for p in NOTEBOOK_PATHS]
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def test_there_are_notebooks():
    assert NOTEBOOK_PATHS, "no notebook under notebooks/"


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=IDS)
def test_committed_without_outputs(path):
    nb = read(path)
    dirty = [
        i for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} have outputs or execution counts; clear them "
        "(jupyter nbconvert --clear-output --inplace) before committing"
    )
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state in metadata"


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=IDS)
def test_first_code_cell_is_the_colab_setup_cell(path):
    """The setup cell runs before any other code, so Colab installs the package first."""
    nb = read(path)
    first = next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code")
    assert nb.cells[first].source == colab.SETUP_CELL, (
        f"{path.name}: the first code cell must be exactly tempguide.colab.SETUP_CELL"
    )
    assert nb.metadata.get("kernelspec") == KERNELSPEC, f"{path.name}: kernelspec"


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_book_notebook_opens_with_its_title_then_the_hidden_setup_cell(path):
    """Issue 18: the page starts with its title; the setup cell follows, removed from the page."""
    cells = read(path).cells
    title, setup = cells[0], cells[1]
    assert title.cell_type == "markdown" and title.source.startswith("# "), (
        f"{path.name}: the first cell must be the markdown cell with the '# ' title"
    )
    assert setup.source == colab.SETUP_CELL, f"{path.name}: the setup cell must follow the title"
    assert "remove-cell" in setup.metadata.get("tags", []), (
        f"{path.name}: tag the setup cell 'remove-cell' so the rendered page hides it"
    )


def test_repository_url_is_written_once():
    """Launch buttons (from _config.yml) and the setup cell install from the same repository."""
    assert colab.REPOSITORY_URL == load_config()["repository"]["url"]


def test_every_notebook_and_page_is_in_the_toc():
    """With only_build_toc_files, a page missing from _toc.yml silently vanishes from the book."""
    listed = set(toc_files())
    pages = [p for p in NOTEBOOKS.glob("*.ipynb")] + [p for p in (ROOT / "book").glob("*.md")]
    missing = sorted(p.relative_to(ROOT).with_suffix("").as_posix() for p in pages
                     if p.relative_to(ROOT).with_suffix("").as_posix() not in listed)
    assert not missing, f"not in _toc.yml: {missing}"


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=IDS)
def test_every_slider_has_a_static_twin(path):
    """A slider cell is followed by a code cell that draws an ordinary figure."""
    nb = read(path)
    for slider, twin in slider_cells(nb):
        assert twin is not None, f"{path.name}: cell {slider} has a slider and no cell after it"
        source = nb.cells[twin].source
        assert FIGURE.search(source) and not SLIDER.search(source), (
            f"{path.name}: cell {twin}, after the slider in cell {slider}, must draw the same "
            "thing for a few fixed values as an ordinary figure (and no slider)"
        )


def test_slider_and_figure_patterns():
    """The patterns above recognise what they should, and only that."""
    assert SLIDER.search("interact(draw, T=FloatSlider(value=1.0, min=0.1, max=3))")
    assert SLIDER.search("@interact(w=(0.0, 8.0))\ndef show(w): ...")
    assert SLIDER.search("w = widgets.IntSlider(3)")
    assert not SLIDER.search("from ipywidgets import interact, FloatSlider")
    assert FIGURE.search("fig, axes = plt.subplots(1, 3)")
    assert FIGURE.search("plot_samples(ax, y)")
    assert not FIGURE.search("print(result.final_loss)")
