"""Soak: thousands of connect / drop / reconnect cycles in one process, then what is left.

One runtime keeps a heart-rate monitor on ``blerun.sim`` connected and subscribed while
the peripheral drops the link, cycle after cycle (every tenth cycle the user also
disconnects and connects again). A cycle ends when the device is CONNECTED again, the
peripheral has exactly one subscription, and a notification of the new session arrived.
Then the runtime closes and the soak reports, against the counts taken before the
runtime started: threads, open file descriptors, tasks on the event loop, blerun
objects still alive, pykka actors, links and subscriptions left on the peripheral, and
the growth of resident memory between the end of the warm-up and the end of the run.

    python -m bench.soak                  # 10,000 cycles (several minutes)
    python -m bench.soak --cycles 50 --json

Exit status 0 when every figure is within its bound (threads, descriptors, tasks,
objects, actors, links and subscriptions back to their start; RSS growth under 10 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pykka

from blerun.actors import ConnectionState, Device, Notification, ReconnectPolicy, Runtime
from blerun.sim import HEART_RATE_MEASUREMENT, Peripheral, VirtualAir, heart_rate_monitor

RSS_BOUND = 10 * 1024 * 1024
"""Resident memory may grow this much over the run (after the warm-up)."""

WARMUP = 100
"""Cycles before the memory baseline is taken (allocator pools, caches, imports)."""

S = ConnectionState


def _rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return -1


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _blerun_objects() -> int:
    gc.collect()
    return sum(
        1
        for obj in gc.get_objects()
        if type(obj).__module__.startswith("blerun.actors") and not isinstance(obj, type)
    )


class _Stream:
    """The subscriber: counts notifications per session, wakes the soak on each."""

    def __init__(self) -> None:
        self.sessions: dict[int, int] = {}
        self.cond = threading.Condition()

    def __call__(self, note: Notification) -> None:
        with self.cond:
            self.sessions[note.session] = self.sessions.get(note.session, 0) + 1
            self.cond.notify_all()


def _newer(dev: Device, version: int) -> bool:
    return dev.state_version > version


def _flowing(stream: _Stream, session: int) -> bool:
    return stream.sessions.get(session, 0) > 0


def _wait(cond: threading.Condition, ready: Callable[[], bool], what: str) -> None:
    with cond:
        if not cond.wait_for(ready, 10.0):
            raise RuntimeError(f"soak stalled: {what}")


def soak(cycles: int, *, progress: bool = False) -> dict[str, Any]:
    """Run the soak; returns its figures (see the module docstring)."""
    air = VirtualAir.start()
    hr = air.add_peripheral(heart_rate_monitor(name="HR-soak", rate_hz=50.0))
    before = {
        "threads": threading.active_count(),
        "fds": _fds(),
        "tasks": len(asyncio.all_tasks(air.loop)),
        "objects": _blerun_objects(),
        "actors": len(pykka.ActorRegistry.get_all()),
    }
    run = _drive(air, hr, cycles, progress=progress)
    hr.wait_until(lambda c: c.active_subscriptions == 0 and c.connects == c.disconnects)
    after_counters = hr.counters()
    tasks_after = len(asyncio.all_tasks(air.loop))
    objects_after = _blerun_objects()
    actors_after = len(pykka.ActorRegistry.get_all())
    threads_after = _settled_threads(before["threads"])
    fds_after = _fds()
    air.close(timeout=5.0)
    elapsed = run["seconds"]
    return {
        "cycles": cycles,
        "seconds": round(elapsed, 1),
        "cycles_per_second": round(cycles / elapsed, 1) if elapsed else None,
        "links_made": run["links"],
        "notifications_sent": run["sent"],
        "notifications_delivered": run["delivered"],
        "close_clean": run["clean"],
        "threads": [before["threads"], threads_after],
        "open_fds": [before["fds"], fds_after],
        "loop_tasks": [before["tasks"], tasks_after],
        "blerun_objects_alive": [before["objects"], objects_after],
        "pykka_actors": [before["actors"], actors_after],
        "peripheral_links_after_close": after_counters.connects - after_counters.disconnects,
        "peripheral_subscriptions_after_close": after_counters.active_subscriptions,
        "rss_growth_bytes": run["rss_end"] - run["rss_warm"],
        "rss_mib": [round(run["rss_warm"] / 2**20, 1), round(run["rss_end"] / 2**20, 1)],
    }


def _drive(air: VirtualAir, hr: Peripheral, cycles: int, *, progress: bool) -> dict[str, Any]:
    """The cycles, from the runtime's start to its close; nothing of it outlives this call."""
    policy = ReconnectPolicy(initial=0.0, cap=0.01, jitter=0.0, attempt_timeout=5.0)
    rt = Runtime(loop=air.loop, backend=air.client_backend, policy=policy).start()
    dev = rt.device(hr.address)
    stream = _Stream()
    states = threading.Condition()
    dev.on_state_change(lambda _event: _notify(states))
    dev.subscribe(HEART_RATE_MEASUREMENT, stream)
    dev.connect(timeout=10)
    started = time.perf_counter()
    rss_warm = _rss()
    for cycle in range(1, cycles + 1):
        session = dev.state_version
        if cycle % 10 == 0:
            dev.disconnect(timeout=5)
            dev.connect(timeout=10)
        else:
            hr.drop_link()
            _wait(states, partial(_newer, dev, session), "no reaction to the drop")
            _wait(states, lambda: dev.state is S.CONNECTED, "not reconnected")
        version = dev.state_version
        _wait(stream.cond, partial(_flowing, stream, version), "stream stopped")
        if cycle == WARMUP:
            rss_warm = _rss()
        if progress and cycle % 500 == 0:
            rate = cycle / (time.perf_counter() - started)
            print(f"{cycle} cycles, {rate:.1f}/s, RSS {_rss() / 2**20:.1f} MiB", flush=True)
    elapsed = time.perf_counter() - started
    counters = hr.counters()
    rss_end = _rss()
    clean = rt.close(timeout=5.0).clean
    return {
        "seconds": elapsed,
        "links": counters.connects,
        "sent": counters.notifications_sent,
        "delivered": sum(stream.sessions.values()),
        "clean": clean,
        "rss_warm": rss_warm,
        "rss_end": rss_end,
    }


def _notify(cond: threading.Condition) -> None:
    with cond:
        cond.notify_all()


def _settled_threads(expected: int) -> int:
    """The thread count once threads that are finishing have finished (bounded)."""
    deadline = time.perf_counter() + 5.0
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and threading.active_count() > expected:
            thread.join(max(0.0, deadline - time.perf_counter()))
    return threading.active_count()


def within_bounds(figures: dict[str, Any]) -> list[str]:
    """The figures that are out of their bound (empty: the soak passed)."""
    problems = []
    for key in ("threads", "open_fds", "loop_tasks", "blerun_objects_alive", "pykka_actors"):
        start, end = figures[key]
        if end > start:
            problems.append(f"{key}: {start} before, {end} after close")
    for key in ("peripheral_links_after_close", "peripheral_subscriptions_after_close"):
        if figures[key]:
            problems.append(f"{key}: {figures[key]}")
    if figures["rss_growth_bytes"] > RSS_BOUND:
        problems.append(f"RSS grew {figures['rss_growth_bytes'] / 2**20:.1f} MiB")
    if not figures["close_clean"]:
        problems.append("close() was not clean")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--cycles", type=int, default=10_000, help="default 10,000")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = soak(args.cycles, progress=not args.json)
    problems = within_bounds(figures)
    if args.json:
        print(json.dumps({**figures, "problems": problems}))
    else:
        width = max(len(k) for k in figures)
        for key, value in figures.items():
            print(f"{key:<{width}}  {value}")
        print("within bounds" if not problems else "OUT OF BOUNDS: " + "; ".join(problems))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
