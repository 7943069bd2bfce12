"""``blerun monitor ADDRESS --notify UUID ...``: stream notifications and state changes.

The runtime keeps the subscriptions across link losses and reconnects under its
policy; this verb shows both as they happen, one timestamped line each (or one JSON
record each), until Ctrl-C, ``--duration`` or ``--count``. Callbacks only queue what
they got: the main thread prints, so output order is arrival order and a closed pipe
or a Ctrl-C is seen in one place.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import dataclasses
import queue
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blerun.actors import Notification, StateChanged
from blerun.cli._exit import ExitCode
from blerun.cli._output import (
    Output,
    iso_timestamp,
    render_payload,
    text_or_none,
    timestamp,
    uuid_label,
)
from blerun.cli._session import CommandError, Session, open_session, profile_spec

if TYPE_CHECKING:
    from blerun.sim import Peripheral, PeripheralCounters


@dataclasses.dataclass(frozen=True, slots=True)
class _Received:
    uuid: str
    seq: int
    data: bytes
    time: str
    iso_time: str


@dataclasses.dataclass(frozen=True, slots=True)
class _Changed:
    event: StateChanged
    time: str
    iso_time: str


def run(args: argparse.Namespace, output: Output) -> ExitCode:
    """Stream until Ctrl-C (exit 130), ``--duration`` or ``--count`` (exit 0)."""
    if args.sim_drop_every is not None and not args.sim:
        raise CommandError(
            "--sim-drop-every needs --sim (it drops an emulated link)", ExitCode.USAGE
        )
    as_json = output.json_mode or args.format == "json"
    specs = [profile_spec(args.sim_profile, args.address)] if args.sim else []
    arrivals: queue.Queue[_Received | _Changed] = queue.Queue()
    with open_session(sim=args.sim, timeout=args.timeout, specs=specs) as session:
        drops = _schedule_drops(session, args.sim_drop_every) if args.sim else None
        device = session.runtime.device(args.address)
        device.on_state_change(
            lambda event: arrivals.put(_Changed(event, timestamp(), iso_timestamp()))
        )
        session.connect(args.address, output, args.timeout)
        for uuid in args.notify:
            device.subscribe(uuid, _queue_to(arrivals, uuid), timeout=args.timeout)
        try:
            _stream(arrivals, output, device.address, args, as_json=as_json)
        finally:
            if drops is not None:
                drops.cancel()
    return ExitCode.OK


def _queue_to(arrivals: queue.Queue[_Received | _Changed], uuid: str) -> Any:
    # One callback per subscription: it knows its characteristic without asking the
    # notification for it.
    def on_notification(note: Notification) -> None:
        arrivals.put(_Received(uuid, note.seq, note.data, timestamp(), iso_timestamp()))

    return on_notification


def _stream(
    arrivals: queue.Queue[_Received | _Changed],
    output: Output,
    address: str,
    args: argparse.Namespace,
    *,
    as_json: bool,
) -> None:
    deadline = None if args.duration is None else time.perf_counter() + args.duration
    received = 0
    while args.count is None or received < args.count:
        left = None if deadline is None else deadline - time.perf_counter()
        if left is not None and left <= 0:
            return
        try:
            item = arrivals.get(timeout=left)
        except queue.Empty:
            return
        if isinstance(item, _Received):
            received += 1
        if as_json:
            output.record(_as_json(item, address))
        else:
            output.line(_as_text(item, args.format))


def _as_text(item: _Received | _Changed, form: str) -> str:
    if isinstance(item, _Received):
        return (
            f"{item.time}  {uuid_label(item.uuid)}  #{item.seq}  {render_payload(item.data, form)}"
        )
    event = item.event
    text = f"{item.time}  state {event.old.value} -> {event.new.value} ({event.reason.value})"
    if event.error is not None:
        text += f": {type(event.error).__name__}: {' '.join(str(event.error).split())}"
    return text


def _as_json(item: _Received | _Changed, address: str) -> dict[str, Any]:
    if isinstance(item, _Received):
        return {
            "type": "notification",
            "time": item.iso_time,
            "address": address,
            "uuid": item.uuid,
            "seq": item.seq,
            "data": item.data.hex(),
            "text": text_or_none(item.data),
        }
    event = item.event
    return {
        "type": "state",
        "time": item.iso_time,
        "address": address,
        "old": event.old.value,
        "new": event.new.value,
        "reason": event.reason.value,
        "version": event.version,
        "attempt": event.attempt,
        "error": None if event.error is None else f"{type(event.error).__name__}: {event.error}",
    }


def _schedule_drops(session: Session, every: int | None) -> concurrent.futures.Future[None] | None:
    """With --sim-drop-every N: the emulated device drops the link after every N sent."""
    if every is None:
        return None
    (peripheral,) = session.peripherals
    return asyncio.run_coroutine_threadsafe(_drop_every(peripheral, every), session.runtime.loop)


async def _drop_every(peripheral: Peripheral, every: int) -> None:
    # Runs on the air's loop, where the peripheral's controls apply at once.
    sent = every
    while True:
        await peripheral.wait_until_async(_sent_at_least(sent))
        peripheral.drop_link()
        sent += every


def _sent_at_least(count: int) -> Callable[[PeripheralCounters], bool]:
    def reached(counters: PeripheralCounters) -> bool:
        return counters.notifications_while_subscribed >= count

    return reached
