"""The RadioActor's parts and the actor machinery, unit-tested without threads."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

import pykka
import pytest

from blerun.actors._capability import MAX_ATTRIBUTE_LENGTH, check_op
from blerun.actors._loop_actor import LoopActor
from blerun.actors._operations import Op, OperationTable
from blerun.actors._sink import SessionSink
from blerun.actors._waiters import ParkingLot
from blerun.actors.errors import (
    CharacteristicNotFound,
    GaveUp,
    NotSupported,
    PayloadTooLong,
)
from blerun.gatt import CharProperty
from blerun.messages import (
    CharacteristicInfo,
    ConnectionState,
    GattOp,
    NotificationBatch,
    Read,
    ServiceInfo,
    ServicesSnapshot,
    Write,
)

S = ConnectionState
HR = "00002a37-0000-1000-8000-00805f9b34fb"
CONTROL = "00002a39-0000-1000-8000-00805f9b34fb"


class Answers:
    def __init__(self) -> None:
        self.got: list[tuple[int, object, BaseException | None]] = []

    def __call__(self, request_id: int, value: object, error: BaseException | None) -> None:
        self.got.append((request_id, value, error))


def test_parking_lot_answers_each_caller_once_by_its_states() -> None:
    answers = Answers()
    lot = ParkingLot(answers)
    lot.park(1, frozenset({S.CONNECTED}))
    lot.park(2, frozenset({S.DISCONNECTED, S.FAILED, S.CLOSED}))
    lot.park(3, frozenset({S.CONNECTED}))
    lot.on_state(S.CONNECTING, lambda: GaveUp("x", attempts=0, address=None))
    assert answers.got == [] and len(lot) == 3
    lot.on_state(S.CONNECTED, lambda: GaveUp("x", attempts=0, address=None))
    assert answers.got == [(1, S.CONNECTED, None), (3, S.CONNECTED, None)]
    failure = GaveUp("spent", attempts=3, address=None)
    lot.park(4, frozenset({S.CONNECTED}))
    lot.on_state(S.FAILED, lambda: failure)
    # The disconnect caller is answered by FAILED (one of its states); connect() fails.
    assert answers.got[2:] == [(2, S.FAILED, None), (4, None, failure)]
    assert len(lot) == 0 and lot.statistics().failed == 1


def test_parking_lot_forgets_callers_that_stopped_waiting_and_hands_over() -> None:
    answers = Answers()
    lot = ParkingLot(answers)
    for request_id in range(10):
        lot.park(request_id, frozenset({S.CONNECTED}))
    lot.forget_gone(lambda request_id: request_id >= 8)
    successor = ParkingLot(answers, lot.snapshot())
    successor.fail_all(GaveUp("x", attempts=0, address=None), where=frozenset({S.CONNECTED}))
    assert [request_id for request_id, _, _ in answers.got] == [8, 9]


def test_operation_table_runs_parks_and_expires() -> None:
    table = OperationTable()
    read = Op(request_id=1, command=Read(request_id=1, uuid=HR, retry=True, timeout=1.0))
    write = Op(
        request_id=2,
        command=Write(
            request_id=2, uuid=CONTROL, data=b"x", response=True, retry=False, timeout=1.0
        ),
    )
    futures = [concurrent.futures.Future[Any]() for _ in range(2)]
    ids = [table.new_id(), table.new_id()]
    table.track(ids[0], read, futures[0])
    table.track(ids[1], write, futures[1])
    assert table.running == 2 and read.retries and not write.retries
    assert table.finish(ids[1]) is write and table.finish(ids[1]) is None  # answered once
    aborted = table.abort_running()
    assert aborted == [read] and futures[0].cancelled() and table.running == 0
    table.park(read, expiry=None)
    assert table.parked == 1 and table.expire(99) is None
    assert table.expire(1) is read and table.parked == 0


SERVICES = ServicesSnapshot(
    services=(
        ServiceInfo(
            uuid="0000180d-0000-1000-8000-00805f9b34fb",
            handle=1,
            characteristics=(
                CharacteristicInfo(
                    uuid=HR, handle=2, properties=CharProperty.NOTIFY, max_write_without_response=20
                ),
                CharacteristicInfo(
                    uuid=CONTROL,
                    handle=4,
                    properties=CharProperty.WRITE | CharProperty.WRITE_WITHOUT_RESPONSE,
                    max_write_without_response=20,
                ),
            ),
        ),
    ),
    mtu=23,
)


def test_one_capability_check() -> None:
    check_op(SERVICES, GattOp.SUBSCRIBE, HR, address="d")
    check_op(SERVICES, GattOp.WRITE, CONTROL, address="d", payload=b"x" * MAX_ATTRIBUTE_LENGTH)
    with pytest.raises(CharacteristicNotFound):
        check_op(SERVICES, GattOp.READ, "00002a00-0000-1000-8000-00805f9b34fb", address="d")
    with pytest.raises(NotSupported, match="read"):
        check_op(SERVICES, GattOp.READ, HR, address="d")
    with pytest.raises(PayloadTooLong) as info:
        check_op(SERVICES, GattOp.WRITE_WITHOUT_RESPONSE, CONTROL, address="d", payload=b"x" * 21)
    assert info.value.limit == 20
    # Without services (never connected) only the ATT cap applies.
    check_op(None, GattOp.READ, HR, address="d")
    with pytest.raises(PayloadTooLong):
        check_op(None, GattOp.WRITE, HR, address="d", payload=b"x" * 513)


def test_the_sink_sends_one_batch_per_loop_iteration() -> None:
    sent: list[NotificationBatch] = []
    loop = asyncio.new_event_loop()
    try:
        sink = SessionSink(session=7, send=sent.append, now=lambda: 1.0, loop=loop)

        async def burst(n: int) -> None:
            for i in range(n):
                sink.push(HR, bytes([i]))
            await asyncio.sleep(0)  # the flush scheduled by the first push runs here

        loop.run_until_complete(burst(3))
        loop.run_until_complete(burst(2))
        sink.push(CONTROL, b"late")
        sink.close()  # flushes at once
    finally:
        loop.close()
    assert [(b.session, b.batch, len(b.items)) for b in sent] == [(7, 1, 3), (7, 2, 2), (7, 3, 1)]
    assert [item.seq for b in sent for item in b.items] == [1, 2, 3, 4, 5, 1]
    assert sink.received == 6


class Echo(LoopActor):
    def __init__(self, loop: asyncio.AbstractEventLoop, log: list[object]) -> None:
        super().__init__(loop=loop)
        self.log = log

    def on_start(self) -> None:
        self.log.append("start")

    def on_receive(self, message: Any) -> Any:
        if message == "boom":
            raise RuntimeError("boom")
        self.log.append(message)
        return message


def test_a_loop_actor_is_a_pykka_actor_run_by_its_loop() -> None:
    loop = asyncio.new_event_loop()
    log: list[object] = []
    try:
        ref = Echo.start(loop, log)
        ref.tell("a")  # queued before the loop ran: handled after on_start, in order
        answer = ref.ask("b", block=False)
        for n in range(100):
            ref.tell(n)
        loop.run_until_complete(asyncio.sleep(0.01))
        assert log[:3] == ["start", "a", "b"] and log[3:] == list(range(100))
        assert answer.get(timeout=0) == "b"
        stopped = ref.stop(block=False)
        loop.run_until_complete(asyncio.sleep(0))
        stopped.get(timeout=0)
        assert not ref.is_alive()
        with pytest.raises(pykka.ActorDeadError):
            ref.tell("late")
    finally:
        loop.close()


def test_a_crashed_loop_actor_hands_its_mail_on() -> None:
    loop = asyncio.new_event_loop()
    log: list[object] = []
    kept: list[object] = []

    class Forwarding(Echo):
        def on_failure(self, *exc_info: object) -> None:
            self.forward_mail(kept.append)

    try:
        ref = Forwarding.start(loop, log)
        for message in ("a", "boom", "b", "c"):
            ref.tell(message)
        loop.run_until_complete(asyncio.sleep(0.01))
    finally:
        loop.close()
    assert log == ["start", "a"] and kept == ["b", "c"]
    assert not ref.is_alive()
