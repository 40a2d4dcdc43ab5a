"""Exercise numbers per chapter (issue 18): which chapter a page belongs to, and the renumbering."""
from __future__ import annotations

from sphinx_external_toc.parsing import parse_toc_data

from tempguide.sphinx_exercise_numbers import part_numbers, renumber_exercises

TOC = {"format": "jb-book", "root": "intro", "parts": [
    {"caption": "Toolkit", "chapters": [{"file": "tools"}]},
    {"caption": "Chapter 1 — One", "chapters": [{"file": "one", "sections": [{"file": "nb1"}]}]},
    {"caption": "Chapter 12 — Twelve", "chapters": [{"file": "twelve"}]},
]}


def test_pages_take_the_number_of_their_part_sections_included():
    assert part_numbers(parse_toc_data(TOC)) == {"tools": "T", "one": 1, "nb1": 1, "twelve": 12}


def test_exercises_count_from_one_in_each_chapter_in_book_order():
    fignumbers = {
        "tools": {"exercise": {"t": (1,)}},
        "one": {"exercise": {"a": (2,), "b": (3,)}, "figure": {"f": (1,)}},
        "nb1": {"exercise": {"c": (4,)}},
        "twelve": {"exercise": {"e": (6,), "d": (5,)}},
        "intro": {},
    }
    renumber_exercises(fignumbers, part_numbers(parse_toc_data(TOC)))
    assert fignumbers == {
        "tools": {"exercise": {"t": ("T", 1)}},
        "one": {"exercise": {"a": (1, 1), "b": (1, 2)}, "figure": {"f": (1,)}},
        "nb1": {"exercise": {"c": (1, 3)}},
        "twelve": {"exercise": {"e": (12, 2), "d": (12, 1)}},
        "intro": {},
    }
