"""Homework: student versions of solution notebooks, and the grader (book: "Homework"; issue 4).

- ``markers``  nbgrader's ``### BEGIN SOLUTION`` / hidden-test markers and what students see instead
- ``cells``    which cells are tests (nbgrader metadata), assignment ids, validation
- ``student``  ``student_notebook``, ``write_student``: the generated student version
- ``grader``   ``grade(path, hidden=...)`` -> the JSON report (the trust model: ``notebooks/homework/README.md``)
- ``sandbox``  where the submission's code runs: a private root as ``nobody`` when the grader is root
- ``worker``   the kernel process (a script); ``remote`` the grader's side of its channel; ``wire`` the frames
- ``judge``    hidden tests run in the grader's process on the submission's values and functions

Command line: ``python -m tempguide.homework student|grade ...`` (see ``__main__``).
Instant feedback for students lives in ``tempguide.checks``.
"""
from .cells import assignment_id, is_graded_cell, graded_cells, validate_solution
from .grader import default_solutions_dir, find_solution, grade
from .markers import MarkerError, solution_source, student_source
from .student import notebook_text, student_notebook, write_student

__all__ = [
    "MarkerError", "assignment_id", "default_solutions_dir", "find_solution", "grade", "is_graded_cell",
    "notebook_text", "solution_source", "student_notebook", "student_source", "graded_cells",
    "validate_solution", "write_student",
]
