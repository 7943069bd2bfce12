"""The notification path on the scripted backend (no radio): throughput, CPU, latency.

Three paths take the same notifications from the same backend to the same user
function (a ``Sink``):

* ``direct``: bleak's callback on the loop calls the user function (the floor);
* ``pykka``: bleak's callback ``tell``s one pykka ``ThreadingActor``, which calls the
  user function (the bare cost of one actor hop);
* ``blerun``: ``dev.subscribe(uuid, callback)`` through the runtime.

Each repetition measures the three in a rotating order; a warm-up repetition is
discarded; ratios are taken within a repetition.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from collections.abc import Callable, Iterator
from typing import Any

import pykka
from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic

from bench.common import (
    Figure,
    LoopThread,
    Mark,
    Sink,
    close_cleanly,
    distribution,
    median,
    new_runtime,
    percentile,
    ratios,
)
from bench.scripted import NOTIFY, Hub, ScriptedPeripheral, address_of, flood, paced

PATHS = ("direct", "pykka", "blerun")
_NAMES = {"direct": "direct callback", "pykka": "bare pykka hop", "blerun": "blerun"}


class _Hop(pykka.ThreadingActor):
    use_daemon_thread = True

    def __init__(self, fn: Callable[[Any], None]) -> None:
        super().__init__()
        self._fn = fn

    def on_receive(self, message: Any) -> None:
        self._fn(message)


@contextlib.contextmanager
def _raw(
    hub: Hub, peripheral: ScriptedPeripheral, sink: Sink, *, hop: bool
) -> Iterator[asyncio.AbstractEventLoop]:
    with LoopThread() as loop_thread:
        client = BleakClient(peripheral.address, backend=hub.backend)
        actor = _Hop.start(sink) if hop else None

        def on_value(_char: BleakGATTCharacteristic, data: bytearray) -> None:
            if actor is not None:
                actor.tell(bytes(data))
            else:
                sink(data)

        async def open_client() -> None:
            await client.connect()
            await client.start_notify(NOTIFY, on_value)

        loop_thread.run(open_client())
        try:
            yield loop_thread.loop
        finally:
            loop_thread.run(client.disconnect())
            if actor is not None:
                actor.stop(timeout=10)


@contextlib.contextmanager
def _blerun(
    radio: str, hub: Hub, peripheral: ScriptedPeripheral, sink: Sink, **options: Any
) -> Iterator[asyncio.AbstractEventLoop]:
    rt = new_runtime(radio, backend=hub.backend, **options).start()
    try:
        dev = rt.device(peripheral.address)
        dev.connect(timeout=10)
        dev.subscribe(NOTIFY, lambda note: sink(note.data), timeout=10)
        yield rt.loop
    finally:
        close_cleanly(rt)


@contextlib.contextmanager
def path(
    kind: str, radio: str, sink: Sink, **options: Any
) -> Iterator[tuple[asyncio.AbstractEventLoop, ScriptedPeripheral]]:
    """One subscribed notification path of ``kind``; yields (bleak's loop, the peripheral).

    ``options`` go to blerun's ``Runtime`` (the other paths take none).
    """
    hub = Hub()
    peripheral = hub.add(address_of(1))
    rig = (
        _blerun(radio, hub, peripheral, sink, **options)
        if kind == "blerun"
        else _raw(hub, peripheral, sink, hop=kind == "pykka")
    )
    with rig as loop:
        gc.collect()
        yield loop, peripheral


def _rotation(repetition: int) -> list[str]:
    shift = repetition % len(PATHS)
    return list(PATHS[shift:] + PATHS[:shift])


# --- flat out ------------------------------------------------------------------------


def _flood_once(kind: str, radio: str, count: int, **options: Any) -> tuple[float, int]:
    """Notifications/s from the first produced to the last delivered, and the loss."""
    sink = Sink()
    with path(kind, radio, sink, **options) as (loop, peripheral):
        started = asyncio.run_coroutine_threadsafe(flood(peripheral, count), loop).result(300)
        delivered = sink.settle(count, bound=300)
        rate = delivered / (sink.last_at - started) if delivered else 0.0
    return rate, count - delivered


def flat_out(radio: str, quick: bool) -> Figure:
    count = 30_000 if quick else 150_000
    repetitions = 2 if quick else 4
    rates: dict[str, list[float]] = {kind: [] for kind in PATHS}
    losses: dict[str, list[int]] = {kind: [] for kind in PATHS}
    for repetition in range(repetitions + 1):
        for kind in _rotation(repetition):
            rate, lost = _flood_once(kind, radio, count)
            if repetition:  # the first is a warm-up
                rates[kind].append(rate)
                losses[kind].append(lost)
    # The same flood with a callback backlog that holds it: the pipeline's capacity apart
    # from the backlog policy (with the default bound, a CPU-bound producer on the loop
    # starves the callback worker of the GIL, and the oldest notifications are dropped).
    roomy = [
        _flood_once("blerun", radio, count, callback_backlog=count) for _ in range(repetitions)
    ]
    blerun = median(rates["blerun"])
    loss = max(losses["blerun"])
    return Figure(
        name="pipeline_flat_out",
        title="pipeline flat out (scripted backend, no radio)",
        unit="notifications/s",
        blerun=blerun,
        baselines={_NAMES[k]: median(rates[k]) for k in ("direct", "pykka")},
        ratio=ratios(rates["blerun"], rates["direct"]),
        ratio_to=_NAMES["direct"],
        goal=">= 200k/s, 0 loss",
        met=blerun >= 200_000 and loss == 0,
        radio=radio,
        note=(
            f"{loss} lost; with callback_backlog={count:,}: "
            f"{median([r for r, _ in roomy]) / 1000:.0f}k/s, {max(n for _, n in roomy)} lost"
        ),
        details={
            "backlog_holding_the_burst": {
                "rates": [r for r, _ in roomy],
                "lost": [n for _, n in roomy],
            },
            "notifications_per_repetition": count,
            "lost": {k: losses[k] for k in PATHS},
            "rates": rates,
        },
    )


# --- at a fixed rate -----------------------------------------------------------------

RATE = 10_000.0


def _paced_once(kind: str, radio: str, warm: float, window: float) -> dict[str, Any]:
    record_from = int(warm * RATE)
    sink = Sink(stamped=True, record_from=record_from)
    seconds = warm + window
    with path(kind, radio, sink) as (loop, peripheral):
        pushing = paced(
            [peripheral], RATE, seconds, window=(warm, seconds), count=lambda: sink.count
        )
        start, end, sent = asyncio.run_coroutine_threadsafe(pushing, loop).result(seconds + 60)
        delivered = sink.settle(sent)
    measured: list[float] = sink.latencies
    return {
        "cpu_per_notification_s": _cpu_per(start, end),
        "sent": sent,
        "delivered": delivered,
        "latencies": measured,
    }


def _cpu_per(start: Mark, end: Mark) -> float:
    return (end.cpu - start.cpu) / max(1, end.count - start.count)


@functools.cache
def _at_rate(radio: str, quick: bool) -> dict[str, list[dict[str, Any]]]:
    warm, window = (0.3, 1.0) if quick else (0.5, 3.0)
    repetitions = 2 if quick else 4
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in PATHS}
    for repetition in range(repetitions + 1):
        for kind in _rotation(repetition):
            run = _paced_once(kind, radio, warm, window)
            if repetition:
                runs[kind].append(run)
    return runs


def cpu_per_notification(radio: str, quick: bool) -> Figure:
    runs = _at_rate(radio, quick)
    per = {k: [r["cpu_per_notification_s"] * 1e6 for r in runs[k]] for k in PATHS}
    added = {
        k: [a - d for a, d in zip(per[k], per["direct"], strict=True)] for k in ("pykka", "blerun")
    }
    blerun = median(added["blerun"])
    return Figure(
        name="cpu_per_notification_10k",
        title="added CPU per notification at 10k/s",
        unit="us",
        blerun=blerun,
        baselines={
            "bare pykka hop (added)": median(added["pykka"]),
            "direct callback (total, subtracted)": median(per["direct"]),
        },
        ratio=ratios(added["blerun"], added["pykka"]),
        ratio_to="bare pykka hop (added)",
        goal="<= 5 us",
        met=blerun <= 5.0,
        radio=radio,
        details={
            "rate_per_s": RATE,
            "total_us_per_notification": per,
            "delivered": {k: [r["delivered"] for r in runs[k]] for k in PATHS},
            "sent": {k: [r["sent"] for r in runs[k]] for k in PATHS},
        },
    )


def latency_p99(radio: str, quick: bool) -> Figure:
    runs = _at_rate(radio, quick)
    p99 = {k: [percentile(r["latencies"], 0.99) * 1e6 for r in runs[k]] for k in PATHS}
    p50 = {k: [percentile(r["latencies"], 0.50) * 1e6 for r in runs[k]] for k in PATHS}
    pooled = {k: [x * 1e6 for r in runs[k] for x in r["latencies"]] for k in PATHS}
    blerun = median(p99["blerun"])
    return Figure(
        name="latency_p99_10k",
        title="added latency p99 at 10k/s",
        unit="us",
        blerun=blerun,
        baselines={_NAMES[k]: median(p99[k]) for k in ("direct", "pykka")},
        ratio=ratios(p99["blerun"], p99["direct"]),
        ratio_to=_NAMES["direct"],
        goal="<= 250 us",
        met=blerun <= 250.0,
        radio=radio,
        note=f"p50 {median(p50['blerun']):.0f} us",
        details={
            "rate_per_s": RATE,
            "p50_us": {k: median(v) for k, v in p50.items()},
            "p99_us_per_repetition": p99,
            "max_us": {k: max(v) for k, v in pooled.items()},
            "cdf_us": {_NAMES[k]: distribution(v) for k, v in pooled.items()},
        },
    )
