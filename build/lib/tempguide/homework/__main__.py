"""``python -m tempguide.homework``: make student versions and grade submissions (book: "Homework").

    python -m tempguide.homework student SOLUTION.ipynb STUDENT.ipynb [--force]
    python -m tempguide.homework grade NOTEBOOK.ipynb [--hidden] [--solutions DIR | --solution FILE]
                                       [--timeout SECONDS]
    python -m tempguide.homework book-config _config.yml STUDENT_CONFIG.yml   (used by make book-student)

``student`` exits 2 with the cell index on bad markers, 1 if STUDENT exists and
differs (without ``--force``).  ``grade`` prints one JSON object on stdout and
exits 0 whatever the submission does (an unreadable notebook adds an ``"error"``
key); it exits 2 when the notebook or, with ``--hidden``, its solution is missing.
"""
from __future__ import annotations

import argparse
import json
import sys

from .book import student_config
from .grader import grade
from .markers import MarkerError
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
                   help="time limit for each cell (default 60)")
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

    if args.timeout <= 0:
        parser.error(f"--timeout must be > 0 seconds, got {args.timeout}")
    if (args.solution or args.solutions) and not args.hidden:
        parser.error("--solution/--solutions only make sense with --hidden")
    try:
        result = grade(args.notebook, hidden=args.hidden, solution=args.solution,
                       solutions=args.solutions, timeout=args.timeout)
    except (FileNotFoundError, MarkerError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
