"""The student edition of the book holds no solution anywhere (issue 18, item 2).

`make book-student` builds the book from the configuration that
`python -m tempguide.homework book-config` writes.  The page's download button
used to serve `_sources/book/*.md` with every `{solution}` block in it.  Here
the student edition is built the same way, into a temporary folder, and every
file of the output (HTML pages, `_sources`, notebooks, scripts) is searched for
a distinctive phrase of each solution in `book/*.md`; the search index is
checked for the words that only solutions use.  The same searches must find
every *exercise*, so a search that could never match cannot pass.

The build runs with notebook execution off: solutions live only in the
Markdown pages, and executing the notebooks would cost minutes without
touching a single solution.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import yaml

from notebook_tools import ROOT, read
from tempguide.sphinx_student import strip_solutions

BOOK_PAGES = sorted((ROOT / "book").glob("*.md"))
PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9 ,.]*[A-Za-z0-9]")  # a run of words with no markup or math
MIN_WORDS = 4


# --- strip_solutions, on exact answers ------------------------------------------------------------

def test_strip_solutions_removes_backtick_and_colon_solutions_only():
    text = ("# Page\n"
            "```{exercise} Sum\n:label: ex\n\nAdd 1 and 1.\n```\n"
            "```{solution} ex\n:class: dropdown\n\nIt is 2.\n```\n"
            "Between.\n"
            ":::{solution} ex\nTwo.\n:::\n"
            "After.\n")
    assert strip_solutions(text) == ("# Page\n"
                                     "```{exercise} Sum\n:label: ex\n\nAdd 1 and 1.\n```\n"
                                     "Between.\n"
                                     "After.\n")


def test_strip_solutions_keeps_going_past_a_shorter_inner_fence():
    text = "A\n````{solution} ex\nCode:\n```python\nsecret = 1\n```\nStill secret.\n````\nB\n"
    assert strip_solutions(text) == "A\nB\n"


# --- the phrases and words that identify each solution --------------------------------------------

def _directives(name: str) -> list[tuple[str, str]]:
    """(page, body) of every `{name}` directive in book/*.md, found by MyST's own Markdown parser."""
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    md = create_md_parser(MdParserConfig(enable_extensions={"colon_fence", "dollarmath", "amsmath"}),
                          RendererHTML)
    found = []
    for page in BOOK_PAGES:
        for token in md.parse(page.read_text(encoding="utf-8")):
            if token.type in {"fence", "colon_fence"} and token.info.split(" ", 1)[0] == "{" + name + "}":
                body = "\n".join(line for line in token.content.splitlines() if not line.startswith(":"))
                found.append((page.name, body))
    return found


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def _visible_text() -> str:
    """Everything the full book shows outside its solutions: pages without solutions, and notebooks."""
    parts = [strip_solutions(page.read_text(encoding="utf-8")) for page in BOOK_PAGES]
    parts += [cell.source for nb in sorted((ROOT / "notebooks").glob("*.ipynb")) for cell in read(nb).cells]
    return _squeeze("\n".join(parts))


def _phrase(body: str, elsewhere: str) -> str | None:
    """The longest plain run of words in `body` that appears nowhere in `elsewhere`.

    A solution that is almost all math has no such run: then its longest
    inline formula (kept verbatim on the page for MathJax) that is not elsewhere.
    """
    runs = sorted({_squeeze(m.group()) for m in PLAIN.finditer(re.sub(r"\$[^$]*\$", "$", body))},
                  key=len, reverse=True)
    formulas = sorted({_squeeze(f) for f in re.findall(r"(?<!\$)\$([^$]+)\$", body)
                       if len(f) >= 12 and not set(f) & set("<>&'\"")}, key=len, reverse=True)
    words = [r for r in runs if len(r.split()) >= MIN_WORDS]
    return next((r for r in words + formulas if r not in elsewhere), None)


def _stems(text: str, shortest: int = 5) -> set[str]:
    """Search-index terms of the prose of `text` (math and code left out), stemmed as Sphinx's
    English search does; words shorter than `shortest` letters are left out."""
    import snowballstemmer

    prose = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`", " ", text, flags=re.DOTALL)
    stemmer = snowballstemmer.stemmer("porter")
    return {stemmer.stemWord(w.lower()) for w in re.findall(r"[A-Za-z]+", prose) if len(w) >= shortest}


# --- the build ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def student_html(tmp_path_factory) -> Path:
    """`make book-student`'s configuration, with notebook execution off, built into a temporary folder."""
    out = tmp_path_factory.mktemp("student")
    config = out / "_config.yml"
    subprocess.run([sys.executable, "-m", "tempguide.homework", "book-config", str(ROOT / "_config.yml"),
                    str(config)], check=True)
    settings = yaml.safe_load(config.read_text())
    settings["execute"]["execute_notebooks"] = "off"
    config.write_text(yaml.safe_dump(settings, sort_keys=False, allow_unicode=True))
    build = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", "--all", "-W", "-n",
                            "--keep-going", "--config", str(config), "--path-output", str(out), "."],
                           cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, (build.stdout + build.stderr)[-4000:]
    return out / "_build" / "html"


def _hits(html: Path, phrases: list[str]) -> dict[str, list[str]]:
    """phrase -> the files of the output tree that contain it (whitespace-insensitive)."""
    hits: dict[str, list[str]] = {p: [] for p in phrases}
    for path in html.rglob("*"):
        if not path.is_file() or path.suffix in {".png", ".jpg", ".svg", ".woff", ".woff2", ".ttf", ".ico"}:
            continue
        data = path.read_bytes()
        if path.name == "objects.inv":  # four header lines, then zlib-compressed inventory
            data = zlib.decompress(data.split(b"\n", 4)[4])
        text = _squeeze(data.decode("utf-8", errors="replace").replace("\\n", "\n"))
        for phrase in phrases:
            if phrase in text:
                hits[phrase].append(path.relative_to(html).as_posix())
    return hits


def _index_terms(html: Path) -> set[str]:
    text = (html / "searchindex.js").read_text(encoding="utf-8")
    return set(json.loads(text[text.index("(") + 1:text.rindex(")")])["terms"])


@pytest.mark.book
@pytest.mark.slow
def test_student_edition_holds_no_solution_anywhere(student_html):
    solutions, exercises = _directives("solution"), _directives("exercise")
    assert len(solutions) >= 20 and len(exercises) >= len(solutions)
    visible = _visible_text()
    solution_phrases = {f"{page}: solution {i}": _phrase(body, visible) for i, (page, body) in enumerate(solutions)}
    unnamed = [where for where, phrase in solution_phrases.items() if phrase is None]
    assert not unnamed, f"no distinctive plain phrase of {MIN_WORDS}+ words in {unnamed}"
    exercise_phrases = [_phrase(body, "") for _, body in exercises]

    hits = _hits(student_html, list(solution_phrases.values()) + exercise_phrases)
    leaked = {where: hits[phrase] for where, phrase in solution_phrases.items() if hits[phrase]}
    assert not leaked, f"solutions in the student edition: {leaked}"
    unseen = [phrase for phrase in exercise_phrases if not any(f.endswith(".html") for f in hits[phrase])]
    assert not unseen, f"the search misses exercises that the pages show: {unseen}"

    solution_only = _stems("\n".join(body for _, body in solutions)) - _stems(visible, shortest=1)
    exercise_words = _stems("\n".join(body for _, body in exercises))
    terms = _index_terms(student_html)
    assert len(solution_only) >= 5, sorted(solution_only)  # words that no other text of the book uses
    assert not solution_only & terms, f"the search index holds solution words: {sorted(solution_only & terms)}"
    assert len(exercise_words & terms) >= 0.9 * len(exercise_words), (
        f"the search index misses the exercises' words: {sorted(exercise_words - terms)}")
