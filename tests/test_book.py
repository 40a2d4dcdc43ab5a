"""The book builds with zero warnings, reuses the Colab executions, and fails loudly.

Issue "Foundation" item 7 and issue "book and launch" items 3 and 6.  The
session's `book_build` fixture (tests/conftest.py) removes `_build/html` and
runs `jupyter-book build --all -W -n --keep-going .` (with
`nb_execution_raise_on_error: true` from `_config.yml`), so every page is
rebuilt and `-W` sees every warning.  Tiny throw-away books with the real
`_config.yml` prove that a broken cross-reference, a page missing from the
table of contents and a failing notebook each fail that same command.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlparse

import nbformat
import pytest
import yaml

from book_tools import notebook, run_book_build, tiny_book
from notebook_tools import COLAB_EXECUTED, ROOT, book_notebooks, load_config, toc_entries, toc_files
from tempguide import colab

pytestmark = pytest.mark.book


def test_book_builds_without_warnings(book_build):
    assert book_build.returncode == 0, book_build.output[-6000:]
    assert not book_build.problems(), "\n".join(book_build.problems())
    assert "build succeeded" in book_build.output


def test_every_toc_page_is_rendered(book_build):
    missing = [f for f in toc_files() if not (book_build.html / f"{f}.html").is_file()]
    assert not missing


def test_book_reuses_the_colab_executions(book_build, request, stage_report):
    """Executions stored by the Colab simulation are found by hash; the build does not redo them."""
    assert not set(book_build.cached_before) & set(book_build.executed), (
        "the build executed notebooks that the cache already held")
    assert set(book_build.cached_before) <= set(book_build.reused)
    colab_ran = request.config.stash.get(COLAB_EXECUTED, set())
    in_book = {p.relative_to(ROOT).as_posix() for p in book_notebooks()}
    if colab_ran:  # the Colab simulation ran in this session: it executed every book notebook
        uncached = sorted(in_book - colab_ran - set(book_build.cached_before))
        assert not uncached, f"book notebooks without a Colab execution in the cache: {uncached}"
        assert not book_build.executed, f"re-executed: {book_build.executed}"
    stage_report("Book build", f"reused (no execution): {sorted(book_build.reused) or '-'}; "
                 f"executed by the build: {sorted(book_build.executed) or '-'}")


def test_notebook_pages_have_colab_and_binder_buttons(book_build):
    config = load_config()
    owner_repo = urlparse(config["repository"]["url"]).path.strip("/")
    branch = config["repository"]["branch"]
    assert config["repository"]["url"] == colab.REPOSITORY_URL
    notebooks = book_notebooks()
    assert notebooks
    for path in notebooks:
        name = path.relative_to(ROOT).as_posix()
        html = (book_build.html / path.relative_to(ROOT).with_suffix(".html")).read_text()
        assert f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/{name}" in html, name
        assert f"https://mybinder.org/v2/gh/{owner_repo}/{branch}?urlpath=tree/{name}" in html, name


class _Assets(HTMLParser):
    """src/href of what a page loads: scripts, stylesheets, preloads, images, frames, media."""

    LOADS = {"script": "src", "img": "src", "iframe": "src", "source": "src", "audio": "src",
             "video": "src", "embed": "src", "object": "data"}

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in self.LOADS and attrs.get(self.LOADS[tag]):
            self.urls.append(attrs[self.LOADS[tag]])
        rel = (attrs.get("rel") or "").lower()
        if tag == "link" and attrs.get("href") and rel in {"stylesheet", "preload", "modulepreload", "icon"}:
            self.urls.append(attrs["href"])


def test_pages_and_stylesheets_load_only_local_files(book_build):
    """Static twin of the browser test: no page or stylesheet names a remote asset."""
    remote = {}
    for page in book_build.html.rglob("*.html"):
        parser = _Assets()
        parser.feed(page.read_text(errors="replace"))
        found = [u for u in parser.urls if urlparse(u).scheme in {"http", "https"} or u.startswith("//")]
        if found:
            remote[page.relative_to(book_build.html).as_posix()] = found
    for css in book_build.html.rglob("*.css"):
        text = re.sub(r"/\*.*?\*/", "", css.read_text(errors="replace"), flags=re.DOTALL)
        found = re.findall(r"(?:url\(|@import)\s*['\"]?((?:https?:)?//[^'\")\s]+)", text)
        if found:
            remote[css.relative_to(book_build.html).as_posix()] = found
    assert not remote, remote


# --- the build fails on what would otherwise break silently ------------------------------------

def test_control_a_correct_tiny_book_builds(tmp_path):
    """Without this, the failures below could come from the tiny book itself."""
    book = tiny_book(tmp_path, """\
        format: jb-book
        root: book/intro
        chapters:
          - file: book/page
          - file: notebooks/fine
        """, {"book/intro.md": "(intro)=\n# Intro\n\nSee {ref}`page-label` and $\\beta = 1/T$.\n",
              "book/page.md": "(page-label)=\n# Page\n\nBack to {doc}`intro`.\n",
              "notebooks/fine.ipynb": notebook("print(1 + 1)")})
    returncode, output, _ = run_book_build(book)
    assert returncode == 0, output[-4000:]


def test_build_fails_on_a_broken_reference_and_a_missing_page(tmp_path):
    book = tiny_book(tmp_path, """\
        format: jb-book
        root: book/intro
        chapters:
          - file: book/no_such_page
        """, {"book/intro.md": "# Intro\n\nSee {ref}`no-such-label`.\n"})
    returncode, output, _ = run_book_build(book)
    assert returncode != 0
    assert "toctree contains reference to nonexisting document 'book/no_such_page'" in output
    assert "undefined label: 'no-such-label'" in output


def test_build_fails_on_a_notebook_error(tmp_path):
    book = tiny_book(tmp_path, """\
        format: jb-book
        root: book/intro
        chapters:
          - file: notebooks/broken
        """, {"book/intro.md": "# Intro\n",
              "notebooks/broken.ipynb": notebook("raise RuntimeError('this cell fails')")})
    returncode, output, _ = run_book_build(book)
    assert returncode != 0
    assert "Executing notebook failed: CellExecutionError" in output
    assert "RuntimeError: this cell fails" in output


# --- issue 18: how the pages read ------------------------------------------------------------------

EXERCISE_TITLE = re.compile(r'<span class="caption-number">Exercise ([0-9A-Z]+)\.(\d+) </span>')


def _visible_text(html: str) -> str:
    """The page's text with tags and scripts removed, whitespace squeezed."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.DOTALL)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_exercises_are_numbered_per_chapter(book_build):
    """Exercise k of chapter N reads "Exercise N.k", k counting from 1 through the chapter's pages."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    seen_any = False
    for part in toc["parts"]:
        chapter = re.search(r"Chapter (\d+)", part["caption"])
        expected = chapter.group(1) if chapter else part["caption"][0].upper()
        pages = [f for f in toc_files() if f in _part_files(part)]
        numbers = []
        for page in pages:
            html = (book_build.html / f"{page}.html").read_text()
            numbers += [(n, int(k)) for n, k in EXERCISE_TITLE.findall(html)]
        assert [n for n, _ in numbers] == [expected] * len(numbers), (part["caption"], numbers)
        assert [k for _, k in numbers] == list(range(1, len(numbers) + 1)), (part["caption"], numbers)
        seen_any |= bool(numbers)
    assert seen_any, "no numbered exercise found: has sphinx-exercise's title markup changed?"


def _part_files(part: dict) -> set[str]:
    return set(toc_entries(part))


def test_references_to_exercises_read_naturally(book_build):
    """A {ref} to an exercise renders as "Exercise 2.3": the prose must not say "exercise" before it."""
    doubled = {}
    for page in book_build.html.rglob("*.html"):
        found = re.findall(r"[Ee]xercises? Exercise [0-9A-Z]+(?:\.\d+)?", _visible_text(page.read_text()))
        if found:
            doubled[page.relative_to(book_build.html).as_posix()] = found
    assert not doubled, doubled


def test_every_page_has_one_search_field(book_build):
    """pydata-sphinx-theme's header field and sphinx-book-theme's sidebar field were both on every page."""
    pages = [book_build.html / f"{f}.html" for f in toc_files()] + [book_build.html / "search.html"]
    counts = {page.relative_to(book_build.html).as_posix(): page.read_text().count("search-button-field")
              for page in pages}
    assert counts and all(n == 1 for n in counts.values()), {p: n for p, n in counts.items() if n != 1}


def test_tiny_book_numbers_exercises_per_chapter_merges_streams_and_is_quiet(tmp_path):
    """The real _config.yml on a two-chapter book: Exercise 2.1 (also in references), one stdout
    box for a cell that prints around a displayed value, and no kernel warning on the console."""
    nb = notebook("print(1 + 1)")
    nb.cells.append(nbformat.v4.new_code_cell("print('first')\ndisplay('between')\nprint('second')"))
    book = tiny_book(tmp_path, """\
        format: jb-book
        root: book/intro
        parts:
          - caption: Toolkit
            chapters:
              - file: book/tools
          - caption: Chapter 1 — One
            chapters:
              - file: book/one
                sections:
                  - file: notebooks/prints
          - caption: Chapter 2 — Two
            chapters:
              - file: book/two
        """, {"book/intro.md": "# Intro\n",
              "book/tools.md": "# Tools\n\n```{exercise} Warm-up\n:label: ex-tools\n\nA.\n```\n",
              "book/one.md": "# One\n\n```{exercise}\n:label: ex-one-a\n\nB.\n```\n\n"
                             "```{exercise}\n:label: ex-one-b\n\nC.\n```\n",
              "book/two.md": "# Two\n\nSee {ref}`ex-two`.\n\n```{exercise}\n:label: ex-two\n\nD.\n```\n",
              "notebooks/prints.ipynb": nb})
    returncode, output, _ = run_book_build(book)
    assert returncode == 0, output[-4000:]
    assert "without encryption" not in output, "the kernel ran over plain TCP (tempguide.sphinx_kernels)"

    html = book / "_build" / "html" / "book"
    assert EXERCISE_TITLE.findall((html / "tools.html").read_text()) == [("T", "1")]
    assert EXERCISE_TITLE.findall((html / "one.html").read_text()) == [("1", "1"), ("1", "2")]
    two = (html / "two.html").read_text()
    assert EXERCISE_TITLE.findall(two) == [("2", "1")]
    assert "See Exercise 2.1" in _visible_text(two)

    page = (book / "_build" / "html" / "notebooks" / "prints.html").read_text()
    boxes = re.findall(r'<div class="cell_output docutils container">\s*<div class="output stream highlight-myst-ansi'
                       r'[^"]*">\s*<div class="highlight"><pre><span></span>(.*?)</pre>', page, flags=re.DOTALL)
    assert [" ".join(b.split()) for b in boxes] == ["2", "first second"], boxes


def test_notebook_pages_open_with_the_title_not_the_setup_cell(book_build):
    """The Colab setup cell is tagged remove-cell: absent from the page, kept in the downloadable notebook."""
    first_line = colab.SETUP_CELL.splitlines()[0].lstrip("# ")
    for path in book_notebooks():
        name = path.relative_to(ROOT)
        html = (book_build.html / name.with_suffix(".html")).read_text()
        assert first_line not in html, f"{name}: the setup cell shows on the page"
        assert first_line in (book_build.html / "_sources" / name).read_text(), f"{name}: download lacks it"
