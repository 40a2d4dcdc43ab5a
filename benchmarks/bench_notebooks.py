"""Runtime budget: execute every notebook in the quick profile and print a table.

    .venv/bin/python benchmarks/bench_notebooks.py [NOTEBOOK ...]

Budget (issue "Foundation", item 9): each notebook <= 3 min, all together <= 15 min
on a 2-core CPU.  Exits with status 1 when the budget is exceeded.  Homework
student notebooks are skipped (they raise NotImplementedError by design); their
solution notebooks are timed.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
PER_NOTEBOOK_S = 180.0
TOTAL_S = 900.0


def notebooks() -> list[Path]:
    found = sorted((ROOT / "notebooks").glob("*.ipynb"))
    found += sorted((ROOT / "notebooks" / "homework" / "solutions").glob("*.ipynb"))
    return found


def run(path: Path) -> tuple[float, str]:
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as cwd:
        client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": cwd}})
        start = time.perf_counter()
        try:
            client.execute()
            status = "ok"
        except Exception as err:  # report and go on timing the others
            status = f"ERROR: {type(err).__name__}"
        return time.perf_counter() - start, status


def main(argv: list[str]) -> int:
    os.environ.setdefault("TEMPGUIDE_PROFILE", "quick")
    paths = [Path(a) for a in argv] or notebooks()
    rows, total = [], 0.0
    for path in paths:
        seconds, status = run(path)
        total += seconds
        verdict = status if status != "ok" else ("ok" if seconds <= PER_NOTEBOOK_S else "OVER BUDGET")
        rows.append((str(path.relative_to(ROOT)), seconds, verdict))
        print(f"  {rows[-1][0]}: {seconds:.1f} s {verdict}", file=sys.stderr, flush=True)
    width = max(len(r[0]) for r in rows)
    print(f"\nprofile={os.environ['TEMPGUIDE_PROFILE']}, cores={os.cpu_count()}")
    print(f"| {'notebook'.ljust(width)} | seconds | status |")
    print(f"|{'-' * (width + 2)}|--------:|--------|")
    for name, seconds, verdict in rows:
        print(f"| {name.ljust(width)} | {seconds:7.1f} | {verdict} |")
    print(f"| {'total'.ljust(width)} | {total:7.1f} | {'ok' if total <= TOTAL_S else 'OVER BUDGET'} |")
    failed = any(v != "ok" for _, _, v in rows) or total > TOTAL_S
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
