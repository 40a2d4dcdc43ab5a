"""``python -m tempguide.homework``: make student versions and grade submissions (book: "Homework").

    python -m tempguide.homework student SOLUTION.ipynb STUDENT.ipynb [--force]
    python -m tempguide.homework grade NOTEBOOK.ipynb [--hidden] [--solutions DIR | --solution FILE]
                                       [--timeout SECONDS] [--total-timeout SECONDS] [--memory-mb MB]
                                       [--output PATH]
    python -m tempguide.homework book-config _config.yml STUDENT_CONFIG.yml   (used by make book-student)

``student`` exits 2 with the cell index on bad markers, 1 if STUDENT exists and
differs (without ``--force``).  ``grade`` prints exactly one JSON object on stdout
and exits 0 whatever the submission does (problems are listed in ``"errors"``);
it exits 2 when the notebook or, with ``--hidden``, its solution is missing.  The
report is written by this process after the kernel is dead; nothing else this
process (or the kernel) prints can reach stdout, which is redirected to
``/dev/null`` for the whole run; ``--output`` also writes it to a file.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from .book import student_config
from .grader import grade, report
from . import sandbox
from .markers import MarkerError
from .remote import IsolationError
from .student import write_student


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tempguide.homework", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    s = commands.add_parser("student", help="write the student version of a solution notebook")
    s.add_argument("solution", help="the solution notebook (with markers)")
    s.add_argument("student", help="where to write the student version")
    s.add_argument("--force", action="store_true", help="overwrite STUDENT even if it differs")
    g = commands.add_parser("grade", help="execute a submission in a temporary copy and print a JSON score")
    g.add_argument("notebook", help="the submitted notebook (never modified)")
    g.add_argument("--hidden", action="store_true",
                   help="use the solution notebook's test cells, hidden tests included")
    g.add_argument("--solutions", metavar="DIR", default=None,
                   help="folder of solution notebooks <assignment id>.ipynb (default: "
                        "notebooks/homework/solutions of the checkout)")
    g.add_argument("--solution", metavar="FILE", default=None, help="the solution notebook itself")
    g.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="time limit for each cell and each call of the submission's functions (default 60)")
    g.add_argument("--total-timeout", type=float, default=900.0, metavar="SECONDS",
                   help="time limit for the whole grading (default 900)")
    g.add_argument("--memory-mb", type=int, default=8192, metavar="MB",
                   help="the kernel's address-space limit in MB (default 8192; 0 = none)")
    g.add_argument("--output", metavar="PATH", default=None,
                   help="also write the report to PATH (replaced atomically, after the kernel is dead)")
    b = commands.add_parser("book-config", help="write _config.yml with hide_solutions: true (student edition)")
    b.add_argument("source", help="the book's _config.yml")
    b.add_argument("target", help="where to write the student edition's configuration")
    args = parser.parse_args(argv)

    if args.command == "book-config":
        student_config(args.source, args.target)
        return 0

    if args.command == "student":
        try:
            changed = write_student(args.solution, args.student, force=args.force)
        except MarkerError as e:
            print(f"error: {args.solution}: {e}", file=sys.stderr)
            return 2
        except FileExistsError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        except (OSError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"{'wrote' if changed else 'unchanged'}: {args.student}", file=sys.stderr)
        return 0

    for flag, value in (("--timeout", args.timeout), ("--total-timeout", args.total_timeout)):
        if not value > 0:
            parser.error(f"{flag} must be > 0 seconds, got {value}")
    if not (args.memory_mb == 0 or args.memory_mb >= 256):
        parser.error(f"--memory-mb must be 0 (no limit) or >= 256, got {args.memory_mb}")
    if (args.solution or args.solutions) and not args.hidden:
        parser.error("--solution/--solutions only make sense with --hidden")
    os.environ.setdefault("MPLBACKEND", "Agg")  # this process only: the solution's plt.show() draws nothing
    stdout = _private_stdout()
    try:
        result = grade(args.notebook, hidden=args.hidden, solution=args.solution, solutions=args.solutions,
                       timeout=args.timeout, total_timeout=args.total_timeout, memory_mb=args.memory_mb or None)
    except (FileNotFoundError, MarkerError, IsolationError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - a bug of the grader still ends in a report, never a forged one
        result = report([], [f"the grader failed: {type(e).__name__}: {str(e)[:500]} (please report it)"],
                        mode="not run")
    text = json.dumps(result, ensure_ascii=False) + "\n"
    if args.output:
        _write_atomically(Path(args.output), text)
    stdout.write(text)
    stdout.flush()
    return 0


def _private_stdout():
    """The real stdout for the report alone; fd 1 and ``sys.stdout`` point to /dev/null from here on."""
    report = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdout = open(os.devnull, "w")
    sandbox.prctl(sandbox.PR_SET_DUMPABLE, 0)  # same-user processes cannot open /proc/<grader>/fd or ptrace it
    for sig in (signal.SIGTERM, signal.SIGHUP):  # a same-user kernel could send these; the deadline bounds the run
        signal.signal(sig, signal.SIG_IGN)
    return report


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
