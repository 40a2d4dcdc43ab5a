"""The mutation score per module, from the last ``make mutation`` run (issue 20).

    .venv/bin/python benchmarks/bench_mutation.py [--mutants mutants ...] [--equivalent benchmarks/mutation_equivalent.txt]
                                                  [--save benchmarks/results/mutation.md]

``make mutation`` (mutmut 3) plants single bugs (mutants) in the modules whose
numbers the book prints and runs the fast unit tests against each; it records the
exit code of every mutant in ``mutants/<source file>.meta``.  This script reads
those files and prints, per module, how many mutants were

    killed     a test failed (or pytest stopped with an internal error)
    timeout    the tests ran past mutmut's CPU-time limit: an endless loop, or a stuck forked
               worker (seen here with torch under load: rerun them, best with process_isolation
               = "forkserver"); not counted as killed
    survived   every test passed (mutmut's "survived" and "no tests": no test runs the code)
    equivalent survived, but listed in ``--equivalent`` with the reason it cannot change any result
    other      not checked yet, skipped, suspicious or crashed (reported, not scored)

and the score = killed / (killed + timeout + survived): the share of the non-equivalent
checked mutants the tests are known to catch.  The issue's target is >= 95 % per module.
Of ``tempguide.homework.grader`` only the scoring functions count (``SCOPE``): the
rest runs a kernel and is tested end to end, too slowly for every mutant.
Several ``--mutants`` folders (runs of parts of the scope, or a rerun of the survivors
with new tests) are merged mutant by mutant, each taking its most definite verdict
(killed, then survived, then timeout): right when every run mutated the same source
and the later runs only added tests.
The equivalent list has one mutant per line, ``name  # reason``; ``#`` lines are comments.
Surviving mutants are listed by name: ``.venv/bin/mutmut show NAME`` prints the diff.
"""
from __future__ import annotations

import argparse
import datetime
import json
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# mutmut 3's exit codes (mutmut/stats.py); anything else is "other"
STATUS = {1: "killed", 3: "killed", 36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
          0: "survived", 5: "survived", 33: "survived"}
COLUMNS = ["module", "mutants", "killed", "timeout", "survived", "equivalent", "other", "score %"]
TARGET = 95.0
RANK = {"killed": 0, "survived": 1, "timeout": 2, "other": 3}  # merging runs: a mutant's most definite verdict
#: modules of which only some functions are in the scope of the score
SCOPE = {"tempguide.homework.grader": {"_score", "_points", "report", "_short", "_exercises"}}


def read_equivalent(path: Path) -> dict[str, str]:
    """``{mutant name: reason}`` from the equivalent list (missing file: none)."""
    out = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            name, _, reason = line.partition("#")
            if name.strip():
                out[name.strip()] = reason.strip()
    return out


def module_of(meta: Path, mutants: Path) -> str:
    """``tempguide.lm.exact`` for ``mutants/src/tempguide/lm/exact.py.meta``."""
    rel = meta.relative_to(mutants).as_posix().removesuffix(".py.meta")
    return rel.removeprefix("src/").replace("/", ".")


def function_of(mutant: str) -> str:
    """``_score`` for ``tempguide.homework.grader.x__score__mutmut_3`` (methods: ``Class.method``)."""
    mangled = mutant.rsplit(".", 1)[-1].rsplit("__mutmut_", 1)[0]
    return mangled.removeprefix("x_").replace("ǁ", ".").strip(".") if "ǁ" in mangled else mangled.removeprefix("x_")


def tally(folders: list[Path], equivalent: dict[str, str],
          kills_only: list[Path] = ()) -> tuple[dict[str, Counter], dict[str, list[str]]]:
    """Per module: counts of each verdict, and the names of its surviving mutants.

    ``kills_only``: reruns with only some of the tests; only their kills count.
    """
    codes: dict[str, dict[str, int | None]] = {}  # module -> mutant -> exit code of its most definite verdict
    for mutants in [*folders, *kills_only]:
        for meta in sorted(mutants.rglob("*.py.meta")):
            module = codes.setdefault(module_of(meta, mutants), {})
            for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
                if mutants in kills_only and STATUS.get(code) != "killed":
                    continue
                if name not in module or RANK[STATUS.get(code, "other")] < RANK[STATUS.get(module[name], "other")]:
                    module[name] = code
    counts: dict[str, Counter] = {}
    survivors: dict[str, list[str]] = {}
    for module, by_name in sorted(codes.items()):
        c = counts.setdefault(module, Counter())
        for name, code in by_name.items():
            if module in SCOPE and function_of(name) not in SCOPE[module]:
                continue
            status = STATUS.get(code, "other")
            if status == "survived" and name in equivalent:
                status = "equivalent"
            c[status] += 1
            c["mutants"] += 1
            if status == "survived":
                survivors.setdefault(module, []).append(name)
    return counts, survivors


def score(c: Counter) -> float | None:
    scored = c["killed"] + c["timeout"] + c["survived"]
    return 100.0 * c["killed"] / scored if scored else None


def table(counts: dict[str, Counter]) -> list[list[str]]:
    """Rows of COLUMNS, one per module with mutants, then the total."""
    total = sum(counts.values(), Counter())
    rows = []
    for module, c in [*sorted(counts.items()), ("total", total)]:
        if not c["mutants"]:
            continue
        s = score(c)
        rows.append([module, *(str(c[k]) for k in COLUMNS[1:-1]), "" if s is None else f"{s:.1f}"])
    return rows


def markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, action="append", help="mutmut's work folder (default: mutants)")
    parser.add_argument("--kills-only", type=Path, action="append", default=[],
                        help="a rerun with only some of the tests: only its kills count")
    parser.add_argument("--equivalent", type=Path, default=ROOT / "benchmarks" / "mutation_equivalent.txt")
    parser.add_argument("--save", type=Path, help="also write the table and the survivors to this markdown file")
    parser.add_argument("--note", default="", help="a paragraph for --save: what was run, on which machine")
    args = parser.parse_args()
    folders = args.mutants or [ROOT / "mutants"]
    for folder in folders:
        if not folder.is_dir():
            parser.error(f"--mutants: no folder {folder}; run `make mutation` first")
    equivalent = read_equivalent(args.equivalent)
    counts, survivors = tally(folders, equivalent, args.kills_only)
    rows = table(counts)
    text = markdown(rows)
    print(text)
    listing = "\n".join(f"- `{name}`" for module in sorted(survivors) for name in survivors[module])
    if listing:
        print("\nSurviving mutants (`.venv/bin/mutmut show NAME`):\n" + listing)
    if args.save:
        note = f"{args.note}\n\n" if args.note else ""
        args.save.write_text(f"# Mutation score (`make mutation`, {datetime.date.today()})\n\n{note}{text}\n\n"
                             "Score = killed / (killed + timeout + survived); equivalent mutants "
                             "(benchmarks/mutation_equivalent.txt) are not scored.\n\n"
                             f"Surviving mutants:\n\n{listing or '(none)'}\n")
    below = [r[0] for r in rows if r[-1] and float(r[-1]) < TARGET and r[0] != "total"]
    if below:
        print(f"\nBelow the {TARGET:g} % target: {', '.join(below)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
