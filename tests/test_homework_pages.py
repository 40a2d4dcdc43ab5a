"""The book's Homework part (issue 18): one page per assignment, with working links, in the table of contents."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tempguide.colab import REPOSITORY_URL

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "book" / "homework"
ASSIGNMENTS = sorted(p.stem for p in (ROOT / "notebooks" / "homework" / "solutions").glob("*.ipynb"))
OWNER_REPO = REPOSITORY_URL.removeprefix("https://github.com/")


def toc_files() -> list[str]:
    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                yield node["file"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)
    return list(walk(yaml.safe_load((ROOT / "_toc.yml").read_text())))


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_each_assignment_has_a_page_with_its_colab_and_download_links(name):
    text = (PAGES / f"{name}.md").read_text()
    label = name.replace("_", "-")
    assert text.startswith(f"({label})=\n# ")
    notebook = f"notebooks/homework/{name}.ipynb"
    assert (ROOT / notebook).is_file()
    assert f"(https://colab.research.google.com/github/{OWNER_REPO}/blob/main/{notebook})" in text
    assert f"({REPOSITORY_URL}/raw/main/{notebook})" in text
    assert "tempguide.checks" in text and re.search(r"\{ref\}`[a-z0-9-]+`", text)
    assert f"{{ref}}`{label}`" in (PAGES / "index.md").read_text()


def test_the_homework_part_is_in_the_table_of_contents():
    files = toc_files()
    expected = ["book/homework/index", *(f"book/homework/{n}" for n in ASSIGNMENTS), "book/homework/instructor"]
    assert [f for f in files if f.startswith("book/homework/")] == expected
    assert files.index("book/homework/index") > files.index("notebooks/61_clip_glide_unclip")  # after chapter 6
    assert (PAGES / "index.md").read_text().startswith("(homework)=\n")


def test_the_instructor_page_links_the_homework_readme_and_covers_nbgrader():
    text = (PAGES / "instructor.md").read_text()
    assert f"({REPOSITORY_URL}/blob/main/notebooks/homework/README.md)" in text
    for command in ("generate_assignment", "release_assignment", "collect", "autograde", "validate",
                    "python -m tempguide.homework grade"):
        assert command in text, command
