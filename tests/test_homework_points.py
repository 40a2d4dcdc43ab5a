"""Hidden grading pays the solution's points, never the points a submission writes (issue 20).

A student who edits ``points`` in the test cells' metadata must be paid what the
solution notebook says, exercise by exercise.  The scoring functions are also
tested directly, without a kernel, so that ``make mutation`` can afford them.
"""
from __future__ import annotations

import json
import sys

import nbformat
import pytest

from tempguide.homework import MarkerError, graded_cells, grade
from tempguide.homework.grader import MAX_MESSAGE, _exercises, _points, _score, read_submission, report
from test_homework import HOMEWORK, by_name, graded_cell, solution_cell, tiny_solution

SOLUTION = HOMEWORK / "solutions" / "hw1_temperature.ipynb"


def test_hidden_grading_ignores_points_edited_in_the_submission(tmp_path):
    nb = nbformat.read(SOLUTION, as_version=4)
    points = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for _, c in graded_cells(nb)}
    for _, cell in graded_cells(nb):  # a correct submission that claims 100 points per exercise
        cell.metadata["nbgrader"]["points"] = 100
    nbformat.write(nb, tmp_path / SOLUTION.name)
    result = grade(tmp_path / SOLUTION.name, hidden=True, solutions=SOLUTION.parent, timeout=120)
    exercises = by_name(result)
    assert {name: e["score"] for name, e in exercises.items()} == points, result
    assert {name: e["max_score"] for name, e in exercises.items()} == points
    assert result["score"] == result["max_score"] == sum(points.values())


# --- the scoring itself, without a kernel (fast: these run under `make mutation`) -----------------

def test_points_are_ints_when_whole_and_rounded_to_six_decimals():
    assert [(_points(v), type(_points(v))) for v in (2.0, 3, 1.5)] == [(2, int), (3, int), (1.5, float)]
    assert _points(1 / 3) == 0.333333


def test_hidden_scores_pay_the_expected_points_for_passed_tests_only():
    expected = [{"name": "a", "points": 2}, {"name": "b", "points": 1.5}, {"name": "c", "points": 3}]
    results = {"a": ("ok", "passed"), "b": ("error", "cell 3: boom"), "z": ("ok", "passed")}
    assert _score([], expected, results) == [
        {"name": "a", "score": 2, "max_score": 2, "message": "passed"},
        {"name": "b", "score": 0, "max_score": 1.5, "message": "cell 3: boom"},
        {"name": "c", "score": 0, "max_score": 3, "message": "the test cell 'c' is missing from the submission"}]
    scores = _score([], expected, results)
    manual = [{"name": "why", "max_score": 2, "message": "not graded automatically"}]
    long = "e" * (MAX_MESSAGE + 5)
    assert report(scores, ["f" * MAX_MESSAGE], "x")["errors"] == ["f" * MAX_MESSAGE]  # at the limit: kept whole
    assert report(scores, [long], "sandbox", ["a  note\n"], manual) == {
        "score": 2, "max_score": 6.5, "exercises": scores, "manual": manual,
        "errors": ["e" * (MAX_MESSAGE - 1) + "…"], "mode": "sandbox", "notes": ["a note"]}


def test_own_tests_take_the_points_of_the_first_cell_of_each_grade_id(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        solution_cell("x = 1", "x_code"),
        graded_cell("assert x == 1", "a", 2),
        graded_cell("assert x", "a", 5),          # a duplicate: the first one's points count
        graded_cell("assert x", "neg", -1),       # nonsense points count as 0
        graded_cell("assert x", "flag", True),
        graded_cell("assert x", "", 1.25),        # no grade_id: named by its cell
        graded_cell("assert x", "nopoints", 1),   # its points removed below: worth 0
        graded_cell("assert x", "half", 0.5),
    ])
    del nb.cells[-2].metadata["nbgrader"]["points"]
    nbformat.write(nb, tmp_path / "own.ipynb")
    cells, _, errors = read_submission(tmp_path / "own.ipynb")
    assert errors == []
    results = {name: ("ok", "passed") for name in ("a", "neg", "flag", "cell 5", "nopoints", "half")}
    assert [(e["name"], e["score"], e["max_score"]) for e in _score(cells, None, results)] == [
        ("a", 2, 2), ("neg", 0, 0), ("flag", 0, 0), ("cell 5", 1.25, 1.25), ("nopoints", 0, 0), ("half", 0.5, 0.5)]


def test_exercises_come_from_the_solution_test_cells_with_the_visible_part_only():
    assert _exercises(tiny_solution()) == [
        {"name": "add", "points": 2, "visible": "assert add(1, 2) == 3"},  # its hidden test left out
        {"name": "square", "points": 3, "visible": "assert square(3) == 9"},
        {"name": "halve", "points": 1.5, "visible": "assert halve(3) == 1.5"}]
    broken = tiny_solution()
    broken.cells[4].metadata["nbgrader"]["grade_id"] = "add"  # two exercises named "add"
    with pytest.raises(MarkerError, match="grade_id 'add' already used by cell 2"):
        _exercises(broken)


def test_a_grader_bug_still_ends_in_a_report_with_every_key(tmp_path, monkeypatch, capfd):
    """The crash report is built by ``report`` too, so it carries every key of a normal one ("manual" too)."""
    from tempguide.homework import __main__ as cli

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "grade", broken)
    # main() sets MPLBACKEND for its own process; in this process it must not outlive the test
    # (kernels started later, e.g. by the Colab simulation, would draw no figures).
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setattr(cli, "_private_stdout", lambda: sys.stdout)
    notebook = tmp_path / "sub.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), notebook)
    assert cli.main(["grade", str(notebook)]) == 0
    result = json.loads(capfd.readouterr().out)
    assert set(result) == set(report([], [], "sandbox"))
    assert (result["score"], result["max_score"], result["manual"], result["mode"]) == (0, 0, [], "not run")
    assert result["errors"] == ["the grader failed: RuntimeError: boom (please report it)"]
