"""Hidden tests, judged in the grader's own process (book: "Homework"; README: "Trust model").

The judge runs the **solution notebook** (trusted: the instructor's code) cell by
cell in a namespace of its own, skipping its test cells.  When grading reaches a
test cell, the judge runs that cell's full source (hidden tests included) in a
copy of this namespace in which every **student name** the test reads is
replaced by the submission's: values are fetched from the kernel as data,
functions become ``remote.RemoteFunction``.  So the assertions, the ``checks``
and the reference computations all run here; the kernel only ever computes the
student's answers.

A **student name** is a name the solution binds in a statement that contains a
``### BEGIN SOLUTION`` region (the function a region completes, the variables it
assigns, the containers it fills), or anywhere in a solution cell without markers
(nbgrader's whole solution cell).  Everything else a test reads (imports,
constants such as ``betas``, the toy model) comes from the solution's own run,
whatever the submission did to its copies.
"""
from __future__ import annotations

import ast
import contextlib
import io
import sys
import types
import warnings

from IPython.core.inputtransformer2 import TransformerManager

from .cells import is_whole_solution, nbgrader
from .markers import find_regions, solution_source


def _bound_names(node: ast.AST) -> set[str]:
    """Names a top-level statement binds (for ``x[i] = ...`` and ``x.a = ...``: ``x``)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            names.add(sub.id)
        elif isinstance(sub, (ast.Subscript, ast.Attribute)) and isinstance(sub.ctx, ast.Store):
            root = sub
            while isinstance(root, (ast.Subscript, ast.Attribute)):
                root = root.value
            if isinstance(root, ast.Name):
                names.add(root.id)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(sub.name)
        elif isinstance(sub, ast.alias):
            names.add((sub.asname or sub.name).split(".")[0])
    return names


def student_names(solution) -> set[str]:
    """The names the submission supplies (see module docstring), from the solution's markers."""
    names: set[str] = set()
    for i, cell in enumerate(solution.cells):
        if cell.cell_type != "code":
            continue
        tree = ast.parse(_python(solution_source(cell.source, "code", i)))
        if is_whole_solution(cell, i):  # nbgrader's whole solution cell: everything it binds
            names.update(*(_bound_names(statement) for statement in tree.body))
            continue
        regions = [r for r in find_regions(cell.source, "code", i) if r.kind == "solution"]
        if not regions:
            continue
        lines = cell.source.splitlines()
        keep = [j for j in range(len(lines)) if all(j not in (r.start, r.end) for r in regions)]
        inside = {new for new, old in enumerate(keep) if any(r.start < old < r.end for r in regions)}
        for statement in tree.body:
            span = range(statement.lineno - 1, statement.end_lineno)
            if any(j in inside for j in span):
                names |= _bound_names(statement)
    return names


def read_names(source: str) -> set[str]:
    """Every name ``source`` reads (anywhere: functions, lambdas and comprehensions included)."""
    return {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _python(source: str) -> str:
    return TransformerManager().transform_cell(source)  # IPython magics -> Python


def _no_ipython():
    raise RuntimeError("get_ipython() is not available while grading")


@contextlib.contextmanager
def quiet():
    """Nothing trusted code prints reaches the grader's output (its only output is the report)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


class Judge:
    """``advance(grade_id)`` runs the solution up to that test; ``evaluate(grade_id, worker)`` judges it."""

    def __init__(self, solution):
        self.students = student_names(solution)
        self.cells = []  # (index, python source, grade_id or None)
        for i, cell in enumerate(solution.cells):
            if cell.cell_type == "code" and cell.source.strip():
                grade_id = nbgrader(cell).get("grade_id") if nbgrader(cell).get("grade") is True else None
                self.cells.append((i, _python(solution_source(cell.source, "code", i)), grade_id))
        self.tests = {g: source for _, source, g in self.cells if g is not None}
        self.namespace = {"__name__": "__main__", "get_ipython": _no_ipython}
        self.position = 0
        self.errors: list[str] = []

    def advance(self, grade_id: str) -> None:
        """Run the solution's ordinary cells that come before the test cell ``grade_id`` (once)."""
        target = next((k for k, (_, _, g) in enumerate(self.cells) if g == grade_id), len(self.cells))
        while self.position < target:
            index, source, test = self.cells[self.position]
            self.position += 1
            if test is not None:
                continue
            try:
                with quiet():
                    exec(compile(source, f"<solution cell {index}>", "exec"), self.namespace)
            except Exception as e:  # noqa: BLE001 - the answer key itself is broken: tell the instructor
                self.errors.append(f"the solution notebook failed in cell {index}: {type(e).__name__}: {e}")

    def evaluate(self, grade_id: str, worker) -> None:
        """Run test ``grade_id`` with the submission's names; raises what the test raises."""
        source = self.tests[grade_id]
        scope = dict(self.namespace)
        for name in sorted(read_names(source) & self.students):
            scope.pop(name, None)
            try:
                scope[name] = worker.get(name)
            except NameError:
                pass  # the test fails with NameError when it reads it
            except TypeError:  # not data: a module a solution region imported is the grader's own module
                if not isinstance(self.namespace.get(name), types.ModuleType):
                    raise
                scope[name] = self.namespace[name]
        with quiet():
            exec(compile(source, f"<test {grade_id}>", "exec"), scope)
