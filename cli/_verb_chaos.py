"""``blerun chaos``: the chaos campaign of ``blerun.testing``, from the command line.

The campaign prints its own table (or JSON); this verb only maps the command line onto
it, so ``blerun chaos`` and ``python -m blerun.testing`` cannot drift apart.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator

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
        with _logs_only_when_verbose(args.verbose):
            status = chaos_main(argv, out=sys.stdout)
    except BrokenPipeError:  # | head: the reader went away
        raise OutputClosed from None
    return ExitCode.OK if status == 0 else ExitCode.FAILED


@contextlib.contextmanager
def _logs_only_when_verbose(verbosity: int) -> Iterator[None]:
    """Silence the command's log handlers for the campaign, unless ``-v`` was given.

    Every fault the campaign provokes is logged (a link dropped, an actor or a radio host
    killed): a thousand lines of expected warnings on stderr. The invariant checker judges
    the errors it did not provoke through a handler of its own, which this leaves alone.
    """
    if verbosity > 0:
        yield
        return
    handlers = logging.getLogger().handlers[:]
    levels = [handler.level for handler in handlers]
    for handler in handlers:
        handler.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for handler, level in zip(handlers, levels, strict=True):
            handler.setLevel(level)
