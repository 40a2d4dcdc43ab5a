"""Grade a submitted notebook (book: "Homework"; nbgrader's ``autograde`` without its database).

``grade(path)`` copies the submission into a temporary directory, runs its code
cells one by one there (``kernel.CellRunner``: per-cell timeout, a failing cell
never stops the next), and scores every **test cell** (see ``cells``): full
points if it ran without an exception, else 0 with the reason.  The submission
file is only ever read.

With ``hidden=True`` the exercises come from the **solution notebook** of the
same assignment (``<solutions>/<assignment id>.ipynb``, the id from the
submission's metadata or else its file name): every test cell of the
submission is replaced by the solution's version of that cell (same
``grade_id``), hidden tests included, and points come from the solution too, so
edited or deleted tests change nothing (a test cell whose metadata an editor
dropped is still recognised by its unchanged source).  Without it, the submission's own test
cells and points are used (what a student can run alone).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import nbformat

from .cells import assignment_id, nbgrader, graded_cells, validate_solution
from .kernel import CellResult, CellRunner
from .markers import solution_source, student_source

MAX_MESSAGE = 600  # characters of an exception message kept in the report


def default_solutions_dir() -> Path:
    """``notebooks/homework/solutions`` of the checkout this package runs from, else of the working directory."""
    checkout = Path(__file__).resolve().parents[3] / "notebooks" / "homework" / "solutions"
    return checkout if checkout.is_dir() else Path.cwd() / "notebooks" / "homework" / "solutions"


def find_solution(submission: str | Path, solutions: str | Path | None = None) -> Path:
    """The solution notebook for ``submission``: ``<solutions>/<assignment id>.ipynb`` (then ``<file stem>.ipynb``)."""
    folder = Path(solutions) if solutions is not None else default_solutions_dir()
    try:
        nb = nbformat.reads(Path(submission).read_text(encoding="utf-8"), as_version=4)
    except Exception:  # an unreadable submission is still matched by its file name
        nb = None
    names = dict.fromkeys([assignment_id(nb, submission), Path(submission).stem])
    for name in names:
        if (folder / f"{name}.ipynb").is_file():
            return folder / f"{name}.ipynb"
    raise FileNotFoundError(f"no solution notebook {' or '.join(f'{n}.ipynb' for n in names)} in {folder} "
                            "(hidden tests come from it; pass the folder with --solutions)")


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _exercises(solution) -> list[dict]:
    """``[{name, points, source, visible}]`` from the test cells of ``solution``.

    ``source`` includes the hidden tests; ``visible`` is what the student version shows.
    """
    validate_solution(solution)
    return [{"name": nbgrader(c)["grade_id"], "points": nbgrader(c)["points"],
             "source": solution_source(c.source, "code", i), "visible": student_source(c.source, "code", i)}
            for i, c in graded_cells(solution)]


def _restore_lost_metadata(nb, expected: list[dict]) -> None:
    """A test cell whose metadata an editor dropped is recognised by its unchanged visible source."""
    present = {nbgrader(c).get("grade_id") for _, c in graded_cells(nb)}
    for e in expected:
        if e["name"] in present:
            continue
        for cell in nb.cells:
            if cell.get("cell_type") == "code" and not nbgrader(cell) and cell.source.strip() == e["visible"].strip():
                cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": e["name"],
                                             "points": e["points"]}
                break


def _points(value) -> int | float:
    value = float(value)
    return int(value) if value.is_integer() else round(value, 6)


def report(exercises: list[dict], error: str | None = None) -> dict:
    """The JSON object the command line prints."""
    out = {"score": _points(sum(e["score"] for e in exercises)),
           "max_score": _points(sum(e["max_score"] for e in exercises)),
           "exercises": exercises}
    if error:
        out["error"] = error
    return out


def grade(path: str | Path, *, hidden: bool = False, solution: str | Path | None = None,
          solutions: str | Path | None = None, timeout: float = 60.0) -> dict:
    """Execute the notebook at ``path`` in a temporary copy and score its test cells (see module docstring).

    ``hidden`` uses the solution notebook's tests (``solution``: its path; else it
    is looked up in the folder ``solutions``, default ``default_solutions_dir()``).
    ``timeout`` is the limit in seconds for each cell.  Returns
    ``{"score", "max_score", "exercises": [{"name", "score", "max_score", "message"}]}``
    (plus ``"error"`` when the submission is not a readable notebook).  Problems of
    the submission never raise; a missing solution raises ``FileNotFoundError``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such notebook: {path}")
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
    expected = None
    if hidden:
        solution = Path(solution) if solution is not None else find_solution(path, solutions)
        expected = _exercises(nbformat.read(solution, as_version=4))
    with tempfile.TemporaryDirectory(prefix="tempguide-grade-") as tmp:
        copy = Path(tmp) / path.name
        shutil.copyfile(path, copy)  # the copy is all we touch
        try:
            nb = nbformat.reads(copy.read_text(encoding="utf-8"), as_version=4)
        except Exception as e:
            error = f"the submission is not a readable notebook: {_short(f'{type(e).__name__}: {e}')}"
            return report([{"name": e_["name"], "score": 0, "max_score": _points(e_["points"]),
                            "message": error} for e_ in (expected or [])], error)
        return _run_and_score(nb, expected, tmp, timeout)


def _run_and_score(nb, expected: list[dict] | None, cwd: str, timeout: float) -> dict:
    if expected is not None:
        _restore_lost_metadata(nb, expected)
    tests = graded_cells(nb)
    if expected is None:  # the submission's own tests: first occurrence of each grade_id sets the points
        expected = []
        for i, cell in tests:
            meta = nbgrader(cell)
            name, points = str(meta.get("grade_id") or f"cell {i}"), meta.get("points", 0)
            if name not in {e["name"] for e in expected}:
                expected.append({"name": name, "points": points if isinstance(points, (int, float)) else 0})
    else:  # the solution's tests replace the submission's
        sources = {e["name"]: e["source"] for e in expected}
        for i, cell in tests:
            cell.source = sources.get(nbgrader(cell).get("grade_id"), cell.source)
    cells_of = {e["name"]: [] for e in expected}
    for i, cell in tests:
        cells_of.setdefault(str(nbgrader(cell).get("grade_id") or f"cell {i}"), []).append(i)

    test_indices = {i for i, _ in tests}
    results, failed_before = {}, {}  # failed_before[i]: failures of ordinary cells since the previous test cell
    pending: list[str] = []
    with CellRunner(nb, cwd, timeout) as run:
        for i, cell in enumerate(nb.cells):
            if cell.get("cell_type") != "code":
                continue
            if not cell.source.strip():
                results[i] = CellResult("ok" if i not in test_indices else "error", "the test cell is empty")
            else:
                results[i] = run(i)
            if i in test_indices:
                failed_before[i], pending = pending, []
            elif results[i].status in ("error", "timeout"):
                pending.append(f"cell {i}: {results[i].message}")

    exercises = []
    for e in expected:
        indices = cells_of.get(e["name"], [])
        bad = [i for i in indices if results.get(i) is None or results[i].status != "ok"]
        if not indices:
            score, message = 0, f"the test cell {e['name']!r} is missing from the submission"
        elif not bad:
            score, message = e["points"], "passed"
        else:
            i = bad[0]
            message = f"cell {i}: {results[i].message}"
            if failed_before.get(i):
                message += " | earlier failures: " + "; ".join(failed_before[i])
            score = 0
        exercises.append({"name": e["name"], "score": _points(score), "max_score": _points(e["points"]),
                          "message": _short(message)})
    return report(exercises)
