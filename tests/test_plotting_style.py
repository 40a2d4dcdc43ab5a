"""The course's matplotlib style (issue 18, "Figures sized for the page").

The style keeps every figure inside the book's text column with fonts that stay
≥ 8 pt there; every book notebook applies it and shows each figure through
``plotting.show``, which measures it first.
"""
from __future__ import annotations

import re

import matplotlib
import matplotlib.pyplot as plt
import nbformat
import pytest
from matplotlib.font_manager import FontProperties

from notebook_tools import book_notebooks
from tempguide import plotting

matplotlib.use("Agg")

FONT_KEYS = ["font.size", "axes.titlesize", "axes.labelsize", "xtick.labelsize", "ytick.labelsize",
             "legend.fontsize", "legend.title_fontsize", "figure.titlesize"]


@pytest.fixture
def course_style():
    with matplotlib.rc_context():
        plotting.use_course_style()
        yield
    plt.close("all")


def points(key: str) -> float:
    """An rcParams font size in points ('small', 'large', ... resolved against font.size)."""
    return FontProperties(size=matplotlib.rcParams[key]).get_size_in_points()


def test_rendered_font_pt_by_hand():
    # 10 pt at 100 dpi is 13.89 px = 10.42 CSS pt; an image twice the column's width is shown at half size.
    assert plotting.rendered_font_pt(10, 6.8) == pytest.approx(10 * 100 / 72 * 0.75)
    assert plotting.rendered_font_pt(10, 13.76) == pytest.approx(10 * 100 / 72 * 0.75 / 2)
    assert plotting.rendered_font_pt(9, 2.0, dpi=72, column_px=100) == pytest.approx(9 * (100 / 144) * 0.75)
    with pytest.raises(ValueError, match="width_in"):
        plotting.rendered_font_pt(10, 0)


def test_course_style_fits_the_column(course_style):
    width, _ = matplotlib.rcParams["figure.figsize"]
    assert width * matplotlib.rcParams["figure.dpi"] <= plotting.COLUMN_PX
    smallest = min(points(key) for key in FONT_KEYS)
    assert plotting.rendered_font_pt(smallest, width) >= plotting.MIN_FONT_PT
    assert smallest >= 9  # one point of headroom: a figure up to 12 % wider than the column still passes


def test_a_default_figure_is_readable(course_style):
    fig, axes = plt.subplots(1, 3)
    for ax in axes:
        ax.plot([0.0, 1.0], [0.0, 1e3], label="a line")
        ax.set(title="self perplexity", xlabel="temperature T")
    axes[0].legend()
    fig.suptitle("A sweep")
    plotting.check_readable(fig)


def test_check_readable_rejects_a_wide_grid(course_style):
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))  # notebook 22's old "Metrics against τ"
    for ax in axes:
        ax.plot([1.0, 0.6], [10.0, 40.0])
    with pytest.raises(ValueError, match="would show at"):
        plotting.check_readable(fig)
    size, _ = plotting.smallest_text(fig)
    assert size < plotting.MIN_FONT_PT


def test_check_readable_rejects_a_small_font(course_style):
    fig, ax = plt.subplots()
    ax.set_title("tiny", fontsize=6)  # 6 pt: 6.25 CSS pt even when nothing is shrunk
    with pytest.raises(ValueError, match="'tiny'"):
        plotting.check_readable(fig)


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", book_notebooks(), ids=lambda p: p.stem)
def test_every_book_notebook_applies_the_style_first(path):
    cells = [c for c in code_cells(path) if "remove-cell" not in c.metadata.get("tags", [])]  # after the setup cell
    assert cells and "plotting.use_course_style()" in cells[0].source, \
        f"{path.name}: its first code cell (the imports) must call plotting.use_course_style()"


@pytest.mark.parametrize("path", book_notebooks(), ids=lambda p: p.stem)
def test_every_book_notebook_measures_every_figure(path):
    for cell in code_cells(path):
        assert "plt.show()" not in cell.source, \
            f"{path.name}: show figures with plotting.show(fig), which measures them"
        if re.search(r"plt\.(subplots|figure)\(", cell.source):
            assert "plotting.show(" in cell.source, \
                f"{path.name}: a cell draws a figure but never calls plotting.show"
