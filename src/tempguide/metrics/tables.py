"""Computed tables for the book (book: "Running the course": every table is computed, never typed).

A benchmark measures, then calls ``save_table``, which writes two files into
``book/results/``: ``NAME.json`` (columns, rows, and how they were made) and
``NAME.md`` (the markdown table).  A book page shows the table with

    ```{include} results/NAME.md
    ```

and ``tests/test_book_results.py`` re-renders every JSON and checks it against its
``.md``, so a number in a book table is always one a benchmark printed.
"""
from __future__ import annotations

import json
from pathlib import Path


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-2 and value != 0 else f"{value:.3f}"
    return "—" if value is None else str(value)


def markdown_table(columns: list[str], rows: list[list]) -> str:
    """A markdown table; floats are shown with 3 decimals (3 significant digits below 0.01), None as —."""
    if any(len(row) != len(columns) for row in rows):
        raise ValueError(f"every row must have {len(columns)} cells (the columns), got lengths "
                         f"{sorted({len(row) for row in rows})}")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def save_table(name: str, columns: list[str], rows: list[list], *, meta: dict, directory) -> Path:
    """Write ``NAME.json`` and ``NAME.md`` into ``directory``; ``meta`` says how the rows were measured."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps({"columns": columns, "rows": rows, "meta": meta},
                                                       indent=1) + "\n")
    path = directory / f"{name}.md"
    path.write_text(markdown_table(columns, rows))
    return path


def render(json_path) -> str:
    """The markdown table a results JSON renders to (what its ``.md`` must contain)."""
    data = json.loads(Path(json_path).read_text())
    return markdown_table(data["columns"], data["rows"])
