"""The traceability and errata appendices cite only what exists (tempguide.traceability)."""
from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import pytest

from tempguide import traceability as tr

SEEDS = Path(os.environ.get("TEMPGUIDE_SEEDS", "/work/shared/seeds"))


def test_the_appendices_cite_only_labels_notebooks_ids_and_tests_that_exist():
    assert tr.problems() == []


def test_every_seed_has_items_and_every_item_a_statement():
    items = tr.load_items()
    assert set(tr.load_seeds()) == {i.seed for i in items} == {"000", "001", "002", "003", "004"}
    assert all(i.statement and i.line for i in items)


@pytest.mark.skipif(not SEEDS.is_dir(), reason=f"the seed lectures are not in {SEEDS} (set TEMPGUIDE_SEEDS)")
def test_every_quoted_line_is_an_exact_substring_of_one_line_of_its_seed():
    seeds = tr.load_seeds()
    lines = {k: (SEEDS / v["file"]).read_text(encoding="utf-8").splitlines() for k, v in seeds.items()}
    quotes = [(i.id, i.seed, i.line) for i in tr.load_items()] + [(e.id, e.seed, e.line) for e in tr.load_errata()]
    missing = [key for key, seed, quote in quotes if not any(quote in line for line in lines[seed])]
    assert missing == []


# -- the machinery, on a small fake repository -------------------------------------------------

SEED_ITEMS = """
seeds:
  "000": {file: x.txt, title: "A seed"}
items:
- {id: "000-01", line: "a", statement: "derived and tested", derived: [sec-a]}
- {id: "000-02", line: "b", statement: "derived only", derived: ["eq:eq-b"], notebook: nb}
- {id: "000-03", line: "c", statement: "tested only"}
- {id: "000-04", line: "d", statement: "neither"}
"""
SEED_ERRATA = """
errata:
- {id: E01, seed: "000", line: "b", items: ["000-02"], wrong: w, corrected: c, derived: [sec-a]}
- {id: E02, seed: "000", line: "c", items: ["000-03"], wrong: w, corrected: c, derived: [sec-a], notebook: nb}
- {id: E03, seed: "000", line: "d", wrong: w, corrected: c}
"""
PAGE = """(sec-a)=
# A

```{math}
:label: eq-b
x
```
"""
TESTS = '''
import pytest

@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.seed("000-01", "000-03")
def test_one(k):
    pass

@pytest.mark.slow
def test_unmarked():
    pass

@pytest.mark.seed("000-01")
def helper_not_a_test():
    pass

@pytest.mark.seed("000-03")
class TestGroup:
    @pytest.mark.seed("E01")
    def test_method(self):
        pass

    def test_other(self):
        pass
'''


def _notebook(tags: list[str]) -> str:
    cell = {"cell_type": "code", "metadata": {"tags": tags}, "source": "", "outputs": [], "execution_count": None}
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "book").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "book" / "seed_items.yaml").write_text(SEED_ITEMS)
    (tmp_path / "book" / "seed_errata.yaml").write_text(SEED_ERRATA)
    (tmp_path / "book" / "page.md").write_text(PAGE)
    (tmp_path / "tests" / "test_fake.py").write_text(textwrap.dedent(TESTS))
    (tmp_path / "notebooks" / "nb.ipynb").write_text(_notebook(["seed:000-04", "hide-input"]))
    return tmp_path


def test_markers_are_read_from_functions_and_classes_never_from_helpers(repo):
    assert tr.marked_tests(repo / "tests") == {
        "000-01": ["tests/test_fake.py::test_one"],
        "000-03": ["tests/test_fake.py::test_one", "tests/test_fake.py::TestGroup::test_method",
                   "tests/test_fake.py::TestGroup::test_other"],
        "E01": ["tests/test_fake.py::TestGroup::test_method"],
    }


def test_cell_tags_name_the_notebook(repo):
    assert tr.notebook_tags(repo / "notebooks") == {"000-04": ["nb"]}


def test_status_covered_needs_derivation_and_test(repo):
    items = {i.id: i for i in tr.load_items(repo)}
    assert [items[k].status for k in ("000-01", "000-02", "000-03", "000-04")] == [
        "covered", "partial", "partial", "not yet"]
    assert items["000-04"].notebooks == ["nb"]  # from the cell tag; a notebook alone is not a derivation
    assert tr.counts(list(items.values())) == {
        "000": {"covered": 1, "partial": 2, "not yet": 1}, "all": {"covered": 1, "partial": 2, "not yet": 1}}


def test_errata_status_and_tests_through_their_items(repo):
    rows = {e.id: e for e in tr.load_errata(repo)}
    assert rows["E01"].tests == ["tests/test_fake.py::TestGroup::test_method"]  # marked with the row's id
    assert rows["E02"].tests == ["tests/test_fake.py::test_one", "tests/test_fake.py::TestGroup::test_method",
                                 "tests/test_fake.py::TestGroup::test_other"]  # through item 000-03
    assert [rows[k].status for k in ("E01", "E02", "E03")] == ["shown", "shown", "pending"]
    rows["E01"].tests = []
    assert rows["E01"].status == "stated"


def test_a_sound_fake_repository_has_no_problems(repo):
    assert tr.problems(repo) == []


@pytest.mark.parametrize("old,new,message", [
    ("derived: [sec-a]}", "derived: [sec-typo]}", "000-01: label 'sec-typo' is not defined"),
    ('derived: ["eq:eq-b"]', 'derived: ["eq:sec-a"]', "000-02: label 'eq:sec-a' is not defined"),
    ("notebook: nb}", "notebook: nb2}", "000-02: notebook 'nb2' does not exist"),
    ('{id: "000-04"', '{id: "000-03"', "duplicate id '000-03'"),
    ('{id: "000-04"', '{id: "001-04"', "item id '001-04' is not 'SSS-NN'"),
])
def test_a_missing_label_notebook_or_bad_id_is_reported(repo, old, new, message):
    path = repo / "book" / "seed_items.yaml"
    path.write_text(path.read_text().replace(old, new, 1))
    assert any(p.startswith(message) for p in tr.problems(repo)), tr.problems(repo)


def test_a_marker_for_an_unknown_id_is_reported(repo):
    path = repo / "tests" / "test_fake.py"
    path.write_text(path.read_text().replace('@pytest.mark.seed("E01")', '@pytest.mark.seed("000-99")'))
    assert tr.problems(repo) == [
        "seed id '000-99' declared by tests/test_fake.py::TestGroup::test_method is unknown"]


def test_a_cited_test_that_does_not_exist_is_reported(repo, monkeypatch):
    scanned = tr.marked_tests(repo / "tests")
    scanned["000-01"].append("tests/test_fake.py::test_renamed")
    scanned["000-03"].append("tests/test_gone.py::test_one")
    monkeypatch.setattr(tr, "marked_tests", lambda tests_dir: scanned)
    assert tr.problems(repo) == ["cited test 'tests/test_fake.py::test_renamed' does not exist",
                                 "cited test 'tests/test_gone.py::test_one' does not exist"]


# -- the Sphinx extension, in a tiny book built with the real _config.yml --------------------------

APPENDIX = """\
# Appendix

```{seed-counts}
```

```{seed-traceability} 000
```

```{seed-errata}
```
"""


@pytest.mark.slow
def test_the_appendix_builds_its_tables_and_the_build_fails_on_a_missing_label(tmp_path):
    from book_tools import notebook, run_book_build, tiny_book

    nb = notebook("1 + 1")
    nb.cells[1].metadata["tags"] = ["seed:000-04"]
    book = tiny_book(tmp_path, """\
        format: jb-book
        root: book/intro
        chapters:
          - file: book/page
          - file: book/appendix
          - file: notebooks/nb
        """, {"book/intro.md": "# Intro\n", "book/page.md": PAGE, "book/appendix.md": APPENDIX,
              "book/seed_items.yaml": SEED_ITEMS, "book/seed_errata.yaml": SEED_ERRATA,
              "tests/test_fake.py": TESTS, "notebooks/nb.ipynb": nb})
    returncode, output, _ = run_book_build(book)
    assert returncode == 0, output[-4000:]
    html = (book / "_build" / "html" / "book" / "appendix.html").read_text()
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert "000: A seed 1 2 1 4" in text  # covered, partial, not yet, items
    assert "test_fake.py::TestGroup::test_method" in text and "not yet" in text and "pending" in text
    assert 'href="page.html#sec-a"' in html and 'href="page.html#equation-eq-b"' in html
    assert 'href="../notebooks/nb.html"' in html

    items = book / "book" / "seed_items.yaml"
    items.write_text(items.read_text().replace("derived: [sec-a]}", "derived: [sec-typo]}", 1))
    returncode, output, _ = run_book_build(book)
    assert returncode != 0
    assert "undefined label: 'sec-typo'" in output
