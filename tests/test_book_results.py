"""Book tables are computed: every book/results/NAME.md is what NAME.json renders to, and is shown by a page."""
from pathlib import Path

import pytest

from tempguide.metrics.tables import markdown_table, render, save_table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = sorted((ROOT / "book" / "results").glob("*.json"))


def test_markdown_table_formats_cells():
    table = markdown_table(["w", "FID"], [[1, 0.8234], [2.5, 0.004321], ["real", None]])
    assert table.splitlines() == ["| w | FID |", "|---|---|", "| 1 | 0.823 |", "| 2.500 | 0.00432 |", "| real | — |"]


def test_markdown_table_rejects_ragged_rows():
    with pytest.raises(ValueError, match="every row must have 2 cells"):
        markdown_table(["a", "b"], [[1, 2], [3]])


def test_save_table_round_trips(tmp_path):
    path = save_table("t", ["a"], [[0.5]], meta={"n": 1}, directory=tmp_path)
    assert path.read_text() == render(tmp_path / "t.json") == "| a |\n|---|\n| 0.500 |\n"


@pytest.mark.parametrize("json_path", RESULTS, ids=[p.stem for p in RESULTS])
def test_book_table_is_its_json_rendered(json_path):
    md = json_path.with_suffix(".md")
    assert md.exists(), f"{md.name} is missing: rerun the benchmark named in {json_path.name}'s meta"
    assert md.read_text() == render(json_path), f"{md.name} was edited by hand or is stale"


@pytest.mark.parametrize("json_path", RESULTS, ids=[p.stem for p in RESULTS])
def test_book_table_is_shown_by_a_page(json_path):
    pages = [p.read_text() for p in (ROOT / "book").glob("*.md")]
    assert any(f"results/{json_path.stem}.md" in page for page in pages), f"no page includes {json_path.stem}.md"


def test_markdown_table_cell_boundaries_and_saved_json(tmp_path):
    # 0.01 is not "below 0.01": three decimals; 0 keeps three decimals too
    assert markdown_table(["a", "b"], [[0.01, 0.0]]).splitlines()[2] == "| 0.010 | 0.000 |"
    path = save_table("t", ["a"], [[1]], meta={"bench": "x"}, directory=tmp_path / "new" / "dir")  # parents made
    assert (tmp_path / "new" / "dir" / "t.json").read_text() == \
        '{\n "columns": [\n  "a"\n ],\n "rows": [\n  [\n   1\n  ]\n ],\n "meta": {\n  "bench": "x"\n }\n}\n'
    assert path == tmp_path / "new" / "dir" / "t.md"
