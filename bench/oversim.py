"""Figures over blerun.sim (Bumble's virtual controllers behind a bleak backend).

Each figure runs blerun and plain bleak against emulated peripherals on the same air,
in the same run: notification throughput, a read + write round trip on the user's
loop, recovery after a link drop (with bleak-retry-connector as a second baseline),
and the lateness of the user's loop while it streams and does I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Protocol, TypeVar

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak_retry_connector import establish_connection

from bench.common import (
    PAYLOAD_SIZE,
    Figure,
    LoopThread,
    Sink,
    close_cleanly,
    distribution,
    median,
    new_runtime,
    percentile,
    ratios,
)
from bench.scripted import READ, WRITE, Hub, address_of
from blerun.actors import NotificationStream, ReconnectPolicy, Runtime
from blerun.sim import (
    BODY_SENSOR_LOCATION,
    HEART_RATE_CONTROL_POINT,
    HEART_RATE_MEASUREMENT,
    CharacteristicSpec,
    Peripheral,
    PeripheralSpec,
    Property,
    ServiceSpec,
    VirtualAir,
    heart_rate_monitor,
)

T = TypeVar("T")
_BOUND = 120.0
SOURCE = "0000bec0-0000-1000-8000-00805f9b34fb"
NO_DELAY = ReconnectPolicy(initial=0.0, cap=0.01, jitter=0.0)
_RESET = b"\x01"  # the one value the heart-rate control point accepts


@contextlib.contextmanager
def _air() -> Iterator[VirtualAir]:
    air = VirtualAir.start()
    try:
        yield air
    finally:
        air.close()


def _on(air: VirtualAir, coro: Coroutine[Any, Any, T], timeout: float = _BOUND) -> T:
    return asyncio.run_coroutine_threadsafe(coro, air.loop).result(timeout)


def _runtime(radio: str, air: VirtualAir, **options: Any) -> Runtime:
    return new_runtime(radio, loop=air.loop, backend=air.client_backend, **options).start()


def source_spec(
    name: str,
    size: int = PAYLOAD_SIZE,
    *,
    value: Callable[[int], bytes] | None = None,
    rate_hz: float | None = None,
) -> PeripheralSpec:
    """A peripheral with one notifying characteristic (``SOURCE``) of ``size`` bytes: it
    notifies only when asked (``burst``), or ``rate_hz`` times a second; ``value(n)``
    makes the n-th value (default: zeros)."""
    payload = bytes(size)
    return PeripheralSpec(
        name=name,
        mtu=max(23, size + 3),
        services=(
            ServiceSpec(
                uuid="0000beef-0000-1000-8000-00805f9b34fb",
                characteristics=(
                    CharacteristicSpec(
                        uuid=SOURCE,
                        properties=Property.NOTIFY,
                        notify_value=value or (lambda _n: payload),
                        notify_rate_hz=rate_hz,
                    ),
                ),
            ),
        ),
    )


# --- notifications/s -----------------------------------------------------------------


def _stream(source: Peripheral, sink: Sink, seconds: float) -> tuple[float, int]:
    """Keep about 2,000 notifications on their way (the peripheral's transmitter, not
    this thread, paces the stream) for ``seconds``.

    Returns arrivals per second, and how many of those queued never arrived. Losses
    make the stream run dry early (nothing for a second): the window then ends at the
    last arrival.
    """
    started = time.perf_counter()
    deadline = started + seconds
    queued = 0
    while time.perf_counter() < deadline:
        if queued - sink.count < 2000:
            source.burst(1000)
            queued += 1000
        if not sink.wait_for(min(queued, sink.count + 500), 1.0):
            break
    arrived, elapsed = sink.count, sink.last_at - started
    source.wait_until(lambda c: c.notifications_while_subscribed >= queued, timeout=30)
    return arrived / elapsed, queued - sink.settle(queued)


def raw_notify_rate(
    air: VirtualAir, name: str, seconds: float, size: int = PAYLOAD_SIZE
) -> tuple[float, int]:
    """Notifications/s into a plain bleak callback, and how many were lost."""
    source = air.add_peripheral(source_spec(name, size))
    sink = Sink()
    client = BleakClient(source.address, backend=air.client_backend)

    def on_value(_char: BleakGATTCharacteristic, data: bytearray) -> None:
        sink(data)

    async def open_client() -> None:
        await client.connect()
        await client.start_notify(SOURCE, on_value)

    _on(air, open_client())
    try:
        return _stream(source, sink, seconds)
    finally:
        _on(air, client.disconnect())


def _blerun_rate(radio: str, air: VirtualAir, name: str, seconds: float) -> tuple[float, int]:
    source = air.add_peripheral(source_spec(name))
    sink = Sink()
    rt = _runtime(radio, air)
    try:
        dev = rt.device(source.address)
        dev.connect(timeout=10)
        dev.subscribe(SOURCE, lambda note: sink(note.data), timeout=10)
        return _stream(source, sink, seconds)
    finally:
        close_cleanly(rt)


def notify_ratio(radio: str, quick: bool) -> Figure:
    seconds = 0.5 if quick else 2.0
    repetitions = 2 if quick else 4
    rates: dict[str, list[float]] = {"raw": [], "blerun": []}
    lost: dict[str, list[int]] = {"raw": [], "blerun": []}
    with _air() as air:
        for repetition in range(repetitions + 1):
            order = ("raw", "blerun") if repetition % 2 else ("blerun", "raw")
            for kind in order:
                name = f"rate-{kind}-{repetition}"
                rate, missing = (
                    raw_notify_rate(air, name, seconds)
                    if kind == "raw"
                    else _blerun_rate(radio, air, name, seconds)
                )
                if repetition:
                    rates[kind].append(rate)
                    lost[kind].append(missing)
    ratio = ratios(rates["blerun"], rates["raw"])
    assert ratio is not None
    return Figure(
        name="sim_notify_ratio",
        title="sim: notifications/s through blerun / raw bleak callback",
        unit="ratio",
        blerun=ratio,
        baselines={"raw bleak callback": 1.0},
        ratio=ratio,
        ratio_to="raw bleak callback",
        goal=">= 0.95",
        met=ratio >= 0.95,
        radio=radio,
        note=f"{median(rates['blerun']):,.0f}/s vs {median(rates['raw']):,.0f}/s",
        details={
            "payload_bytes": PAYLOAD_SIZE,
            "notifications_per_s": {k: median(v) for k, v in rates.items()},
            "per_repetition": rates,
            "lost": lost,
        },
    )


# --- read + write on the user's loop -------------------------------------------------


async def _round_trips(read: Callable[[], Any], write: Callable[[], Any], n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        await read()
        await write()
        times.append(time.perf_counter() - started)
    return times


def _sim_round_trips(radio: str, air: VirtualAir, kind: str, n: int) -> list[float]:
    hr = air.add_peripheral(heart_rate_monitor(name=f"rw-{kind}", rate_hz=1.0))
    if kind == "raw":

        async def raw() -> list[float]:
            async with BleakClient(hr.address, backend=air.client_backend) as client:
                return await _round_trips(
                    lambda: client.read_gatt_char(BODY_SENSOR_LOCATION),
                    lambda: client.write_gatt_char(HEART_RATE_CONTROL_POINT, _RESET, True),
                    n,
                )

        return _on(air, raw())
    rt = _runtime(radio, air)
    try:
        dev = rt.async_device(hr.address)

        async def through_blerun() -> list[float]:
            await dev.connect(timeout=10)
            return await _round_trips(
                lambda: dev.read(BODY_SENSOR_LOCATION),
                lambda: dev.write(HEART_RATE_CONTROL_POINT, _RESET),
                n,
            )

        return _on(air, through_blerun())
    finally:
        close_cleanly(rt)


def _scripted_round_trips(radio: str, kind: str, n: int) -> list[float]:
    """The same on the scripted backend: no radio, so only the software path shows."""
    hub = Hub()
    peripheral = hub.add(address_of(1))
    with LoopThread() as user:
        if kind == "raw":

            async def raw() -> list[float]:
                async with BleakClient(peripheral.address, backend=hub.backend) as client:
                    return await _round_trips(
                        lambda: client.read_gatt_char(READ),
                        lambda: client.write_gatt_char(WRITE, _RESET, True),
                        n,
                    )

            return user.run(raw())
        rt = new_runtime(radio, loop=user.loop, backend=hub.backend).start()
        try:
            dev = rt.async_device(peripheral.address)

            async def through_blerun() -> list[float]:
                await dev.connect(timeout=10)
                return await _round_trips(
                    lambda: dev.read(READ), lambda: dev.write(WRITE, _RESET), n
                )

            return user.run(through_blerun())
        finally:
            close_cleanly(rt)


def read_write(radio: str, quick: bool) -> Figure:
    n = 60 if quick else 300
    repetitions = 2 if quick else 4
    p50: dict[str, list[float]] = {"raw": [], "blerun": []}
    scripted: dict[str, list[float]] = {"raw": [], "blerun": []}
    with _air() as air:
        for repetition in range(repetitions + 1):
            for kind in ("raw", "blerun") if repetition % 2 else ("blerun", "raw"):
                sim_times = _sim_round_trips(radio, air, kind, n)
                # The scripted backend lives on the runtime's loop: in-process only.
                scripted_times = (
                    _scripted_round_trips(radio, kind, n) if radio == "inprocess" else []
                )
                if repetition:
                    p50[kind].append(median(sim_times) * 1e3)
                    if scripted_times:
                        scripted[kind].append(median(scripted_times) * 1e3)
    blerun = median(p50["blerun"])
    return Figure(
        name="read_write_round_trip",
        title="read + write round trip on a user loop, p50 (sim)",
        unit="ms",
        blerun=blerun,
        baselines={"raw bleak": median(p50["raw"])},
        ratio=ratios(p50["blerun"], p50["raw"]),
        ratio_to="raw bleak",
        goal="<= 0.5 ms",
        met=blerun <= 0.5,
        radio=radio,
        details={
            "pairs_per_repetition": n,
            "p50_ms_per_repetition": p50,
            "scripted_backend_p50_ms": {k: median(v) for k, v in scripted.items() if v},
        },
    )


# --- drop -> first notification ------------------------------------------------------


class _Keeper(Protocol):
    """Something that keeps a subscription to a peripheral alive across drops."""

    def open(self) -> None: ...
    def close(self) -> None: ...


class _RawKeeper:
    """Plain bleak: the disconnected callback reconnects and resubscribes at once."""

    def __init__(self, air: VirtualAir, peripheral: Peripheral, sink: Sink) -> None:
        self._air = air
        self._sink = sink
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._client = BleakClient(
            peripheral.address, self._lost, backend=air.client_backend, timeout=10
        )

    def _on_value(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        self._sink(data)

    async def _connect(self) -> None:
        await self._client.connect()
        await self._client.start_notify(HEART_RATE_MEASUREMENT, self._on_value)

    def _lost(self, _client: BleakClient) -> None:
        if not self._closing:
            task = asyncio.get_running_loop().create_task(self._connect())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def open(self) -> None:
        _on(self._air, self._connect())

    def close(self) -> None:
        self._closing = True
        _on(self._air, self._client.disconnect())


class _RetryConnectorKeeper:
    """bleak-retry-connector, as Home Assistant integrations use it: a new client from
    ``establish_connection`` on every disconnect, then resubscribe."""

    def __init__(self, air: VirtualAir, peripheral: Peripheral, sink: Sink) -> None:
        self._air = air
        self._peripheral = peripheral
        self._sink = sink
        self._closing = False
        self._device: BLEDevice | None = None
        self._client: BleakClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _on_value(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        self._sink(data)

    async def _connect(self) -> None:
        # establish_connection takes the BLEDevice a scan found, as in Home Assistant.
        self._device = await BleakScanner.find_device_by_address(
            self._peripheral.address, timeout=10, backend=self._air.scanner_backend
        )
        await self._reconnect()

    async def _reconnect(self) -> None:
        if self._device is None:
            raise RuntimeError(f"{self._peripheral.address} was not found by scanning")
        client = await establish_connection(
            BleakClient,
            self._device,
            self._peripheral.name,
            disconnected_callback=self._lost,
            backend=self._air.client_backend,
        )
        self._client = client
        await client.start_notify(HEART_RATE_MEASUREMENT, self._on_value)

    def _lost(self, _client: BleakClient) -> None:
        if not self._closing:
            task = asyncio.get_running_loop().create_task(self._reconnect())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def open(self) -> None:
        _on(self._air, self._connect())

    def close(self) -> None:
        self._closing = True
        client = self._client
        if client is not None:
            _on(self._air, client.disconnect())


class _BlerunKeeper:
    """blerun: one subscription, a policy with no initial delay."""

    def __init__(self, radio: str, air: VirtualAir, peripheral: Peripheral, sink: Sink) -> None:
        self._rt = _runtime(radio, air, policy=NO_DELAY)
        self._peripheral = peripheral
        self._sink = sink

    def open(self) -> None:
        dev = self._rt.device(self._peripheral.address)
        dev.subscribe(HEART_RATE_MEASUREMENT, lambda note: self._sink(note.data))
        dev.connect(timeout=10)

    def close(self) -> None:
        close_cleanly(self._rt)


_KEEPERS = ("raw bleak", "bleak-retry-connector", "blerun")


def _drop_once(peripheral: Peripheral, sink: Sink) -> float:
    """Seconds from a drop to the first notification over the next link."""
    # Quiet the stream and take in everything sent, so that the first arrival after the
    # drop can only come over the new link; the new link's subscription resumes it.
    peripheral.pause_notifications()
    settled = sink.settle(peripheral.counters().notifications_while_subscribed)
    started = time.perf_counter()
    peripheral.drop_link()
    peripheral.resume_notifications()
    if not sink.wait_for(settled + 1, 10):
        raise TimeoutError("no notification within 10 s of a drop")
    assert sink.times is not None
    return sink.times[settled] - started


def recovery(radio: str, quick: bool) -> Figure:
    drops = 5 if quick else 10
    repetitions = 2 if quick else 4
    times: dict[str, list[list[float]]] = {kind: [] for kind in _KEEPERS}
    with _air() as air, contextlib.ExitStack() as stack:
        keepers: dict[str, tuple[Peripheral, Sink]] = {}
        for i, kind in enumerate(_KEEPERS):
            peripheral = air.add_peripheral(heart_rate_monitor(name=f"recover-{i}", rate_hz=100))
            sink = Sink(keep_times=True)
            keeper: _Keeper
            if kind == "blerun":
                keeper = _BlerunKeeper(radio, air, peripheral, sink)
            elif kind == "raw bleak":
                keeper = _RawKeeper(air, peripheral, sink)
            else:
                keeper = _RetryConnectorKeeper(air, peripheral, sink)
            keeper.open()
            stack.callback(keeper.close)
            if not sink.wait_for(1, 10):
                raise TimeoutError(f"{kind}: no first notification")
            keepers[kind] = (peripheral, sink)
        for repetition in range(repetitions + 1):
            shift = repetition % len(_KEEPERS)
            for kind in _KEEPERS[shift:] + _KEEPERS[:shift]:
                peripheral, sink = keepers[kind]
                block = [_drop_once(peripheral, sink) * 1e3 for _ in range(drops)]
                if repetition:
                    times[kind].append(block)
    medians = {kind: [median(block) for block in times[kind]] for kind in _KEEPERS}
    pooled = {kind: [t for block in times[kind] for t in block] for kind in _KEEPERS}
    blerun = median(medians["blerun"])
    raw = median(medians["raw bleak"])
    excess = median([b - r for b, r in zip(medians["blerun"], medians["raw bleak"], strict=True)])
    return Figure(
        name="drop_to_first_notification",
        title="drop -> first notification, median (initial delay 0)",
        unit="ms",
        blerun=blerun,
        baselines={
            "raw bleak": raw,
            "bleak-retry-connector": median(medians["bleak-retry-connector"]),
        },
        ratio=ratios(medians["blerun"], medians["raw bleak"]),
        ratio_to="raw bleak",
        goal="<= raw + 1 ms",
        met=excess <= 1.0,
        radio=radio,
        note=f"raw {excess:+.1f} ms",
        details={
            "drops_per_repetition": drops,
            "blerun_minus_raw_ms": excess,
            "p95_ms": {kind: percentile(pooled[kind], 0.95) for kind in _KEEPERS},
            "median_ms_per_repetition": medians,
            "cdf_ms": {kind: distribution(pooled[kind]) for kind in _KEEPERS},
        },
    )


# --- the user's loop while streaming -------------------------------------------------

_BEAT = 0.002
_IO_EVERY = 0.01


async def _heartbeat(seconds: float) -> list[float]:
    """Lateness of a task that wakes every ``_BEAT`` seconds, for ``seconds``."""
    loop = asyncio.get_running_loop()
    late = []
    started = loop.time()
    beat = 1
    while beat * _BEAT < seconds:
        due = started + beat * _BEAT
        await asyncio.sleep(due - loop.time())
        late.append(loop.time() - due)
        beat = max(beat + 1, int((loop.time() - started) / _BEAT) + 1)
    return late


async def _io(read: Callable[[], Any], write: Callable[[], Any], stop: asyncio.Event) -> int:
    pairs = 0
    while not stop.is_set():
        await read()
        await write()
        pairs += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), _IO_EVERY)
    return pairs


async def _busy_loop(
    read: Callable[[], Any], write: Callable[[], Any], sink: Sink, seconds: float
) -> tuple[list[float], int, int]:
    stop = asyncio.Event()
    io = asyncio.create_task(_io(read, write, stop))
    before = sink.count
    late = await _heartbeat(seconds)
    stop.set()
    return late, sink.count - before, await io


def _user_loop_lateness(
    radio: str, air: VirtualAir, kind: str, seconds: float
) -> tuple[list[float], int, int]:
    hr = air.add_peripheral(heart_rate_monitor(name=f"beat-{kind}", rate_hz=1000))
    sink = Sink()
    if kind == "raw":

        async def raw() -> tuple[list[float], int, int]:
            async with BleakClient(hr.address, backend=air.client_backend) as client:
                await client.start_notify(HEART_RATE_MEASUREMENT, lambda _c, data: sink(data))
                return await _busy_loop(
                    lambda: client.read_gatt_char(BODY_SENSOR_LOCATION),
                    lambda: client.write_gatt_char(HEART_RATE_CONTROL_POINT, _RESET, True),
                    sink,
                    seconds,
                )

        return _on(air, raw())
    rt = _runtime(radio, air)
    try:
        dev = rt.async_device(hr.address)

        async def consume(stream: NotificationStream) -> None:
            async for note in stream:
                sink(note.data)

        async def through_blerun() -> tuple[list[float], int, int]:
            await dev.connect(timeout=10)
            async with dev.notifications(HEART_RATE_MEASUREMENT) as stream:
                consumer = asyncio.create_task(consume(stream))
                try:
                    return await _busy_loop(
                        lambda: dev.read(BODY_SENSOR_LOCATION),
                        lambda: dev.write(HEART_RATE_CONTROL_POINT, _RESET),
                        sink,
                        seconds,
                    )
                finally:
                    consumer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await consumer

        return _on(air, through_blerun())
    finally:
        close_cleanly(rt)


def heartbeat(radio: str, quick: bool) -> Figure:
    seconds = 1.5 if quick else 5.0
    repetitions = 2 if quick else 4
    p99: dict[str, list[float]] = {"raw": [], "blerun": []}
    rates: dict[str, list[float]] = {"raw": [], "blerun": []}
    io: dict[str, list[float]] = {"raw": [], "blerun": []}
    with _air() as air:
        for repetition in range(repetitions + 1):
            for kind in ("raw", "blerun") if repetition % 2 else ("blerun", "raw"):
                late, arrived, pairs = _user_loop_lateness(radio, air, kind, seconds)
                if repetition:
                    p99[kind].append(percentile(late, 0.99) * 1e3)
                    rates[kind].append(arrived / seconds)
                    io[kind].append(pairs / seconds)
    blerun = median(p99["blerun"])
    return Figure(
        name="user_loop_heartbeat_p99",
        title="user-loop heartbeat p99 @1k notif/s + I/O",
        unit="ms",
        blerun=blerun,
        baselines={"raw bleak": median(p99["raw"])},
        ratio=ratios(p99["blerun"], p99["raw"]),
        ratio_to="raw bleak",
        goal="keep (<= 5 ms)",
        met=blerun <= 5.0,
        radio=radio,
        note=f"{median(rates['blerun']):,.0f} notifications/s arrived",
        details={
            "beat_s": _BEAT,
            "notifications_per_s": {k: median(v) for k, v in rates.items()},
            "read_write_pairs_per_s": {k: median(v) for k, v in io.items()},
            "p99_ms_per_repetition": p99,
        },
    )
