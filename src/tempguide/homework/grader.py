"""Grade a submitted notebook (book: "Homework"; README: "Trust model").

``grade(path, hidden=True)`` never trusts the submission:

1. The submission is read as JSON (never modified); whatever is malformed becomes
   an entry of the report's ``errors`` and grading goes on.
2. Its code cells run one by one in a **separate kernel process** (``remote``,
   isolated by ``sandbox``) in a fresh temporary folder holding only the
   submission, with a per-request time limit, a total deadline and a memory limit.
3. With ``hidden=True`` the exercises, points and tests come from the **solution
   notebook** of the assignment (``<solutions>/<assignment id>.ipynb``).  At each of
   the submission's test cells the **judge** (``judge``) runs the solution's test,
   hidden part included, in the grader's own process, on the submission's values
   and functions fetched through the channel.  The kernel never sees a hidden test.
4. The report is built here, after the kernel is dead.  Manually graded answers
   (markdown cells nbgrader grades by hand) are listed under ``manual`` with their
   points, "not graded automatically"; ``score`` and ``max_score`` are the
   automatic points.

Without ``hidden`` the submission's own test cells run in the kernel and pass when
they raise nothing: feedback for a student, not a grade.
"""
from __future__ import annotations

import json
import re
import signal
import threading
import time
from pathlib import Path

import nbformat

from .cells import graded_cells, is_graded_cell, is_manual_answer, manual_answers, nbgrader, validate_solution
from .judge import Judge
from .markers import solution_source, student_source
from .remote import GRACE, CallTimeout, KernelDied, TotalTimeout, Worker

MAX_MESSAGE = 600  # characters of a message kept in the report
ASSIGNMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def default_solutions_dir() -> Path:
    """``notebooks/homework/solutions`` of the checkout this package runs from, else of the working directory."""
    checkout = Path(__file__).resolve().parents[3] / "notebooks" / "homework" / "solutions"
    return checkout if checkout.is_dir() else Path.cwd() / "notebooks" / "homework" / "solutions"


def _short(text) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


# --- reading the submission --------------------------------------------------------------------------

def read_submission(path: Path) -> tuple[list[dict], dict, list[str]]:
    """``(cells, notebook metadata, errors)``; each cell ``{"index", "cell_type", "source", "metadata"}``.

    Never raises on content: a cell without ``source``, a string where a dict
    belongs, a file that is not JSON — each is an error and a best-effort reading.
    """
    errors: list[str] = []
    try:
        nb = json.loads(path.read_bytes())
    except (OSError, ValueError) as e:
        return [], {}, [f"the submission is not a readable notebook: {_short(f'{type(e).__name__}: {e}')}"]
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return [], {}, ["the submission is not a notebook (no list of cells)"]
    cells = []
    for i, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict):
            errors.append(f"cell {i} is not a JSON object; skipped")
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            errors.append(f"cell {i} has no readable source; treated as empty")
            source = ""
        metadata = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        if "nbgrader" in metadata and not isinstance(metadata["nbgrader"], dict):
            errors.append(f"cell {i}: its nbgrader metadata is not an object; ignored")
            metadata = {k: v for k, v in metadata.items() if k != "nbgrader"}
        cells.append({"index": i, "cell_type": cell.get("cell_type"), "source": source, "metadata": metadata})
    metadata = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    return cells, metadata, errors


def assignment_name(metadata: dict, path: Path, errors: list[str]) -> str:
    """The submission's assignment id if it is a plain name, else (with an error) its file name."""
    value = (metadata.get("tempguide") or {}).get("assignment") if isinstance(metadata.get("tempguide"), dict) else None
    if value is None:
        return path.stem
    if isinstance(value, str) and ASSIGNMENT_ID.fullmatch(value) and ".." not in value:
        return value
    errors.append(f"the assignment id {_short(repr(value))[:120]} in the notebook metadata is not a plain name "
                  f"(letters, digits, '_', '-', '.'); the file name {path.stem!r} is used instead")
    return path.stem


def find_solution(submission: str | Path, solutions: str | Path | None = None) -> Path:
    """The solution notebook for ``submission``: ``<solutions>/<assignment id>.ipynb`` (then ``<file stem>.ipynb``)."""
    submission = Path(submission)
    _, metadata, _ = read_submission(submission) if submission.is_file() else ([], {}, [])
    return _solution_of(metadata, submission, solutions, [])


def _solution_of(metadata: dict, submission: Path, solutions, errors: list[str]) -> Path:
    """``find_solution`` on an already-read submission; a bad assignment id is added to ``errors``."""
    folder = Path(solutions) if solutions is not None else default_solutions_dir()
    names = dict.fromkeys([assignment_name(metadata, submission, errors), submission.stem])
    for name in names:
        candidate = folder / f"{name}.ipynb"
        if candidate.is_file() and candidate.resolve().parent == folder.resolve():
            return candidate
    raise FileNotFoundError(f"no solution notebook {' or '.join(f'{n}.ipynb' for n in names)} in {folder} "
                            "(hidden tests come from it; pass the folder with --solutions)")


def _exercises(solution) -> list[dict]:
    """``[{name, points, visible}]`` from the test cells of ``solution`` (``visible``: the student version's source)."""
    validate_solution(solution)
    return [{"name": nbgrader(c)["grade_id"], "points": nbgrader(c)["points"],
             "visible": student_source(c.source, "code", i)} for i, c in graded_cells(solution)]


def _test_cells(cells: list[dict], expected: list[dict] | None) -> dict[int, str]:
    """``{cell index: grade_id}`` of the submission's test cells (a test whose metadata was lost: by its source)."""
    tests = {c["index"]: str(nbgrader(c).get("grade_id") or f"cell {c['index']}")
             for c in cells if is_graded_cell(c)}
    for e in expected or []:
        if e["name"] in tests.values():
            continue
        for c in cells:
            if c["cell_type"] == "code" and c["index"] not in tests and not nbgrader(c) \
                    and c["source"].strip() == e["visible"].strip():
                tests[c["index"]] = e["name"]
                break
    return tests


def _manual(answers) -> list[dict]:
    """The report's entries for manually graded answers ``[(cell index, cell)]`` (first of each grade_id)."""
    out: dict[str, dict] = {}
    for i, cell in answers:
        name, points = str(nbgrader(cell).get("grade_id") or f"cell {i}"), nbgrader(cell).get("points", 0)
        ok = isinstance(points, (int, float)) and not isinstance(points, bool) and points >= 0
        out.setdefault(name, {"name": name, "max_score": _points(points if ok else 0),
                              "message": f"not graded automatically: cell {i} is an answer graded by hand"})
    return list(out.values())


def _points(value) -> int | float:
    value = float(value)
    return int(value) if value.is_integer() else round(value, 6)


def report(exercises: list[dict], errors: list[str], mode: str, notes: list[str] = (),
           manual: list[dict] = ()) -> dict:
    """The JSON object the command line prints (``notes``: what the isolation mode could not guarantee).

    ``score`` and ``max_score`` count the automatic exercises; ``manual`` lists the
    answers graded by hand (``{"name", "max_score", "message"}``), not counted.
    """
    return {"score": _points(sum(e["score"] for e in exercises)),
            "max_score": _points(sum(e["max_score"] for e in exercises)),
            "exercises": exercises, "manual": list(manual), "errors": [_short(e) for e in errors], "mode": mode,
            "notes": [_short(n) for n in notes]}


# --- grading ---------------------------------------------------------------------------------------------

class _Deadline(Exception):
    pass


def grade(path: str | Path, *, hidden: bool = False, solution: str | Path | None = None,
          solutions: str | Path | None = None, timeout: float = 60.0, total_timeout: float = 900.0,
          memory_mb: int | None = 8192, isolation: str = "auto") -> dict:
    """Grade the notebook at ``path`` (see module docstring) and return the report.

    ``timeout``: seconds for each cell and each call of the submission's code;
    ``total_timeout``: seconds for the whole grading; ``memory_mb``: the kernel's
    address-space limit; ``isolation``: ``"auto"`` (the strongest mode the machine
    allows) or a weaker one forced, for tests.  The report is ``{"score", "max_score", "exercises":
    [{"name", "score", "max_score", "message"}], "manual": [{"name", "max_score", "message"}],
    "errors": [...], "mode", "notes"}`` where
    ``mode`` is the kernel's isolation (``sandbox``, ``unprivileged``, ``same-user``).
    Problems of the submission never raise; a missing notebook or solution raises
    ``FileNotFoundError``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such notebook: {path}")
    for name, value in (("timeout", timeout), ("total_timeout", total_timeout)):
        if not (isinstance(value, (int, float)) and value > 0):
            raise ValueError(f"{name} must be > 0 seconds, got {value!r}")
    if memory_mb is not None and not (isinstance(memory_mb, int) and memory_mb >= 256):
        raise ValueError(f"memory_mb must be an integer >= 256 (or None for no limit), got {memory_mb!r}")
    cells, metadata, errors = read_submission(path)
    judge = expected = None
    manual = _manual((c["index"], c) for c in cells if is_manual_answer(c))
    secrets = [str(path.resolve().parent)]
    if hidden:
        folder = Path(solutions) if solutions is not None else default_solutions_dir()
        solution = Path(solution) if solution is not None else _solution_of(metadata, path, folder, errors)
        secrets += [str(folder.resolve()), str(default_solutions_dir().resolve()), str(solution.resolve())]
        key = nbformat.read(solution, as_version=4)
        expected = _exercises(key)
        manual = _manual(manual_answers(key))
        judge = Judge(key)
    if not cells and errors:  # not a notebook at all: nothing to run
        return report([{"name": e["name"], "score": 0, "max_score": _points(e["points"]), "message": errors[0]}
                       for e in expected or []], errors, "not run", manual=manual)
    deadline = time.monotonic() + total_timeout
    results: dict[str, tuple[str, str]] = {}  # grade_id -> (status, message)
    mode, notes = "not run", []
    alarm = threading.current_thread() is threading.main_thread()  # a last resort behind the deadline
    if alarm:
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, total_timeout + 2 * GRACE + 30)
    try:
        with Worker(timeout=timeout, deadline=deadline, memory_mb=memory_mb, secrets=secrets,
                    submission=path, isolation=isolation) as worker:
            mode, notes = worker.mode, worker.notes
            _run_cells(cells, expected, judge, worker, results, errors)
    except _Deadline:
        errors.append(f"the total time limit of {total_timeout:g} s was reached")
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    if judge is not None:
        errors += judge.errors
    return report(_score(cells, expected, results), errors, mode, notes, manual)


def _alarm(signum, frame):
    raise _Deadline()


def _run_cells(cells, expected, judge, worker, results, errors) -> None:
    """Run the submission cell by cell; judge each test cell when it is reached."""
    tests = _test_cells(cells, expected)
    known = {e["name"] for e in expected} if expected is not None else None
    failures: list[str] = []  # ordinary cells that failed since the last test cell
    code = [c for c in cells if c["cell_type"] == "code"]
    submitted: dict[int, int] = {}  # cell index -> request id, for cells sent ahead
    for k, cell in enumerate(code):
        i, source = cell["index"], cell["source"]
        name = tests.get(i)
        try:
            if time.monotonic() >= worker.deadline:
                raise TotalTimeout("the total time limit of the grading was reached")
            if name is None and i not in submitted and source.strip():
                # Send the ordinary cells up to the next test at once, and let the judge run the
                # solution meanwhile: the kernel and the judge work in parallel.
                upcoming = None
                for c in code[k:]:
                    if tests.get(c["index"]) is not None:
                        upcoming = tests[c["index"]]
                        break
                    if c["source"].strip():
                        submitted[c["index"]] = worker.submit(c["source"])
                if judge is not None and upcoming in known:
                    judge.advance(upcoming)
            if name is not None and name in results:
                continue  # a duplicated test cell: the first one counts
            if name is not None and judge is not None:
                if name not in known:
                    continue  # not an exercise of this assignment
                judge.advance(name)
                try:
                    judge.evaluate(name, worker)
                    results[name] = ("ok", "passed")
                except (KernelDied, CallTimeout):
                    raise
                except BaseException as e:  # noqa: BLE001 - any failure of a test is a failed exercise
                    if isinstance(e, (KeyboardInterrupt, SystemExit, _Deadline)):
                        raise
                    results[name] = ("error", f"cell {i}: {type(e).__name__}: {e}")
            elif not source.strip():
                if name is not None:
                    results[name] = ("error", f"cell {i}: the test cell is empty")
                continue
            else:
                status, message = worker.collect(submitted.pop(i)) if i in submitted else worker.run(source)
                if name is not None:
                    results[name] = (status, "passed" if status == "ok" else f"cell {i}: {message}")
                elif status != "ok":
                    failures.append(f"cell {i}: {message}")
        except TotalTimeout:
            errors.append("the total time limit of the grading was reached")
            if name is not None:
                results.setdefault(name, ("error", f"cell {i}: not finished: the total time limit was reached"))
            return
        except CallTimeout as e:
            message = f"cell {i}: {e}"
            if name is not None:
                results[name] = ("error", message)
            else:
                failures.append(message)
        except KernelDied as e:
            message = f"cell {i}: {e}"
            if name is not None:
                results.setdefault(name, ("error", message))
            else:
                failures.append(message)
            _mark_dead(cells, tests, results, i, f"not run: the kernel stopped in cell {i} ({e})")
            return
        if name is not None and results.get(name, ("ok",))[0] != "ok" and failures:
            status, message = results[name]
            results[name] = (status, message + " | earlier failures: " + "; ".join(failures))
        if name is not None:
            failures = []


def _mark_dead(cells, tests, results, after: int, why: str) -> None:
    for cell in cells:
        name = tests.get(cell["index"])
        if cell["index"] > after and name is not None:
            results.setdefault(name, ("error", why))


def _score(cells, expected, results) -> list[dict]:
    if expected is None:  # the submission's own tests: first occurrence of each grade_id sets the points
        expected = []
        for c in cells:
            meta = nbgrader(c)
            if not is_graded_cell(c):
                continue
            name, points = str(meta.get("grade_id") or f"cell {c['index']}"), meta.get("points", 0)
            if name not in {e["name"] for e in expected}:
                ok = isinstance(points, (int, float)) and not isinstance(points, bool) and points >= 0
                expected.append({"name": name, "points": points if ok else 0})
    out = []
    for e in expected:
        status, message = results.get(e["name"], ("error", f"the test cell {e['name']!r} is missing from the submission"))
        out.append({"name": e["name"], "score": _points(e["points"] if status == "ok" else 0),
                    "max_score": _points(e["points"]), "message": _short(message)})
    return out
