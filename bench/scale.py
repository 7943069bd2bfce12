"""Many devices on the scripted backend: threads, memory, idle-ish CPU, close time.

Each side runs in a fresh interpreter, so neither inherits the other's freed memory or
threads: blerun (one runtime, one subscription per device) and the raw baseline (one
plain ``BleakClient`` per device on one loop thread, as an asyncio application has).
Both use the same backend and the same pusher, which makes every device notify once a
second, spread evenly over the second: one notification per loop wake-up, as a radio
hands them over (1,000 devices: one every millisecond), so the raw side's CPU is mostly
the loop waking up, which the runtime pays too.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import time
from typing import Any

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic

from bench.common import (
    Figure,
    LoopThread,
    Mark,
    Sink,
    in_fresh_process,
    new_runtime,
    rss_kib,
    threads,
)
from bench.scripted import NOTIFY, Hub, ScriptedPeripheral, paced

_PER_DEVICE_HZ = 1.0


def _measure_cpu(
    loop: asyncio.AbstractEventLoop,
    peripherals: list[ScriptedPeripheral],
    sink: Sink,
    warm: float,
    window: float,
) -> dict[str, float]:
    rate = _PER_DEVICE_HZ * len(peripherals)
    seconds = warm + window
    pushing = paced(
        peripherals,
        rate,
        seconds,
        window=(warm, seconds),
        count=lambda: sink.count,
        tick=max(0.001, 1 / rate),
    )
    start, end, sent = asyncio.run_coroutine_threadsafe(pushing, loop).result(seconds + 60)
    delivered = sink.settle(sent, bound=30)
    return _cpu_share(start, end) | {"sent": sent, "delivered": delivered}


def _cpu_share(start: Mark, end: Mark) -> dict[str, float]:
    return {"cpu_percent": 100 * (end.cpu - start.cpu) / (end.wall - start.wall)}


def blerun_side(radio: str, devices: int, warm: float, window: float) -> dict[str, Any]:
    """blerun: connect and subscribe ``devices`` devices; runs in a fresh process."""
    hub = Hub()
    peripherals = hub.add_many(devices)
    sink = Sink()
    gc.collect()
    threads_before, rss_before = threads(), rss_kib()
    rt = new_runtime(radio, backend=hub.backend).start()
    tenth = max(1, devices // 10)
    started = time.perf_counter()
    for i, peripheral in enumerate(peripherals, 1):
        dev = rt.device(peripheral.address)
        dev.connect(timeout=30)
        dev.subscribe(NOTIFY, lambda note: sink(note.data), timeout=30)
        if i == tenth:
            threads_at_tenth = threads() - threads_before
    connect_all = time.perf_counter() - started
    gc.collect()
    result: dict[str, Any] = {
        "threads_at_tenth": threads_at_tenth,
        "rss_kib_per_device": (rss_kib() - rss_before) / devices,
        "connect_all_s": connect_all,
    }
    result |= _measure_cpu(rt.loop, peripherals, sink, warm, window)
    # Pools may grow while devices notify: count threads after that too.
    result["threads"] = threads() - threads_before
    started = time.perf_counter()
    report = rt.close(timeout=60)
    result["close_s"] = time.perf_counter() - started
    result["close_clean"] = report.clean
    return result


def raw_side(devices: int, warm: float, window: float) -> dict[str, Any]:
    """Plain bleak: ``devices`` clients on one loop thread; runs in a fresh process."""
    hub = Hub()
    peripherals = hub.add_many(devices)
    sink = Sink()
    user = LoopThread()
    gc.collect()
    threads_before, rss_before = threads(), rss_kib()
    clients = [BleakClient(p.address, backend=hub.backend) for p in peripherals]

    def on_value(_char: BleakGATTCharacteristic, data: bytearray) -> None:
        sink(data)

    tenth = max(1, devices // 10)

    async def connect_all() -> int:
        threads_at_tenth = 0
        for i, client in enumerate(clients, 1):
            await client.connect()
            await client.start_notify(NOTIFY, on_value)
            if i == tenth:
                threads_at_tenth = threads() - threads_before
        return threads_at_tenth

    started = time.perf_counter()
    threads_at_tenth = user.run(connect_all())
    connect_s = time.perf_counter() - started
    gc.collect()
    result: dict[str, Any] = {
        "threads_at_tenth": threads_at_tenth,
        "rss_kib_per_device": (rss_kib() - rss_before) / devices,
        "connect_all_s": connect_s,
    }
    result |= _measure_cpu(user.loop, peripherals, sink, warm, window)
    result["threads"] = threads() - threads_before

    async def disconnect_all() -> None:
        await asyncio.gather(*(client.disconnect() for client in clients))

    started = time.perf_counter()
    user.run(disconnect_all())
    user.close()
    result["close_s"] = time.perf_counter() - started
    result["close_clean"] = True
    return result


@functools.cache
def _sides(radio: str, quick: bool) -> dict[str, Any]:
    devices = 200 if quick else 1000
    warm, window = (0.5, 2.0) if quick else (1.0, 10.0)
    bound = 120 if quick else 600
    raw = in_fresh_process(raw_side, devices, warm, window, timeout=bound)
    blerun = in_fresh_process(blerun_side, radio, devices, warm, window, timeout=bound)
    return {"devices": devices, "window_s": window, "raw": raw, "blerun": blerun}


def _details(sides: dict[str, Any]) -> dict[str, Any]:
    return {
        "devices": sides["devices"],
        "raw": sides["raw"],
        "blerun": sides["blerun"],
    }


def _ratio(blerun: float, raw: float) -> float | None:
    return blerun / raw if raw else None


def device_threads(radio: str, quick: bool) -> Figure:
    sides = _sides(radio, quick)
    blerun, raw = sides["blerun"]["threads"], sides["raw"]["threads"]
    return Figure(
        name="devices_threads",
        title=f"{sides['devices']:,} devices (scripted): threads",
        unit="threads",
        blerun=blerun,
        baselines={"raw bleak": raw},
        ratio=_ratio(blerun, raw),
        ratio_to="raw bleak",
        goal="O(1) (<= 32 at any number of devices)",
        met=blerun <= 32,
        radio=radio,
        note=f"{sides['blerun']['threads_at_tenth']:,} at {sides['devices'] // 10:,} devices",
        details=_details(sides),
    )


def device_rss(radio: str, quick: bool) -> Figure:
    sides = _sides(radio, quick)
    blerun, raw = sides["blerun"]["rss_kib_per_device"], sides["raw"]["rss_kib_per_device"]
    return Figure(
        name="devices_rss_per_device",
        title=f"{sides['devices']:,} devices (scripted): RSS per device",
        unit="KiB",
        blerun=blerun,
        baselines={"raw bleak": raw},
        ratio=_ratio(blerun, raw),
        ratio_to="raw bleak",
        goal="<= 32 KiB",
        met=blerun <= 32,
        radio=radio,
        details=_details(sides),
    )


def device_cpu(radio: str, quick: bool) -> Figure:
    sides = _sides(radio, quick)
    blerun, raw = sides["blerun"]["cpu_percent"], sides["raw"]["cpu_percent"]
    return Figure(
        name="devices_cpu_at_1hz",
        title=f"{sides['devices']:,} devices: CPU while each notifies at 1/s",
        unit="% of one core",
        blerun=blerun,
        baselines={"raw bleak": raw},
        ratio=_ratio(blerun, raw),
        ratio_to="raw bleak",
        goal="<= 2x raw",
        met=blerun <= 2 * raw,
        radio=radio,
        details=_details(sides),
    )


def device_close(radio: str, quick: bool) -> Figure:
    sides = _sides(radio, quick)
    blerun, raw = sides["blerun"]["close_s"], sides["raw"]["close_s"]
    return Figure(
        name="devices_close",
        title=f"{sides['devices']:,} devices: rt.close()",
        unit="s",
        blerun=blerun,
        baselines={"raw bleak": raw},
        ratio=_ratio(blerun, raw),
        ratio_to="raw bleak",
        goal="<= 0.5 s",
        met=blerun <= 0.5 and sides["blerun"]["close_clean"],
        radio=radio,
        note="clean" if sides["blerun"]["close_clean"] else "not clean",
        details=_details(sides),
    )
