"""Sphinx extension for the course book: exercises numbered per chapter (Exercise 2.3).

sphinx-exercise numbers exercises like figures, through Sphinx's ``numfig``.
The book's table of contents is not section-numbered, so those numbers ran
through the whole book and chapter 1 began at Exercise 2 (issue 18).  Here each
exercise gets the number ``(chapter, k)``: the chapter is read from the caption
of its part in ``_toc.yml`` ("Chapter 2 — ..."), and ``k`` counts the exercises
of that chapter in book order.  A part without a chapter number uses the first
letter of its caption ("Toolkit" -> Exercise T.1, like an appendix).  Titles,
``{ref}`` and ``{numref}`` all read the renumbered ``env.toc_fignumbers``.

Listed in ``_config.yml`` under ``sphinx.extra_extensions``, after ``sphinx_exercise``.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sphinx is a [dev] dependency; the package never imports this module itself
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

CHAPTER = re.compile(r"Chapter\s+(\d+)\b")


def part_numbers(site_map) -> dict[str, int | str]:
    """docname -> the number of its part: the N of "Chapter N", otherwise the caption's first letter."""
    numbers: dict[str, int | str] = {}

    def walk(docname: str, number: int | str) -> None:
        numbers[docname] = number
        for child in site_map[docname].child_files():
            walk(child, number)

    for part in site_map[site_map.root.docname].subtrees:
        caption = part.caption or ""
        chapter = CHAPTER.search(caption)
        number = int(chapter.group(1)) if chapter else (caption.strip()[:1].upper() or "?")
        for docname in part.files():
            walk(docname, number)
    return numbers


def renumber_exercises(fignumbers: dict[str, dict], numbers: dict[str, int | str]) -> None:
    """Replace book-wide exercise numbers ``(n,)`` by ``(part number, k)``, in place.

    ``fignumbers`` is Sphinx's ``env.toc_fignumbers`` (docname -> figure type ->
    node id -> number tuple); the book-wide numbers give the book order.
    """
    found = sorted((number, docname, node_id)
                   for docname, types in fignumbers.items()
                   for node_id, number in types.get("exercise", {}).items())
    counts: dict[int | str, int] = {}
    for _, docname, node_id in found:
        part = numbers.get(docname, "?")
        counts[part] = counts.get(part, 0) + 1
        fignumbers[docname]["exercise"][node_id] = (part, counts[part])


def _renumber(app: Sphinx, env: BuildEnvironment) -> list[str]:
    site_map = getattr(env, "external_site_map", None)
    if site_map is None:  # not a Jupyter Book with a _toc.yml: keep Sphinx's numbers
        return []
    renumber_exercises(env.toc_fignumbers, part_numbers(site_map))
    return []


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx_exercise")
    # After Sphinx's own TocTreeCollector (priority 500) has assigned the book-wide numbers.
    app.connect("env-get-updated", _renumber, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
