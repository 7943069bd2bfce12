"""Bounded shutdown: ``rt.close(1.0)`` while the radio hangs in an operation.

The scripted backend never completes a connect, a disconnect or a write, either
cancellably or swallowing every cancellation (a wedged driver). Each trial is a fresh
runtime with one device: the hanging operation is started and has reached the backend
before ``close(1.0)`` is timed. The baseline is the same close with a healthy radio.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import time
from collections.abc import Iterator

from bench.common import Figure, distribution, median, new_runtime, percentile
from bench.scripted import WRITE, Hang, Hub, address_of

BOUND = 1.0
OPERATIONS = ("connect", "disconnect", "write")
_WAIT = 10.0


def _trial(radio: str, operation: str | None, hang: Hang) -> tuple[float, bool]:
    """Seconds ``close(BOUND)`` took, and whether it reported a clean close."""
    hub = Hub()
    peripheral = hub.add(address_of(1), hang_in=operation, hang=hang)
    rt = new_runtime(radio, backend=hub.backend).start()
    dev = rt.async_device(peripheral.address)
    pending: concurrent.futures.Future[None] | None = None
    if operation == "connect":
        pending = asyncio.run_coroutine_threadsafe(dev.connect(timeout=30), rt.loop)
    else:
        asyncio.run_coroutine_threadsafe(dev.connect(timeout=_WAIT), rt.loop).result(_WAIT)
        if operation == "write":
            pending = asyncio.run_coroutine_threadsafe(
                dev.write(WRITE, b"\x01", timeout=30), rt.loop
            )
    if operation in ("connect", "write") and not peripheral.hung.wait(_WAIT):
        raise TimeoutError(f"the {operation} never reached the backend")
    started = time.perf_counter()
    report = rt.close(timeout=BOUND)
    elapsed = time.perf_counter() - started
    if operation == "disconnect" and not peripheral.hung.is_set():
        raise RuntimeError("close() never called the backend's disconnect")
    if pending is not None:
        # The interrupted call ends with an error (RuntimeClosed) or never: either is fine.
        with contextlib.suppress(Exception):
            pending.result(0)
    return elapsed, report.clean


@contextlib.contextmanager
def _quiet_leftovers() -> Iterator[None]:
    """Abandoned stubborn operations make asyncio and blerun log at shutdown, by design."""
    loggers = [logging.getLogger(name) for name in ("asyncio", "blerun")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def close_hung(radio: str, quick: bool) -> Figure:
    per_mode = 2 if quick else 55  # 6 modes: 330 trials in all
    modes = list(itertools.product(OPERATIONS, Hang))
    times: dict[str, list[float]] = {f"{op}/{hang.value}": [] for op, hang in modes}
    healthy: list[float] = []
    unclean = 0
    with _quiet_leftovers():
        _trial(radio, None, Hang.CANCELLABLE)  # warm-up
        for _ in range(per_mode):
            for operation, hang in modes:
                elapsed, _clean = _trial(radio, operation, hang)
                times[f"{operation}/{hang.value}"].append(elapsed)
            elapsed, clean = _trial(radio, None, Hang.CANCELLABLE)
            healthy.append(elapsed)
            unclean += not clean
    pooled = [t for mode in times.values() for t in mode]
    within = sum(t <= BOUND for t in pooled) / len(pooled)
    worst = max(pooled)
    return Figure(
        name="close_radio_hung",
        title=f"close({BOUND:g}), radio hung in connect/disconnect/write, {len(pooled)} trials",
        unit="% within bound",
        blerun=100 * within,
        baselines={"healthy radio": 100 * sum(t <= BOUND for t in healthy) / len(healthy)},
        ratio=None,
        ratio_to="healthy radio",
        goal="keep (100% <= 1 s)",
        met=within == 1.0,
        radio=radio,
        note=f"worst {worst:.2f} s, p99 {percentile(pooled, 0.99):.2f} s",
        details={
            "trials": len(pooled),
            "worst_s": worst,
            "p99_s": percentile(pooled, 0.99),
            "median_s": median(pooled),
            "healthy_median_s": median(healthy),
            "healthy_worst_s": max(healthy),
            "healthy_unclean": unclean,
            "worst_s_per_mode": {mode: max(v) for mode, v in times.items()},
            "median_s_per_mode": {mode: median(v) for mode, v in times.items()},
            "cdf_s": {"hung radio": distribution(pooled)},
        },
    )
