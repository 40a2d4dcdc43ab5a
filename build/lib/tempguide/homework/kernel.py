"""Run notebook cells one at a time in a kernel of the grader's own Python (used by ``grader``).

``CellRunner`` wraps ``nbclient`` so that one cell's failure never stops the
others: each ``run(cell)`` returns a ``CellResult`` (``"ok"``, ``"error"``,
``"timeout"`` or ``"dead"``).  A cell that exceeds the per-cell timeout is
interrupted (``KeyboardInterrupt`` in the kernel); if the kernel then does not
answer a probe within the same time limit (code that swallows the interrupt),
the runner gives up on it and every later cell is ``"dead"`` (not run).  The kernel always runs ``sys.executable`` (like
nbval's ``--current-env``), so it sees the same ``tempguide`` as the grader.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import subprocess

import ipykernel.kernelspec
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from ..colab import INSTALL_ENV

TIMEOUT = "CellTimeout"  # ename of the error reply nbclient makes up after interrupting a cell
_QUIET = logging.getLogger("tempguide.homework.kernel")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False  # nbclient logs every timeout as an error; the report says it once


class _CurrentPython(KernelSpecManager):
    """Every kernel name resolves to an IPython kernel of ``sys.executable``."""

    def get_kernel_spec(self, kernel_name):
        return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES,
                                      **ipykernel.kernelspec.get_kernel_dict())


@dataclasses.dataclass
class CellResult:
    status: str  # "ok" | "error" | "timeout" | "dead"
    message: str = ""  # "ExceptionName: value" for errors, an explanation otherwise (no cell index)


class CellRunner:
    """Context manager: ``with CellRunner(nb, cwd, timeout) as run: run(index)`` for code cells of ``nb``."""

    def __init__(self, nb, cwd: str, timeout: float):
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.nb, self.timeout = nb, timeout
        self.dead: str | None = None  # why later cells cannot run
        self._reply: dict = {}
        km = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=_CurrentPython())
        self.client = NotebookClient(
            nb, km=km, timeout=timeout, allow_errors=True, log=_QUIET, shutdown_kernel="immediate",
            # On timeout nbclient interrupts the kernel and answers with this error instead of raising,
            # which also stops its message pollers (a raised timeout leaves one stealing later messages).
            interrupt_on_timeout=True, error_on_timeout={"ename": TIMEOUT, "evalue": "", "traceback": []},
            record_timing=False, resources={"metadata": {"path": cwd}}, on_cell_executed=self._on_executed)
        self._context = None

    def _on_executed(self, cell, cell_index, execute_reply):
        self._reply = (execute_reply or {}).get("content", {})

    def __enter__(self):
        # Without TEMPGUIDE_INSTALL_TARGET the Colab setup cell installs nothing.
        env = {k: v for k, v in os.environ.items() if k != INSTALL_ENV}
        self._context = self.client.setup_kernel(env=env, stderr=subprocess.DEVNULL)  # kernel logs, not cell output
        self._context.__enter__()
        return self

    def __exit__(self, *exc):
        return self._context.__exit__(*exc)

    def _execute(self, cell, index: int) -> dict:
        """The kernel's execute reply content for ``cell``, or ``{"status": "dead"}``."""
        self._reply = {}
        try:
            self.client.execute_cell(cell, index)
        except DeadKernelError:
            return {"status": "dead"}
        return self._reply or {"status": "ok"}

    def __call__(self, index: int) -> CellResult:
        if self.dead:
            return CellResult("dead", self.dead)
        reply = self._execute(self.nb.cells[index], index)
        if reply.get("status") == "dead":
            self.dead = f"not run: the kernel died in cell {index}"
            return CellResult("dead", "the kernel died (out of memory, or the code ended the process?)")
        if reply.get("status") == "error" and reply.get("ename") == TIMEOUT:
            self._recover(index)
            return CellResult("timeout", f"ran longer than the {self.timeout:g} s limit and was interrupted "
                                         "(an infinite loop?)")
        if reply.get("status") == "error":
            return CellResult("error", f"{reply.get('ename', 'Error')}: {reply.get('evalue', '')}")
        if reply.get("status") != "ok":
            return CellResult("error", f"the kernel answered {reply.get('status')!r} instead of running the cell")
        return CellResult("ok")

    def _recover(self, index: int) -> None:
        """After an interrupt: probe the kernel; if it stays busy, no later cell runs."""
        probe, original = nbformat.v4.new_code_cell("pass"), self.nb.cells[index]
        try:
            reply = self._execute(probe, index)
        finally:  # execute_cell stores the probe in place of cell `index`
            self.nb.cells[index] = original
        if reply.get("status") != "ok":
            self.dead = f"not run: the kernel did not recover from the timeout in cell {index}"
