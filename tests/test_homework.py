"""Homework (issue 4): student versions, the grader, the student edition of the book.

The committed assignments are checked end to end (student version = generation,
solution = full marks with hidden tests, student version = zero, input files
untouched); the grader's failure modes run on a tiny pure-Python assignment built
here, so each grading takes a second or two.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from tempguide.colab import SETUP_CELL
from tempguide.homework import (MarkerError, assignment_id, find_solution, grade, notebook_text,
                                solution_source, student_notebook, student_source, graded_cells,
                                write_student)
from tempguide.homework.book import student_config

ROOT = Path(__file__).resolve().parents[1]
HOMEWORK = ROOT / "notebooks" / "homework"
SOLUTIONS = sorted((HOMEWORK / "solutions").glob("*.ipynb"))
CLI = [sys.executable, "-m", "tempguide.homework"]


# --- a tiny assignment: three exercises, a hidden test, a markdown answer --------------------------

def solution_cell(source, grade_id):
    return new_code_cell(source, metadata={"nbgrader": {"grade": False, "solution": True, "locked": False,
                                                        "grade_id": grade_id, "schema_version": 3}})


def graded_cell(source, grade_id, points):
    return new_code_cell(source, metadata={"nbgrader": {"grade": True, "solution": False, "locked": True,
                                                        "grade_id": grade_id, "points": points,
                                                        "schema_version": 3}})



MANUAL_ANSWER = {"grade": True, "solution": True, "locked": False, "grade_id": "why", "points": 1,
                 "schema_version": 3}  # a markdown answer graded by hand (nbgrader's metadata)


def tiny_solution():
    return new_notebook(cells=[
        new_markdown_cell("# Tiny assignment"),
        solution_cell("def add(a, b):\n    ### BEGIN SOLUTION\n    # HINT: use the + operator\n    return a + b\n"
                      "    ### END SOLUTION", "add_code"),
        graded_cell("assert add(1, 2) == 3\n### BEGIN HIDDEN TESTS\nassert add(-5, 5) == 0\n### END HIDDEN TESTS",
                  "add", 2),
        solution_cell("def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION", "sq_code"),
        graded_cell("assert square(3) == 9", "square", 3),
        solution_cell("def halve(x):\n    ### BEGIN SOLUTION\n    return x / 2\n    ### END SOLUTION", "half_code"),
        graded_cell("assert halve(3) == 1.5\n### BEGIN HIDDEN TESTS\nassert halve(-1) == -0.5\n### END HIDDEN TESTS",
                  "halve", 1.5),
        new_markdown_cell("Why?\n\n<!-- BEGIN SOLUTION -->\nBecause SECRET.\n<!-- HINT: think twice -->\n"
                          "<!-- END SOLUTION -->", metadata={"nbgrader": MANUAL_ANSWER}),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                 "tempguide": {"assignment": "tiny"}})


@pytest.fixture
def tiny(tmp_path):
    """(solutions folder, path of the solution, path of the generated student version)."""
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nbformat.write(tiny_solution(), solutions / "tiny.ipynb")
    write_student(solutions / "tiny.ipynb", tmp_path / "tiny.ipynb")
    return solutions, solutions / "tiny.ipynb", tmp_path / "tiny.ipynb"


def variant(path: Path, out: Path, cell: int, source: str) -> Path:
    nb = nbformat.read(path, as_version=4)
    nb.cells[cell].source = source
    nbformat.write(nb, out)
    return out


def by_name(result):
    return {e["name"]: e for e in result["exercises"]}


def stamp(path: Path):
    return path.read_bytes(), path.stat().st_mtime_ns


def python_of(cell_source: str) -> str:
    return TransformerManager().transform_cell(cell_source)  # IPython magics -> Python


# --- the committed assignments -------------------------------------------------------------------

def test_there_is_an_assignment():
    assert [p.name for p in SOLUTIONS] and all((HOMEWORK / p.name).exists() for p in SOLUTIONS)


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_committed_student_notebook_is_the_generated_one(solution):
    generated = notebook_text(student_notebook(nbformat.read(solution, as_version=4), solution))
    assert (HOMEWORK / solution.name).read_text(encoding="utf-8") == generated, \
        f"regenerate: python -m tempguide.homework student {solution} {HOMEWORK / solution.name} --force"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_assignment_opens_in_colab_and_has_graded_cells(solution):
    for nb in (nbformat.read(solution, as_version=4), nbformat.read(HOMEWORK / solution.name, as_version=4)):
        assert nb.cells[0].source == SETUP_CELL
        assert assignment_id(nb) == solution.stem
        assert len(graded_cells(nb)) >= 3
        for i, cell in enumerate(nb.cells):  # every code cell is valid (I)Python, outputs cleared
            if cell.cell_type == "code":
                ast.parse(python_of(cell.source), filename=f"cell {i}")
                assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_solution_grades_full_marks_with_hidden_tests(solution, stage_report):
    before = stamp(solution)
    start = time.perf_counter()
    result = grade(solution, hidden=True, solutions=solution.parent, timeout=120)
    seconds = time.perf_counter() - start
    assert stamp(solution) == before  # bytes and mtime: the grader never writes its input
    assert result["max_score"] > 0 and result["score"] == result["max_score"], result
    assert all(e["message"] == "passed" for e in result["exercises"])
    stage_report("homework grading", f"{solution.stem} solution (hidden tests): {result['score']}/"
                                     f"{result['max_score']} in {seconds:.1f} s")


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_student_version_grades_zero_without_crashing(solution, stage_report):
    student = HOMEWORK / solution.name
    before = stamp(student)
    start = time.perf_counter()
    result = grade(student, hidden=True, timeout=120)  # the solution is found by the assignment id
    seconds = time.perf_counter() - start
    assert stamp(student) == before
    names = [n for n in (c.metadata.nbgrader["grade_id"] for _, c in graded_cells(nbformat.read(solution, 4)))]
    assert [e["name"] for e in result["exercises"]] == names
    assert result["score"] == 0 and result["max_score"] > 0
    assert all(e["score"] == 0 and e["message"] for e in result["exercises"])
    assert "not implemented yet" in result["exercises"][0]["message"]
    stage_report("homework grading", f"{solution.stem} student version: {result['score']}/"
                                     f"{result['max_score']} in {seconds:.1f} s")


# --- the student version ----------------------------------------------------------------------------

def test_student_version_replaces_solutions_and_removes_hidden_tests(tiny):
    _, solution, student = tiny
    nb = nbformat.read(student, as_version=4)
    text = student.read_text()
    assert "return a + b" not in text and "SECRET" not in text and "HIDDEN" not in text and "-5, 5" not in text
    assert nb.cells[1].source == \
        'def add(a, b):\n    # YOUR CODE HERE\n    raise NotImplementedError("use the + operator")'
    assert 'raise NotImplementedError("your code here")' in nb.cells[3].source
    assert nb.cells[2].source == "assert add(1, 2) == 3"  # visible test kept
    assert nb.cells[7].source == "Why?\n\nYOUR ANSWER HERE\n\n*Hint: think twice*"
    assert nb.cells[2].metadata.nbgrader["points"] == 2 and nb.metadata.tempguide["assignment"] == "tiny"
    original = nbformat.read(solution, as_version=4)
    assert [c.id for c in nb.cells] == [c.id for c in original.cells]


def test_student_version_clears_outputs(tmp_path):
    nb = tiny_solution()
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="answer\n")]
    nb.cells[1].execution_count = 7
    out = student_notebook(nb)
    assert out.cells[1].outputs == [] and out.cells[1].execution_count is None
    assert nb.cells[1].execution_count == 7  # the solution itself is not modified


def test_solution_source_keeps_the_code_without_marker_lines():
    src = "x = 1\n### BEGIN HIDDEN TESTS\nassert x\n### END HIDDEN TESTS"
    assert solution_source(src, "code") == "x = 1\nassert x"


@pytest.mark.parametrize("cell, source, match", [
    (1, "def f():\n    ### BEGIN SOLUTION\n    return 1", r"cell 1, line 2: '### BEGIN SOLUTION' is never closed"),
    (1, "def f():\n    return 1\n    ### END SOLUTION", r"cell 1, line 3: .* without a matching"),
    (1, "### BEGIN SOLUTION\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n### END SOLUTION", r"cell 1, line 2: .*nest"),
    (2, "### BEGIN HIDDEN TESTS\n### END SOLUTION", r"cell 2, line 2: .*still open"),
    (1, "## BEGIN SOLUTION\nx = 1\n## END SOLUTION", r"cell 1, line 1: malformed"),
    (1, "<!-- BEGIN SOLUTION -->\nx = 1\n<!-- END SOLUTION -->", r"cell 1, line 1: malformed"),
    (1, "x = 1\n### BEGIN HIDDEN TESTS\nassert x\n### END HIDDEN TESTS", r"cell 1: hidden tests outside a test cell"),
    (2, "### BEGIN SOLUTION\nassert add(1, 2) == 3\n### END SOLUTION", r"cell 2: a test cell cannot contain"),
])
def test_bad_markers_are_reported_with_the_cell(cell, source, match):
    nb = tiny_solution()
    nb.cells[cell].source = source
    with pytest.raises(MarkerError, match=match):
        student_notebook(nb)


def test_bad_grading_metadata_is_reported_with_the_cell():
    nb = tiny_solution()
    nb.cells[4].metadata.nbgrader["grade_id"] = "add"
    with pytest.raises(MarkerError, match="cell 4: grade_id 'add' already used by cell 2"):
        student_notebook(nb)
    nb = tiny_solution()
    nb.cells[4].metadata.nbgrader["points"] = 0
    with pytest.raises(MarkerError, match="cell 4: .*points > 0"):
        student_notebook(nb)


def _drop_grade(cell):
    cell.metadata.nbgrader["grade"] = False


def _make_test_cell_markdown(cell):
    cell.metadata.nbgrader["solution"] = False


@pytest.mark.parametrize("cell, change, match", [
    (7, lambda c: c.metadata.pop("nbgrader"), "cell 7: solution region in a cell that is not a solution cell"),
    (1, lambda c: c.metadata.pop("nbgrader"), "cell 1: solution region in a cell that is not a solution cell"),
    (7, _drop_grade, "cell 7: a markdown solution cell must be a manually graded answer"),
    (7, _make_test_cell_markdown, "cell 7: a markdown grade cell must also be a solution cell"),
    (3, lambda c: c.metadata.nbgrader.update(grade_id="add_code"), "cell 3: grade_id 'add_code' already used by cell 1"),
    (7, lambda c: c.metadata.nbgrader.update(grade_id="square"), "cell 7: grade_id 'square' already used by cell 4"),
    (7, lambda c: c.metadata.nbgrader.pop("points"), "cell 7: answer 'why' needs points > 0"),
], ids=["markdown-answer-without-metadata", "code-solution-without-metadata", "markdown-solution-not-graded",
        "markdown-grade-not-solution", "duplicate-solution-id", "duplicate-answer-id", "answer-without-points"])
def test_what_nbgrader_refuses_is_refused_with_the_cell(cell, change, match):
    """nbgrader's generate_assignment fails on each of these; we fail first, naming the cell."""
    nb = tiny_solution()
    change(nb.cells[cell])
    with pytest.raises(MarkerError, match=match):
        student_notebook(nb)


def test_a_solution_cell_without_markers_is_replaced_whole_as_in_nbgrader():
    nb = tiny_solution()
    nb.cells[3].source = "def square(x):\n    return x * x"
    nb.cells[7].source = "Because SECRET."
    out = student_notebook(nb)
    assert out.cells[3].source == '# YOUR CODE HERE\nraise NotImplementedError("your code here")'
    assert out.cells[7].source == "YOUR ANSWER HERE"


def test_a_solution_cell_without_markers_is_the_students_when_grading(tmp_path):
    """The judge fetches what a whole solution cell defines from the submission, not from the key."""
    nb = tiny_solution()
    nb.cells[3].source = "def square(x):\n    return x * x"
    (tmp_path / "solutions").mkdir()
    nbformat.write(nb, tmp_path / "solutions" / "tiny.ipynb")
    write_student(tmp_path / "solutions" / "tiny.ipynb", tmp_path / "tiny.ipynb")
    full = by_name(grade(tmp_path / "solutions" / "tiny.ipynb", hidden=True, solutions=tmp_path / "solutions"))
    zero = by_name(grade(tmp_path / "tiny.ipynb", hidden=True, solutions=tmp_path / "solutions"))
    assert full["square"]["score"] == 3
    assert zero["square"]["score"] == 0 and "NotImplementedError" in zero["square"]["message"]


def test_cli_student_refuses_to_overwrite_without_force(tiny):
    _, solution, student = tiny
    run = lambda *extra: subprocess.run(CLI + ["student", str(solution), str(student), *extra],  # noqa: E731
                                        capture_output=True, text=True)
    before = stamp(student)
    assert run().returncode == 0 and stamp(student) == before  # identical: left alone, mtime too
    student.write_text(student.read_text().replace("YOUR CODE HERE", "my attempt"))
    edited = stamp(student)
    refused = run()
    assert refused.returncode == 1 and "--force" in refused.stderr and stamp(student) == edited
    assert run("--force").returncode == 0
    assert student.read_text() == notebook_text(student_notebook(nbformat.read(solution, 4), solution))


def test_cli_student_fails_clearly_on_unbalanced_markers(tmp_path):
    nb = tiny_solution()
    nb.cells[3].source = "def square(x):\n    ### BEGIN SOLUTION\n    return x * x"
    nbformat.write(nb, tmp_path / "bad.ipynb")
    out = subprocess.run(CLI + ["student", str(tmp_path / "bad.ipynb"), str(tmp_path / "out.ipynb")],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "cell 3, line 2" in out.stderr and "never closed" in out.stderr
    assert not (tmp_path / "out.ipynb").exists()


# --- the grader ------------------------------------------------------------------------------------

def test_grader_scores_a_correct_and_an_unsolved_notebook(tiny):
    solutions, solution, student = tiny
    full = grade(solution, hidden=True, solutions=solutions, timeout=10)
    assert (full["score"], full["max_score"]) == (6.5, 6.5)
    zero = grade(student, hidden=True, solutions=solutions, timeout=10)
    assert zero["score"] == 0 and zero["max_score"] == 6.5
    manual = [{"name": "why", "max_score": 1, "message": "not graded automatically: cell 7 is an answer graded by hand"}]
    assert full["manual"] == zero["manual"] == manual  # listed, not counted in score or max_score
    assert by_name(zero)["add"]["message"] == "cell 2: NotImplementedError: use the + operator"


@pytest.mark.parametrize("cell, source, broken, message", [
    (3, "def square(x):\n    return x *", "square", "SyntaxError"),
    (3, "def square(x):\n    raise RuntimeError('boom')", "square", "RuntimeError: boom"),
    (1, "def add(a, b):\n    while True:\n        pass", "add", "longer than the 3 s limit"),
    (3, "while True:\n    pass", "square", "longer than the 3 s limit"),
], ids=["syntax-error", "raises", "infinite-loop-in-test", "infinite-loop-in-cell"])
def test_broken_submission_gets_messages_and_partial_credit(tiny, tmp_path, cell, source, broken, message):
    solutions, solution, _ = tiny
    submission = variant(solution, tmp_path / "submission.ipynb", cell, source)
    before = stamp(submission)
    result = grade(submission, hidden=True, solutions=solutions, timeout=3)
    assert stamp(submission) == before
    exercises = by_name(result)
    assert exercises[broken]["score"] == 0 and message in exercises[broken]["message"]
    others = [e for name, e in exercises.items() if name != broken]
    assert all(e["score"] == e["max_score"] and e["message"] == "passed" for e in others)  # later ones too
    assert result["score"] == 6.5 - exercises[broken]["max_score"]


def test_hidden_tests_run_and_edited_tests_are_restored(tiny, tmp_path):
    solutions, _, student = tiny
    # a student's work: `add` passes the visible test but not the hidden one, the test of `square`
    # is gutted, `halve` is right
    submission = variant(student, tmp_path / "a.ipynb", 1, "def add(a, b):\n    return 3")
    submission = variant(submission, tmp_path / "a.ipynb", 3, "def square(x):\n    return 0")
    submission = variant(submission, tmp_path / "a.ipynb", 4, "pass")
    submission = variant(submission, tmp_path / "a.ipynb", 5, "def halve(x):\n    return x / 2")
    own = by_name(grade(submission, timeout=10))
    assert own["add"]["score"] == 2 and own["square"]["score"] == 3  # the submission's own tests
    hidden = by_name(grade(submission, hidden=True, solutions=solutions, timeout=10))
    assert hidden["add"]["score"] == 0 and "AssertionError" in hidden["add"]["message"]
    assert hidden["square"]["score"] == 0 and hidden["halve"]["score"] == 1.5


def test_test_cells_without_metadata_are_recognised_by_their_source(tiny, tmp_path):
    solutions, solution, student = tiny
    nb = nbformat.read(solution, as_version=4)
    for cell in nb.cells:  # solved, then saved by an editor that drops cell metadata
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = student_source(cell.source, cell.cell_type)
        cell.metadata = {}
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    result = grade(tmp_path / "tiny.ipynb", hidden=True, solutions=solutions, timeout=10)
    assert result["score"] == result["max_score"] == 6.5


def test_deleted_test_cell_and_unreadable_file(tiny, tmp_path):
    solutions, solution, _ = tiny
    nb = nbformat.read(solution, as_version=4)
    del nb.cells[4]
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    result = by_name(grade(tmp_path / "tiny.ipynb", hidden=True, solutions=solutions, timeout=10))
    assert result["square"]["score"] == 0 and "missing" in result["square"]["message"]
    assert result["add"]["score"] == 2
    (tmp_path / "broken.ipynb").write_text('{"cells": [')
    out = grade(tmp_path / "broken.ipynb", hidden=True, solution=solution)
    assert out["score"] == 0 and out["max_score"] == 6.5 and "not a readable notebook" in out["errors"][0]
    assert all("not a readable notebook" in e["message"] for e in out["exercises"])


def test_solution_is_found_by_assignment_id_even_if_renamed(tiny, tmp_path):
    solutions, solution, student = tiny
    renamed = tmp_path / "Copy of my homework (2).ipynb"
    renamed.write_bytes(student.read_bytes())
    assert find_solution(renamed, solutions) == solutions / "tiny.ipynb"
    with pytest.raises(FileNotFoundError, match="--solutions"):
        find_solution(renamed, tmp_path / "nowhere")


def test_cli_grade_prints_one_json_object(tiny):
    solutions, solution, student = tiny
    out = subprocess.run(CLI + ["grade", str(student), "--hidden", "--solutions", str(solutions), "--timeout", "10"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert set(result) == {"score", "max_score", "exercises", "manual", "errors", "mode", "notes"}
    assert result["mode"] == ("sandbox" if os.geteuid() == 0 else "same-user") and result["errors"] == []
    assert [set(e) for e in result["exercises"]] == [{"name", "score", "max_score", "message"}] * 3
    missing = subprocess.run(CLI + ["grade", str(solutions / "nope.ipynb")], capture_output=True, text=True)
    assert missing.returncode == 2 and "no such notebook" in missing.stderr


# --- the student edition of the book --------------------------------------------------------------

def test_config_switch_and_student_config(tmp_path):
    from jupyter_book.config import get_final_config

    def hide(path):
        return get_final_config(user_yaml=Path(path), cli_config={"latex_individualpages": False},
                                sourcedir=ROOT)[0].get("hide_solutions")

    assert hide(ROOT / "_config.yml") is False  # the book shows solutions (in dropdowns)
    student_config(ROOT / "_config.yml", tmp_path / "student.yml")
    assert hide(tmp_path / "student.yml") is True


@pytest.mark.slow
def test_student_edition_of_a_tiny_book_has_no_solutions(tmp_path):
    """The `make book-student` recipe (generated config, --config) on a one-page book."""
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "extra.css").write_text("body {}\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (tmp_path / "_config.yml").write_text(
        "title: Tiny\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: 'off'\n"
        "sphinx:\n  extra_extensions:\n    - sphinx_exercise\n  config:\n    html_static_path:\n      - static\n"
        "    hide_solutions: false\n")
    (tmp_path / "intro.md").write_text(
        "# Intro\n\n```{exercise}\n:label: ex-tiny\n\nWhat is two plus two?\n```\n\n"
        "```{solution} ex-tiny\n:class: dropdown\n\nThe answer is FOUR-SECRET.\n```\n")
    jb = [str(Path(sys.executable).parent / "jupyter-book"), "build", "--all", "-W", "-n", "--keep-going", "-q"]
    subprocess.run(CLI + ["book-config", str(tmp_path / "_config.yml"), str(tmp_path / "student" / "_config.yml")],
                   check=True)
    for args, out in [([], tmp_path / "_build"), (["--config", str(tmp_path / "student" / "_config.yml"),
                                                   "--path-output", str(tmp_path / "student")],
                                                  tmp_path / "student" / "_build")]:
        done = subprocess.run(jb + args + [str(tmp_path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    teacher = (tmp_path / "_build" / "html" / "intro.html").read_text()
    student = (tmp_path / "student" / "_build" / "html" / "intro.html").read_text()
    assert "FOUR-SECRET" in teacher and "FOUR-SECRET" not in student
    assert "two plus two" in teacher and "two plus two" in student  # the exercise stays
    assert (tmp_path / "student" / "_build" / "html" / "_static" / "extra.css").exists()  # paths still resolve
