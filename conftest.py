"""Test order and the closing summary of `make test` (issue "Foundation", item 7).

`pytest` collects `tests/` and, through nbval, every notebook under `notebooks/`.
The stages run in this order, each relying on the one before:

1. unit tests (everything without a stage marker),
2. the notebooks under nbval (items from `.ipynb` files), then the local
   JupyterLab test (`@pytest.mark.jupyterlab`: `jupyter lab notebooks/` runs one),
3. the Colab simulation (`@pytest.mark.colab`): each notebook alone in a fresh
   venv; its executions go into the book's jupyter-cache,
4. the book build (`@pytest.mark.book`): `jupyter-book build --all -W -n`,
   reusing those executions,
5. the browser test of the built pages (`@pytest.mark.browser`).

Tests add lines to the closing summary with the `stage_report` fixture (the
Colab timings, the book build and what the browser saw), so the numbers are in
the output of `make test` itself.
"""
from __future__ import annotations

import time

import pytest

STAGES = ("unit", "notebooks (nbval)", "local JupyterLab", "colab simulation", "book build", "browser")
_REPORT: dict[str, list[str]] = {}


def pytest_configure(config):
    config.addinivalue_line("markers", "jupyterlab: runs a notebook in a headless `jupyter lab` (after nbval)")
    # Kernels started from this process (nbval's, nbclient's) get CurveZMQ keys, so ipykernel
    # does not log "Kernel is running over TCP without encryption" per notebook (issue 18).
    from tempguide.sphinx_kernels import encrypt_local_kernels

    encrypt_local_kernels()


def stage_of(item: pytest.Item) -> int:
    """The item's index in STAGES."""
    if item.get_closest_marker("browser"):
        return 5
    if item.get_closest_marker("book"):
        return 4
    if item.get_closest_marker("colab"):
        return 3
    if item.get_closest_marker("jupyterlab"):
        return 2
    if item.path.suffix == ".ipynb":
        return 1
    return 0


def pytest_collection_modifyitems(session, config, items):
    items[:] = sorted(items, key=stage_of)  # stable: keeps file order inside a stage


_STAGE_SECONDS: dict[int, float] = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    start = time.perf_counter()
    try:
        return (yield)
    finally:
        stage = stage_of(item)
        _STAGE_SECONDS[stage] = _STAGE_SECONDS.get(stage, 0.0) + time.perf_counter() - start


@pytest.fixture(scope="session")
def stage_report():
    """`stage_report(section, line)` adds a line to the closing summary."""

    def add(section: str, line: str) -> None:
        _REPORT.setdefault(section, []).append(line)

    return add


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _STAGE_SECONDS:
        terminalreporter.write_sep("=", "time per stage")
        for stage, seconds in sorted(_STAGE_SECONDS.items()):
            terminalreporter.write_line(f"{STAGES[stage]:>20}: {seconds:7.1f} s")
    for section, lines in _REPORT.items():
        terminalreporter.write_sep("=", section)
        for line in lines:
            terminalreporter.write_line(line)
