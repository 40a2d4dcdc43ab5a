"""The student version of a solution notebook (book: "Homework"; nbgrader's ``generate_assignment``).

``student_notebook(solution)`` replaces every solution region by
``raise NotImplementedError("<hint>")`` (markdown: ``YOUR ANSWER HERE``),
removes hidden tests, clears outputs and execution counts, and records the
assignment id in the notebook metadata.  Same solution in, same bytes out: the
tests compare every committed student notebook with a fresh generation.
"""
from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from .cells import assignment_id, validate_solution
from .markers import student_source


def student_notebook(solution, path: str | Path | None = None):
    """The student version (a new ``NotebookNode``) of the solution notebook ``solution``.

    ``path`` (the solution's file) names the assignment when the metadata does
    not.  Raises ``MarkerError`` (a ``ValueError``) with the cell index on
    unbalanced, nested or malformed markers.
    """
    validate_solution(solution)
    nb = copy.deepcopy(solution)
    for i, cell in enumerate(nb.cells):
        cell.source = student_source(cell.source, cell.cell_type, i)
        cell.metadata.pop("execution", None)  # timing left by nbclient
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)  # saved widget state is an output too
    name = assignment_id(solution, path)
    if name is not None:
        nb.metadata.setdefault("tempguide", {})["assignment"] = name
    nbformat.validate(nb)
    return nb


def notebook_text(nb) -> str:
    """The file contents ``nbformat.write`` produces (ending with a newline)."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def write_student(solution_path: str | Path, student_path: str | Path, *, force: bool = False) -> bool:
    """Write the student version of ``solution_path`` to ``student_path``; True if the file changed.

    An existing ``student_path`` with different contents is only replaced when
    ``force`` is true (``FileExistsError`` otherwise); identical contents are left
    untouched (its mtime too).
    """
    solution_path, student_path = Path(solution_path), Path(student_path)
    if solution_path.resolve() == student_path.resolve():
        raise ValueError("STUDENT must be a different file from SOLUTION")
    solution = nbformat.read(solution_path, as_version=4)
    text = notebook_text(student_notebook(solution, solution_path))
    if student_path.exists():
        if student_path.read_text(encoding="utf-8") == text:
            return False
        if not force:
            raise FileExistsError(f"{student_path} exists and differs from the generated student version "
                                  "(pass --force to overwrite it)")
    student_path.parent.mkdir(parents=True, exist_ok=True)
    student_path.write_text(text, encoding="utf-8")
    return True
