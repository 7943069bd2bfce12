"""Subscriptions are data: they survive reconnects, fence stale sessions, cancel cleanly."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest

from blerun.actors import UNDECODABLE, ConnectionState, Notification, ReconnectPolicy, Runtime
from blerun.actors.errors import CharacteristicNotFound, NotSupported, WrongThread
from blerun.testing import InMemoryMetrics

from helpers import Collector, StateRecorder
from scripted import HR_MEASUREMENT, SENSOR, ScriptedPeripheral, ScriptedWorld, heart_rate

S = ConnectionState
FAST = ReconnectPolicy(initial=0.0, cap=0.01, jitter=0.0)


def _notify(world: ScriptedWorld, peripheral: ScriptedPeripheral, data: bytes) -> bool:
    return bool(world.run(lambda: peripheral.notify(HR_MEASUREMENT, data)))


def _started_notify(times: int) -> Callable[[ScriptedPeripheral], bool]:
    return lambda p: p.start_notify_calls[HR_MEASUREMENT] == times


def test_subscriptions_survive_20_link_losses(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime(policy=FAST)
    dev = rt.device(peripheral.address)
    rec = StateRecorder(dev)
    first, second = Collector(), Collector()
    dev.subscribe(HR_MEASUREMENT, first)
    dev.subscribe(HR_MEASUREMENT, second)  # two subscribers, one backend subscription
    dev.connect(timeout=5)
    peripheral.wait_until(lambda p: p.start_notify_calls[HR_MEASUREMENT] == 1)
    delivered = 0
    for session in range(1, 21):
        assert _notify(world, peripheral, bytes([session]))
        delivered += 1
        first.wait_count(delivered)
        old_handler = world.run(lambda: peripheral.handlers[HR_MEASUREMENT])
        world.run(peripheral.drop)
        rec.wait_state(S.CONNECTED, count=session + 1)
        peripheral.wait_until(_started_notify(session + 1))
        # Exactly one backend subscription per session, none left from the last one.
        assert world.run(lambda: list(peripheral.handlers)) == [HR_MEASUREMENT]
        # A late notification from the previous session never reaches a callback.
        world.run(functools.partial(old_handler, bytearray(b"\xff")))
    assert _notify(world, peripheral, b"\x00")
    items = second.wait_count(delivered + 1)
    assert b"\xff" not in [n.data for n in items]
    assert [n.data for n in items] == [bytes([i]) for i in range(1, 21)] + [b"\x00"]
    stats = dev.statistics()
    assert stats.notifications_stale == 20
    assert stats.links_lost == 20 and stats.subscriptions == 2


def test_subscribe_before_connect_is_applied_on_connect(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime()
    dev = rt.device(peripheral.address)
    got = Collector()
    sub = dev.subscribe(HR_MEASUREMENT, got)
    assert peripheral.start_notify_calls[HR_MEASUREMENT] == 0
    dev.connect(timeout=5)
    peripheral.wait_until(lambda p: HR_MEASUREMENT in p.handlers)
    assert _notify(world, peripheral, b"\x01")
    assert got.wait_count(1)[0].data == b"\x01"
    assert not sub.cancelled


def test_cancel_is_idempotent_and_leaves_no_backend_handler(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime()
    dev = rt.device(peripheral.address)
    dev.connect(timeout=5)
    got = Collector()
    sub = dev.subscribe(HR_MEASUREMENT, got)
    assert world.run(lambda: list(peripheral.handlers)) == [HR_MEASUREMENT]
    assert sub.cancel(timeout=5) is True
    assert world.run(lambda: dict(peripheral.handlers)) == {}
    assert sub.cancel() is True and sub.cancelled
    assert not _notify(world, peripheral, b"\x01")
    assert dev.statistics().subscriptions == 0


def test_cancel_keeps_backend_subscription_while_others_want_it(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime()
    dev = rt.device(peripheral.address)
    dev.connect(timeout=5)
    a, b = Collector(), Collector()
    sub_a = dev.subscribe(HR_MEASUREMENT, a)
    dev.subscribe(HR_MEASUREMENT, b)
    assert sub_a.cancel()
    assert _notify(world, peripheral, b"\x07")
    assert b.wait_count(1)[0].data == b"\x07"
    assert a.items == []


def test_failing_callback_and_decoder_do_not_stop_delivery(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    metrics = InMemoryMetrics()
    peripheral = heart_rate(world)
    rt = make_runtime(metrics=metrics)
    dev = rt.device(peripheral.address)
    dev.connect(timeout=5)
    got = Collector()

    def flaky(note: Notification) -> None:
        got(note)
        if note.data == b"\x01":
            raise RuntimeError("user bug")

    def decode(data: bytes) -> int:
        if data == b"\x02":
            raise ValueError("bad frame")
        return data[0]

    skipped = Collector()
    dev.subscribe(HR_MEASUREMENT, flaky, decode=decode)
    dev.subscribe(HR_MEASUREMENT, skipped, decode=decode, on_decode_error="skip")
    for payload in (b"\x01", b"\x02", b"\x03"):
        assert _notify(world, peripheral, payload)
    items = got.wait_count(3)
    assert [n.value for n in items] == [1, UNDECODABLE, 3]
    assert items[1].data == b"\x02"
    assert [n.value for n in skipped.wait_count(2)] == [1, 3]
    stats = dev.statistics()
    assert stats.callback_errors == 1 and stats.decode_errors == 2
    assert metrics.count("callbacks.errors") == 1
    assert metrics.count("notifications.decode_errors") == 2


def test_cancel_from_inside_the_callback(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime()
    dev = rt.device(peripheral.address)
    dev.connect(timeout=5)
    got = Collector()
    holder: list[object] = []

    def once(note: Notification) -> None:
        got(note)
        holder[0].cancel()  # type: ignore[attr-defined]

    holder.append(dev.subscribe(HR_MEASUREMENT, once))
    witness = Collector()
    dev.subscribe(HR_MEASUREMENT, witness)
    for payload in (b"\x01", b"\x02", b"\x03"):
        assert _notify(world, peripheral, payload)
    witness.wait_count(3)
    assert [n.data for n in got.items] == [b"\x01"]


def test_bad_subscriptions_are_refused_at_the_call(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime()
    dev = rt.device(peripheral.address)
    dev.connect(timeout=5)
    with pytest.raises(CharacteristicNotFound) as missing:
        dev.subscribe("2a99", print)
    assert missing.value.uuid == "00002a99-0000-1000-8000-00805f9b34fb"
    with pytest.raises(NotSupported) as unsupported:
        dev.subscribe(SENSOR, print)
    assert unsupported.value.needed == "indicate or notify"
    with pytest.raises(TypeError, match="callable"):
        dev.subscribe(HR_MEASUREMENT, "not a function")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_decode_error"):
        dev.subscribe(HR_MEASUREMENT, print, on_decode_error="explode")  # type: ignore[arg-type]
    assert peripheral.start_notify_calls[HR_MEASUREMENT] == 0


def test_wait_delivered_is_a_barrier_for_callbacks_and_listeners(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime(policy=FAST)
    dev = rt.device(peripheral.address)
    seen: list[bytes] = []
    states: list[ConnectionState] = []
    dev.on_state_change(lambda e: states.append(e.new))
    errors: list[BaseException] = []

    def slow_reader(note: Notification) -> None:
        seen.append(note.data)
        if note.data == b"\x00":
            try:
                dev.wait_delivered(timeout=1)  # from its own lane: it would wait for itself
            except WrongThread as exc:
                errors.append(exc)

    dev.subscribe(HR_MEASUREMENT, slow_reader)
    dev.connect(timeout=5)
    peripheral.wait_until(lambda p: HR_MEASUREMENT in p.handlers)
    world.run(lambda: [peripheral.notify(HR_MEASUREMENT, bytes([i])) for i in range(50)])
    dev.wait_delivered(timeout=5)
    assert seen == [bytes([i]) for i in range(50)]
    assert states[-1] is ConnectionState.CONNECTED
    assert len(errors) == 1
