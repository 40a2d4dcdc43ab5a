"""The submission's kernel and its channel (issue 16): isolation, limits, and what crosses the pipe.

Each test drives a ``remote.Worker`` directly: code runs in the kernel, and what the
kernel could see or do comes back as data.  The root-mode tests are what CI runs
(CI is root); elsewhere they are skipped with the reason.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest
import torch

import tempguide
from tempguide.homework import remote, sandbox
from tempguide.homework.grader import default_solutions_dir

ROOT = Path(__file__).resolve().parents[1]
IS_ROOT = os.geteuid() == 0
root_only = pytest.mark.skipif(not IS_ROOT, reason="the sandbox needs the grader to run as root (as in CI)")


@pytest.fixture
def submission(tmp_path):
    path = tmp_path / "submissions" / "hw_probe.ipynb"
    path.parent.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), path)
    (tmp_path / "submissions" / "other_student.ipynb").write_text("{}")
    return path


def worker(submission, *, timeout=30.0, total=120.0, isolation="auto", memory_mb=8192):
    return remote.Worker(timeout=timeout, deadline=time.monotonic() + total, memory_mb=memory_mb,
                         secrets=[str(default_solutions_dir()), str(submission.parent)], submission=submission,
                         isolation=isolation)


PROBE = """
import os, socket
from pathlib import Path
def can(action):
    try:
        action()
        return True
    except Exception:
        return False
def listing(p):
    try:
        return sorted(os.listdir(p))
    except Exception:
        return None
uid = os.getuid()
cwd_files = sorted(os.listdir("."))
read_solution = can(lambda: open(SOLUTION).read())
solutions_listing = listing(SOLUTIONS)
read_grader = can(lambda: open(GRADER).read())
write_package = can(lambda: open(PACKAGE_FILE, "a").close())
touch_package = can(lambda: os.utime(PACKAGE_FILE))
read_other = can(lambda: open(OTHER).read())
ppid = os.getppid()
pids = [p for p in os.listdir("/proc") if p.isdigit()]
network = can(lambda: socket.create_connection(("1.1.1.1", 53), timeout=2))
import tempguide.toy  # the library still imports
"""


def _probe(w, submission):
    paths = dict(SOLUTION=str(default_solutions_dir() / "hw1_temperature.ipynb"), SOLUTIONS=str(default_solutions_dir()),
                 GRADER=str(Path(remote.__file__).with_name("grader.py")),
                 PACKAGE_FILE=str(Path(tempguide.__file__).with_name("toy.py")),
                 OTHER=str(submission.parent / "other_student.ipynb"))
    assert w.run("\n".join(f"{k} = {v!r}" for k, v in paths.items()) + PROBE) == ("ok", "")
    names = ("uid", "cwd_files", "read_solution", "solutions_listing", "read_grader", "write_package",
             "touch_package", "read_other", "ppid", "pids", "network")
    return {n: w.get(n) for n in names}


@root_only
def test_sandbox_kernel_cannot_read_secrets_write_the_package_or_see_the_grader(submission):
    before = Path(tempguide.__file__).with_name("toy.py").stat().st_mtime_ns
    with worker(submission) as w:
        assert w.mode == "sandbox", w.notes
        seen = _probe(w, submission)
    assert seen["uid"] == sandbox.NOBODY
    assert seen["cwd_files"] == [submission.name]  # a fresh folder holding only the submission
    assert not seen["read_solution"] and seen["solutions_listing"] in (None, [])
    assert not seen["read_grader"]
    assert not seen["write_package"] and not seen["touch_package"]
    assert not seen["read_other"]
    assert seen["ppid"] == 0 and len(seen["pids"]) <= 3  # its own PID namespace: the grader is invisible
    assert not seen["network"]
    assert Path(tempguide.__file__).with_name("toy.py").stat().st_mtime_ns == before


def _others_can_read(path: Path) -> bool:
    return all(os.stat(p).st_mode & 0o005 == 0o005 for p in [path, *path.parents])


@root_only
def test_unprivileged_mode_refuses_a_python_nobody_cannot_read(submission):
    import sys
    if _others_can_read(Path(os.__file__).parent):
        pytest.skip("here nobody can read Python's standard library")
    with pytest.raises(remote.IsolationError, match="cannot read .*install them where others can read them"):
        with worker(submission, isolation="unprivileged"):
            pass
    assert sys.modules  # the grader itself is unharmed


@root_only
def test_unprivileged_mode_reports_the_secrets_it_can_read(submission):
    if not _others_can_read(Path(os.__file__).parent):
        pytest.skip("nobody cannot read Python's standard library here (a private pyenv)")
    with worker(submission, isolation="unprivileged") as w:
        assert w.mode == "unprivileged"
        seen = _probe(w, submission)
        notes = w.notes
    assert seen["uid"] == sandbox.NOBODY and not seen["write_package"] and not seen["touch_package"]
    readable = os.stat(default_solutions_dir()).st_mode & 0o005 == 0o005
    assert seen["solutions_listing"] is not None if readable else seen["solutions_listing"] is None
    assert any(str(default_solutions_dir()) in n for n in notes) == readable


def test_same_user_mode_says_it_is_not_for_credit(submission):
    with worker(submission, isolation="same-user") as w:
        assert w.mode == "same-user"
        assert any("not for credit" in n for n in w.notes)
        assert w.run("import os\nuid = os.getuid()") == ("ok", "")
        assert w.get("uid") == os.getuid()


def test_a_forked_process_dies_with_the_kernel(submission, tmp_path):
    marker = tmp_path / "forked_was_here"
    os.chmod(tmp_path, 0o777)  # so that nobody could write it, if it survived
    with worker(submission) as w:
        w.run(f"import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(2)\n"
              f"    open({str(marker)!r}, 'w').write('x')\n    os._exit(0)")
    time.sleep(3)
    if w.mode == "same-user":
        pytest.skip("in same-user mode a setsid() child can survive (documented)")
    assert not marker.exists()


def test_timeout_interrupts_and_the_kernel_goes_on(submission):
    with worker(submission, timeout=2.0) as w:
        with pytest.raises(remote.CallTimeout, match="2 s limit"):
            w.run("while True:\n    print('x' * 10000)")
        assert w.run("y = 41 + 1") == ("ok", "") and w.get("y") == 42


def test_a_kernel_that_swallows_interrupts_is_stopped(submission):
    with worker(submission, timeout=1.0) as w:
        with pytest.raises(remote.CallTimeout):
            w.run("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass")
        assert w.dead and "ignored the interrupt" in w.dead
        with pytest.raises(remote.KernelDied):
            w.run("1")


def test_memory_limit_stops_a_runaway_allocation(submission):
    with worker(submission, memory_mb=8192) as w:
        status, message = w.run("import torch\nx = torch.empty(2**31, dtype=torch.float64).fill_(1.0)")
        assert status == "error" and ("MemoryError" in message or "RuntimeError" in message), message
        assert w.run("z = 1") == ("ok", "")


def test_os_exit_is_a_dead_kernel_not_a_crash(submission):
    with worker(submission) as w:
        with pytest.raises(remote.KernelDied, match="died"):
            w.run("import os\nos._exit(3)")


# --- calls: arguments, results, in-place changes, exceptions, callbacks -------------------------------------

def test_calls_return_data_and_keep_in_place_semantics(submission):
    with worker(submission) as w:
        w.run("import torch\n"
              "def scale(x, c):\n    x.mul_(c)\n    return x.sum(), {'n': x.numel(), 'first': x[0]}\n"
              "def draw(g):\n    return torch.randn(3, generator=g)\n"
              "def make_adder(k):\n    return lambda v: v + k\n"
              "def picky(v):\n    raise ValueError(f'v must be positive, got {v}')\n"
              "class Weird(Exception):\n    pass\n"
              "def weird():\n    raise Weird('nope')\n")
        x = torch.arange(4.0)
        total, info = w.get("scale")(x, 2.0)
        assert torch.equal(x, torch.tensor([0.0, 2.0, 4.0, 6.0]))  # the submission's in-place change is seen
        assert total.item() == 12.0 and info["n"] == 4 and info["first"].item() == 0.0
        g, reference = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
        assert torch.equal(w.get("draw")(g), torch.randn(3, generator=reference))
        assert torch.equal(torch.randn(2, generator=g), torch.randn(2, generator=reference))  # the state moved on
        add3 = w.get("make_adder")(3)
        assert isinstance(add3, remote.RemoteFunction) and add3(torch.tensor(1.0)).item() == 4.0
        with pytest.raises(ValueError, match="must be positive, got -1"):
            w.get("picky")(-1)
        with pytest.raises(remote.RemoteError, match="Weird: nope"):
            w.get("weird")()
        with pytest.raises(NameError):
            w.get("undefined_name")


def test_modules_and_objects_do_not_cross(submission):
    with worker(submission) as w:
        w.run("import os\nclass Box:\n    pass\nbox = Box()")
        with pytest.raises(TypeError, match="cannot be sent"):
            w.get("box")


class _Counter:
    """A grader-side object: the submission calls it through the channel, the count stays here."""

    GRADER_SIDE = True

    def __init__(self):
        self.calls = []

    def __call__(self, x):
        self.calls.append(tuple(x.shape))
        return 2 * x


def test_grader_side_objects_are_called_through_the_channel(submission):
    counter = _Counter()
    with worker(submission) as w:
        w.run("def twice(f, x):\n    return f(f(x))")
        out = w.get("twice")(counter, torch.ones(2, 3))
    assert torch.equal(out, 4 * torch.ones(2, 3)) and counter.calls == [(2, 3), (2, 3)]


def test_lambdas_travel_by_value_and_keep_autograd(submission):
    with worker(submission) as w:
        w.run("import torch\ndef grad_of(f, x):\n    x = x.detach().requires_grad_(True)\n"
              "    return torch.autograd.grad(f(x).sum(), x)[0]")
        k = 3.0
        assert torch.allclose(w.get("grad_of")(lambda x: k * x ** 2, torch.tensor([1.0, 2.0])),
                              torch.tensor([6.0, 12.0]))


def test_a_test_that_catches_exception_cannot_swallow_a_timeout(tmp_path):
    """Timeouts and dead kernels are not ``Exception``s: a check looping over cases stops at the first."""
    from nbformat.v4 import new_code_cell, new_notebook

    from tempguide.homework import grade

    def graded(source):
        return new_code_cell(source, metadata={"nbgrader": {"grade": True, "solution": False,
                                                            "grade_id": "ex", "points": 1}})

    key = new_notebook(cells=[
        new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION", metadata={
            "nbgrader": {"grade": False, "solution": True, "grade_id": "f_code", "locked": False}}),
        graded("ok = 0\nfor _ in range(20):\n    try:\n        ok += f()\n    except Exception:\n        pass\n"
               "assert ok == 20"),
        new_code_cell("def g():\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION", metadata={
            "nbgrader": {"grade": False, "solution": True, "grade_id": "g_code", "locked": False}}),
        graded("assert g() == 2").copy(),
    ], metadata={"tempguide": {"assignment": "loop"}})
    key.cells[3].metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "ex2", "points": 1}
    (tmp_path / "key").mkdir()
    nbformat.write(key, tmp_path / "key" / "loop.ipynb")
    key.cells[0].source = "def f():\n    while True:\n        pass"
    nbformat.write(key, tmp_path / "loop.ipynb")
    start = time.monotonic()
    result = grade(tmp_path / "loop.ipynb", hidden=True, solutions=tmp_path / "key", timeout=2)
    assert time.monotonic() - start < 30  # not 20 timeouts of 2 s each plus interrupts
    ex, ex2 = result["exercises"]
    assert ex["score"] == 0 and "2 s limit" in ex["message"]
    assert ex2["score"] == 1, ex2  # the kernel was interrupted, not lost


@root_only
def test_packages_under_tmp_stay_importable_in_the_sandbox(submission, tmp_path, monkeypatch):
    """The sandbox's fresh /tmp must not hide a checkout or venv under /tmp (a clean-clone CI)."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "module_under_tmp.py").write_text("ANSWER = 42\n")
    assert str(lib).startswith("/tmp/")
    monkeypatch.setenv("PYTHONPATH", str(lib))
    monkeypatch.syspath_prepend(str(lib))
    with worker(submission) as w:
        assert w.mode == "sandbox"
        assert w.run("import module_under_tmp\nanswer = module_under_tmp.ANSWER") == ("ok", "")
        assert w.get("answer") == 42
