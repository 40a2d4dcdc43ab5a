"""The real nbgrader accepts our homework (issue 19; README "Using the assignments with nbgrader").

One temporary nbgrader course holds every solution notebook of
``notebooks/homework/solutions`` as ``source/<id>/<id>.ipynb``.  Offline and in
three commands (``generate_assignment "*"``, then ``autograde "*"`` and
``validate`` side by side) it checks, for each assignment:

- nbgrader generates the assignment, and its student version equals our
  committed one cell for cell (type, id, source, nbgrader role and points), the
  hint inside ``raise NotImplementedError("...")`` aside (our extension);
- ``autograde`` gives a submission made from the solution (our student version
  with the solution regions filled in) every automatic point and our student
  version none, and sees the markdown answers as manually graded;
- ``validate`` passes the solution.

nbgrader runs the notebooks on the kernel named in their metadata, ``python3``;
the course's own kernelspec makes that this venv's Python with
``TEMPGUIDE_PROFILE=quick``.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from tempguide.homework.cells import graded_cells, manual_answers, nbgrader
from tempguide.homework.markers import solution_source

pytest.importorskip("nbgrader", reason="nbgrader is a dev dependency (pip install -e .[dev])")

ROOT = Path(__file__).resolve().parents[1]
HOMEWORK = ROOT / "notebooks" / "homework"
SOLUTIONS = sorted((HOMEWORK / "solutions").glob("*.ipynb"))
ASSIGNMENTS = [p.stem for p in SOLUTIONS]
BIN = Path(sys.executable).parent
ROLE = ("grade", "solution", "locked", "grade_id", "points")  # the nbgrader metadata that defines a cell
STUB = re.compile(r'raise NotImplementedError\((?:"(?:[^"\\]|\\.)*")?\)')
PASSED = "Success! Your notebook passes all the tests."

pytestmark = pytest.mark.slow


def _environment(course: Path) -> dict[str, str]:
    """nbgrader's environment: this venv first on PATH (nbgrader calls ``alembic``), the course's Jupyter dirs."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONUNBUFFERED="1",
               JUPYTER_PATH=str(course / "share" / "jupyter"), JUPYTER_CONFIG_DIR=str(course / "config"),
               JUPYTER_DATA_DIR=str(course / "data"), TEMPGUIDE_PROFILE="quick", OMP_NUM_THREADS="1")
    env.pop("JUPYTER_RUNTIME_DIR", None)
    return env


def _make_course(course: Path) -> None:
    """The course folder: config, a ``python3`` kernelspec for this venv, the solutions under ``source/``."""
    kernel = course / "share" / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (tempguide venv)", "language": "python",
        "env": {"TEMPGUIDE_PROFILE": "quick", "OMP_NUM_THREADS": "1"}}))
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'tempguide'\n"
        "c.Execute.timeout = 600  # seconds per cell, for a loaded machine\n")
    for solution in SOLUTIONS:
        folder = course / "source" / solution.stem
        folder.mkdir(parents=True)
        (folder / solution.name).write_bytes(solution.read_bytes())


def solved_submission(name: str):
    """Our student version with every solution cell filled in from the solution (markers removed)."""
    solution = nbformat.read(HOMEWORK / "solutions" / f"{name}.ipynb", as_version=4)
    submission = nbformat.read(HOMEWORK / f"{name}.ipynb", as_version=4)
    for i, (cell, answer) in enumerate(zip(submission.cells, solution.cells)):
        if nbgrader(answer).get("solution") is True:
            cell.source = solution_source(answer.source, answer.cell_type, i)
    return submission


def _submit(course: Path) -> None:
    """Two students per assignment: ``solved`` (the solution's answers) and ``blank`` (our student version)."""
    for name in ASSIGNMENTS:
        for student, nb in (("solved", solved_submission(name)),
                            ("blank", nbformat.read(HOMEWORK / f"{name}.ipynb", as_version=4))):
            folder = course / "submitted" / student / name
            folder.mkdir(parents=True)
            nbformat.write(nb, folder / f"{name}.ipynb")


def _run(args, course, env) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=course, env=env, capture_output=True, text=True, timeout=3600)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """Run nbgrader once on every assignment; ``{"root", "generate", "autograde", "validate", "seconds"}``."""
    root = tmp_path_factory.mktemp("nbgrader_course")
    _make_course(root)
    env = _environment(root)
    start = time.monotonic()
    kernels = json.loads(_run([str(BIN / "jupyter"), "kernelspec", "list", "--json"], root, env).stdout)
    assert Path(kernels["kernelspecs"]["python3"]["resource_dir"]) == root / "share" / "jupyter" / "kernels" / \
        "python3", "nbgrader would not run the notebooks on this venv's kernel"
    generate = _run([str(BIN / "nbgrader"), "generate_assignment", "*"], root, env)
    assert generate.returncode == 0, generate.stdout + generate.stderr
    _submit(root)
    solutions = [str(root / "source" / n / f"{n}.ipynb") for n in ASSIGNMENTS]
    validate = subprocess.Popen([str(BIN / "nbgrader"), "validate", *solutions], cwd=root, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    autograde = _run([str(BIN / "nbgrader"), "autograde", "*"], root, env)
    validated, _ = validate.communicate(timeout=3600)
    seconds = time.monotonic() - start
    return {"root": root, "generate": generate, "autograde": autograde,
            "validate": (validate.returncode, validated), "seconds": seconds}


def _role(cell) -> dict:
    meta = nbgrader(cell)
    return {key: meta[key] for key in ROLE if key in meta}


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_generate_assignment_gives_our_student_version(course, name):
    theirs = nbformat.read(course["root"] / "release" / name / f"{name}.ipynb", as_version=4)
    ours = nbformat.read(HOMEWORK / f"{name}.ipynb", as_version=4)
    assert len(theirs.cells) == len(ours.cells)
    for i, (a, b) in enumerate(zip(theirs.cells, ours.cells)):
        assert (a.cell_type, a.get("id"), _role(a)) == (b.cell_type, b.get("id"), _role(b)), f"cell {i}"
        assert STUB.sub("raise NotImplementedError()", a.source) == \
            STUB.sub("raise NotImplementedError()", b.source), f"cell {i}"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_autograde_gives_the_solution_every_automatic_point_and_the_student_version_none(course, name):
    from nbgrader.api import Gradebook

    assert course["autograde"].returncode == 0, course["autograde"].stderr[-3000:]
    solution = nbformat.read(HOMEWORK / "solutions" / f"{name}.ipynb", as_version=4)
    automatic = sum(nbgrader(c)["points"] for _, c in graded_cells(solution))
    by_hand = sum(nbgrader(c)["points"] for _, c in manual_answers(solution))
    with Gradebook(f"sqlite:///{course['root'] / 'gradebook.db'}") as book:
        solved = book.find_submission_notebook(name, name, "solved")
        blank = book.find_submission_notebook(name, name, "blank")
        failed = {g.name: g.auto_score for g in solved.grades if g.cell_type == "code" and g.auto_score != g.max_score}
        assert failed == {}, f"nbgrader failed these tests of the solution: {failed}"
        assert (solved.code_score, solved.max_code_score) == (automatic, automatic)
        assert (blank.code_score, blank.max_code_score) == (0, automatic)
        assert (solved.max_written_score, solved.needs_manual_grade) == (by_hand, by_hand > 0)


def test_validate_passes_every_solution(course, stage_report):
    stage_report("nbgrader", f"generate, autograde and validate {len(ASSIGNMENTS)} assignments: "
                             f"{course['seconds']:.0f} s")
    returncode, output = course["validate"]
    assert returncode == 0, output[-3000:]
    # The log line "Validating '<path>'" opens each notebook's part of the output.
    parts = re.split(r"Validating '[^']*/source/([^/']+)/[^']*'", output)[1:]
    verdicts = dict(zip(parts[0::2], parts[1::2]))
    assert sorted(verdicts) == ASSIGNMENTS
    failed = {name: text.strip()[-1500:] for name, text in verdicts.items() if PASSED not in text}
    assert failed == {}
