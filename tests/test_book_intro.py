"""The introduction's chapter list follows _toc.yml: one entry per "Chapter N — Title" part, in order,
each linking the first page of that part (issue 17: the intro must not describe chapters the book lacks)."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_chapters():
    """[(N, title, first file relative to book/)] for every part captioned "Chapter N — Title"."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    chapters = []
    for part in toc["parts"]:
        match = re.fullmatch(r"Chapter (\d+) — (.+)", part["caption"])
        if match:
            first = part["chapters"][0]["file"]
            assert first.startswith("book/"), f"chapter {match[1]} opens with {first}, not a book page"
            chapters.append((int(match[1]), match[2], first.removeprefix("book/")))
    return chapters


def intro_chapters():
    """[(N, title, linked page)] from the intro's numbered list: N. **{doc}`Title <page>`**."""
    text = (ROOT / "book" / "intro.md").read_text()
    return [(int(n), title, page)
            for n, title, page in re.findall(r"^(\d+)\. \*\*\{doc\}`([^<`]+?) <([^>]+)>`\*\*", text, flags=re.M)]


def test_intro_lists_the_toc_chapters_in_order():
    toc, intro = toc_chapters(), intro_chapters()
    assert len(toc) >= 6, toc
    assert intro == toc, f"intro list {intro} differs from _toc.yml's chapters {toc}"


def test_intro_links_existing_pages():
    for _, _, page in intro_chapters():
        assert (ROOT / "book" / f"{page}.md").exists(), f"intro links {page}, which has no page"


def test_intro_has_no_other_numbered_chapter_list():
    """A second, hand-written list (e.g. a chapter 7 announced before it exists) would escape the check above."""
    text = (ROOT / "book" / "intro.md").read_text()
    numbered = re.findall(r"^\d+\. ", text, flags=re.M)
    assert len(numbered) == len(intro_chapters())
