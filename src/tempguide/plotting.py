"""One matplotlib style for the course, sized for the book's text column.

Every book notebook calls :func:`use_course_style` in its import cell, so a figure
drawn with the defaults fits the column of the rendered page and its smallest text
stays readable there.  The numbers behind the style were measured, not guessed:

* the book's pages (sphinx-book-theme 1.3.0) show a cell's output in a column
  ``COLUMN_PX`` = 688 CSS px wide in a 1280 px wide browser window (790 px from
  1440 px on, 755 px at 1024 px, where the right-hand sidebar folds away);
* matplotlib's inline backend draws at ``DPI`` = 100 pixels per inch and crops the
  figure to its drawn content (``bbox_inches="tight"``); an image wider than the
  column is shrunk to fit it, text included.

A font of ``s`` points in a figure whose saved image is ``W`` inches wide is then
shown at ``s · DPI/72 · min(1, COLUMN_PX / (W · DPI))`` CSS pixels, i.e. ¾ of that in
CSS points (:func:`rendered_font_pt`).  The style keeps ``W`` ≤ ``WIDTH`` and every
font ≥ 9 pt, so nothing drawn with it falls below ``MIN_FONT_PT`` = 8 pt on the page.
:func:`check_readable` measures a finished figure, and :func:`show` checks before
showing, so a notebook fails when one of its figures would be unreadable.
"""
from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.text import Text

#: width in CSS px of the book's output column in a 1280 px window (measured, see module docstring)
COLUMN_PX = 688
#: pixels per inch of the figures the notebooks show (matplotlib's inline backend)
DPI = 100
#: default figure width in inches: 680 px, inside the column at 1280 px and wider windows
WIDTH = 6.8
#: the smallest font, in CSS points on the rendered page, a course figure may show
MIN_FONT_PT = 8.0
#: CSS points per CSS pixel (1 pt = 1/72 in, 1 px = 1/96 in)
PT_PER_PX = 72 / 96

#: the course's rcParams: one width, one set of font sizes (all ≥ 9 pt), white backgrounds
COURSE_RC = {
    "figure.figsize": (WIDTH, 3.0),
    "figure.dpi": DPI,
    "savefig.dpi": "figure",
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def use_course_style() -> None:
    """Set the course's rcParams (``COURSE_RC``) for every figure drawn after this call.

    Every book notebook calls it once, in its import cell (book: "Running the notebooks").
    """
    matplotlib.rcParams.update(COURSE_RC)


def rendered_font_pt(font_pt: float, width_in: float, *, dpi: float = DPI, column_px: float = COLUMN_PX) -> float:
    """The size in CSS points at which a ``font_pt`` font of a ``width_in``-inch-wide image shows on the page.

    The image is ``width_in · dpi`` px wide and shrunk to ``column_px`` when wider.
    """
    if font_pt <= 0 or width_in <= 0 or dpi <= 0 or column_px <= 0:
        raise ValueError(f"font_pt, width_in, dpi and column_px must be > 0, got "
                         f"{font_pt!r}, {width_in!r}, {dpi!r}, {column_px!r}")
    shrink = min(1.0, column_px / (width_in * dpi))
    return font_pt * dpi / 72 * shrink * PT_PER_PX


def saved_width_in(fig: Figure) -> float:
    """Width in inches of the image the inline backend saves: the figure cropped to its drawn content."""
    renderer = fig.canvas.get_renderer()
    return fig.get_tightbbox(renderer).width


def smallest_text(fig: Figure) -> tuple[float, str]:
    """(rendered size in CSS points, the text) of the smallest visible text in ``fig``; (inf, "") if none."""
    fig.canvas.draw()  # lays out tick labels and applies tight/constrained layouts
    width = saved_width_in(fig)
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and t.get_figure() is not None]
    sized = [(float(rendered_font_pt(t.get_fontsize(), width, dpi=fig.dpi)), t.get_text()) for t in texts]
    return min(sized, default=(float("inf"), ""))


def check_readable(fig: Figure, *, min_pt: float = MIN_FONT_PT) -> None:
    """Raise ``ValueError`` when a text of ``fig`` would show below ``min_pt`` CSS points on the page."""
    size, text = smallest_text(fig)
    if size < min_pt:
        raise ValueError(f"figure {fig.get_label() or fig.number!r}: text {text!r} would show at {size:.1f} pt "
                         f"in the book's {COLUMN_PX} px column; the minimum is {min_pt} pt "
                         f"(make the figure narrower than {COLUMN_PX / DPI:.2f} in or split it)")


def show(fig: Figure | None = None) -> None:
    """Check that ``fig`` (default: the current figure) is readable in the book's column, then show it."""
    check_readable(plt.gcf() if fig is None else fig)
    plt.show()
