"""Hidden grading pays the solution's points, never the points a submission writes (issue 20).

A student who edits ``points`` in the test cells' metadata must be paid what the
solution notebook says, exercise by exercise.
"""
from __future__ import annotations

import nbformat

from tempguide.homework import graded_cells, grade
from test_homework import HOMEWORK, by_name

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
