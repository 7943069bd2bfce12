"""What every figure shares: the runtime factory, gauges, loops, samples, results.

Gauges are the process's own: CPU is ``time.process_time()`` (every thread of the
process), RSS is ``/proc/self/statm``, threads are ``threading.active_count()``.
Latencies are ``time.perf_counter()`` differences.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.metadata
import math
import multiprocessing
import os
import platform
import statistics
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Coroutine, Sequence
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Self, TypeVar

from blerun.actors import Runtime

T = TypeVar("T")

# --- where the radio runs ------------------------------------------------------------

RADIOS = ("inprocess", "process")
"""Every radio mode a figure can be asked for (``--radio``)."""

AVAILABLE_RADIOS = ("inprocess", "process")
"""The modes this build of blerun has. Process mode (the radio, its loop and bleak in a
child process) is added by giving ``Runtime`` its ``radio=`` option in ``new_runtime``
and listing it here."""


def new_runtime(radio: str, **options: Any) -> Runtime:
    """The one place figures build a ``Runtime``: ``radio`` says where its radio runs."""
    if radio not in AVAILABLE_RADIOS:
        raise ValueError(f"radio mode {radio!r} is not available in this build of blerun")
    # In process mode the radios and bleak run in a radio host process (the sim's backend
    # pickles and reaches the same air from there); a loop passed here still runs the
    # runtime's own actors.
    return Runtime(radio=radio, **options)  # type: ignore[arg-type]


def close_cleanly(rt: Runtime, timeout: float = 10.0) -> None:
    """Close ``rt``; a figure whose runtime does not close cleanly is not a result."""
    report = rt.close(timeout=timeout)
    if not report.clean:
        raise RuntimeError(f"the runtime did not close cleanly: {report}")


# --- gauges --------------------------------------------------------------------------


def rss_kib() -> float:
    """Resident set size of this process, KiB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1024


def cpu_seconds() -> float:
    """CPU time of this process (all threads, user + system), seconds."""
    return time.process_time()


def threads() -> int:
    """Python threads alive in this process."""
    return threading.active_count()


@dataclasses.dataclass(frozen=True, slots=True)
class Mark:
    """Wall clock, process CPU and a delivery count at one instant."""

    wall: float
    cpu: float
    count: int

    @classmethod
    def now(cls, count: int) -> Mark:
        return cls(time.perf_counter(), cpu_seconds(), count)


# --- statistics ----------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 < q <= 1) of ``values``."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def distribution(values: Sequence[float], points: int = 400) -> list[float]:
    """At most ``points`` order statistics of ``values``, evenly spaced in rank, for a CDF.

    The last one is always the maximum, so the tail shows.
    """
    ordered = sorted(values)
    if len(ordered) <= points:
        return ordered
    step = (len(ordered) - 1) / (points - 1)
    return [ordered[round(i * step)] for i in range(points)]


# --- what user code sees -------------------------------------------------------------

_STAMP = struct.Struct("<dQ")
PAYLOAD_SIZE = 20
"""Bytes per notification the bench produces (a typical BLE sensor value)."""


def stamp(seq: int) -> bytearray:
    """A payload carrying the ``perf_counter()`` of now and a sequence number."""
    payload = bytearray(PAYLOAD_SIZE)
    _STAMP.pack_into(payload, 0, time.perf_counter(), seq)
    return payload


def read_stamp(data: bytes | bytearray) -> tuple[float, int]:
    """(production time, sequence number) of a payload made by ``stamp``."""
    produced, seq = _STAMP.unpack_from(data)
    return produced, seq


class Sink:
    """The user function of a figure: counts what arrives, and when.

    Thread-safe: the runtime may call it from any thread. With ``stamped``, each payload
    carries the ``perf_counter()`` at which the bench produced it (``stamp``), and the
    latency of every arrival with a sequence number of at least ``record_from`` is kept.
    """

    def __init__(
        self, *, stamped: bool = False, record_from: int = 0, keep_times: bool = False
    ) -> None:
        self.count = 0
        """Arrivals so far."""
        self.last_at = 0.0
        """``perf_counter()`` of the latest arrival."""
        self.latencies: list[float] = []
        """Seconds from production to arrival (``stamped`` only)."""
        self.times: list[float] | None = [] if keep_times else None
        """``perf_counter()`` of every arrival (``keep_times`` only)."""
        self._stamped = stamped
        self._record_from = record_from
        self._changed = threading.Condition()
        self._wanted: int | None = None

    def __call__(self, data: bytes | bytearray) -> None:
        now = time.perf_counter()
        if self._stamped:
            produced, seq = read_stamp(data)
        with self._changed:
            self.count += 1
            self.last_at = now
            if self.times is not None:
                self.times.append(now)
            if self._stamped and seq >= self._record_from:
                self.latencies.append(now - produced)
            if self._wanted is not None and self.count >= self._wanted:
                self._changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` arrivals; False after ``timeout`` seconds."""
        with self._changed:
            self._wanted = count
            try:
                return self._changed.wait_for(lambda: self.count >= count, timeout)
            finally:
                self._wanted = None

    def settle(self, expect: int, *, quiet: float = 1.0, bound: float = 60.0) -> int:
        """Wait until ``expect`` arrivals, or until none came for ``quiet`` seconds
        (the rest was lost), at most ``bound`` seconds in all. Returns the count.
        """
        deadline = time.perf_counter() + bound
        seen = -1
        while not self.wait_for(expect, quiet) and time.perf_counter() < deadline:
            if self.count == seen:
                break
            seen = self.count
        return self.count


# --- loops and processes -------------------------------------------------------------


class LoopThread:
    """An event loop on a daemon thread: where raw-bleak baselines run their bleak,
    as the runtime runs it on a loop thread of its own."""

    def __init__(self, name: str = "bench-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self, timeout: float = 5.0) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _child(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        conn.send(("ok", fn(*args)))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def in_fresh_process(fn: Callable[..., T], *args: Any, timeout: float) -> T:
    """Run ``fn(*args)`` in a new interpreter (spawned) and return its result.

    For figures about memory and threads: a fresh process has no arenas freed by an
    earlier measurement for the next one to reuse, and no leftover threads.
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, fn, args), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise TimeoutError(f"{fn.__name__} did not finish within {timeout} s")
        try:
            status, value = receiver.recv()
        except EOFError:
            process.join(5.0)
            status, value = "error", f"the process ended with exit code {process.exitcode}"
    finally:
        receiver.close()
        if process.is_alive():
            process.join(5.0)
        if process.is_alive():
            process.kill()
            process.join()
    if status != "ok":
        raise RuntimeError(f"{fn.__name__} failed in its process:\n{value}")
    return value  # type: ignore[no-any-return]


# --- results -------------------------------------------------------------------------


@dataclasses.dataclass(kw_only=True)
class Figure:
    """One row of the table: blerun's number, its baselines from the same run, the goal."""

    name: str
    """Stable key (``--only NAME``)."""
    title: str
    """The row, as the issue names it."""
    unit: str
    blerun: float
    baselines: dict[str, float]
    """Each baseline's number, measured in the same run."""
    ratio: float | None
    """Median over repetitions of blerun / ``ratio_to`` (None when that baseline is 0)."""
    ratio_to: str
    goal: str
    met: bool
    radio: str
    note: str = ""
    """Shown beside blerun's number in the table (e.g. the loss, the worst case)."""
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Repetitions, counts, secondary numbers and distributions (for the PNG)."""


def ratios(blerun: Sequence[float], baseline: Sequence[float]) -> float | None:
    """Median of per-repetition ratios; None if a baseline repetition is 0."""
    if any(b == 0 for b in baseline):
        return None
    return median([a / b for a, b in zip(blerun, baseline, strict=True)])


# --- the machine ---------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(distribution_name: str) -> str:
    try:
        return importlib.metadata.version(distribution_name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_mib": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "gil_switch_interval_s": sys.getswitchinterval(),
        "versions": {
            name: _version(name)
            for name in ("blerun", "bleak", "bumble", "pykka", "bleak-retry-connector")
        },
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
