"""`python -m tempguide.homework student` is strict (issue 16).

1. A line that looks like a marker but is not exactly one (case, spacing,
   underscores/hyphens, number of #, singular/plural, the wrong cell type) is a
   ``MarkerError`` naming the cell, the line and the marker meant; before, such a
   line copied the solution or the hidden tests into the student version.  Prose
   and code in which other text separates the words stay legal.
2. ``write_student`` never overwrites a solution, even with ``--force``: not in the
   solutions folder, not in the folder of SOLUTION, not a file with markers
   (the probe: ``student STUDENT.ipynb SOLUTION.ipynb --force``).

Every notebook is built here; the committed assignments are covered by
``test_homework.py::test_committed_student_notebook_is_the_generated_one``.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

from tempguide.homework import MarkerError, default_solutions_dir, grader, notebook_text, student_notebook
from tempguide.homework import write_student

CLI = [sys.executable, "-m", "tempguide.homework", "student"]
SOLUTION_CELL, TEST_CELL, MARKDOWN_CELL, RAW_CELL = 1, 2, 3, 4


def notebook(solution="def f():\n    ### BEGIN SOLUTION\n    return 'SECRET-CODE'\n    ### END SOLUTION",
             test="assert f()\n### BEGIN HIDDEN TESTS\nassert 'SECRET-TEST'\n### END HIDDEN TESTS",
             markdown="Why?\n\n<!-- BEGIN SOLUTION -->\nSECRET-ANSWER\n<!-- END SOLUTION -->",
             raw="raw text"):
    """A solution notebook: title, solution cell 1, test cell 2, markdown answer 3, raw cell 4."""
    grading = {"grade": True, "solution": False, "locked": True, "grade_id": "f", "points": 1,
               "schema_version": 3}
    return new_notebook(cells=[
        new_markdown_cell("# Strict markers"),
        new_code_cell(solution, metadata={"nbgrader": {"grade": False, "solution": True, "grade_id": "f_code",
                                                       "locked": False, "schema_version": 3}}),
        new_code_cell(test, metadata={"nbgrader": grading}),
        new_markdown_cell(markdown, metadata={"nbgrader": {"grade": True, "solution": True, "grade_id": "why",
                                                           "points": 1, "locked": False, "schema_version": 3}}),
        new_raw_cell(raw),
    ], metadata={"tempguide": {"assignment": "strict"}})


def with_line(cell: int, line: str, position: str) -> nbformat.NotebookNode:
    """``notebook()`` with ``line`` replacing the opening marker (``"begin"``), the closing one
    (``"end"``), or added as a new last line (``"extra"``) of ``cell``."""
    nb = notebook()
    lines = nb.cells[cell].source.splitlines()
    if position == "extra":
        lines.append(line)
    else:
        index = next(i for i, text in enumerate(lines) if (" BEGIN " if position == "begin" else " END ") in text)
        lines[index] = lines[index][: len(lines[index]) - len(lines[index].lstrip())] + line
    nb.cells[cell].source = "\n".join(lines)
    return nb


def line_number(nb, cell: int, line: str) -> int:
    return next(i + 1 for i, text in enumerate(nb.cells[cell].source.splitlines()) if text.strip() == line)


def stamp(path: Path):
    return path.read_bytes(), path.stat().st_mtime_ns


# --- 1. near-misses are errors ---------------------------------------------------------------------

CODE_BEGIN, CODE_END = "'### BEGIN SOLUTION'", "'### END SOLUTION'"
HIDDEN_BEGIN, HIDDEN_END = "'### BEGIN HIDDEN TESTS'", "'### END HIDDEN TESTS'"
MD_BEGIN, MD_END = "'<!-- BEGIN SOLUTION -->'", "'<!-- END SOLUTION -->'"

NEAR_MISSES = [  # (cell, the line, where it goes, the marker the message must show)
    # solution cells: case, spacing, separators, number of #, plural, trailing text, markdown syntax
    *[(SOLUTION_CELL, line, "begin", CODE_BEGIN) for line in [
        "### begin solution", "### Begin Solution", "BEGIN_SOLUTION", "###BEGIN SOLUTION", "### BEGIN  SOLUTION",
        "### BEGIN\tSOLUTION", "### BEGINSOLUTION", "### BEGIN-SOLUTION", "# BEGIN SOLUTION", "## BEGIN SOLUTION",
        "#### BEGIN SOLUTION", "### BEGIN SOLUTIONS", "### BEGIN SOLUTION:", "### BEGIN SOLUTION  # exercise 1",
        "__BEGIN_SOLUTION__", "<!-- BEGIN SOLUTION -->", "# --- begin solution ---"]],
    *[(SOLUTION_CELL, line, "end", CODE_END) for line in [
        "### END-SOLUTION", "### end solution", "### END_SOLUTION", "###END SOLUTION", "### ENDSOLUTION",
        "<!-- END SOLUTION -->"]],
    (SOLUTION_CELL, "### BEGIN HIDDEN TEST", "extra", HIDDEN_BEGIN),  # hidden tests outside a test cell
    # test cells: hidden-test near-misses, and a solution near-miss where no solution may be
    *[(TEST_CELL, line, "begin", HIDDEN_BEGIN) for line in [
        "### BEGIN HIDDEN TEST", "Begin Hidden Tests", "### begin hidden tests", "### BEGIN_HIDDEN_TESTS",
        "###BEGIN HIDDEN TESTS", "### BEGIN HIDDEN  TESTS", "### BEGIN HIDDENTESTS", "## BEGIN HIDDEN TESTS",
        "# BEGIN HIDDEN"]],
    *[(TEST_CELL, line, "end", HIDDEN_END) for line in ["### END HIDDEN TEST", "### END-HIDDEN-TESTS"]],
    (TEST_CELL, "### begin solution", "extra", CODE_BEGIN),
    # markdown cells: case, spacing, separators, the code markers, no comment at all
    *[(MARKDOWN_CELL, line, "begin", MD_BEGIN) for line in [
        "<!-- begin solution -->", "<!--BEGIN SOLUTION-->", "<!-- BEGIN SOLUTION-->", "<!-- BEGIN_SOLUTION -->",
        "<!-- BEGIN  SOLUTION -->", "<!-- BEGIN SOLUTIONS -->", "### BEGIN SOLUTION", "BEGIN SOLUTION",
        "**BEGIN SOLUTION**"]],
    *[(MARKDOWN_CELL, line, "end", MD_END) for line in ["<!-- END-SOLUTION -->", "<!-- end solution -->",
                                                        "### END SOLUTION"]],
    # hidden tests in markdown: only code test cells run them
    *[(MARKDOWN_CELL, line, "extra", HIDDEN_BEGIN) for line in [
        "<!-- BEGIN HIDDEN TESTS -->", "### BEGIN HIDDEN TESTS", "Begin Hidden Tests"]],
    # raw cells take no markers at all
    (RAW_CELL, "### BEGIN SOLUTION", "extra", CODE_BEGIN),
    (RAW_CELL, "<!-- END SOLUTION -->", "extra", MD_END),
]


@pytest.mark.parametrize("cell, line, position, marker", NEAR_MISSES)
def test_a_near_miss_marker_is_an_error_naming_cell_line_and_marker(cell, line, position, marker):
    nb = with_line(cell, line, position)
    number = line_number(nb, cell, line.strip())
    with pytest.raises(MarkerError) as error:
        student_notebook(nb)
    message = str(error.value)
    assert message.startswith(f"cell {cell}, line {number}: malformed or misplaced marker {line.strip()!r}")
    assert marker in message


@pytest.mark.parametrize("line", ["### begin solution", "BEGIN_SOLUTION", "### BEGIN  SOLUTION"])
def test_a_near_miss_inside_a_solution_region_is_an_error(line):
    nb = notebook(solution=f"def f():\n    ### BEGIN SOLUTION\n    {line}\n    return 1\n    ### END SOLUTION")
    with pytest.raises(MarkerError, match=f"cell {SOLUTION_CELL}, line 3: malformed"):
        student_notebook(nb)


def test_cli_reports_a_near_miss_and_writes_nothing(tmp_path):
    (tmp_path / "solutions").mkdir()
    solution, student = tmp_path / "solutions" / "strict.ipynb", tmp_path / "strict.ipynb"
    nbformat.write(with_line(TEST_CELL, "Begin Hidden Tests", "begin"), solution)
    out = subprocess.run(CLI + [str(solution), str(student)], capture_output=True, text=True)
    assert out.returncode == 2
    assert f"cell {TEST_CELL}, line 2" in out.stderr and HIDDEN_BEGIN in out.stderr
    assert not student.exists()


# --- 1. ... and the words alone are not ------------------------------------------------------------

NOT_MARKERS = [
    "the end of the solution", "begin: solution", "Begin, solution", "ending solution", "beginning solutions",
    "appended hidden", "legend_hidden = True", "hidden_end = 3", "n_hidden = 16", "weekend solution",
    "# the solution begins here; the hidden tests end below", "print('end')  # solution", "# BEGIN", "# END",
    "SOLUTION", "HIDDEN TESTS", "Solution: begin with the hint", "# end. Solution follows",
]


@pytest.mark.parametrize("cell", [SOLUTION_CELL, TEST_CELL, MARKDOWN_CELL, RAW_CELL])
@pytest.mark.parametrize("line", NOT_MARKERS)
def test_words_separated_by_other_text_are_not_markers(cell, line):
    nb = with_line(cell, line, "extra")  # outside any region: kept as it is
    out = student_notebook(nb)
    assert out.cells[cell].source.splitlines()[-1] == line
    assert "SECRET" not in notebook_text(out)  # the regions around it are still removed


@pytest.mark.parametrize("line", NOT_MARKERS)
def test_words_inside_a_solution_region_are_removed_with_it(line):
    nb = notebook(solution=f"def f():\n    ### BEGIN SOLUTION\n    {line}\n    return 1\n    ### END SOLUTION",
                  markdown=f"Why?\n\n<!-- BEGIN SOLUTION -->\n{line}\n<!-- END SOLUTION -->")
    out = student_notebook(nb)
    assert out.cells[SOLUTION_CELL].source == \
        'def f():\n    # YOUR CODE HERE\n    raise NotImplementedError("your code here")'
    assert out.cells[MARKDOWN_CELL].source == "Why?\n\nYOUR ANSWER HERE"


def test_exact_markers_with_indentation_and_trailing_spaces_still_work():
    nb = notebook(solution="def f():\n\t### BEGIN SOLUTION   \n\treturn 1\n\t### END SOLUTION\t",
                  test="assert f() == 1\n  ### BEGIN HIDDEN TESTS \nassert f()\n### END HIDDEN TESTS",
                  markdown="Why?\n   <!-- BEGIN SOLUTION -->\nSECRET\n<!-- END SOLUTION -->  ")
    out = student_notebook(nb)
    assert out.cells[SOLUTION_CELL].source == \
        'def f():\n\t# YOUR CODE HERE\n\traise NotImplementedError("your code here")'
    assert out.cells[TEST_CELL].source == "assert f() == 1"
    assert out.cells[MARKDOWN_CELL].source == "Why?\nYOUR ANSWER HERE"


# --- 2. a solution is never overwritten ------------------------------------------------------------

@pytest.fixture
def course(tmp_path, monkeypatch):
    """A course folder (its ``solutions`` the default one): (solution, generated student version, solutions)."""
    solutions = tmp_path / "homework" / "solutions"
    solutions.mkdir(parents=True)
    monkeypatch.setattr(grader, "default_solutions_dir", lambda: solutions)
    solution, student = solutions / "strict.ipynb", tmp_path / "homework" / "strict.ipynb"
    nbformat.write(notebook(), solution)
    assert write_student(solution, student) is True
    return solution, student, solutions


def test_swapped_arguments_with_force_leave_the_solution_alone(course):
    solution, student, _ = course
    before = stamp(solution)
    with pytest.raises(ValueError, match=r"is in the solutions folder.*swapped"):
        write_student(student, solution, force=True)
    assert stamp(solution) == before


@pytest.mark.parametrize("folder, target, reason", [
    ("elsewhere", "homework/solutions/new.ipynb", "the solutions folder"),  # the default one (monkeypatched)
    ("other", "other/new.ipynb", "the folder of SOLUTION"),
])
def test_no_new_file_in_a_solutions_folder_even_with_force(course, tmp_path, folder, target, reason):
    solution, _, _ = course
    source = tmp_path / folder / "strict.ipynb"  # a copy of the solution, outside the default folder
    source.parent.mkdir()
    source.write_bytes(solution.read_bytes())
    with pytest.raises(ValueError, match=f"is in {reason}"):
        write_student(source, tmp_path / target, force=True)
    assert not (tmp_path / target).exists()


def test_a_file_without_markers_in_the_solutions_folder_is_not_replaced_either(course):
    solution, _, solutions = course
    notes = solutions / "notes.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("teacher's notes")]), notes)
    before = stamp(notes)
    with pytest.raises(ValueError, match="is in the solutions folder"):
        write_student(solution, notes, force=True)
    assert stamp(notes) == before


@pytest.mark.parametrize("contents", [
    "solution notebook",  # a copy of the solution
    "near-miss only",  # a solution whose only marker is mistyped
    "not a notebook",  # broken JSON that still holds a marker
])
def test_no_file_with_markers_is_overwritten_even_with_force(course, tmp_path, contents):
    solution, _, _ = course
    target = tmp_path / "elsewhere" / "copy.ipynb"
    target.parent.mkdir()
    if contents == "solution notebook":
        target.write_bytes(solution.read_bytes())
    elif contents == "near-miss only":
        nbformat.write(new_notebook(cells=[new_code_cell("x = 1\n### begin solution\ny = 2")]), target)
    else:
        target.write_text('{"cells": [{"source": "### BEGIN SOLUTION\\n', encoding="utf-8")
    before = stamp(target)
    with pytest.raises(ValueError, match="contains solution or hidden-test markers"):
        write_student(solution, target, force=True)
    assert stamp(target) == before


def test_force_still_replaces_an_edited_student_version(course):
    solution, student, _ = course
    student.write_text(student.read_text().replace("YOUR CODE HERE", "my attempt"))
    with pytest.raises(FileExistsError):
        write_student(solution, student)
    assert write_student(solution, student, force=True) is True
    assert student.read_text() == notebook_text(student_notebook(nbformat.read(solution, 4), solution))


def test_cli_swapped_arguments_with_force_exit_2_and_leave_the_solution_alone(tmp_path):
    (tmp_path / "solutions").mkdir()
    solution, student = tmp_path / "solutions" / "strict.ipynb", tmp_path / "strict.ipynb"
    nbformat.write(notebook(), solution)
    assert subprocess.run(CLI + [str(solution), str(student)], capture_output=True).returncode == 0
    before = stamp(solution)
    out = subprocess.run(CLI + [str(student), str(solution), "--force"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "contains solution or hidden-test markers" in out.stderr and "swapped" in out.stderr
    assert stamp(solution) == before


def test_cli_refuses_the_folder_of_the_solution_with_force(tmp_path):
    (tmp_path / "solutions").mkdir()
    solution, target = tmp_path / "solutions" / "strict.ipynb", tmp_path / "solutions" / "student.ipynb"
    nbformat.write(notebook(), solution)
    target.write_text("an old file\n")
    before = stamp(target)
    out = subprocess.run(CLI + [str(solution), str(target), "--force"], capture_output=True, text=True)
    assert out.returncode == 2 and "is in the folder of SOLUTION" in out.stderr
    assert stamp(target) == before


def test_cli_refuses_the_course_solutions_folder(tmp_path):
    """The checkout's notebooks/homework/solutions, the folder the grader reads solutions from."""
    solution = tmp_path / "strict.ipynb"
    nbformat.write(notebook(), solution)
    target = default_solutions_dir() / "zz_never_written_by_tests.ipynb"
    assert not target.exists()
    try:
        out = subprocess.run(CLI + [str(solution), str(target), "--force"], capture_output=True, text=True)
        assert out.returncode == 2 and "is in the solutions folder" in out.stderr
        assert not target.exists()
    finally:
        target.unlink(missing_ok=True)
