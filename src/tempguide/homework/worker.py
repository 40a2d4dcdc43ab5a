"""The submission's kernel: a separate process that runs cells and answers the grader's calls.

Started by ``remote.Worker`` as ``python worker.py READ_FD WRITE_FD CONFIG_JSON``
(a script, so that it imports nothing of ``tempguide.homework`` but ``wire`` and
``sandbox``).  It isolates itself (``sandbox.enter``) **before** any submitted code
runs, says hello with the mode, then serves requests until the pipe closes:

- ``("run", id, source)``              run one cell in an IPython shell -> ok / error
- ``("get", id, name)``                the value of a global, as data (``wire.encode``)
- ``("call", id, target, args, kw)``   call a global or a handle -> result, and the
                                        arguments' tensors and generators afterwards

While a call runs, the submission may call objects the grader kept on its side
(``("callback", handle, args)`` out, the result back).  Nothing here decides a
score: the grader compares what comes back with the reference in its own process.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import traceback

READ_FD, WRITE_FD, CONFIG = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
# Interruptible whatever the grader inherited: a grader started in the background by a shell has
# SIGINT ignored, and Python keeps an ignored SIGINT ignored, so timeouts could not interrupt.
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != HERE]  # the grader's folder is not importable
import importlib.util  # noqa: E402


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_tempguide_grading_{name}", os.path.join(HERE, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sandbox, wire = _load("sandbox"), _load("wire")
hello = sandbox.enter(CONFIG, (READ_FD, WRITE_FD))  # from here on, nothing of the grader is readable
MAX_MESSAGE = 2000


class Server:
    def __init__(self):
        self.handles: dict[int, object] = {}
        self.ids: dict[int, int] = {}  # id(obj) -> handle, so one function keeps one handle
        self.shell = None

    # --- helpers -------------------------------------------------------------------------------
    def send(self, header: dict, buffers=()):
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # a frame is never cut in half
        try:
            wire.write_frame(WRITE_FD, header, list(buffers))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    def handle(self, obj) -> "wire.Handle":
        if id(obj) not in self.ids:
            self.ids[id(obj)] = len(self.handles) + 1
            self.handles[len(self.handles) + 1] = obj
        h = self.ids[id(obj)]
        return wire.Handle(h, str(getattr(obj, "__name__", type(obj).__name__)))

    def error(self, rid, e: BaseException):
        message = str(e)[:MAX_MESSAGE]
        self.send({"id": rid, "status": "error", "ename": type(e).__name__, "evalue": message})

    def get_shell(self):
        if self.shell is None:
            os.environ.setdefault("MPLBACKEND", "Agg")
            from IPython.core.interactiveshell import InteractiveShell
            from traitlets.config import Config
            class Shell(InteractiveShell):
                def ask_exit(self):  # exit() / quit(), as ipykernel's shell
                    self.exit_now = True

                # Nobody reads the kernel's output: formatting IPython's tracebacks (seconds under load)
                # would only delay the answer to an interrupted cell past the grader's grace period.
                def showtraceback(self, *args, **kwargs):
                    pass

                def showsyntaxerror(self, *args, **kwargs):
                    pass

            config = Config()
            config.HistoryManager.enabled = False
            self.shell = Shell.instance(config=config)
        return self.shell

    # --- requests ------------------------------------------------------------------------------
    def run(self, rid, source: str):
        shell = self.get_shell()
        result = shell.run_cell(source, store_history=True)
        error = result.error_before_exec or result.error_in_exec
        if shell.exit_now:  # exit() or quit(): in Jupyter this ends the kernel, so it does here
            self.send({"id": rid, "status": "exit"})
            os._exit(0)
        if error is None:
            self.send({"id": rid, "status": "ok"})
        else:
            self.error(rid, error)

    def get(self, rid, name: str):
        ns = self.get_shell().user_ns
        if name not in ns:
            self.send({"id": rid, "status": "missing"})
            return
        self.reply_value(rid, ns[name])

    def reply_value(self, rid, value, after=None):
        try:
            tree, buffers = wire.encode(value, self.handle)
            extra = {}
            if after is not None:
                after_tree, after_buffers = wire.encode(after)
                extra = {"after": after_tree, "after_offset": len(buffers)}
                buffers += after_buffers
        except TypeError as e:
            self.send({"id": rid, "status": "error", "ename": "TypeError", "evalue": str(e)[:MAX_MESSAGE]})
            return
        self.send({"id": rid, "status": "ok", "value": tree, **extra}, buffers)

    def call(self, rid, target, args, kwargs):
        if target[0] == "name":
            ns = self.get_shell().user_ns
            if target[1] not in ns:
                self.send({"id": rid, "status": "error", "ename": "NameError",
                           "evalue": f"name {target[1]!r} is not defined"})
                return
            fn = ns[target[1]]
        else:
            fn = self.handles.get(target[1])
        try:
            value = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - everything the submission raises is reported, KeyboardInterrupt included
            self.error(rid, e)
            return
        if self.shell.exit_now:
            self.send({"id": rid, "status": "exit"})
            os._exit(0)
        leaves = wire.mutable_leaves(args, kwargs)
        self.reply_value(rid, value, after=leaves)

    def callback(self, handle: int, args, kwargs):
        """Call an object the grader kept (``remote.GRADER_SIDE``) with data-only arguments."""
        tree, buffers = wire.encode((list(args), dict(kwargs)))
        self.send({"callback": handle, "args": tree}, buffers)
        header, buffers = wire.read_frame(READ_FD, limit=2**40)
        return self.unpickle(buffers[0])

    def unpickle(self, data: bytes):
        import pickle
        server = self

        class Unpickler(pickle.Unpickler):
            def persistent_load(self, pid):
                kind, value = pid
                if kind == "handle":
                    return server.handles[value]
                if kind == "callback":
                    def grader_side(*a, **k):
                        result = server.callback(value, a, k)
                        if isinstance(result, BaseException):
                            raise result
                        return result
                    return grader_side
                raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")

        import io
        return Unpickler(io.BytesIO(data)).load()

    def serve(self):
        if not hello.get("fatal"):
            self.get_shell()  # IPython starts before the first cell's time limit does
        self.send({"hello": hello, "pid": os.getpid()})
        if hello.get("fatal"):
            return
        while True:
            try:
                header, buffers = wire.read_frame(READ_FD, limit=2**40)
            except EOFError:
                return
            except KeyboardInterrupt:  # a late interrupt for a request that had already been answered
                continue
            request = self.unpickle(buffers[0])
            kind, rid = request[0], request[1]
            try:
                if kind == "run":
                    self.run(rid, request[2])
                elif kind == "get":
                    self.get(rid, request[2])
                elif kind == "call":
                    self.call(rid, *request[2:])
            except KeyboardInterrupt as e:  # an interrupt that arrived between the submission's code and the reply
                self.error(rid, e)
            except Exception as e:  # noqa: BLE001 - a broken reply must not end the kernel
                self.send({"id": rid, "status": "error", "ename": "GraderChannelError",
                           "evalue": "".join(traceback.format_exception_only(type(e), e))[:MAX_MESSAGE]})


if __name__ == "__main__":
    Server().serve()
