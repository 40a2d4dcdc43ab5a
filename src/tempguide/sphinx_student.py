"""Sphinx extension for the student edition of the book: no solution in the downloadable sources.

``make book-student`` switches on sphinx-exercise's ``hide_solutions``, which
drops every ``{solution}`` directive from the rendered pages and the search
index.  Sphinx still copies each page's *source* to ``_sources/`` for the
page's download button, and those copies held every solution (issue 18).  The
student configuration written by ``tempguide.homework.book.student_config``
lists this extension; once the HTML build has finished, it removes the
``{solution}`` blocks from every copied Markdown source and from the Markdown
cells of every copied notebook.  ``tests/test_student_edition.py`` searches the
whole student build for each solution's text.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sphinx is a [dev] dependency; the package never imports this module itself
    from sphinx.application import Sphinx

# The opening line of a MyST directive: a fence of >= 3 backticks or colons, then `{name}`.
_OPENING = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|:{3,})\{(?P<name>[\w-]+)\}")


def strip_solutions(text: str) -> str:
    """``text`` (MyST Markdown) without its ``{solution}`` directive blocks.

    A block ends at the first line that is a fence of the same character at
    least as long as the opening one (the CommonMark rule), so a solution
    opened with four backticks around an inner three-backtick block is removed whole.
    """
    kept, closing = [], None
    for line in text.splitlines(keepends=True):
        if closing is not None:  # inside a solution: drop lines up to its closing fence
            if closing.fullmatch(line.strip()):
                closing = None
            continue
        opening = _OPENING.match(line)
        if opening and opening["name"] == "solution":
            fence = opening["fence"]
            closing = re.compile(re.escape(fence[0]) + "{" + str(len(fence)) + ",}")
            continue
        kept.append(line)
    return "".join(kept)


def _strip_notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = strip_solutions(cell.source)
    nbformat.write(nb, path)


def _strip_copied_sources(app: Sphinx, exception: Exception | None) -> None:
    """After an HTML build: strip the solutions from everything under ``_sources/``."""
    sources = Path(app.outdir) / "_sources"
    if exception is not None or app.builder.format != "html" or not sources.is_dir():
        return
    for path in sources.rglob("*"):
        if path.suffix == ".ipynb":
            _strip_notebook(path)
        elif path.is_file() and path.suffix in {".md", ".txt"}:
            path.write_text(strip_solutions(path.read_text(encoding="utf-8")), encoding="utf-8")


def setup(app: Sphinx) -> dict:
    app.connect("build-finished", _strip_copied_sources)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
