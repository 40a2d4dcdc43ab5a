"""The grader's side of the channel: start the kernel, run cells, call the submission's functions.

``Worker`` starts ``worker.py`` in a fresh temporary folder (isolated by
``sandbox``), with its standard streams on ``/dev/null`` (nothing it prints can
reach the grader's output) and two pipes the grader opened.  Every request has a
time limit and the whole grading a deadline; a kernel that does not answer is
interrupted, then killed.

``RemoteFunction`` is how trusted code (the hidden tests, the ``checks``) calls
the submission: arguments go over the pipe (pickled: the grader is trusted),
results come back as data (``wire.decode``), in-place changes to argument
tensors and generators are applied to the caller's objects, and an exception the
submission raised is raised again here (as the built-in type of the same name,
else ``RemoteError``), so ``pytest.raises``-style tests keep working.  An object
whose class sets ``GRADER_SIDE = True`` (e.g. a network that records its calls)
is not copied: the submission calls it through the channel.
"""
from __future__ import annotations

import builtins
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import cloudpickle

from . import wire
from .sandbox import NOBODY, PR_SET_PDEATHSIG, prctl

GRADER_SIDE = "GRADER_SIDE"
WORKER = Path(__file__).with_name("worker.py")
GRACE = 15.0  # seconds a kernel gets to answer an interrupt (generous: a loaded machine is slow to switch)
START = 60.0  # seconds to start the kernel and isolate it


class GradingStop(BaseException):
    """Not an ``Exception``: a test or check that catches ``Exception`` around a student call cannot
    swallow a timeout or a dead kernel and go on calling it."""


class KernelDied(GradingStop):
    """The kernel is gone (it ended itself, ran out of memory, or was stopped after a timeout)."""


class IsolationError(RuntimeError):
    """The kernel cannot run in the isolation this machine allows (the instructor's setup, not the submission)."""


class CallTimeout(GradingStop):
    """A request took longer than its time limit (the kernel was interrupted)."""


class TotalTimeout(CallTimeout):
    """The grading as a whole reached its time limit."""


class RemoteError(Exception):
    """An exception raised by the submission whose type is not a built-in one."""


def _exception(ename: str, evalue: str) -> Exception:
    cls = getattr(builtins, str(ename), None)
    if isinstance(cls, type) and issubclass(cls, Exception) and not issubclass(cls, (OSError, UnicodeError)):
        return cls(evalue)
    return RemoteError(f"{ename}: {evalue}")


class RemoteFunction:
    """A callable of the submission (a global by name, or a handle the kernel returned)."""

    def __init__(self, worker: "Worker", target: tuple, name: str):
        self._worker, self._target, self.__name__ = worker, target, name
        self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        return self._worker.call(self._target, args, kwargs)

    def __repr__(self) -> str:
        return f"<function {self.__name__} of the submission>"


def _readable_paths() -> list[str]:
    """What the kernel needs to import Python, torch and tempguide (bound read-only in the sandbox)."""
    import tempguide
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(tempguide.__file__).parents[1])}
    paths |= {p for p in sys.path if p and os.path.isdir(p) and Path(p).resolve() != Path.cwd().resolve()}
    return sorted(paths)


def _child_setup():  # runs in the child between fork and exec
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the kernel never outlives the grader


class Worker:
    """One kernel process.  ``with Worker(...) as w: w.run(source); w.get(name); w.call(target, args, kw)``."""

    def __init__(self, *, timeout: float, deadline: float, memory_mb: int | None, secrets: list[str],
                 submission: Path, isolation: str = "auto"):
        if isolation not in ("auto", "unprivileged", "same-user"):
            raise ValueError(f"isolation must be 'auto', 'unprivileged' or 'same-user', got {isolation!r}")
        self.timeout, self.deadline, self.memory_mb, self.secrets = timeout, deadline, memory_mb, secrets
        self.isolation = isolation
        self.submission = submission
        self.dead: str | None = None
        self.hello: dict = {}
        self._rid = 0
        self._sent: dict[int, float] = {}  # request id of a submitted cell -> when it was sent
        self._collected = 0.0  # when the last cell result was collected
        self._callbacks: dict[int, object] = {}
        self._tmp = None

    # --- life cycle ------------------------------------------------------------------------------
    def __enter__(self):
        self._tmp = tempfile.mkdtemp(prefix="tempguide-grade-")
        work, root = Path(self._tmp) / "work", Path(self._tmp) / "root"
        work.mkdir()
        root.mkdir()
        shutil.copyfile(self.submission, work / self.submission.name)  # the folder holds only the submission
        if os.geteuid() == 0:
            os.chmod(self._tmp, 0o711)
            os.chown(work, NOBODY, NOBODY)
            os.chown(work / self.submission.name, NOBODY, NOBODY)
        config = {"work": str(work), "root": str(root), "readable": _readable_paths(),
                  "secrets": sorted(set(self.secrets) | {str(Path(__file__).parent)}),
                  "isolation": self.isolation, "memory_mb": self.memory_mb, "cpu_seconds": int(max(1, self.deadline - time.monotonic())) + 60}
        to_kernel, self._out = os.pipe()
        self._in, from_kernel = os.pipe()
        env = {k: v for k, v in os.environ.items()
               if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
               or k.startswith("TEMPGUIDE_") and k != "TEMPGUIDE_INSTALL_TARGET"}
        env.update(HOME="/tmp", IPYTHONDIR="/tmp/.ipython", MPLCONFIGDIR="/tmp/.matplotlib", MPLBACKEND="Agg",
                   PYTHONDONTWRITEBYTECODE="1")
        if os.geteuid() == 0:
            env["TMPDIR"] = "/tmp"
        debug = os.environ.get("TEMPGUIDE_GRADER_DEBUG")
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), str(to_kernel), str(from_kernel), json.dumps(config)],
            pass_fds=(to_kernel, from_kernel), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=None if debug else subprocess.DEVNULL, cwd=work, env=env, start_new_session=True,
            preexec_fn=_child_setup)
        os.close(to_kernel)
        os.close(from_kernel)
        try:
            header, _ = wire.read_frame(self._in, deadline=min(self.deadline, time.monotonic() + START))
            self.hello = header.get("hello") or {}
        except (EOFError, TimeoutError, wire.WireError) as e:
            self._stop(f"the kernel did not start ({type(e).__name__}: {e})")
        if not isinstance(self.hello, dict) or self.hello.get("mode") not in ("sandbox", "unprivileged", "same-user"):
            self._stop("the kernel did not report its isolation mode")
        if self.hello.get("fatal"):
            self.__exit__()
            raise IsolationError(f"cannot start the kernel in {self.mode} mode: {self.hello['fatal']}")
        return self

    def __exit__(self, *exc):
        self._stop(self.dead or "closed")
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _stop(self, why: str) -> None:
        """Kill the kernel and everything it started; later requests raise ``KernelDied(why)``."""
        self.dead = self.dead or why
        if getattr(self, "process", None) is not None and self.process.poll() is None:
            for kill in (lambda: os.killpg(self.process.pid, signal.SIGKILL), self.process.kill):
                try:
                    kill()
                except (ProcessLookupError, PermissionError):
                    pass
        if getattr(self, "process", None) is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for fd in ("_in", "_out"):
            if getattr(self, fd, None) is not None:
                try:
                    os.close(getattr(self, fd))
                except OSError:
                    pass
                setattr(self, fd, None)

    @property
    def mode(self) -> str:
        return str(self.hello.get("mode", "unknown"))

    @property
    def notes(self) -> list[str]:
        notes = self.hello.get("notes", [])
        return [str(n)[:300] for n in notes][:20] if isinstance(notes, list) else []

    # --- requests --------------------------------------------------------------------------------
    def _send(self, request: tuple) -> int:
        if self.dead:
            raise KernelDied(self.dead)
        self._rid += 1
        buffer = io.BytesIO()
        pickler = cloudpickle.Pickler(buffer, protocol=5)
        pickler.persistent_id = self._persistent_id
        pickler.dump((request[0], self._rid, *request[1:]))
        try:
            wire.write_frame(self._out, {"request": request[0]}, [buffer.getvalue()])
        except (BrokenPipeError, OSError):
            self._stop("the kernel died (it ended itself or ran out of memory)")
            raise KernelDied(self.dead) from None
        return self._rid

    def _persistent_id(self, obj):
        if isinstance(obj, RemoteFunction) and obj._worker is self:
            return ("handle", obj._target[1]) if obj._target[0] == "handle" else None
        owner = obj.__self__ if isinstance(obj, types.MethodType) else obj
        if getattr(type(owner), GRADER_SIDE, False) is True:
            self._callbacks[id(obj)] = obj
            return ("callback", id(obj))
        return None

    def _answer(self, rid: int, started: float) -> tuple[dict, list[bytes]]:
        """The reply to request ``rid`` (serving callbacks meanwhile), within the time limits."""
        limit = min(started + self.timeout, self.deadline)
        try:
            return self._read_reply(rid, limit)
        except TimeoutError:
            pass
        total = limit >= self.deadline
        try:
            os.kill(self.process.pid, signal.SIGINT)
            self._read_reply(rid, time.monotonic() + GRACE)  # the interrupted request answers KeyboardInterrupt
        except (TimeoutError, ProcessLookupError, KernelDied):
            self._stop(f"stopped: it did not answer within {self.timeout:g} s and ignored the interrupt")
        if total:
            raise TotalTimeout("the total time limit of the grading was reached")
        raise CallTimeout(f"ran longer than the {self.timeout:g} s limit and was interrupted (an infinite loop?)")

    def _read_reply(self, rid: int, deadline: float) -> tuple[dict, list[bytes]]:
        while True:
            if self.dead:
                raise KernelDied(self.dead)
            try:
                header, buffers = wire.read_frame(self._in, deadline=deadline)
            except (EOFError, wire.WireError, OSError) as e:
                if isinstance(e, TimeoutError):
                    raise
                why = "the kernel died (it ended itself, or ran out of memory?)" if isinstance(e, EOFError) \
                    else f"the kernel broke the protocol ({e})"
                self._stop(why)
                raise KernelDied(why) from None
            if "callback" in header:
                self._serve_callback(header, buffers)
            elif header.get("id") == rid:
                return header, buffers
            # anything else answers an earlier, interrupted request: dropped

    def _serve_callback(self, header: dict, buffers: list[bytes]) -> None:
        fn = self._callbacks.get(header.get("callback"))
        try:
            args, kwargs = wire.decode(header.get("args"), buffers)
            result = fn(*args, **kwargs) if fn is not None else KeyError("unknown grader-side object")
        except Exception as e:  # noqa: BLE001 - the submission's call fails like a local one would
            result = e
        buffer = io.BytesIO()
        cloudpickle.Pickler(buffer, protocol=5).dump(result)
        wire.write_frame(self._out, {"callback_result": True}, [buffer.getvalue()])

    def _decode(self, tree, buffers):
        return wire.decode(tree, buffers, lambda h, name: RemoteFunction(self, ("handle", h), name))

    def run(self, source: str) -> tuple[str, str]:
        """Run one cell: ``("ok", "")`` or ``("error", "Name: message")``; raises on timeout or death."""
        return self.collect(self.submit(source))

    def submit(self, source: str) -> int:
        """Send a cell to run without waiting (``collect`` its result, in order); the request id."""
        rid = self._send(("run", source))
        self._sent[rid] = time.monotonic()
        return rid

    def collect(self, rid: int) -> tuple[str, str]:
        """The result of a submitted cell.  Its time limit counts from when the previous result was
        collected (or from sending it, if later): a cell never pays for the one before it."""
        started = max(self._sent.pop(rid), self._collected)
        try:
            header, _ = self._answer(rid, started)
        finally:
            self._collected = time.monotonic()
        if header.get("status") == "exit":
            self._stop("the code called exit(), which ends the kernel (as in Jupyter)")
            raise KernelDied(self.dead)
        if header.get("status") == "ok":
            return "ok", ""
        return "error", f"{header.get('ename', 'Error')}: {header.get('evalue', '')}"

    def get(self, name: str):
        """The submission's global ``name`` as data (functions as ``RemoteFunction``); ``NameError`` if absent."""
        started = time.monotonic()
        header, buffers = self._answer(self._send(("get", name)), started)
        if header.get("status") == "missing":
            raise NameError(f"name {name!r} is not defined in the submission")
        if header.get("status") != "ok":
            raise _exception(header.get("ename", "Error"), f"cannot read {name!r}: {header.get('evalue', '')}")
        value = self._decode(header.get("value"), buffers)
        if isinstance(value, RemoteFunction) and value._target[0] == "handle":
            value.__name__ = value.__qualname__ = name
        return value

    def call(self, target: tuple, args: tuple, kwargs: dict):
        started = time.monotonic()
        header, buffers = self._answer(self._send(("call", target, args, kwargs)), started)
        if header.get("status") == "exit":
            self._stop("the code called exit(), which ends the kernel (as in Jupyter)")
            raise KernelDied(self.dead)
        if header.get("status") != "ok":
            raise _exception(header.get("ename", "Error"), header.get("evalue", ""))
        value = self._decode(header.get("value"), buffers[:header.get("after_offset", len(buffers))])
        if "after" in header:
            after = wire.decode(header["after"], buffers[header["after_offset"]:])
            _write_back(wire.mutable_leaves(args, kwargs), after)
        return value


def _write_back(originals: list, after) -> None:
    """Apply the submission's in-place changes to the caller's tensors and generators."""
    if not originals or not isinstance(after, list) or len(after) != len(originals):
        return
    import torch
    for original, new in zip(originals, after):
        if isinstance(original, torch.Generator) and isinstance(new, torch.Generator):
            original.set_state(new.get_state())
        elif (isinstance(original, torch.Tensor) and isinstance(new, torch.Tensor)
              and new.shape == original.shape and new.dtype == original.dtype):
            def raw(t):  # bitwise, so NaN == NaN
                return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
            same = raw(original).equal(raw(new)) if original.numel() else True
            if not same:
                with torch.no_grad():
                    original.copy_(new)

