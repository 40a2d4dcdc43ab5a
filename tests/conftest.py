"""Fixtures shared by the book and browser tests: one fresh book build per session."""
from __future__ import annotations

import shutil

import pytest

from book_tools import ARTIFACTS, BUILD, BookBuild, cache_hits, mystnb_notebooks, run_book_build
from notebook_tools import ROOT, book_notebooks


@pytest.fixture(scope="session")
def book_build(stage_report) -> BookBuild:
    """A fresh build of the real book into _build/html (its jupyter-cache kept)."""
    for stale in ("html", ".doctrees", "jupyter_execute"):
        shutil.rmtree(BUILD / stale, ignore_errors=True)
    notebooks = book_notebooks()
    cached_before = [p.relative_to(ROOT).as_posix() for p in cache_hits(notebooks)]
    returncode, output, seconds = run_book_build(ROOT)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "book-build.log").write_text(output)
    build = BookBuild(returncode, output, seconds, BUILD / "html", cached_before,
                      executed=mystnb_notebooks(output, "Executing notebook"),
                      reused=mystnb_notebooks(output, "Using cached notebook"))
    stage_report("Book build", f"jupyter-book build --all -W -n --keep-going: exit {returncode} in {seconds:.1f} s "
                 f"(log: _build/artifacts/book-build.log)")
    stage_report("Book build", f"{len(notebooks)} notebook pages: {len(build.reused)} reused from the "
                 f"jupyter-cache, {len(build.executed)} executed by the build")
    return build
