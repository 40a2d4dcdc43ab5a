"""Traceability of the seed lectures: which formula is derived where, computed where, tested where.

The book's promise is that every formula of the five seed lectures has a derivation
and a tested computation behind it.  This module makes the promise checkable:

* ``book/seed_items.yaml`` gives every formula, algorithm and claim of the seeds an
  id (``"000-12"``: seed ``000``, item 12), the quoted seed line, a one-line
  statement, the book labels that derive it and the notebook that computes it;
* tests declare what they verify with ``@pytest.mark.seed("000-12", ...)``, found
  here by reading the test files' syntax trees (nothing is imported or run);
* notebook cells may declare it with a cell tag ``seed:000-12``;
* ``book/seed_errata.yaml`` lists the seeds' errors and where the book corrects them.

The Sphinx extension `tempguide.sphinx_traceability` renders the two appendices
from these; ``tests/test_traceability.py`` checks that everything they cite exists.
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ITEM_ID = re.compile(r"^(\d{3})-(\d{2,3})$")
TAG_PREFIX = "seed:"
STATUSES = ("covered", "partial", "not yet")

# Label definitions in MyST: `(name)=` targets, `:label: name` options, `$$ ... $$ (name)`.
_TARGET = re.compile(r"^\(([\w.:-]+)\)=\s*$", re.M)
_OPTION_LABEL = re.compile(r"^\s*:label:\s*([\w.:-]+)\s*$", re.M)
_DOLLAR_LABEL = re.compile(r"\$\$\s*\(([\w.:-]+)\)\s*$", re.M)
_MATH_BLOCK = re.compile(r"```\{math\}\s*\n\s*:label:\s*([\w.:-]+)", re.M)


@dataclass
class Item:
    """One formula, algorithm or claim of a seed (an entry of ``book/seed_items.yaml``)."""

    id: str
    line: str
    statement: str
    derived: list[str] = field(default_factory=list)  # "label" ({ref}) or "eq:label" ({eq})
    notebooks: list[str] = field(default_factory=list)  # notebook names without .ipynb
    tests: list[str] = field(default_factory=list)  # pytest node ids, from the markers

    @property
    def seed(self) -> str:
        return self.id.split("-")[0]

    @property
    def status(self) -> str:
        """covered = derived in the book and tested; partial = one of the two; not yet = neither."""
        return STATUSES[2 - bool(self.derived) - bool(self.tests)]


@dataclass
class Erratum:
    """One error of a seed (an entry of ``book/seed_errata.yaml``) and its correction."""

    id: str
    seed: str
    line: str
    wrong: str
    corrected: str
    items: list[str] = field(default_factory=list)  # the seed items the row corrects
    derived: list[str] = field(default_factory=list)
    notebooks: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """shown = stated in the book and shown by a test or notebook; stated = stated only;
        pending = the book does not state the correction yet."""
        if not self.derived:
            return "pending"
        return "shown" if self.tests or self.notebooks else "stated"


def _as_list(value) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _load_yaml(path: Path):
    import yaml  # a dependency of Jupyter Book; the package itself does not need it

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_seeds(root: Path = ROOT) -> dict[str, dict]:
    """The seed files, by seed number: ``{"000": {"file": ..., "title": ...}, ...}``."""
    return _load_yaml(root / "book" / "seed_items.yaml")["seeds"]


def load_items(root: Path = ROOT) -> list[Item]:
    """The items of ``book/seed_items.yaml``, with the tests and notebooks that declare them."""
    raw = _load_yaml(root / "book" / "seed_items.yaml")["items"]
    items = [Item(id=str(r["id"]), line=str(r["line"]), statement=str(r["statement"]).strip(),
                  derived=_as_list(r.get("derived")), notebooks=_as_list(r.get("notebook")))
             for r in raw]
    _attach(items, root)
    return items


def load_errata(root: Path = ROOT) -> list[Erratum]:
    """The rows of ``book/seed_errata.yaml``; a row's tests are those marked with its id or its items."""
    raw = _load_yaml(root / "book" / "seed_errata.yaml")["errata"]
    rows = [Erratum(id=str(r["id"]), seed=str(r["seed"]), line=str(r["line"]),
                    wrong=str(r["wrong"]).strip(), corrected=str(r["corrected"]).strip(),
                    items=_as_list(r.get("items")), derived=_as_list(r.get("derived")),
                    notebooks=_as_list(r.get("notebook")))
             for r in raw]
    _attach(rows, root, via_items=True)
    return rows


def _attach(entries, root: Path, via_items: bool = False) -> None:
    """Add to each entry the tests marked with its id (or, for errata, its items) and tagged notebooks."""
    tests, notebooks = marked_tests(root / "tests"), notebook_tags(root / "notebooks")
    for entry in entries:
        keys = [entry.id] + (entry.items if via_items else [])
        for key in keys:
            entry.tests += [t for t in tests.get(key, []) if t not in entry.tests]
            entry.notebooks += [n for n in notebooks.get(key, []) if n not in entry.notebooks]


def _seed_marker_ids(decorator: ast.expr) -> list[str] | None:
    """The ids of a ``@pytest.mark.seed("000-12", ...)`` decorator, or None for any other decorator."""
    if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr == "seed"):
        return None
    mark = decorator.func.value
    if not (isinstance(mark, ast.Attribute) and mark.attr == "mark"):
        return None
    return [a.value for a in decorator.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]


def marked_tests(tests_dir: Path) -> dict[str, list[str]]:
    """Map each id to the pytest node ids (``tests/test_x.py::test_f``) whose seed marker names it.

    A marker on a class applies to every test method in it, as in pytest.
    """
    found: dict[str, list[str]] = {}
    for path in sorted(tests_dir.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        prefix = f"{tests_dir.name}/{path.name}"
        for node in tree.body:
            for node_id, ids in _marked(node, prefix, []):
                for key in ids:
                    found.setdefault(key, []).append(node_id)
    return found


def _marked(node: ast.stmt, prefix: str, inherited: list[str]):
    """Yield (node id, ids) for the test functions in `node` that carry seed markers."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return
    ids = inherited + [i for d in node.decorator_list for i in (_seed_marker_ids(d) or [])]
    if isinstance(node, ast.ClassDef):
        for child in node.body:
            yield from _marked(child, f"{prefix}::{node.name}", ids)
    elif node.name.startswith("test") and ids:
        yield f"{prefix}::{node.name}", ids


def notebook_tags(notebooks_dir: Path) -> dict[str, list[str]]:
    """Map each id to the notebooks (names without .ipynb) with a cell tagged ``seed:<id>``."""
    found: dict[str, list[str]] = {}
    for path in sorted(notebooks_dir.glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            for tag in cell.get("metadata", {}).get("tags", []):
                if tag.startswith(TAG_PREFIX):
                    names = found.setdefault(tag[len(TAG_PREFIX):], [])
                    if path.stem not in names:
                        names.append(path.stem)
    return found


def book_labels(root: Path = ROOT) -> tuple[set[str], set[str]]:
    """(all labels, equation labels) defined in book/*.md and in the notebooks' markdown cells."""
    texts = [p.read_text(encoding="utf-8") for p in sorted((root / "book").glob("*.md"))]
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        texts += ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    labels, equations = set(), set()
    for text in texts:
        labels.update(_TARGET.findall(text), _OPTION_LABEL.findall(text), _DOLLAR_LABEL.findall(text))
        equations.update(_DOLLAR_LABEL.findall(text), _MATH_BLOCK.findall(text))
    return labels, equations


def equation_pages(root: Path = ROOT) -> dict[str, str]:
    """Map each equation label of book/*.md to its page (``book/name``), to name the page beside ``(n)``."""
    pages = {}
    for path in sorted((root / "book").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        for label in _DOLLAR_LABEL.findall(text) + _MATH_BLOCK.findall(text):
            pages[label] = f"book/{path.stem}"
    return pages


def counts(items: list[Item]) -> dict[str, dict[str, int]]:
    """Per seed (and "all"): how many items are covered, partial, not yet."""
    table: dict[str, dict[str, int]] = {}
    for item in items:
        for key in (item.seed, "all"):
            row = table.setdefault(key, dict.fromkeys(STATUSES, 0))
            row[item.status] += 1
    return dict(sorted(table.items(), key=lambda kv: (kv[0] == "all", kv[0])))


def _defined_tests(path: Path) -> set[str]:
    """The node-id suffixes (``test_f``, ``Class::test_f``) a test file defines, from its syntax tree."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {f"{node.name}::{c.name}" for c in node.body
                      if isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return names


def problems(root: Path = ROOT) -> list[str]:
    """Everything the appendices cite that does not exist, one message per problem (empty when sound).

    Checks: ids well formed and unique; derivation labels defined in the book (equation
    labels for ``eq:``); notebooks present; every marker and tag names a known id; every
    errata row's items are known; every cited test is a function of an existing test file.
    """
    items, errata, seeds = load_items(root), load_errata(root), load_seeds(root)
    labels, equations = book_labels(root)
    found = []
    ids = [i.id for i in items] + [e.id for e in errata]
    found += [f"duplicate id {key!r}" for key in sorted({k for k in ids if ids.count(k) > 1})]
    for item in items:
        match = ITEM_ID.match(item.id)
        if not match or match.group(1) not in seeds:
            found.append(f"item id {item.id!r} is not 'SSS-NN' with SSS a seed of seed_items.yaml")
    for entry in items + errata:
        for target in entry.derived:
            name, pool = (target[3:], equations) if target.startswith("eq:") else (target, labels)
            if name not in pool:
                found.append(f"{entry.id}: label {target!r} is not defined in book/ or notebooks/")
        for name in entry.notebooks:
            if not (root / "notebooks" / f"{name}.ipynb").is_file():
                found.append(f"{entry.id}: notebook {name!r} does not exist")
    item_ids = {i.id for i in items}
    for row in errata:
        found += [f"{row.id}: item {key!r} is not in seed_items.yaml" for key in row.items if key not in item_ids]
    declared = {**notebook_tags(root / "notebooks"), **marked_tests(root / "tests")}
    found += [f"seed id {key!r} declared by {', '.join(declared[key])} is unknown"
              for key in sorted(set(declared) - set(ids))]
    for node_id in sorted({t for entry in items + errata for t in entry.tests}):
        file, _, name = node_id.partition("::")
        path = root / file
        if not path.is_file() or name not in _defined_tests(path):
            found.append(f"cited test {node_id!r} does not exist")
    return found
