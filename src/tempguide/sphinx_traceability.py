"""Sphinx extension: the traceability and errata appendices, generated at build time.

Listed in `_config.yml` under `sphinx.extra_extensions`.  Three directives read
`book/seed_items.yaml`, `book/seed_errata.yaml`, the ``@pytest.mark.seed`` markers of
`tests/` and the ``seed:`` cell tags of `notebooks/` (through `tempguide.traceability`):

* ``{seed-counts}``: covered / partial / not yet per seed;
* ``{seed-traceability} 000``: one row per item of seed 000;
* ``{seed-errata}``: one row per error of the seeds.

The rows are written as MyST (`{ref}`, `{eq}`, `{doc}` roles) and parsed in place, so
the references are real cross-references: a label or notebook that does not exist is a
warning, and the book's ``-W -n`` build fails on it.  A marker or tag naming an unknown
id is a warning too.
"""
from __future__ import annotations

from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from tempguide import traceability as tr

logger = logging.getLogger(__name__)
REPOSITORY_FILES = ("book/seed_items.yaml", "book/seed_errata.yaml")


def _code(text: str) -> str:
    """Inline code for a quoted seed line (fenced with enough backticks)."""
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _reference(target: str, pages: dict[str, str]) -> str:
    """A derivation reference: ``eq:label`` becomes its page and {eq} number, anything else {ref}."""
    if not target.startswith("eq:"):
        return f"{{ref}}`{target}`"
    label = target[3:]
    page = f"{{doc}}`/{pages[label]}` " if label in pages else ""
    return f"{page}{{eq}}`{label}`"


# Section titles with math reach a {ref} as their LaTeX source ("\beta=\infty: translation");
# in the tables' links they are shown with these symbols instead.
_LATEX = {r"\beta": "β", r"\gamma": "γ", r"\epsilon": "ε", r"\infty": "∞", r"\ln": "ln ",
          r"\prod": "∏", r"\text": "", r"\,": " ", r"\hat": "", "{": "", "}": "", "^": "", "$": ""}


def _plain(title: str) -> str:
    """A section title with its LaTeX turned into plain symbols (β, ε, ∞, ...)."""
    for latex, symbol in _LATEX.items():
        title = title.replace(latex, symbol)
    return " ".join(title.split())


def _plain_link_titles(app, doctree, docname) -> None:
    """doctree-resolved: in the traceability tables, show section titles without LaTeX source."""
    for container in doctree.findall(lambda n: isinstance(n, nodes.container) and "seed-trace" in n["classes"]):
        for ref in container.findall(nodes.reference):
            for text in list(ref.findall(nodes.Text)):
                if "\\" in text or "$" in text:
                    text.parent.replace(text, nodes.Text(_plain(str(text))))


def _notebook(name: str) -> str:
    return f"{{doc}}`/notebooks/{name}`"


def _join(parts: list[str]) -> str:
    return ", ".join(parts) or "—"


def _evidence(entry, pages: dict[str, str]) -> str:
    """One cell: where the book derives the item, the notebooks that compute it, the tests that check it."""
    lines = [f"*derived:* {_join([_reference(d, pages) for d in entry.derived])}",
             "", f"*notebook:* {_join([_notebook(n) for n in entry.notebooks])}", ""]
    if not entry.tests:
        return "\n".join(lines + ["*tests:* —"])
    return "\n".join(lines + ["*tests:*", ""] + [f"- {_code(t.removeprefix('tests/'))}" for t in entry.tests])


def _list_table(header: list[str], rows: list[list[str]], widths: str) -> list[str]:
    """A MyST list-table; a cell's lines after the first are indented under it."""
    lines = [":::{list-table}", ":header-rows: 1", f":widths: {widths}", ""]
    for row in [header] + rows:
        for k, cell in enumerate(row):
            first, *rest = cell.split("\n")
            lines += [("* - " if k == 0 else "  - ") + first] + [("    " + r).rstrip() for r in rest]
    return lines + [":::"]


# Test ids are long identifiers without spaces: let them wrap inside the narrow cells.
_STYLE = "<style>.seed-trace code, .seed-trace .pre {white-space: normal; overflow-wrap: anywhere;}</style>"


class _TraceDirective(SphinxDirective):
    """Common part: load the data, note the files it depends on, parse the generated MyST."""

    @property
    def root(self) -> Path:
        """The repository: the book's source folder, which holds book/, tests/ and notebooks/."""
        return Path(self.env.srcdir)

    def load(self):
        root = self.root
        for path in [root / name for name in REPOSITORY_FILES] + sorted((root / "tests").glob("test_*.py")) \
                + sorted((root / "notebooks").glob("*.ipynb")):
            self.env.note_dependency(str(path))
        items, errata = tr.load_items(root), tr.load_errata(root)
        self._warn_unknown_ids(items, errata)
        return items, errata

    def _warn_unknown_ids(self, items, errata) -> None:
        known = {i.id for i in items} | {e.id for e in errata}
        marked = tr.marked_tests(self.root / "tests")
        tagged = tr.notebook_tags(self.root / "notebooks")
        for key in sorted((set(marked) | set(tagged)) - known):
            where = marked.get(key, []) + tagged.get(key, [])
            logger.warning("seed id %r is declared by %s but is not in book/seed_items.yaml "
                           "or book/seed_errata.yaml", key, ", ".join(where), location=self.get_location())

    def parse(self, lines: list[str]) -> list[nodes.Node]:
        container = nodes.container(classes=["seed-trace"])
        container += nodes.raw("", _STYLE, format="html")
        self.state.nested_parse(StringList(lines, source="tempguide.sphinx_traceability"),
                                self.content_offset, container)
        return [container]


class SeedCounts(_TraceDirective):
    """``{seed-counts}``: how many items of each seed are covered, partial or not yet."""

    def run(self):
        items, _ = self.load()
        seeds = tr.load_seeds(self.root)
        rows = []
        for seed, row in tr.counts(items).items():
            title = "all seeds" if seed == "all" else f"{seed}: {seeds[seed]['title']}"
            rows.append([title] + [str(row[s]) for s in tr.STATUSES] + [str(sum(row.values()))])
        return self.parse(_list_table(["seed", *tr.STATUSES, "items"], rows, "40 15 15 15 15"))


class SeedTraceability(_TraceDirective):
    """``{seed-traceability} 000``: the items of one seed, where each is derived, computed, tested."""

    required_arguments = 1

    def run(self):
        seed = self.arguments[0]
        items, _ = self.load()
        pages = tr.equation_pages(self.root)
        rows = [[f"**{i.id}**", f"{i.statement}\n\n*seed:* {_code(i.line)}", _evidence(i, pages), i.status]
                for i in items if i.seed == seed]
        if not rows:
            logger.warning("no items for seed %r in book/seed_items.yaml", seed, location=self.get_location())
        return self.parse(_list_table(["id", "statement", "where", "status"], rows, "8 46 38 8"))


class SeedErrata(_TraceDirective):
    """``{seed-errata}``: each seed error, what is wrong, the correction and what shows it."""

    def run(self):
        _, errata = self.load()
        pages = tr.equation_pages(self.root)
        rows = [[f"**{e.id}**" + (f"\n\n{_join(e.items)}" if e.items else ""),
                 f"{_code(e.line)}\n\n{e.wrong}", f"{e.corrected}\n\n{_evidence(e, pages)}", e.status]
                for e in errata]
        header = ["row (items)", "the seed says, and what is wrong", "what holds, and where", "status"]
        return self.parse(_list_table(header, rows, "8 42 42 8"))


def setup(app) -> dict:
    app.add_directive("seed-counts", SeedCounts)
    app.add_directive("seed-traceability", SeedTraceability)
    app.add_directive("seed-errata", SeedErrata)
    app.connect("doctree-resolved", _plain_link_titles)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
