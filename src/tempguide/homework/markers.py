"""nbgrader-compatible markers in cell sources (book: "Homework"; nbgrader's ``ClearSolutions``).

A solution notebook marks what students must not see with lines of their own:

- code cells:      ``### BEGIN SOLUTION`` ... ``### END SOLUTION``
- markdown cells:  ``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->``
- test cells:      ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``

Regions never nest and must be closed in the cell that opens them.  Inside a
solution region, hint lines (``# HINT: ...`` in code, ``<!-- HINT: ... -->`` in
markdown) are what the student version keeps: a code region becomes

    # YOUR CODE HERE
    raise NotImplementedError("<the hint text>")

at the indentation of its ``### BEGIN SOLUTION`` line, a markdown region becomes
``YOUR ANSWER HERE`` followed by the hints in italics.  A hidden-tests region is
removed.

A line that **looks like a marker** must be exactly one, so that a mistyped
marker never copies a solution or a hidden test into the student version.  The
rule, ignoring case: a line looks like a marker when the word BEGIN or END (not
preceded by a letter or digit) is followed directly, with nothing or only
whitespace, ``_`` or ``-`` in between, by SOLUTION or HIDDEN (whatever follows:
SOLUTIONS, HIDDEN_TEST).  It *is* a marker when the line without its leading
and trailing whitespace equals one of the markers of its cell type above
(indentation is allowed).  Anything else is a ``MarkerError`` naming the cell
and line and showing the marker meant: ``### begin solution``,
``BEGIN_SOLUTION``, ``###BEGIN SOLUTION``, ``## BEGIN SOLUTION``,
``### END-SOLUTION``, ``### BEGIN HIDDEN TEST``, ``<!-- begin solution -->``,
a marker with trailing text, a markdown marker in a code cell and vice versa,
hidden tests in markdown, any marker in a raw cell.  Text that separates the
words is not a marker ("the end of the solution", "begin: solution",
"ending solution", "appended hidden"); identifiers such as ``end_hidden`` or
``x_begin_solution`` do look like markers and must be renamed in a solution
notebook.
"""
from __future__ import annotations

import dataclasses
import re

CODE = {"solution": ("### BEGIN SOLUTION", "### END SOLUTION"),
        "hidden": ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")}
MARKDOWN = {"solution": ("<!-- BEGIN SOLUTION -->", "<!-- END SOLUTION -->")}
CODE_HINT = re.compile(r"^#\s*HINT:\s?(.*)$")
MARKDOWN_HINT = re.compile(r"^<!--\s*HINT:\s?(.*?)\s*-->$")
# A line that looks like a marker (see the module docstring): group 1 BEGIN/END, group 2 SOLUTION/HIDDEN.
LOOKS_LIKE_MARKER = re.compile(r"(?<![A-Za-z0-9])(BEGIN|END)[\s_-]*(SOLUTION|HIDDEN)", re.IGNORECASE)


class MarkerError(ValueError):
    """Unbalanced, nested or malformed markers; the message names the cell and line."""


@dataclasses.dataclass
class Region:
    """Lines ``start``..``end`` (0-based, both marker lines included) of one marked region."""

    kind: str  # "solution" or "hidden"
    start: int
    end: int
    indent: str  # whitespace before the opening marker
    hints: list[str]


def _where(cell_index, line_index) -> str:
    return f"cell {cell_index}, line {line_index + 1}"


def _advice(match: re.Match, cell_type: str) -> str:
    """Which exact marker the lookalike ``match`` probably meant, in a cell of ``cell_type``."""
    kind = "solution" if match.group(2).upper() == "SOLUTION" else "hidden"
    side = 0 if match.group(1).upper() == "BEGIN" else 1
    markers = CODE if cell_type == "code" else MARKDOWN if cell_type == "markdown" else {}
    if kind in markers:
        allowed = ", ".join(repr(m) for pair in markers.values() for m in pair)
        return (f"the marker is exactly {markers[kind][side]!r} on a line of its own "
                f"(markers of a {cell_type} cell: {allowed})")
    if kind == "hidden":
        return f"hidden tests go in a code test cell, marked exactly {CODE['hidden'][side]!r}"
    return (f"a {cell_type} cell takes no markers; mark solutions exactly {CODE['solution'][side]!r} "
            f"in a code cell or {MARKDOWN['solution'][side]!r} in a markdown cell")


def find_regions(source: str, cell_type: str, cell_index: int | None = None) -> list[Region]:
    """The marked regions of one cell's ``source``; ``MarkerError`` on unbalanced/nested/malformed markers."""
    markers = CODE if cell_type == "code" else MARKDOWN if cell_type == "markdown" else {}
    hint = CODE_HINT if cell_type == "code" else MARKDOWN_HINT
    opening = {begin: kind for kind, (begin, _) in markers.items()}
    closing = {end: kind for kind, (_, end) in markers.items()}
    regions: list[Region] = []
    current: Region | None = None
    lines = source.splitlines()
    for i, line in enumerate(lines):
        text = line.strip()
        if text in opening:
            if current is not None:
                raise MarkerError(
                    f"{_where(cell_index, i)}: {text!r} inside the {current.kind} region opened at line "
                    f"{current.start + 1} (markers cannot nest; close it with {markers[current.kind][1]!r} first)")
            current = Region(opening[text], i, -1, line[: len(line) - len(line.lstrip())], [])
        elif text in closing:
            if current is None or current.kind != closing[text]:
                begin = markers[closing[text]][0]
                extra = "" if current is None else \
                    f" (the {current.kind} region opened at line {current.start + 1} is still open)"
                raise MarkerError(f"{_where(cell_index, i)}: {text!r} without a matching {begin!r}{extra}")
            current.end = i
            regions.append(current)
            current = None
        elif hint.match(text) and current is not None and current.kind == "solution":
            current.hints.append(hint.match(text).group(1).strip())
        elif LOOKS_LIKE_MARKER.search(text):
            raise MarkerError(f"{_where(cell_index, i)}: malformed or misplaced marker {text!r} in a {cell_type} "
                              f"cell; {_advice(LOOKS_LIKE_MARKER.search(text), cell_type)}")
    if current is not None:
        raise MarkerError(f"{_where(cell_index, current.start)}: {lines[current.start].strip()!r} is never closed "
                          f"(expected {markers[current.kind][1]!r} in the same cell)")
    return regions


def _python_string(text: str) -> str:
    """``text`` as a double-quoted Python string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _replacement(region: Region, cell_type: str) -> list[str]:
    """What students see instead of ``region``."""
    if region.kind == "hidden":
        return []
    if cell_type == "code":
        message = " ".join(region.hints) or "your code here"
        return [region.indent + "# YOUR CODE HERE",
                region.indent + f"raise NotImplementedError({_python_string(message)})"]
    return ["YOUR ANSWER HERE"] + ["", *(f"*Hint: {h}*" for h in region.hints)] * bool(region.hints)


def student_source(source: str, cell_type: str, cell_index: int | None = None) -> str:
    """The student version of one cell: solutions replaced (see module docstring), hidden tests removed."""
    regions = find_regions(source, cell_type, cell_index)
    if not regions:
        return source
    lines = source.splitlines()
    out: list[str] = []
    position = 0
    for region in regions:
        out += lines[position:region.start] + _replacement(region, cell_type)
        position = region.end + 1
    out += lines[position:]
    return "\n".join(out)


def solution_source(source: str, cell_type: str, cell_index: int | None = None) -> str:
    """The full source with the marker lines themselves removed (what the grader runs with ``--hidden``)."""
    regions = find_regions(source, cell_type, cell_index)
    drop = {r.start for r in regions} | {r.end for r in regions}
    return "\n".join(line for i, line in enumerate(source.splitlines()) if i not in drop)
