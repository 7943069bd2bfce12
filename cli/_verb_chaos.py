"""``blerun chaos``: the chaos campaign of ``blerun.testing``, from the command line.

The campaign prints its own table (or JSON); this verb only maps the command line onto
it, so ``blerun chaos`` and ``python -m blerun.testing`` cannot drift apart.
"""

from __future__ import annotations

import argparse
import sys

from blerun.cli._exit import ExitCode
from blerun.cli._output import Output, OutputClosed
from blerun.cli._session import sim_required


def run(args: argparse.Namespace, output: Output) -> ExitCode:
    with sim_required():  # the campaign runs on emulated devices: loaded on use
        from blerun.testing import chaos_main  # noqa: PLC0415

    argv = ["--runs", str(args.runs), "--seed", str(args.seed), "--radio", args.radio]
    if output.json_mode:
        argv.append("--json")
    if args.quiet:
        argv.append("--quiet")
    try:
        status = chaos_main(argv, out=sys.stdout)
    except BrokenPipeError:  # | head: the reader went away
        raise OutputClosed from None
    return ExitCode.OK if status == 0 else ExitCode.FAILED
