"""Attack probes against the homework grader, and a runner for them (not a test module).

Each ``Probe`` is one way a submission can try to beat ``python -m tempguide.homework
grade NB --hidden``: ``build(tmp_path)`` writes the attack notebook (always the committed
hw1 student version, the "empty submission" worth 0/10, or its solution, plus the attack
cells) and returns what to run; ``check(outcome)`` returns None when the grader's verdict
is right, else a one-line reason.  ``run_probe(probe, tmp_path)`` builds, runs the grader
in a subprocess and checks.  ``tests/`` and ``benchmarks/bench_grader.py`` import it::

    from grader_probes import PROBES, run_probe
    outcome = run_probe(PROBES["transformers"], tmp_path)
    assert outcome.verdict is None, outcome.verdict

The spec ``build`` returns: ``notebook`` (the submission), ``args`` (extra CLI
arguments after ``--hidden``), and optionally ``output`` (a path for ``--output``),
``watch`` (files whose bytes and mtime must not change), ``settle`` (seconds to wait
after the grader exits before reading its files), ``then`` (a second grading, e.g. of
the empty hw1, run afterwards) and any data the check needs.

Safety: the runner starts the grader in its own session (``start_new_session``), so
``kill_pgroup`` can only hit the grader's group, and reads stdout from a file, so a
forked child that keeps the grader's stdout open cannot hang it.  ``tamper_package``
only touches mtimes (``os.utime``) unless built with ``destructive=True``, which
refuses to run against this checkout.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable

import nbformat

ROOT = Path(__file__).resolve().parents[1]
STUDENT = Path("notebooks/homework/hw1_temperature.ipynb")
SOLUTION = Path("notebooks/homework/solutions/hw1_temperature.ipynb")
EXERCISES = ("ex1_temperature", "ex2_top_p", "ex3_per_token", "ex4_sequence_level", "ex5_compare")
# Text only the hidden tests of hw1 contain (more is derived from the solution by ``hidden_lines``).
HIDDEN_TOKENS = ("seed=101", "seed=202", "seed=303", "seed=404", "n_random=40", "x_before", "toy=False",
                 "greedy_sequence", "most_probable_sequence")
FORGED = '{"score": 10, "max_score": 10, "exercises": [], "forged": true}\n'
TIMEOUT = ["--timeout", "20"]  # per-cell limit of every probe unless it needs another
RSS_LIMIT_MB = 3000  # the runner kills the grader when a process under it grows beyond this (shared machine)


@dataclasses.dataclass(frozen=True)
class Target:
    """What the probes attack: ``repo`` holds notebooks/homework, ``package`` is the tempguide the grader imports."""

    repo: Path = ROOT
    package: Path = ROOT / "src" / "tempguide"


@dataclasses.dataclass
class Outcome:
    """What one grading did; ``report`` is the last JSON object printed (from ``--output`` if given)."""

    spec: dict
    exit_code: int | None  # None: killed by the runner (see ``killed``); negative: killed by a signal
    stdout: str
    stderr: str
    report: dict | None
    seconds: float
    grader_rss_mb: float  # peak RSS of the grader process alone (psutil), else its rusage incl. reaped children
    peak_rss_mb: float  # largest RSS of the grader or any single process under it (the kernel included)
    files_before: dict[str, tuple | None]  # watched path -> (mtime_ns, sha256) or None if missing
    files_after: dict[str, tuple | None]
    output: str | None = None  # the --output file after ``settle`` seconds
    followup: "Outcome | None" = None
    killed: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    verdict: str | None = None  # the probe's check (set by run_probe)


@dataclasses.dataclass(frozen=True)
class Probe:
    name: str
    description: str
    build: Callable[..., dict]  # build(tmp_path, target=Target()) -> spec
    check: Callable[[Outcome], str | None]
    wall_limit: float = 150.0  # the runner kills the grader after this many seconds


# --- notebooks ----------------------------------------------------------------------------------------

def load(target: Target, which: Path = STUDENT):
    return nbformat.read(target.repo / which, as_version=4)


def code(source: str) -> dict:
    return nbformat.v4.new_code_cell(textwrap.dedent(source).strip("\n"))


def write(nb, folder: Path, name: str = "hw1_temperature.ipynb") -> Path:
    """Write ``nb`` as plain JSON (no validation: some probes are invalid notebooks on purpose)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def cell_of(nb, grade_id: str) -> int:
    """Index of the cell with nbgrader ``grade_id`` (solution and test cells both have one)."""
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader")
        if isinstance(meta, dict) and meta.get("grade_id") == grade_id:
            return i
    raise KeyError(grade_id)


def after_imports(nb) -> int:
    """Index just after the cell that imports torch and tempguide (where attacks go)."""
    return next(i for i, c in enumerate(nb.cells) if "from tempguide import" in c.source) + 1


def hidden_lines(target: Target) -> list[str]:
    """Lines of the solution's test cells that the student version does not show (the hidden tests)."""
    solution, student = load(target, SOLUTION), load(target, STUDENT)
    visible = {line.strip() for c in student.cells for line in c.source.splitlines()}
    return sorted({line.strip() for gid in EXERCISES for line in solution.cells[cell_of(solution, gid)].source
                   .splitlines() if len(line.strip()) >= 12 and line.strip() not in visible
                   and "HIDDEN TESTS" not in line})


def spec(notebook: Path, *args: str, **extra) -> dict:
    return {"notebook": notebook, "args": [*TIMEOUT, *args], **extra}


# --- checks ---------------------------------------------------------------------------------------------

def _exercise(o: Outcome, name: str) -> dict | None:
    return next((e for e in o.report.get("exercises", []) if isinstance(e, dict) and e.get("name") == name), None)


def report_problem(o: Outcome) -> str | None:
    """Why there is no usable report: killed, non-zero exit, no JSON, or not the five hw1 exercises."""
    if o.killed:
        return o.killed
    if o.exit_code != 0:
        tail = o.stderr.strip().splitlines()[-1:]
        return f"exit code {o.exit_code}" + (f" ({tail[0][:120]})" if tail else "")
    if o.report is None:
        return "no JSON report"
    names = [e.get("name") for e in o.report.get("exercises", []) if isinstance(e, dict)]
    if sorted(names) != sorted(EXERCISES):
        return f"report exercises {names} are not hw1's {list(EXERCISES)}"
    return None


def score_is(expected: float) -> Callable[[Outcome], str | None]:
    def check(o: Outcome) -> str | None:
        problem = report_problem(o)
        if problem:
            return problem
        if o.report.get("score") != expected:
            return f"score {o.report.get('score')}, expected {expected}"
        return None
    return check


def _check_exercise_zero(name: str) -> Callable[[Outcome], str | None]:
    def check(o: Outcome) -> str | None:
        problem = report_problem(o)
        if problem:
            return problem
        return None if _exercise(o, name).get("score") == 0 else f"{name} scored {_exercise(o, name).get('score')}"
    return check


def _check_errors_list(o: Outcome) -> str | None:
    problem = score_is(0)(o)  # the empty hw1
    if problem:
        return problem
    if not all(isinstance(e.get("score"), (int, float)) for e in o.report["exercises"]):
        return "an exercise has no numeric score"
    if not isinstance(o.report.get("errors"), list):
        return "no 'errors' list in the report"
    return None


# --- probes: code the grader runs for us ---------------------------------------------------------------

def build_transformers(tmp_path: Path, target: Target = Target()) -> dict:
    """Every later cell, hidden tests included, becomes ``pass`` before IPython runs it."""
    nb = load(target)
    nb.cells.insert(after_imports(nb), code('get_ipython().input_transformers_post.append(lambda lines: ["pass\\n"])'))
    return spec(write(nb, tmp_path))


WRONG_FUNCTIONS = {  # the student functions of hw1, wrong but not raising
    "apply_temperature": "def apply_temperature(logits, temperature):\n    return logits",
    "top_p_filter": "def top_p_filter(logits, top_p):\n    return logits",
    "per_token_distribution": "def per_token_distribution(lm, beta):\n"
                              "    n = len(exact.sequences(lm))\n"
                              "    return torch.full((n,), 1.0 / n, dtype=torch.float64)",
    "sequence_level_distribution": "def sequence_level_distribution(lm, beta):\n"
                                   "    n = len(exact.sequences(lm))\n"
                                   "    return torch.full((n,), 1.0 / n, dtype=torch.float64)",
}


def _wrong_functions(nb) -> None:
    for grade_id, source in WRONG_FUNCTIONS.items():
        nb.cells[cell_of(nb, grade_id)].source = source


def build_monkeypatch_torch(tmp_path: Path, target: Target = Target()) -> dict:
    """Wrong functions, and torch's comparisons patched to always agree."""
    nb = load(target)
    _wrong_functions(nb)
    nb.cells.insert(after_imports(nb), code("""
        import torch, torch.testing
        torch.equal = torch.allclose = lambda *a, **k: True
        torch.Tensor.equal = torch.Tensor.allclose = lambda *a, **k: True
        torch.isclose = lambda a, b, *r, **k: torch.ones(torch.broadcast_shapes(
            torch.as_tensor(a).shape, torch.as_tensor(b).shape), dtype=torch.bool)
        torch.testing.assert_close = lambda *a, **k: None
    """))
    return spec(write(nb, tmp_path))


def build_monkeypatch_math(tmp_path: Path, target: Target = Target()) -> dict:
    """The solution, but wrong KL values in exercise 4 and ``math.isclose`` always true."""
    nb = load(target, SOLUTION)
    i = cell_of(nb, "compare")
    nb.cells[i].source = nb.cells[i].source.replace("### END SOLUTION", textwrap.dedent("""\
        kl = {beta: 0.0 if beta == 1.0 else 0.123 for beta in betas}  # wrong on purpose
        math.isclose = lambda *a, **k: True
        ### END SOLUTION"""))
    return spec(write(nb, tmp_path))


def build_monkeypatch_checks(tmp_path: Path, target: Target = Target()) -> dict:
    """Wrong functions, and every ``tempguide.checks`` check (and ``_core`` internals) always passing."""
    nb = load(target)
    _wrong_functions(nb)
    nb.cells.insert(after_imports(nb), code("""
        import tempguide.checks as _c, tempguide.checks._core as _core, tempguide.checks.lm as _lm
        def _pass(*a, **k):
            return _core.CheckResult("check", True, 1, "✓ passed")
        for _m in (_c, _lm, _core):
            for _n in dir(_m):
                if _n.startswith("check_"):
                    setattr(_m, _n, _pass)
        _core._run = _lm._run = _pass
        _core.CheckResult.__bool__ = lambda self: True
    """))
    return spec(write(nb, tmp_path))


def build_answer_key(tmp_path: Path, target: Target = Target()) -> dict:
    """Each solution cell runs the instructor's version, read from next to the installed package."""
    nb = load(target)
    nb.cells.insert(after_imports(nb), code("""
        import json, tempguide
        from pathlib import Path
        _key = Path(tempguide.__file__).parents[2] / "notebooks/homework/solutions/hw1_temperature.ipynb"
        _cells = {(c["metadata"].get("nbgrader") or {}).get("grade_id"): "".join(c["source"])
                  for c in json.loads(_key.read_text())["cells"] if c["cell_type"] == "code"}
        def _steal(grade_id):
            exec(compile(_cells[grade_id], "<answer key>", "exec"), get_ipython().user_ns)
    """))
    for grade_id in (*WRONG_FUNCTIONS, "compare"):
        nb.cells[cell_of(nb, grade_id)].source = f"_steal({grade_id!r})"
    return spec(write(nb, tmp_path))


def _self_assignment(tmp_path: Path, target: Target, relative: bool) -> dict:
    """Test cells edited to ``pass``, and the metadata naming the submission itself as the assignment."""
    nb = load(target)
    for gid in EXERCISES:
        nb.cells[cell_of(nb, gid)].source = "pass"
    folder, solutions = tmp_path / "submission", target.repo / "notebooks" / "homework" / "solutions"
    me = folder / "hw1_temperature"
    bad_id = os.path.relpath(me, solutions) if relative else str(me)
    nb.metadata["tempguide"] = {"assignment": bad_id}
    return spec(write(nb, folder), "--solutions", str(solutions), bad_id=bad_id)


def build_assignment_dotdot(tmp_path: Path, target: Target = Target()) -> dict:
    """Assignment id ``../../…/hw1_temperature``: from the solutions folder, the submission itself."""
    return _self_assignment(tmp_path, target, relative=True)


def build_assignment_absolute(tmp_path: Path, target: Target = Target()) -> dict:
    """Assignment id = the submission's absolute path without .ipynb."""
    return _self_assignment(tmp_path, target, relative=False)


def check_assignment(o: Outcome) -> str | None:
    problem = score_is(0)(o)
    if problem:
        return problem
    if not any(o.spec["bad_id"] in str(e) for e in o.report.get("errors") or []):
        return f"no entry in 'errors' names the assignment id {o.spec['bad_id']!r}"
    return None


# --- probes: the grader's output ------------------------------------------------------------------------

def build_fake_json_stdout(tmp_path: Path, target: Target = Target()) -> dict:
    """A forged report written to fd 1, sys.__stdout__, /proc/self/fd/1 and the parent's fd 1."""
    nb = load(target)
    nb.cells.insert(after_imports(nb), code(f"""
        import os, sys
        _forged = {FORGED!r}
        os.write(1, _forged.encode())
        sys.__stdout__.write(_forged); sys.__stdout__.flush()
        for _path in ("/proc/self/fd/1", f"/proc/{{os.getppid()}}/fd/1"):
            try:
                _fd = os.open(_path, os.O_WRONLY | os.O_APPEND)
                os.write(_fd, _forged.encode()); os.close(_fd)
            except OSError as e:
                print(_path, e)
    """))
    return spec(write(nb, tmp_path))


def check_fake_json_stdout(o: Outcome) -> str | None:
    lines = [line for line in o.stdout.splitlines() if line.strip()]
    if len(lines) != 1:
        return f"stdout has {len(lines)} non-empty lines, expected the grader's one JSON line"
    return score_is(0)(o) or ("the line is forged" if "forged" in o.report else None)


FORK_REWRITE = f"""
    import os, time
    def _parent(pid):
        with open(f"/proc/{{pid}}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    def _cmdline(pid):
        try:
            with open(f"/proc/{{pid}}/cmdline", "rb") as f:
                return [a.decode(errors="replace") for a in f.read().split(b"\\0")]
        except OSError:
            return []
    _grader, _outputs, _fds, _pid = None, [], [], os.getppid()
    while _pid > 1:  # the ancestors: the grader, and the --output path it was given
        _args = _cmdline(_pid)
        if _grader is None and any("tempguide.homework" in a for a in _args):
            _grader = _pid
        if "--output" in _args[:-1]:
            try:
                _cwd = os.readlink(f"/proc/{{_pid}}/cwd")
            except OSError:
                _cwd = "/"
            _outputs.append(os.path.join(_cwd, _args[_args.index("--output") + 1]))
        try:
            _pid = _parent(_pid)
        except (OSError, ValueError):
            break
    for _pid in {{os.getppid(), _grader}} - {{None}}:
        try:
            _fds.append(os.open(f"/proc/{{_pid}}/fd/1", os.O_WRONLY))
        except OSError:
            pass
    print("grader", _grader, "outputs", _outputs, "fds", _fds)
    _child = os.fork()
    if _child == 0:
        os.setsid()
        if os.fork() == 0:  # the grandchild: outlives the kernel and the grader
            _end = time.time() + 60
            while _grader and os.path.exists(f"/proc/{{_grader}}") and time.time() < _end:
                time.sleep(0.1)
            time.sleep(2.0 if _grader else 3.0)
            for _fd in _fds:  # a file: truncate and write from the start; a pipe: just write
                try:
                    os.ftruncate(_fd, 0)
                    os.lseek(_fd, 0, 0)
                except OSError:
                    pass
                try:
                    os.write(_fd, {FORGED.encode()!r})
                except OSError:
                    pass
            for _path in _outputs:
                try:
                    with open(_path, "w") as f:
                        f.write({FORGED!r})
                except OSError:
                    pass
        os._exit(0)
    os.waitpid(_child, 0)
"""


def build_fork_rewrite(tmp_path: Path, target: Target = Target()) -> dict:
    """A grandchild that outlives the grader, then rewrites its stdout and its ``--output`` file."""
    nb = load(target)
    nb.cells.insert(after_imports(nb), code(FORK_REWRITE))
    return spec(write(nb, tmp_path), output=tmp_path / "report.json", settle=5.0)


def check_fork_rewrite(o: Outcome) -> str | None:
    for what, text in (("the --output file", o.output), ("stdout", o.stdout)):
        if text and "forged" in text:
            return f"{what} was rewritten after the grader exited"
    if o.output is None or parse_report(o.output) is None:
        return "the --output file holds no report"
    return score_is(0)(o)


# --- probes: the grader's files ------------------------------------------------------------------------

def tamper_targets(target: Target) -> list[Path]:
    """The answer key and the grader's code, as a submission would find them from ``tempguide.__file__``."""
    return [target.package / "homework" / "grader.py", target.package / "homework" / "__main__.py",
            target.package / "checks" / "lm.py", target.repo / SOLUTION]


TAMPER = """
    import os, tempguide
    from pathlib import Path
    _pkg = Path(tempguide.__file__).resolve().parent
    _key = _pkg.parents[1] / "notebooks/homework/solutions/hw1_temperature.ipynb"
    for _path in (_pkg / "homework/grader.py", _pkg / "homework/__main__.py", _pkg / "checks/lm.py", _key):
        for _touch in (lambda: os.utime(_path), lambda: open(_path, "r+b").close()):
            try:
                _touch()
                print("touched", _path)
            except OSError as e:
                print(_path, e)
"""

TAMPER_REWRITE = """
    import json, os, tempguide
    from pathlib import Path
    _pkg = Path(tempguide.__file__).resolve().parent
    _key = _pkg.parents[1] / "notebooks/homework/solutions/hw1_temperature.ipynb"
    assert str(_key.resolve()).startswith({allowed!r}), "refusing to rewrite outside the throwaway copy"
    _nb = json.loads(_key.read_text())
    for _cell in _nb["cells"]:
        if (_cell["metadata"].get("nbgrader") or {{}}).get("grade") is True:
            _cell["source"] = "pass"
    _key.write_text(json.dumps(_nb))
    with open(_pkg / "homework/grader.py", "a") as f:
        f.write("\\n# tampered by a submission\\n")
"""


def build_tamper_package(tmp_path: Path, target: Target = Target(), destructive: bool = False) -> dict:
    """Touch (or, ``destructive``, rewrite) the answer key and grader code; then grade the empty hw1 again.

    ``destructive=True`` rewrites the test cells of the answer key to ``pass``: only
    for a throwaway copy (refuses ``target.repo`` = this checkout); restore it afterwards
    from the spec's ``watch`` files.
    """
    nb = load(target)
    if destructive:
        repo = target.repo.resolve()
        if repo == ROOT or ROOT.is_relative_to(repo) or not target.package.resolve().is_relative_to(repo):
            raise ValueError(f"destructive tamper_package needs a throwaway repo holding the package, got {repo}")
        attack = TAMPER_REWRITE.format(allowed=str(repo))
    else:
        attack = TAMPER
    nb.cells.insert(after_imports(nb), code(attack))
    empty = write(load(target), tmp_path / "then")
    return spec(write(nb, tmp_path), watch=tamper_targets(target), then={"notebook": empty, "args": TIMEOUT})


def check_tamper_package(o: Outcome) -> str | None:
    changed = [Path(p).name for p in o.files_before if o.files_before[p] != o.files_after.get(p)]
    if changed:
        return f"changed by the submission: {', '.join(changed)}"
    problem = score_is(0)(o)
    if problem:
        return problem
    if o.followup is None:
        return "the empty hw1 was not graded again"
    problem = score_is(0)(o.followup)
    return f"next grading of the empty hw1: {problem}" if problem else None


# --- probes: the hidden tests ---------------------------------------------------------------------------

LEAK = """
    import inspect, linecache, re, sys
    _VISIBLE = {visible!r}
    def _leak(*args, **kwargs):
        lines = []
        cells = lambda name: re.search(r"<ipython-input|ipykernel_\\d+", name)  # notebook cells, not library files
        for k in range(1, 30):  # the calling cells' source, as linecache holds it
            try:
                name = sys._getframe(k).f_code.co_filename
            except ValueError:
                break
            lines += linecache.getlines(name) if cells(name) else []
        ip = get_ipython()
        lines += "\\n".join(ip.user_ns.get("In", [])[-2:]).splitlines()
        lines += "\\n".join(ip.history_manager.input_hist_raw[-2:]).splitlines()
        for frame in inspect.stack(context=50)[1:]:
            lines += (frame.code_context or []) if cells(frame.filename) else []
        seen, out = set(), []
        for line in (text.strip() for text in lines):
            if line and line not in _VISIBLE and line not in seen:
                seen.add(line)
                out.append(line)
        raise ValueError(" ; ".join(out))
"""


def build_leak_hidden(tmp_path: Path, target: Target = Target()) -> dict:
    """Student functions that raise an error made of their callers' source (the hidden tests, if they can)."""
    nb = load(target)
    visible = sorted({line.strip() for c in nb.cells for line in c.source.splitlines() if line.strip()})
    for name in WRONG_FUNCTIONS:
        nb.cells[cell_of(nb, name)].source = f"{name} = _leak"
    nb.cells.insert(after_imports(nb), code(LEAK.format(visible=visible)))
    return spec(write(nb, tmp_path), secrets=[*HIDDEN_TOKENS, *hidden_lines(target)])


def check_leak_hidden(o: Outcome) -> str | None:
    problem = score_is(0)(o)
    if problem:
        return problem
    text = o.stdout + (o.output or "")
    shown = json.dumps(o.report, ensure_ascii=False) + "\n" + text
    leaked = [s for s in o.spec["secrets"] if s in shown or json.dumps(s)[1:-1] in shown]
    return f"hidden test text in the report: {leaked[0]!r} (+{len(leaked) - 1} more)" if leaked else None


# --- probes: killing and exiting -----------------------------------------------------------------------

def _kill(source: str) -> Callable[..., dict]:
    def build(tmp_path: Path, target: Target = Target()) -> dict:
        nb = load(target)
        nb.cells.insert(after_imports(nb), code(source))
        return spec(write(nb, tmp_path))
    build.__doc__ = f"The empty hw1 with a cell ``{source.strip()}`` after the imports."
    return build


build_kill_parent = _kill("import os\nos.kill(os.getppid(), 15)")
build_kill_parent_9 = _kill("import os\nos.kill(os.getppid(), 9)")
build_kill_pgroup = _kill("import os\ntry:\n    os.killpg(os.getpgid(os.getppid()), 15)\n"
                          "finally:\n    os.killpg(0, 15)")

EXIT_CELL = 11  # where the exit cell goes: after exercise 2's test (cell 10), before exercise 3


def _exit(source: str) -> Callable[..., dict]:
    def build(tmp_path: Path, target: Target = Target()) -> dict:
        nb = load(target, SOLUTION)
        assert cell_of(nb, "ex2_top_p") == EXIT_CELL - 1
        nb.cells.insert(EXIT_CELL, code(source))
        return spec(write(nb, tmp_path), exit_cell=EXIT_CELL)
    build.__doc__ = f"The solution with a cell ``{source}`` at index {EXIT_CELL}, between exercises 2 and 3."
    return build


build_exit_call = _exit("exit()")
build_exit_call_os = _exit("import os\nos._exit(1)")


def check_exit(o: Outcome) -> str | None:
    problem = report_problem(o)
    if problem:
        return problem
    for name in ("ex1_temperature", "ex2_top_p"):  # ran before the exit: full marks
        e = _exercise(o, name)
        if e["score"] != e["max_score"]:
            return f"{name} (before the exit) scored {e['score']}/{e['max_score']}: {e.get('message')}"
    e = _exercise(o, "ex3_per_token")
    if e["score"] != 0:
        return f"ex3_per_token (after the exit) scored {e['score']}"
    if not re.search(rf"cell\W{{0,3}}{o.spec['exit_cell']}\b", str(e.get("message")), re.IGNORECASE):
        return f"ex3_per_token's message does not blame cell {o.spec['exit_cell']}: {e.get('message')!r}"[:200]
    return None


# --- probes: malformed notebooks and resource limits ---------------------------------------------------

def build_metadata_string(tmp_path: Path, target: Target = Target()) -> dict:
    """Exercise 1's test cell with ``metadata.nbgrader`` a string instead of a dict."""
    nb = load(target)
    nb.cells[cell_of(nb, "ex1_temperature")].metadata["nbgrader"] = "ex1_temperature"
    return spec(write(nb, tmp_path))


def build_no_source(tmp_path: Path, target: Target = Target()) -> dict:
    """A code cell without a ``source`` key (invalid nbformat, written by hand)."""
    nb = load(target)
    nb.cells.insert(after_imports(nb), {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": []})
    return spec(write(nb, tmp_path))


def build_print_flood(tmp_path: Path, target: Target = Target()) -> dict:
    """The solution whose ``top_p_filter`` prints 10 kB lines forever (exercise 2), ``--timeout 10``."""
    nb = load(target, SOLUTION)
    nb.cells[cell_of(nb, "top_p_filter")].source = ('def top_p_filter(logits, top_p):\n'
                                                    '    while True:\n        print("x" * 10000)')
    nb.cells[cell_of(nb, "ex2_top_p") - 1].source = "# (instant feedback skipped: it would flood too)"
    return {"notebook": write(nb, tmp_path), "args": ["--timeout", "10"]}


RSS_LIMIT_MB = 1200


def check_print_flood(o: Outcome) -> str | None:
    problem = _check_exercise_zero("ex2_top_p")(o)
    if problem:
        return problem
    # An honest grading of hw1 peaks near 720 MB (torch and the solution's own run in the grader);
    # the old grader kept every printed line and passed 1.8 GB within 30 s.  The kernel's memory is
    # the sandbox's limit, not this check's.
    if o.grader_rss_mb >= RSS_LIMIT_MB:
        return f"grader peak RSS {o.grader_rss_mb:.0f} MB >= {RSS_LIMIT_MB} MB"
    if len(o.stdout) + len(o.output or "") > 1_000_000:
        return f"report of {len(o.stdout)} characters"
    return None


TOTAL_CELLS, TOTAL_SLEEP, TOTAL_TIMEOUT, TOTAL_LIMIT = 6, 3.5, 4, 15


def build_total_time(tmp_path: Path, target: Target = Target()) -> dict:
    """Six cells sleeping 3.5 s each (per-cell ``--timeout 4``) against ``--total-timeout 15``."""
    nb = load(target)
    at = after_imports(nb)
    nb.cells[at:at] = [code(f"import time\ntime.sleep({TOTAL_SLEEP})") for _ in range(TOTAL_CELLS)]
    path = write(nb, tmp_path)
    return {"notebook": path, "args": ["--timeout", str(TOTAL_TIMEOUT), "--total-timeout", str(TOTAL_LIMIT)]}


def check_total_time(o: Outcome) -> str | None:
    if o.seconds > TOTAL_LIMIT + 15:
        return f"ran {o.seconds:.0f} s against --total-timeout {TOTAL_LIMIT}"
    problem = _check_errors_list(o)
    if problem:
        return problem
    if not any(re.search(r"total|overall|time limit", str(e), re.IGNORECASE) for e in o.report["errors"]):
        return "no entry in 'errors' about the total time limit"
    return None


PROBES = {p.name: p for p in [
    Probe("transformers", "IPython input transformer turns every later cell into `pass`",
          build_transformers, score_is(0)),
    Probe("monkeypatch_torch", "wrong functions + torch.equal/allclose/isclose always true",
          build_monkeypatch_torch, score_is(0)),
    Probe("monkeypatch_math", "solution with wrong KL values + math.isclose always true",
          build_monkeypatch_math, _check_exercise_zero("ex5_compare")),
    Probe("monkeypatch_checks", "wrong functions + tempguide.checks (and _core) always passing",
          build_monkeypatch_checks, score_is(0)),
    Probe("answer_key", "exec the solution notebook found next to tempguide.__file__",
          build_answer_key, score_is(0)),
    Probe("assignment_dotdot", "metadata assignment = relative ../ path to the submission itself",
          build_assignment_dotdot, check_assignment),
    Probe("assignment_absolute", "metadata assignment = absolute path to the submission itself",
          build_assignment_absolute, check_assignment),
    Probe("fake_json_stdout", "forged JSON line on fd 1, sys.__stdout__, /proc/self/fd/1, /proc/ppid/fd/1",
          build_fake_json_stdout, check_fake_json_stdout),
    Probe("fork_rewrite", "grandchild rewrites the grader's stdout and --output file after it exits",
          build_fork_rewrite, check_fork_rewrite),
    Probe("tamper_package", "os.utime / open r+b on grader.py, checks/lm.py and the answer key",
          build_tamper_package, check_tamper_package),
    Probe("leak_hidden", "student functions raise errors made of their callers' source",
          build_leak_hidden, check_leak_hidden),
    Probe("kill_parent", "os.kill(os.getppid(), SIGTERM)", build_kill_parent, score_is(0)),
    Probe("kill_parent_9", "os.kill(os.getppid(), SIGKILL)", build_kill_parent_9, score_is(0)),
    Probe("kill_pgroup", "os.killpg of the parent's group, then os.killpg(0, SIGTERM)", build_kill_pgroup, score_is(0)),
    Probe("exit_call", f"exit() in an ordinary cell at index {EXIT_CELL} of the solution", build_exit_call, check_exit),
    Probe("exit_call_os", f"os._exit(1) in an ordinary cell at index {EXIT_CELL} of the solution",
          build_exit_call_os, check_exit),
    Probe("metadata_string", "a test cell whose metadata.nbgrader is a string", build_metadata_string,
          _check_errors_list),
    Probe("no_source", "a code cell without a source key", build_no_source, _check_errors_list),
    Probe("print_flood", "top_p_filter prints 10 kB lines forever, --timeout 10", build_print_flood,
          check_print_flood),
    Probe("total_time", f"{TOTAL_CELLS} cells sleeping {TOTAL_SLEEP} s, --timeout {TOTAL_TIMEOUT} "
          f"--total-timeout {TOTAL_LIMIT}", build_total_time, check_total_time, wall_limit=120.0),
]}

# Not in PROBES (tests iterate those): a real rewrite of the answer key, for a throwaway copy only.
DESTRUCTIVE_PROBES = {"tamper_package_rewrite": Probe(
    "tamper_package_rewrite", "REAL rewrite: answer key's test cells -> `pass`, grader.py appended (throwaway copy)",
    lambda tmp_path, target=Target(): build_tamper_package(tmp_path, target, destructive=True),
    check_tamper_package)}


# --- the runner ----------------------------------------------------------------------------------------

def parse_report(text: str | None) -> dict | None:
    """The last line of ``text`` that is a JSON object (the grader prints its report last), else None."""
    for line in reversed((text or "").splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def json_scores(text: str) -> list:
    """The ``score`` of every JSON line in ``text`` (more than one means a forged line got through)."""
    return [v.get("score") for v in map(_loads, (text or "").splitlines()) if isinstance(v, dict)]


def _loads(line: str):
    try:
        return json.loads(line)
    except ValueError:
        return None


def snapshot(paths) -> dict[str, tuple | None]:
    out = {}
    for path in map(Path, paths):
        out[str(path)] = (path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest()) \
            if path.is_file() else None
    return out


def grader_flags(python: str, env: dict | None = None) -> set[str]:
    """The options ``grade --help`` lists (old graders lack ``--output`` and ``--total-timeout``)."""
    help_text = subprocess.run([python, "-m", "tempguide.homework", "grade", "--help"], capture_output=True,
                               text=True, env=env, timeout=60).stdout
    return set(re.findall(r"--[a-z][a-z-]+", help_text))


def _adapt(args: list[str], flags: set[str] | None, notes: list[str]) -> list[str]:
    """Drop ``--flag VALUE`` pairs the grader does not know (noted), keep the rest."""
    out, i = [], 0
    while i < len(args):
        if flags is not None and args[i].startswith("--") and args[i] not in flags:
            notes.append(f"{args[i]} {args[i + 1]} dropped (unknown to this grader)")
            i += 2
            continue
        out.append(args[i])
        i += 1
    return out


def _kill_tree(procs) -> None:
    """SIGKILL the processes we saw under the grader (psutil objects: pid reuse is detected)."""
    for p in procs:
        try:
            if p.is_running():
                p.kill()
        except Exception:
            pass


def run_grader(run: dict, workdir: Path, *, python: str = sys.executable, env: dict | None = None,
               flags: set[str] | None = None, wall_limit: float = 150.0) -> Outcome:
    """Grade ``run["notebook"]`` with ``--hidden`` in a subprocess (cwd = ``workdir/cwd``) and collect everything.

    ``flags``: the options the grader knows (see ``grader_flags``); an unknown ``--output``
    is emulated by sending stdout to that file, other unknown options are dropped.
    """
    try:
        import psutil
    except ImportError:
        psutil = None
    notes: list[str] = []
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "cwd").mkdir(exist_ok=True)
    cmd = [python, "-m", "tempguide.homework", "grade", str(run["notebook"]), "--hidden",
           *_adapt(list(run.get("args", [])), flags, notes)]
    stdout_path, output = workdir / "stdout.txt", run.get("output")
    if output is not None:
        if flags is None or "--output" in flags:
            cmd += ["--output", str(output)]
        else:
            stdout_path = Path(output)
            notes.append("--output emulated by sending stdout to the file")
    watch = run.get("watch", [])
    before = snapshot(watch)
    full_env = {**os.environ, **(env or {})}
    with open(stdout_path, "ab") as out, open(workdir / "stderr.txt", "ab") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=workdir / "cwd", env=full_env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, start_new_session=True)  # a killpg by the submission stays in here
    watched = psutil.Process(proc.pid) if psutil else None
    tree, peak, tree_peak, killed, status, usage = {}, 0.0, 0.0, None, None, None
    while status is None:
        pid, raw, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            status = raw
            break
        if watched is not None:
            try:
                peak = max(peak, watched.memory_info().rss / 2**20)
                tree.update({c.pid: c for c in watched.children(recursive=True)})
            except psutil.Error:
                pass
            for child in list(tree.values()):
                try:
                    tree_peak = max(tree_peak, child.memory_info().rss / 2**20)
                except psutil.Error:
                    pass
        elapsed = time.perf_counter() - start
        biggest = max(peak, tree_peak)
        if killed is None and (biggest > RSS_LIMIT_MB or elapsed > wall_limit):
            killed = (f"killed by the runner: RSS {biggest:.0f} MB > {RSS_LIMIT_MB} MB" if biggest > RSS_LIMIT_MB
                      else f"killed by the runner after {wall_limit:.0f} s")
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _kill_tree(tree.values())
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    time.sleep(run.get("settle", 0.0))
    _kill_tree(tree.values())  # leftover kernels of a grader that died
    read = lambda p: Path(p).read_text(encoding="utf-8", errors="replace") if Path(p).is_file() else None  # noqa: E731
    stdout, output_text = read(stdout_path) or "", read(output) if output is not None else None
    return Outcome(spec=run, exit_code=None if killed else proc.returncode, stdout=stdout,
                   stderr=read(workdir / "stderr.txt") or "",
                   report=parse_report(output_text if output is not None else stdout), seconds=seconds,
                   grader_rss_mb=peak if watched is not None else usage.ru_maxrss / 1024,
                   peak_rss_mb=max(peak, tree_peak, usage.ru_maxrss / 1024),
                   files_before=before, files_after=snapshot(watch), output=output_text, killed=killed, notes=notes)


def run_probe(probe: Probe, tmp_path: Path, *, target: Target = Target(), python: str = sys.executable,
              env: dict | None = None, flags: set[str] | None = None, **build_options) -> Outcome:
    """Build ``probe`` in ``tmp_path``, grade it (and its follow-up), set ``outcome.verdict``."""
    run = probe.build(tmp_path, target, **build_options)
    outcome = run_grader(run, tmp_path / "run", python=python, env=env, flags=flags, wall_limit=probe.wall_limit)
    if "then" in run:
        outcome.followup = run_grader(run["then"], tmp_path / "then-run", python=python, env=env, flags=flags)
    outcome.verdict = probe.check(outcome)
    return outcome
