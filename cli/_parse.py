"""The command line's grammar: verbs, options, and argument types that check their input.

argparse (the standard library) rather than click: the grammar is six verbs with plain
options, argparse already exits with status 2 on bad arguments, and the command ships
with the base package, where every dependency counts.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from blerun.cli._exit import ExitCode
from blerun.gatt import InvalidUUIDValue, normalize_uuid
from blerun.testing._cli import add_campaign_arguments

PROFILES = ("heart-rate", "uart", "sensor")
"""Emulated peripherals ``--sim`` can put at ADDRESS."""

_EPILOG = """\
exit status: 0 done; 1 the link or the device failed (or the demo lost data, or a
chaos run broke an invariant); 2 bad arguments; 3 device or characteristic not found;
4 could not connect in time, or gave up; 5 an operation timed out; 6 no Bluetooth to
use (no stack or adapter, adapter off, permission denied); 130 interrupted (Ctrl-C);
141 output closed (| head).

Every verb that talks to a device takes --sim: the device at ADDRESS is then an emulated
one (no hardware needed; pip install "blerun[sim]"), so the same command line works on
hardware without --sim.
"""


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, never a usage block or a traceback."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def uuid(text: str) -> str:
    """A characteristic or service UUID argument, normalized."""
    try:
        return normalize_uuid(text)
    except InvalidUUIDValue as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def payload(text: str) -> bytes:
    """Hex bytes: ``01ff``, ``01 ff``, ``01:ff`` or ``0x01ff``."""
    digits = text.strip().removeprefix("0x").removeprefix("0X")
    for separator in (" ", ":", "-"):
        digits = digits.replace(separator, "")
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not hex bytes (like 01ff, '01 ff' or 01:ff)"
        ) from None


def seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number of seconds")
    return value


def positive(text: str) -> int:
    """A positive whole number."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``blerun`` command's parser."""
    parser = _Parser(
        prog="blerun",
        description="Talk to Bluetooth Low Energy devices through the blerun runtime.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser, suppress=False)
    verbs = parser.add_subparsers(
        dest="verb", metavar="COMMAND", required=True, parser_class=_Parser
    )

    scan = _verb(verbs, "scan", "list the devices advertising nearby")
    scan.add_argument("--timeout", type=seconds, default=5.0, help="scan window (default 5 s)")
    scan.add_argument("--name", help="only devices advertising exactly this name")
    scan.add_argument("--address", help="only the device with this address")
    scan.add_argument("--service", type=uuid, help="only devices advertising this service")
    scan.add_argument("--adapter", help="the adapter to scan with (BlueZ: hci0, hci1...)")
    scan.add_argument(
        "--sim", action="store_true", help="scan emulated devices (a heart-rate, UART, sensor)"
    )

    services = _verb(verbs, "services", "connect and list services and characteristics")
    _device_arguments(services)

    read = _verb(verbs, "read", "read a characteristic")
    _device_arguments(read)
    read.add_argument("uuid", metavar="UUID", type=uuid, help="characteristic (2a38, or 128-bit)")
    read.add_argument("--format", choices=("hex", "utf8"), default="hex", help="value as")

    write = _verb(verbs, "write", "write a characteristic")
    _device_arguments(write)
    write.add_argument("uuid", metavar="UUID", type=uuid, help="characteristic (2a39, or 128-bit)")
    write.add_argument("data", metavar="HEX", type=payload, help="bytes to write, in hex")
    write.add_argument(
        "--no-response", action="store_true", help="write without response (unacknowledged)"
    )

    monitor = _verb(verbs, "monitor", "stream notifications; survives link loss")
    _device_arguments(monitor)
    monitor.add_argument(
        "--notify",
        metavar="UUID",
        type=uuid,
        action="append",
        required=True,
        help="characteristic to subscribe to (repeat for several)",
    )
    monitor.add_argument(
        "--format",
        choices=("hex", "utf8", "json"),
        default="hex",
        help="payloads as hex or text, or every line as JSON (same as --json)",
    )
    monitor.add_argument("--duration", type=seconds, help="stop after this many seconds")
    monitor.add_argument("--count", type=positive, help="stop after this many notifications")
    monitor.add_argument(
        "--sim-drop-every",
        metavar="N",
        type=positive,
        help="with --sim: the emulated device drops the link after every N notifications",
    )

    demo = _verb(verbs, "demo", "emulated devices, a hostile radio, and a runtime that copes")
    demo.add_argument(
        "--duration", type=seconds, default=10.0, help="seconds of faults (default 10)"
    )
    demo.add_argument("--devices", type=positive, default=3, help="emulated devices (default 3)")
    demo.add_argument("--seed", type=int, help="seed for the fault schedule and the jitter")

    chaos = _verb(verbs, "chaos", "random fault scenarios, each judged by the invariant checker")
    add_campaign_arguments(chaos, runs=positive)
    return parser


def _verb(
    verbs: argparse._SubParsersAction[_Parser], name: str, summary: str
) -> argparse.ArgumentParser:
    parser = verbs.add_parser(name, help=summary, description=summary + ".")
    _common(parser, suppress=True)
    return parser


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # Accepted before and after the verb; a verb's copy must not reset what was given
    # before it, hence SUPPRESS as its default.
    default: object = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="machine-readable output (one JSON document, or JSON lines when streaming)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default if suppress else 0,
        help="structured logs on stderr (-v: info, -vv: debug)",
    )


def _device_arguments(parser: argparse.ArgumentParser) -> None:
    # Addresses are checked by the runtime itself (rt.device, rt.scan), so the command
    # refuses exactly what the library refuses, with the same message.
    parser.add_argument("address", metavar="ADDRESS", help="the device (AA:BB:CC:DD:EE:FF)")
    parser.add_argument(
        "--timeout", type=seconds, default=10.0, help="connect and operation bound (default 10 s)"
    )
    parser.add_argument(
        "--sim", action="store_true", help="emulate the device at ADDRESS (no hardware needed)"
    )
    parser.add_argument(
        "--sim-profile",
        choices=PROFILES,
        default="heart-rate",
        help="what --sim emulates (default heart-rate)",
    )
