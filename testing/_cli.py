"""``python -m blerun.testing`` (and the ``blerun chaos`` verb): the chaos campaign."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ._chaos_run import RunResult


def add_campaign_arguments(
    parser: argparse.ArgumentParser, *, runs: Callable[[str], int] = int
) -> None:
    """The campaign's own options (``--runs --seed --radio --quiet``), for this module's
    parser and the ``blerun chaos`` verb alike; ``runs`` parses ``--runs``."""
    parser.add_argument("--runs", type=runs, default=50, help="scenarios to run (default 50)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first run (default 1)")
    parser.add_argument(
        "--radio",
        choices=("inprocess", "process", "both"),
        default="both",
        help="radio mode; 'both' runs one run in five in radio host processes",
    )
    parser.add_argument("--quiet", action="store_true", help="no line per passing run")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m blerun.testing",
        description="Random fault scenarios over blerun.sim, each checked by the invariant "
        "checker; prints a table, and the seed and plan of every failing run.",
    )
    add_campaign_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the sums as JSON")
    return parser


def chaos_main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the chaos campaign from command-line arguments.

    Args:
        argv: ``--runs N --seed S --radio inprocess|process|both [--json] [--quiet]``
            (default: ``sys.argv[1:]``).
        out: Where to print (default: standard output).

    Returns:
        0 when no run broke an invariant, 1 when one did, 2 for bad arguments.
    """
    stream = out if out is not None else sys.stdout
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.runs < 1:
        print("--runs must be >= 1", file=sys.stderr)
        return 2
    from ._campaign import replay_command, run_campaign  # noqa: PLC0415 -- needs the sim
    from ._table import format_table  # noqa: PLC0415

    def progress(index: int, result: RunResult) -> None:
        violations, scenario = result.violations, result.scenario
        if violations:
            print(
                f"run {index + 1}/{args.runs} seed {scenario.seed} ({scenario.radio}): "
                f"{len(violations)} violation(s); replay: {replay_command(scenario)}",
                file=stream,
                flush=True,
            )
        elif not args.quiet and not args.json:
            print(
                f"run {index + 1}/{args.runs} seed {scenario.seed} ({scenario.radio}): ok",
                file=stream,
                flush=True,
            )

    result = run_campaign(args.runs, args.seed, args.radio, on_run=progress)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2), file=stream)
    else:
        print(format_table(result), file=stream)
    return 0 if result.ok else 1
