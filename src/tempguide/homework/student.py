"""The student version of a solution notebook (book: "Homework"; nbgrader's ``generate_assignment``).

``student_notebook(solution)`` replaces every solution region by
``raise NotImplementedError("<hint>")`` (markdown: ``YOUR ANSWER HERE``) and, as
nbgrader does, a whole solution cell without markers by that stub, removes hidden tests, clears outputs and execution counts, and records the
assignment id in the notebook metadata.  Same solution in, same bytes out: the
tests compare every committed student notebook with a fresh generation.

``write_student`` never overwrites a solution, even with ``force``: swapping the
two arguments (``student STUDENT.ipynb SOLUTION.ipynb --force``) would otherwise
replace the teacher's notebook by a student version.  It refuses (``ValueError``)
to write into the solutions folder (``grader.default_solutions_dir()``) or into
the folder of the solution it reads, and over an existing file in which any line
is or looks like a marker (``markers.find_regions`` finds a region or raises).
"""
from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from .cells import assignment_id, is_whole_solution, validate_solution
from .markers import CODE, LOOKS_LIKE_MARKER, MARKDOWN, MarkerError, find_regions, student_source

# What a solution cell without markers stands for: one region around all of it.
WHOLE = {"code": "\n".join(CODE["solution"]), "markdown": "\n".join(MARKDOWN["solution"])}


def student_notebook(solution, path: str | Path | None = None):
    """The student version (a new ``NotebookNode``) of the solution notebook ``solution``.

    ``path`` (the solution's file) names the assignment when the metadata does
    not.  Raises ``MarkerError`` (a ``ValueError``) with the cell index on
    unbalanced, nested or malformed markers.
    """
    validate_solution(solution)
    nb = copy.deepcopy(solution)
    for i, cell in enumerate(nb.cells):
        if is_whole_solution(cell, i):  # nbgrader's rule: the whole cell is the solution
            cell.source = student_source(WHOLE[cell.cell_type], cell.cell_type, i)
        else:
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


def _has_markers(text: str) -> bool:
    """Whether the file contents ``text`` hold a solution or hidden-test marker, or something like one.

    A notebook counts when a cell has a marked region or a malformed marker
    (``MarkerError``); text that is not a notebook counts when a line looks like a
    marker (``markers.LOOKS_LIKE_MARKER``).
    """
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception:  # not a notebook (broken JSON, another format): judge the raw text
        return LOOKS_LIKE_MARKER.search(text) is not None
    for i, cell in enumerate(nb.get("cells", [])):
        try:
            if find_regions(cell.get("source", ""), cell.get("cell_type", ""), i):
                return True
        except MarkerError:
            return True
    return False


def _refuse_solution_targets(solution_path: Path, student_path: Path) -> None:
    """``ValueError`` if ``student_path`` is, or sits beside, a solution (see the module docstring)."""
    from .grader import default_solutions_dir  # here, not at the top: grader imports what student imports

    target = student_path.resolve()
    if target == solution_path.resolve():
        raise ValueError("STUDENT must be a different file from SOLUTION")
    folders = {solution_path.resolve().parent: "the folder of SOLUTION",
               default_solutions_dir().resolve(): "the solutions folder"}
    if target.parent in folders:
        raise ValueError(f"STUDENT {student_path} is in {folders[target.parent]} ({target.parent}); student "
                         "versions go elsewhere, e.g. notebooks/homework/ (are SOLUTION and STUDENT swapped?)")
    if target.is_file() and _has_markers(target.read_text(encoding="utf-8", errors="replace")):
        raise ValueError(f"STUDENT {student_path} exists and contains solution or hidden-test markers: it looks "
                         "like a solution notebook, which is never overwritten, not even with --force "
                         "(are SOLUTION and STUDENT swapped?)")


def write_student(solution_path: str | Path, student_path: str | Path, *, force: bool = False) -> bool:
    """Write the student version of ``solution_path`` to ``student_path``; True if the file changed.

    An existing ``student_path`` with different contents is only replaced when
    ``force`` is true (``FileExistsError`` otherwise); identical contents are left
    untouched (its mtime too).  ``ValueError``, whatever ``force``, when
    ``student_path`` is ``solution_path``, lies in the solutions folder or in the
    folder of ``solution_path``, or is a file with markers (see the module docstring).
    """
    solution_path, student_path = Path(solution_path), Path(student_path)
    solution = nbformat.read(solution_path, as_version=4)
    text = notebook_text(student_notebook(solution, solution_path))  # bad markers are reported first
    _refuse_solution_targets(solution_path, student_path)
    if student_path.exists():
        if student_path.read_text(encoding="utf-8") == text:
            return False
        if not force:
            raise FileExistsError(f"{student_path} exists and differs from the generated student version "
                                  "(pass --force to overwrite it)")
    student_path.parent.mkdir(parents=True, exist_ok=True)
    student_path.write_text(text, encoding="utf-8")
    return True
