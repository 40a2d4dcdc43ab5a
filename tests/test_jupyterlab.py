"""JupyterLab on this machine: the README's local route `.venv/bin/jupyter lab notebooks/` works.

Issue 18, item 1 (the README's command used to fail with "Jupyter command
`jupyter-lab` not found").  The test runs that very command, headless: the
`jupyter` of this environment, `lab notebooks/` from the repository root, on a
free port of 127.0.0.1 with a token and no browser, its configuration and
runtime files in a temporary folder.  Then it does what JupyterLab's page does
when a student opens a notebook and runs every cell:

1. reads the notebook through the server's contents API (`/api/contents`);
2. opens a session for it (`/api/sessions`), so the server starts a kernel
   (listed under `/api/kernels`) in the notebook's folder;
3. sends every code cell, in order, over the kernel's websocket
   (`/api/kernels/<id>/channels`, Jupyter's message protocol), as JupyterLab does;
4. checks each cell finished without an error, the figures and numbers the
   notebook promises, and where the kernel ran;
5. closes the session; then opens the same notebook in JupyterLab's page in
   headless Chromium (Debian's, driven by Playwright as in tests/test_browser.py;
   every request that leaves 127.0.0.1 refused and recorded), runs it with
   *Run → Run All Cells* and reads the rendered outputs (screenshot:
   `_build/artifacts/jupyterlab.png`);
6. shuts the server down through the API.

Autosave is off in the page, so nothing is written into `notebooks/`.  The
notebook is 00_exact_mixture (about 10 s in the quick profile); the whole test
takes about a minute on two busy cores (55-75 s measured at load 4-8).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
import websocket

from book_tools import ARTIFACTS
from notebook_tools import NOTEBOOKS, ROOT, read
from test_browser import CHROMIUM_ARGS, LOCAL_HOSTS, chromium  # noqa: F401 (chromium: a fixture)

pytestmark = pytest.mark.jupyterlab

NOTEBOOK = "00_exact_mixture.ipynb"
JUPYTER = Path(sys.executable).parent / "jupyter"
START_TIMEOUT = 60  # seconds until the server answers
CELL_TIMEOUT = 120  # seconds per cell
SHOWS_FIGURE = re.compile(r"\bshow\(")  # plt.show() or tempguide's plotting.show(fig)
# JupyterLab's user settings for the test: every cell rendered (no windowing, so
# every prompt is in the page), no autosave (the notebook in the repository stays
# as committed), no question about news.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}
# Read from the page after Run All: the code cells' prompts, the outputs' text and images.
READ_NOTEBOOK = r"""() => ({
  prompts: [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent.trim()),
  images: [...document.querySelectorAll('.jp-CodeCell')].map(c => c.querySelectorAll('.jp-OutputArea-output img').length),
  stderr: [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
            .map(e => e.textContent.slice(0, 300)),
  text: [...document.querySelectorAll('.jp-OutputArea-output')].map(o => o.textContent).join('\n'),
})"""


@contextlib.contextmanager
def jupyter_lab(tmp: Path):
    """`jupyter lab notebooks/` from the repository root, headless; yields (base URL, token, process)."""
    with socket.socket() as probe:  # a free port, released just before the server takes it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items()
           if k not in {"TEMPGUIDE_INSTALL_TARGET", "JUPYTER_PATH", "MPLBACKEND", "PYTHONPATH"}}
    env.update(JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
               TEMPGUIDE_PROFILE=os.environ.get("TEMPGUIDE_PROFILE", "quick"))
    for name, values in LAB_SETTINGS.items():
        (tmp / "settings" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "settings" / name).write_text(json.dumps(values))
    checkpoints = NOTEBOOKS / ".ipynb_checkpoints"  # the server creates it when the page asks for checkpoints
    had_checkpoints = checkpoints.exists()
    log = tmp / "jupyter-lab.log"
    command = [str(JUPYTER), "lab", "notebooks/", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"]
    if os.geteuid() == 0:  # CI containers; the README tells root users to add it too
        command.append("--allow-root")
    with open(log, "w") as output:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert server.poll() is None, f"`jupyter lab` exited with {server.returncode}:\n{log.read_text()[-3000:]}"
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{base}/api/status", headers=_auth(token), timeout=5).ok:
                    break
            assert time.monotonic() < deadline, f"no answer in {START_TIMEOUT} s:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield base, token, server
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if not had_checkpoints:  # JupyterLab's page saves a first checkpoint of the notebook it opens
            shutil.rmtree(checkpoints, ignore_errors=True)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def execute_request(code: str, session: str) -> dict:
    """A Jupyter `execute_request` on the shell channel, as JupyterLab sends it over the websocket."""
    return {
        "header": {"msg_id": uuid.uuid4().hex, "msg_type": "execute_request", "session": session,
                   "username": "student", "version": "5.3", "date": datetime.now(timezone.utc).isoformat()},
        "parent_header": {}, "metadata": {}, "buffers": [], "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }


def run_cell(channels: websocket.WebSocket, code: str, session: str) -> tuple[dict, list[dict]]:
    """Send one cell; return (its execute_reply content, its iopub outputs) once the kernel is idle again."""
    request = execute_request(code, session)
    channels.send(json.dumps(request))
    reply, outputs, idle = None, [], False
    deadline = time.monotonic() + CELL_TIMEOUT
    while reply is None or not idle:
        assert time.monotonic() < deadline, f"no answer in {CELL_TIMEOUT} s to:\n{code[:300]}"
        message = json.loads(channels.recv())
        if message["parent_header"].get("msg_id") != request["header"]["msg_id"]:
            continue
        kind, content = message["msg_type"], message["content"]
        if message["channel"] == "shell" and kind == "execute_reply":
            reply = content
        elif kind == "status":
            idle = content["execution_state"] == "idle"
        elif kind in {"stream", "display_data", "execute_result", "error"}:
            outputs.append({"output_type": kind, **content})
    return reply, outputs


def run_in_browser(chromium: Path, base: str, token: str) -> dict:
    """Open NOTEBOOK in JupyterLab's page, Run All Cells, and read what the page shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    seen = {"remote": [], "failed": [], "errors": []}

    def route(route):
        if urlparse(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            seen["remote"].append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", route)
        page.on("pageerror", lambda error: seen["errors"].append(str(error)))
        page.on("response", lambda r: r.status >= 400 and seen["failed"].append(f"{r.status} {r.url}"))
        page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
        idle = "() => document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status === 'idle'"
        page.wait_for_function(idle, timeout=START_TIMEOUT * 1000)  # notebook shown, its kernel started
        started = "() => [...document.querySelectorAll('.jp-InputArea-prompt')].some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"
        for _ in range(3):  # the menu item stays disabled until the notebook panel is ready
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel",
                         has_text=re.compile(r"^Run All Cells$")).click()
            with contextlib.suppress(PlaywrightTimeout):
                page.wait_for_function(started, timeout=10_000)
                break
        done = (f"() => ({idle})() && [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
                ".every(p => /\\[\\d+\\]/.test(p.textContent))")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        try:
            page.wait_for_function(done, timeout=CELL_TIMEOUT * 1000)
        finally:  # also what the page showed when it timed out
            page.screenshot(path=str(ARTIFACTS / "jupyterlab.png"))
        seen.update(page.evaluate(READ_NOTEBOOK))
        browser.close()
    return seen


def _text(outputs: list[dict]) -> str:
    return "".join(o["text"] for o in outputs if o["output_type"] == "stream" and o["name"] == "stdout")


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory, stage_report, chromium) -> dict:
    """Open NOTEBOOK in a headless `jupyter lab notebooks/`, run its cells through the server, then in the page."""
    start = time.perf_counter()
    with jupyter_lab(tmp_path_factory.mktemp("jupyterlab")) as (base, token, server):
        auth = _auth(token)
        unauthenticated = requests.get(f"{base}/api/contents/{NOTEBOOK}", timeout=10).status_code
        model = requests.get(f"{base}/api/contents/{NOTEBOOK}", headers=auth, timeout=30).json()
        session = requests.post(f"{base}/api/sessions", headers=auth, timeout=60, json={
            "path": NOTEBOOK, "type": "notebook", "name": NOTEBOOK, "kernel": {"name": "python3"}}).json()
        kernel = session["kernel"]["id"]
        listed = [k["id"] for k in requests.get(f"{base}/api/kernels", headers=auth, timeout=10).json()]

        code = [cell["source"] for cell in model["content"]["cells"] if cell["cell_type"] == "code"]
        probe = "import json, os, sys, tempguide\nprint(json.dumps({'prefix': sys.prefix, 'cwd': os.getcwd(), 'tempguide': tempguide.__file__}))"
        channels = websocket.create_connection(f"{base.replace('http', 'ws')}/api/kernels/{kernel}/channels",
                                               header=[f"Authorization: token {token}"], timeout=CELL_TIMEOUT)
        try:
            cells = [run_cell(channels, source, uuid.uuid4().hex) for source in [*code, probe]]
        finally:
            channels.close()

        requests.delete(f"{base}/api/sessions/{session['id']}", headers=auth, timeout=30).raise_for_status()
        after_close = [k["id"] for k in requests.get(f"{base}/api/kernels", headers=auth, timeout=10).json()]
        browser_start = time.perf_counter()
        in_browser = run_in_browser(chromium, base, token)
        browser_seconds = time.perf_counter() - browser_start
        requests.post(f"{base}/api/shutdown", headers=auth, timeout=30).raise_for_status()
        server.wait(timeout=30)
    seconds = time.perf_counter() - start
    stage_report("Local JupyterLab", f"jupyter lab notebooks/ ran {NOTEBOOK} over the server's kernel websocket, "
                 f"then in Chromium ({browser_seconds:.1f} s): {seconds:.1f} s from start to shutdown "
                 f"(screenshot: _build/artifacts/jupyterlab.png)")
    return {"unauthenticated": unauthenticated, "model": model, "kernel": kernel, "listed": listed,
            "cells": cells[:-1], "probe": json.loads(_text(cells[-1][1])), "after_close": after_close,
            "browser": in_browser, "exit": server.returncode}


def test_the_server_serves_the_notebook_only_with_the_token(lab_run):
    assert lab_run["unauthenticated"] == 403
    model = lab_run["model"]
    assert model["type"] == "notebook" and model["path"] == NOTEBOOK
    on_disk = [cell.source for cell in read(NOTEBOOKS / NOTEBOOK).cells]
    assert [cell["source"] for cell in model["content"]["cells"]] == on_disk


def test_every_cell_runs_without_error_on_the_servers_kernel(lab_run):
    assert lab_run["kernel"] in lab_run["listed"]
    assert len(lab_run["cells"]) == sum(c.cell_type == "code" for c in read(NOTEBOOKS / NOTEBOOK).cells)
    for index, (reply, outputs) in enumerate(lab_run["cells"]):
        errors = [f"{o['ename']}: {o['evalue']}" for o in outputs if o["output_type"] == "error"]
        assert reply["status"] == "ok" and not errors, f"code cell {index}: {reply['status']} {errors}"


def test_the_kernel_is_this_environment_in_the_notebooks_folder(lab_run):
    probe = lab_run["probe"]
    assert Path(probe["prefix"]) == Path(sys.prefix)
    assert Path(probe["cwd"]).resolve() == NOTEBOOKS.resolve()
    assert Path(probe["tempguide"]).is_relative_to(ROOT / "src")


def test_the_notebook_shows_its_figures_and_exact_checks(lab_run):
    code = [cell["source"] for cell in lab_run["model"]["content"]["cells"] if cell["cell_type"] == "code"]
    drawing = [i for i, source in enumerate(code) if SHOWS_FIGURE.search(source)]
    assert drawing, f"{NOTEBOOK} draws no figure any more: pick another notebook"
    for index in drawing:  # the inline backend sends each figure as a PNG
        outputs = lab_run["cells"][index][1]
        assert any("image/png" in o.get("data", {}) for o in outputs), f"code cell {index} showed no figure"
    text = "".join(_text(cell) for _, cell in lab_run["cells"])
    # The score agrees with autograd and with Tweedie's formula to float64 rounding.
    differences = [float(x) for x in re.findall(r"max \|score - .*?\|\s*= (\S+)", text)]
    assert len(differences) == 2 and max(differences) < 1e-10, text
    # The exact sampler draws the components with the mixture's weights (0.4, 0.1, 0.3, 0.2).
    frequency, weight = (re.search(rf"component {name}:\s*\[(.*)\]", text).group(1).split(",")
                         for name in ("frequency", "weight"))
    assert [float(w) for w in weight] == [0.4, 0.1, 0.3, 0.2]
    assert max(abs(float(f) - float(w)) for f, w in zip(frequency, weight)) < 0.05, text


def test_closing_the_notebook_stops_its_kernel_and_the_server_shuts_down(lab_run):
    assert lab_run["kernel"] not in lab_run["after_close"]
    assert lab_run["exit"] == 0


def test_in_jupyterlabs_page_run_all_cells_shows_every_output(lab_run):
    page = lab_run["browser"]
    assert not page["errors"] and not page["failed"], (page["errors"], page["failed"])
    assert not page["remote"], f"JupyterLab's page asked for other hosts: {page['remote'][:5]}"
    code = [cell["source"] for cell in lab_run["model"]["content"]["cells"] if cell["cell_type"] == "code"]
    assert [int(re.search(r"\d+", p).group()) for p in page["prompts"]] == list(range(1, len(code) + 1))
    assert not page["stderr"], f"errors or warnings in the page: {page['stderr']}"
    for index, source in enumerate(code):
        if SHOWS_FIGURE.search(source):
            assert page["images"][index] >= 1, f"code cell {index} shows no figure in the page"
    differences = [float(x) for x in re.findall(r"max \|score - .*?\|\s*= (\S+)", page["text"])]
    assert len(differences) == 2 and max(differences) < 1e-10, page["text"][-500:]
