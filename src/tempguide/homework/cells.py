"""Which cells are graded, and which assignment a notebook belongs to (nbgrader's cell metadata).

A **test cell** is a code cell whose metadata carries nbgrader's

    "nbgrader": {"grade": true, "solution": false, "grade_id": "ex1_temperature",
                 "points": 2, "locked": true, "schema_version": 3}

It passes (earning ``points``) when it runs without an exception.  Solution
cells may carry ``{"solution": true, "grade": false, ...}`` for nbgrader's sake;
we only need the markers.  The **assignment id** is
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
    """A code cell with ``nbgrader.grade`` true (and not a manually graded answer)."""
    return cell.get("cell_type") == "code" and nbgrader(cell).get("grade") is True


def graded_cells(nb) -> list[tuple[int, dict]]:
    """``(cell index, cell)`` of every test cell, in notebook order."""
    return [(i, cell) for i, cell in enumerate(nb.cells) if is_graded_cell(cell)]


def assignment_id(nb, path: str | Path | None = None) -> str | None:
    """The notebook's assignment id (metadata, else the file name stem, else None)."""
    meta = (nb.metadata.get("tempguide") or {}) if nb is not None else {}
    if isinstance(meta, dict) and isinstance(meta.get("assignment"), str) and meta["assignment"]:
        return meta["assignment"]
    return Path(path).stem if path is not None else None


def validate_solution(nb) -> None:
    """Raise ``MarkerError`` naming the cell if markers or grading metadata are wrong.

    Markers must balance (see ``markers``); hidden tests only inside test cells
    (elsewhere they would never run); no solution regions inside test cells; each
    test cell needs a unique ``grade_id`` and ``points`` > 0; manually graded
    answers (``grade`` and ``solution`` both true) are not supported.
    """
    seen: dict[str, int] = {}
    for i, cell in enumerate(nb.cells):
        regions = find_regions(cell.get("source", ""), cell.get("cell_type", ""), i)
        meta = nbgrader(cell)
        if meta.get("grade") is True and meta.get("solution") is True:
            raise MarkerError(f"cell {i}: manually graded answers (nbgrader grade and solution both true) "
                              "are not supported; split it into a solution cell and a test cell")
        if meta.get("grade") is True and cell.get("cell_type") != "code":
            raise MarkerError(f"cell {i}: a test cell (nbgrader grade: true) must be a code cell")
        kinds = {r.kind for r in regions}
        if is_graded_cell(cell):
            if "solution" in kinds:
                raise MarkerError(f"cell {i}: a test cell cannot contain a solution region")
            grade_id, points = meta.get("grade_id"), meta.get("points")
            if not isinstance(grade_id, str) or not grade_id:
                raise MarkerError(f"cell {i}: test cell without a grade_id")
            if grade_id in seen:
                raise MarkerError(f"cell {i}: grade_id {grade_id!r} already used by cell {seen[grade_id]}")
            seen[grade_id] = i
            if isinstance(points, bool) or not isinstance(points, numbers.Real) or not points > 0:
                raise MarkerError(f"cell {i}: test cell {grade_id!r} needs points > 0, got {points!r}")
        elif "hidden" in kinds:
            raise MarkerError(f"cell {i}: hidden tests outside a test cell (nbgrader grade: true) would never run")
