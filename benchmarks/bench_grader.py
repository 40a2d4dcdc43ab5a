"""Can a submission beat the homework grader?  Run every attack probe and time honest gradings.

    .venv/bin/python benchmarks/bench_grader.py [--probe NAME ...] [--python PATH] [--env KEY=VALUE ...]
                                                [--repo PATH] [--repeat 3] [--no-timing] [--destructive]
                                                [--save FILE]

Each probe of ``tests/grader_probes.py`` (an attack notebook built from hw1 and a
check of the verdict the hardened grader must reach) is graded through the command
line ``python -m tempguide.homework grade NB --hidden ...`` in a subprocess (cwd a
temporary folder, stdout captured in a file), and the table says per probe the score
the grader printed (several when forged JSON lines got through), its exit code, the
verdict (``ok`` or ``WRONG: why``) and the wall seconds.  Then the timing section grades
the hw1 solution and the empty student version ``--repeat`` times each: the issue asks
for < 15 s per hw1 submission.

``--python`` is the interpreter that runs the grader, ``--env`` adds environment
variables (``--env PYTHONPATH=/tmp/old/src`` grades with an old copy), ``--repo`` is the
checkout whose ``notebooks/homework`` the probes start from.  Options the grader does not
know (an old grader has no ``--output`` or ``--total-timeout``) are emulated (stdout
redirected to the output file) or dropped, and the notes say so.  ``--destructive``
adds ``tamper_package_rewrite``, a real rewrite of the answer key: only allowed when
``--repo`` is a throwaway copy that holds the graded package, and the files are
restored afterwards.  Exits 1 when a verdict is WRONG or a grading is over budget.
"""
from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import grader_probes as gp  # noqa: E402  (a helper module of the tests)

BUDGET_S = 15.0  # per hw1 submission (issue: grader hardening)


def package_of(python: str, env: dict) -> Path:
    """The ``tempguide`` package directory the grader's interpreter imports with ``env``."""
    out = subprocess.run([python, "-c", "import tempguide; print(tempguide.__file__)"], capture_output=True,
                         text=True, env=env, cwd=tempfile.gettempdir(), check=True)
    return Path(out.stdout.strip()).parent


def commit_of(repo: Path) -> str:
    """``<hash> (<commit date>)`` of ``repo``'s HEAD, noting uncommitted changes."""
    out = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%h (%cs)"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return (out.stdout.strip() or "unknown commit") + (" with uncommitted changes" if dirty else "")


def score_cell(o: gp.Outcome) -> str:
    """The score(s) the grader printed; ``a → b`` when a follow-up grading ran."""
    scores = gp.json_scores(o.output if o.output is not None else o.stdout)
    cell = ", ".join(map(str, scores)) or "–"
    if o.followup is not None:
        cell += " → " + (", ".join(map(str, gp.json_scores(o.followup.stdout))) or "–")
    return cell


def exit_cell(o: gp.Outcome) -> str:
    return "killed" if o.killed else str(o.exit_code)


def run_probes(names: list[str], probes: dict, target: gp.Target, python: str, env: dict,
               flags: set[str], restore: list[Path]) -> tuple[list[tuple], list[str]]:
    """One row ``(probe, score, exit, verdict, seconds)`` per probe, and the notes."""
    rows, notes = [], []
    for name in names:
        backup = {p: p.read_bytes() for p in restore if p.is_file()}
        with tempfile.TemporaryDirectory(prefix=f"probe-{name}-") as tmp:
            try:
                o = gp.run_probe(probes[name], Path(tmp), target=target, python=python, env=env, flags=flags)
            finally:
                for path, data in backup.items():  # a destructive probe's damage, undone
                    if path.read_bytes() != data:
                        path.write_bytes(data)
                        notes.append(f"{name}: restored {path}")
        verdict = "ok" if o.verdict is None else f"WRONG: {o.verdict}"
        rows.append((name, score_cell(o), exit_cell(o), verdict.replace("|", "/"), o.seconds))
        notes += [f"{name}: {n}" for n in o.notes]
        if name == "print_flood":
            notes.append(f"print_flood: peak RSS {o.grader_rss_mb:.0f} MB of the grader process, "
                         f"{o.peak_rss_mb:.0f} MB of the largest process under it (the kernel included)")
        print(f"  {name}: {rows[-1][1]} exit {rows[-1][2]} {verdict} ({o.seconds:.1f} s)", file=sys.stderr, flush=True)
    return rows, notes


def timing(repo: Path, python: str, env: dict, repeat: int) -> list[tuple]:
    """``(submission, score, median s, max s, verdict)`` for the hw1 solution and the empty student version."""
    rows = []
    for label, path in (("hw1 solution", repo / gp.SOLUTION), ("hw1 student (empty)", repo / gp.STUDENT)):
        seconds, scores = [], set()
        for k in range(repeat):
            with tempfile.TemporaryDirectory(prefix="grade-time-") as tmp:
                o = gp.run_grader({"notebook": path, "args": []}, Path(tmp), python=python, env=env)
            seconds.append(o.seconds)
            scores.add(str(o.report.get("score")) if o.report else f"exit {o.exit_code}")
            print(f"  {label} #{k + 1}: {o.seconds:.1f} s", file=sys.stderr, flush=True)
        verdict = "ok" if max(seconds) < BUDGET_S else "OVER BUDGET"
        rows.append((label, "/".join(sorted(scores)), statistics.median(seconds), max(seconds), verdict))
    return rows


def table(header: list[str], rows: list[tuple]) -> list[str]:
    cells = [[f"{v:.1f}" if isinstance(v, float) else str(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    line = lambda values: "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"  # noqa: E731
    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--probe", nargs="+", metavar="NAME",
                        help=f"probes to run (default all: {', '.join(gp.PROBES)})")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs the grader")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra environment")
    parser.add_argument("--repo", type=Path, default=ROOT, help="the checkout holding notebooks/homework")
    parser.add_argument("--repeat", type=int, default=3, help="gradings per timed submission (default 3)")
    parser.add_argument("--no-timing", action="store_true", help="skip the timing section")
    parser.add_argument("--destructive", action="store_true",
                        help="also rewrite the answer key for real (only for a throwaway --repo)")
    parser.add_argument("--save", type=Path, metavar="FILE", help="also write the markdown to FILE")
    args = parser.parse_args(argv)
    if any("=" not in kv for kv in args.env):
        parser.error(f"--env takes KEY=VALUE, got {[kv for kv in args.env if '=' not in kv]}")
    if args.repeat < 1:
        parser.error(f"--repeat must be >= 1, got {args.repeat}")
    env = {**os.environ, **dict(kv.split("=", 1) for kv in args.env)}
    repo = args.repo.resolve()
    probes = {**gp.PROBES, **(gp.DESTRUCTIVE_PROBES if args.destructive else {})}
    names = args.probe or list(probes)
    unknown = [n for n in names if n not in probes]
    if unknown:
        parser.error(f"unknown probe(s) {unknown}; choose from {list(probes)}")
    target = gp.Target(repo, package_of(args.python, env))
    restore = []
    if args.destructive:
        if repo == ROOT or ROOT.is_relative_to(repo) or not target.package.is_relative_to(repo):
            parser.error(f"--destructive needs a throwaway --repo holding the graded package; the grader imports "
                         f"{target.package}, --repo is {repo}")
        restore = gp.tamper_targets(target)
    flags = gp.grader_flags(args.python, env)

    lines = [f"Grader probes on commit {commit_of(repo)} of {repo}, run {datetime.date.today().isoformat()}.",
             f"Grader: `{args.python} -m tempguide.homework` importing {target.package}"
             + (f" with {' '.join(args.env)}" if args.env else "") + f"; cores={os.cpu_count()}.", ""]
    rows, notes = run_probes(names, probes, target, args.python, env, flags, restore)
    lines += table(["probe", "score", "exit", "verdict", "seconds"], rows)
    lines += ["", "Probes:"] + [f"- `{n}`: {probes[n].description}" for n in names]
    if notes:
        lines += ["", "Notes:"] + [f"- {n}" for n in notes]
    over = False
    if not args.no_timing:
        timed = timing(repo, args.python, env, args.repeat)
        over = any(r[-1] != "ok" for r in timed)
        lines += ["", f"Grading time with --hidden ({args.repeat} runs each, budget < {BUDGET_S:g} s):", ""]
        lines += table(["submission", "score", "median s", "max s", "verdict"], timed)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(text, encoding="utf-8")
    return 1 if over or any(r[3] != "ok" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
