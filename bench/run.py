"""The orchestrator: run the figures, write the outputs, print the table."""

from __future__ import annotations

import argparse
import datetime
import logging
import shlex
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import hosts, oversim, pipeline, report, scale, shutdown
from bench.common import AVAILABLE_RADIOS, RADIOS, Figure, load_average, machine

FigureFn = Callable[[str, bool], Figure]

FIGURES: dict[str, FigureFn] = {
    "pipeline_flat_out": pipeline.flat_out,
    "cpu_per_notification_10k": pipeline.cpu_per_notification,
    "latency_p99_10k": pipeline.latency_p99,
    "sim_notify_ratio": oversim.notify_ratio,
    "read_write_round_trip": oversim.read_write,
    "devices_threads": scale.device_threads,
    "devices_rss_per_device": scale.device_rss,
    "devices_cpu_at_1hz": scale.device_cpu,
    "devices_close": scale.device_close,
    "drop_to_first_notification": oversim.recovery,
    "close_radio_hung": shutdown.close_hung,
    "user_loop_heartbeat_p99": oversim.heartbeat,
    "sim_latency_p99": hosts.sim_latency,
    "host_freeze_recovery": hosts.freeze_recovery,
    "host_rss": hosts.host_rss,
    "close_host_frozen": hosts.close_frozen,
}
"""Every figure of the issue's table, in its order: name -> fn(radio, quick)."""

PROCESS_FIGURES = {
    "sim_notify_ratio",
    "read_write_round_trip",
    "drop_to_first_notification",
    "user_loop_heartbeat_p99",
    "sim_latency_p99",
}
"""The figures that also run with the radio in a host process: those over the emulator,
which the host reaches through the pickled backend. The others push notifications from a
scripted backend living on the runtime's loop, which a host process cannot share."""

HOST_FIGURES = {"host_freeze_recovery", "host_rss", "close_host_frozen"}
"""The figures of the radio host process itself: process mode only."""

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Every performance figure of blerun, each with its baselines from "
        "the same run.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="the same figures, smaller (about a minute)"
    )
    parser.add_argument("--only", choices=list(FIGURES), help="run this figure alone")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--radio",
        choices=[*RADIOS, "both"],
        default="inprocess",
        help="where blerun's radio runs (default inprocess)",
    )
    args = parser.parse_args(argv)
    radios = list(RADIOS) if args.radio == "both" else [args.radio]
    missing = [r for r in radios if r not in AVAILABLE_RADIOS]
    if missing:
        parser.error(
            f"radio mode {', '.join(missing)} is not available in this build of blerun "
            f"(available: {', '.join(AVAILABLE_RADIOS)})"
        )
    args.radios = radios
    return args


def _commit() -> str:
    """The checkout's commit, marked when the tracked files differ from it."""
    git = ["git", "-C", str(Path(__file__).resolve().parent)]
    try:
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} with uncommitted changes" if changed else head


def _log_to(path: Path) -> None:
    """Library warnings (e.g. an unclean close, on purpose) go to a file, not the table."""
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    _log_to(args.out / "bench.log")
    names = [args.only] if args.only else list(FIGURES)
    results: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)]),
        "commit": _commit(),
        "quick": args.quick,
        "radios": args.radios,
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average": {"start": load_average()},
        "errors": [],
    }
    figures: list[Figure] = []
    started = time.perf_counter()
    jobs = [
        (radio, name)
        for radio in args.radios
        for name in names
        if (radio == "inprocess" and name not in HOST_FIGURES)
        or (radio == "process" and name in PROCESS_FIGURES | HOST_FIGURES)
    ]
    for i, (radio, name) in enumerate(jobs, 1):
        print(f"[{i}/{len(jobs)}] {name} ({radio}) ...", end=" ", flush=True)
        began = time.perf_counter()
        try:
            figures.append(FIGURES[name](radio, args.quick))
        except Exception as exc:
            logging.getLogger("bench").error("%s (%s) failed", name, radio, exc_info=True)
            results["errors"].append(
                {"name": name, "radio": radio, "error": f"{type(exc).__name__}: {exc}"}
            )
            print("failed:", "".join(traceback.format_exception_only(exc)).strip())
            continue
        print(f"{time.perf_counter() - began:.1f} s")
    results["duration_s"] = time.perf_counter() - started
    results["load_average"]["end"] = load_average()
    report.write_json(args.out / "results.json", results, figures)
    markdown = report.markdown(results, figures)
    (args.out / "results.md").write_text(markdown)
    png = report.write_png(args.out / "results.png", figures)
    print()
    print(markdown)
    written = "results.json, results.md" + (", results.png" if png else "")
    print(f"wrote {written} and bench.log to {args.out}")
    return 1 if results["errors"] else 0
