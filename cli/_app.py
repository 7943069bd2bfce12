"""``main()``: parse, run one verb, and turn whatever ends it into one exit code.

Errors are one line on stderr (``blerun: ErrorClass: message``), never a traceback,
except for a bug in the command itself. Ctrl-C unwinds through the verb's bounded
shutdown (a second Ctrl-C meanwhile is ignored, so it cannot cut that shutdown short)
and exits 130.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType

from blerun.actors.errors import BleRuntimeError
from blerun.cli import (
    _logs,
    _verb_chaos,
    _verb_monitor,
    _verb_read,
    _verb_scan,
    _verb_services,
    _verb_write,
)
from blerun.cli._exit import ExitCode, exit_code_for, one_line
from blerun.cli._output import Output, OutputClosed
from blerun.cli._parse import build_parser
from blerun.cli._session import CommandError, sim_required

Verb = Callable[[argparse.Namespace, Output], ExitCode]


def _demo(args: argparse.Namespace, output: Output) -> ExitCode:
    with sim_required():  # the demo runs on emulated devices: loaded on use
        from blerun.cli import _verb_demo  # noqa: PLC0415

    return _verb_demo.run(args, output)


_VERBS: dict[str, Verb] = {
    "scan": _verb_scan.run,
    "services": _verb_services.run,
    "read": _verb_read.run,
    "write": _verb_write.run,
    "monitor": _verb_monitor.run,
    "demo": _demo,
    "chaos": _verb_chaos.run,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``blerun`` command line; returns the exit status.

    Args:
        argv: The arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        0 on success; see ``ExitCode`` (and ``blerun --help``) for the others.
    """
    with _interruptible():
        try:
            args = build_parser().parse_args(argv)
            with _logs.configured(args.verbose, as_json=args.json):
                return int(_VERBS[args.verb](args, Output(json_mode=args.json)))
        except KeyboardInterrupt:
            return ExitCode.INTERRUPTED
        except OutputClosed:
            _discard_stdout()
            return ExitCode.OUTPUT_CLOSED
        except CommandError as exc:
            _complain(str(exc))
            return exc.code
        except BleRuntimeError as exc:
            _complain(one_line(exc))
            return exit_code_for(exc)
        except SystemExit as exc:  # argparse: --help (0) or bad arguments (2)
            return exc.code if isinstance(exc.code, int) else ExitCode.USAGE


def _complain(text: str) -> None:
    with contextlib.suppress(OSError):
        sys.stderr.write(f"blerun: {' '.join(text.split())}\n")
        sys.stderr.flush()


def _discard_stdout() -> None:
    # The reader is gone: the interpreter's last flush of stdout at exit would raise
    # BrokenPipeError again, so what is left goes nowhere instead.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """The first Ctrl-C raises KeyboardInterrupt; later ones are ignored while it unwinds."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def first(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
