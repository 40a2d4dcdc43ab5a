"""Which cells are graded, and which assignment a notebook belongs to (nbgrader's cell metadata).

A **test cell** is a code cell whose metadata carries nbgrader's

    "nbgrader": {"grade": true, "solution": false, "grade_id": "ex1_temperature",
                 "points": 2, "locked": true, "schema_version": 3}

It passes (earning ``points``) when it runs without an exception.  A **solution
cell** holds the solution regions: ``{"solution": true, "grade": false, ...}``
for code; a markdown answer is a **manually graded answer**,
``{"solution": true, "grade": true, "points": 2, ...}``, which nbgrader requires
of every markdown solution cell and our grader lists as "not graded
automatically".  The functions take nbformat cells or the grader's plain dicts
(anything with ``cell_type`` and ``metadata``).  The **assignment id** is
``metadata["tempguide"]["assignment"]`` of the notebook (the student version
copies it from the solution), or else the file name without ``.ipynb``.
"""
from __future__ import annotations

import numbers
from pathlib import Path

from .markers import MarkerError, find_regions


def nbgrader(cell) -> dict:
    """The cell's nbgrader metadata, ``{}`` when absent or not an object."""
    metadata = cell.get("metadata")
    value = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return value if isinstance(value, dict) else {}


def is_graded_cell(cell) -> bool:
    """A test cell: a code cell with ``nbgrader.grade`` true (and not a manually graded answer)."""
    return cell.get("cell_type") == "code" and nbgrader(cell).get("grade") is True


def is_manual_answer(cell) -> bool:
    """A manually graded answer: a markdown cell with ``nbgrader.grade`` and ``solution`` true."""
    meta = nbgrader(cell)
    return cell.get("cell_type") == "markdown" and meta.get("grade") is True and meta.get("solution") is True


def is_whole_solution(cell, index: int | None = None) -> bool:
    """A solution cell without a solution region: nbgrader replaces all of it, and so do we."""
    if nbgrader(cell).get("solution") is not True or cell.get("cell_type") not in ("code", "markdown"):
        return False
    return not any(r.kind == "solution" for r in find_regions(cell.get("source", ""), cell["cell_type"], index))


def graded_cells(nb) -> list[tuple[int, dict]]:
    """``(cell index, cell)`` of every test cell, in notebook order."""
    return [(i, cell) for i, cell in enumerate(nb.cells) if is_graded_cell(cell)]


def manual_answers(nb) -> list[tuple[int, dict]]:
    """``(cell index, cell)`` of every manually graded answer, in notebook order."""
    return [(i, cell) for i, cell in enumerate(nb.cells) if is_manual_answer(cell)]


def assignment_id(nb, path: str | Path | None = None) -> str | None:
    """The notebook's assignment id (metadata, else the file name stem, else None)."""
    meta = (nb.metadata.get("tempguide") or {}) if nb is not None else {}
    if isinstance(meta, dict) and isinstance(meta.get("assignment"), str) and meta["assignment"]:
        return meta["assignment"]
    return Path(path).stem if path is not None else None


def _positive(points) -> bool:
    return not isinstance(points, bool) and isinstance(points, numbers.Real) and points > 0


def _check_roles(i: int, cell, kinds: set[str]) -> None:
    """``MarkerError`` if cell ``i``'s nbgrader role does not fit its type and regions (nbgrader's own rules)."""
    meta, cell_type = nbgrader(cell), cell.get("cell_type")
    grade, solution = meta.get("grade") is True, meta.get("solution") is True
    if cell_type == "code" and grade and solution:
        raise MarkerError(f"cell {i}: manually graded code answers (nbgrader grade and solution both true) "
                          "are not supported; split it into a solution cell and a test cell")
    if cell_type == "markdown" and grade and not solution:
        raise MarkerError(f"cell {i}: a markdown grade cell must also be a solution cell (nbgrader solution: "
                          "true), i.e. a manually graded answer; test cells are code cells")
    if cell_type == "markdown" and solution and not grade:
        raise MarkerError(f"cell {i}: a markdown solution cell must be a manually graded answer (nbgrader "
                          "grade: true with points > 0), as nbgrader requires")
    if cell_type not in ("code", "markdown") and (grade or solution):
        raise MarkerError(f"cell {i}: a {cell_type} cell cannot be an nbgrader grade or solution cell")
    if "solution" in kinds and is_graded_cell(cell):
        raise MarkerError(f"cell {i}: a test cell cannot contain a solution region")
    if "solution" in kinds and not solution:
        raise MarkerError(f"cell {i}: solution region in a cell that is not a solution cell (nbgrader refuses "
                          "it); give the cell nbgrader metadata with solution: true"
                          + (", grade: true and points" if cell_type == "markdown" else ""))
    if "hidden" in kinds and not is_graded_cell(cell):
        raise MarkerError(f"cell {i}: hidden tests outside a test cell (nbgrader grade: true) would never run")


def validate_solution(nb) -> None:
    """Raise ``MarkerError`` naming the cell if markers or grading metadata are wrong.

    We refuse what nbgrader refuses, so that a malformed notebook fails here
    first: markers must balance (see ``markers``); a solution region only in a
    solution cell; a markdown solution cell only as a manually graded answer
    (grade and solution true, points > 0); every cell that is graded, a solution
    or locked has a ``grade_id`` used by no other cell.  Beyond nbgrader: hidden
    tests only inside test cells (elsewhere they would never run), no manually
    graded code cells, points > 0.  A solution cell without a region is, as in
    nbgrader, a solution as a whole (see ``is_whole_solution``).
    """
    seen: dict[str, int] = {}
    for i, cell in enumerate(nb.cells):
        regions = find_regions(cell.get("source", ""), cell.get("cell_type", ""), i)
        _check_roles(i, cell, {r.kind for r in regions})
        meta = nbgrader(cell)
        if not any(meta.get(key) is True for key in ("grade", "solution", "locked")):
            continue
        grade_id = meta.get("grade_id")
        if not isinstance(grade_id, str) or not grade_id:
            raise MarkerError(f"cell {i}: nbgrader cell without a grade_id")
        if grade_id in seen:
            raise MarkerError(f"cell {i}: grade_id {grade_id!r} already used by cell {seen[grade_id]}")
        seen[grade_id] = i
        if meta.get("grade") is True and not _positive(meta.get("points")):
            kind = "test cell" if is_graded_cell(cell) else "answer"
            raise MarkerError(f"cell {i}: {kind} {grade_id!r} needs points > 0, got {meta.get('points')!r}")
