"""A radio host process: the RadioActors of some devices, their event loop, and bleak.

Started by the runtime with the spawn start method (so it works the same on Linux, macOS
and Windows); its ``run_host`` owns the process: one event loop in the main thread, the
radios on it as loop actors, frames to and from the runtime over one ``FrameStream``.
Everything a radio would hand its peers (state events, replies, notification batches,
metrics, log records) crosses as frames; the actors do not know.

It exits when told (``Retire``), when the runtime closes its end, and, through a watcher
thread that does not need the loop, when the runtime's process dies, so a host never
outlives its parent.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import socket
import threading
from typing import Any

from blerun.actors._actor_base import GroupContext
from blerun.actors._clock import LoopClock
from blerun.actors._hub import DeviceSnapshot
from blerun.actors._lanes import Lanes
from blerun.actors._loop import LoopBridge
from blerun.actors._metrics import Tags
from blerun.actors._radio import RadioActor
from blerun.actors._radio_state import RadioWish
from blerun.actors._router import Router
from blerun.actors._slot import Mailbox
from blerun.actors._transport import FrameStream, RemoteRef
from blerun.actors.errors import RuntimeClosed
from blerun.messages import DeviceId, Recipient, Reply, Role, StateChanged
from blerun.messages.host import (
    Answer,
    Forget,
    Hello,
    LogLine,
    Metric,
    Ping,
    Pong,
    Publish,
    Retire,
    StartRadio,
    StopRadio,
    Tell,
    Wedge,
)

log = logging.getLogger(__name__)

_FORGOTTEN = 10_000
"""Request ids remembered as forgotten (a poller's timeouts), oldest dropped first."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HostConfig:
    """What a host is started with."""

    key: str
    """Which radio (adapter) it serves, for logs."""
    log_level: int
    """Records at or above it are sent to the runtime."""


def run_host(sock: socket.socket, config: HostConfig) -> None:
    """The host process's main: serve until retired, orphaned or cut off."""
    _exit_with_parent()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        host = HostProcess(loop, sock, config)
        loop.run_until_complete(host.serve())
    finally:
        loop.close()


def _exit_with_parent() -> None:
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(70)  # the runtime's process is gone: so is its radio

    threading.Thread(target=watch, name="blerun-host-lifeline", daemon=True).start()


_FORGET_AFTER = 30.0
"""Seconds a stopped radio's slots stay in its host when no successor replaced it there."""


class HostRouter(Router):
    """The host's router: its peers, its callers and its device hubs are in the runtime."""

    def __init__(self, stream: FrameStream, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stream = stream
        self._forgotten: collections.OrderedDict[int, None] = collections.OrderedDict()

    def reply(
        self, request_id: int | None, value: object = None, error: BaseException | None = None
    ) -> None:
        if request_id is not None:
            self._stream.post(Answer(reply=Reply(request_id=request_id, value=value, error=error)))

    def publish(self, device: DeviceId, event: StateChanged, generation: int) -> bool:
        hub = self._hubs.get(device)
        if hub is not None:  # a successor in this host continues from here
            hub.snapshot = DeviceSnapshot(event.new, event.version, event.services, event.error)
        self._stream.post(Publish(device=device, event=event, generation=generation))
        return True

    def waiting(self, request_id: int) -> bool:
        return request_id not in self._forgotten

    def forgotten(self, request_id: int) -> None:
        self._forgotten[request_id] = None
        while len(self._forgotten) > _FORGOTTEN:
            self._forgotten.popitem(last=False)


class _ForwardMetrics:
    def __init__(self, stream: FrameStream) -> None:
        self._stream = stream

    def increment(self, name: str, value: int = 1, *, tags: Tags | None = None) -> None:
        self._post(name, value, tags, observation=False)

    def observe(self, name: str, value: float, *, tags: Tags | None = None) -> None:
        self._post(name, value, tags, observation=True)

    def _post(self, name: str, value: float, tags: Tags | None, *, observation: bool) -> None:
        items = tuple(sorted((tags or {}).items()))
        self._stream.post(Metric(name=name, value=value, tags=items, observation=observation))


class _ForwardLogs(logging.Handler):
    _FIELDS = ("device", "state_version", "attempt", "delay", "reason")

    def __init__(self, stream: FrameStream, level: int) -> None:
        super().__init__(level)
        self._stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        extra = tuple((k, getattr(record, k)) for k in self._FIELDS if hasattr(record, k))
        line = LogLine(name=record.name, level=record.levelno, message=message, extra=extra)
        self._stream.post(line)


class HostProcess:
    """The host's frames, radios and lifetime; see the module docstring."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, config: HostConfig):
        self._loop = loop
        self._config = config
        self._stream = FrameStream(
            loop=loop, sock=sock, on_frames=self._on_frames, on_closed=self._on_closed
        )
        metrics = _ForwardMetrics(self._stream)
        self._clock = LoopClock(loop)
        self._lanes = Lanes(workers=1, backlog=1, metrics=metrics)
        self._router = HostRouter(
            self._stream, clock=self._clock, metrics=metrics, faults=None, lanes=self._lanes
        )
        self._metrics = metrics
        self._bridge = LoopBridge(loop)
        self._radios: dict[DeviceId, Any] = {}
        self._stopped: set[DeviceId] = set()
        """Devices whose radio was stopped here: their slots are closed."""
        self._done = asyncio.Event()
        root = logging.getLogger()
        root.setLevel(config.log_level)
        root.addHandler(_ForwardLogs(self._stream, config.log_level))

    async def serve(self) -> None:
        self._stream.start()
        self._stream.post(Hello(pid=os.getpid()))
        await self._done.wait()
        self._stream.close()

    def _on_closed(self) -> None:
        self._done.set()

    def _on_frames(self, frames: list[Any]) -> None:
        for frame in frames:
            match frame:
                case Tell():
                    self._router.slot(frame.recipient).deliver(frame.message)
                case StartRadio():
                    self._start_radio(frame)
                case StopRadio():
                    self._stop_radio(frame.device)
                case Forget():
                    self._router.forgotten(frame.request_id)
                case Ping():
                    self._stream.post(
                        Pong(seq=frame.seq, rss=_rss(), fds=_fds(), busy=self._bridge.busy)
                    )
                case Wedge():
                    log.warning("wedged on purpose: %s", frame.note)
                    threading.Event().wait()  # a native call that never returns
                case Retire():
                    self._loop.create_task(self._retire(frame.timeout))
                case _:
                    log.warning("host ignores %r", frame)

    def _start_radio(self, frame: StartRadio) -> None:
        device = frame.device
        router = self._router
        hub = router.hub(device)
        if hub is None or device in self._stopped:
            # A StopRadio closed the device's slots: its successor gets new ones.
            self._stopped.discard(device)
            hub = router.open_group(device)
        for role in (Role.NOTIFY, Role.RECONNECT):
            peer = Recipient(device=device, role=role)
            router.slot(peer).attach(RemoteRef(self._stream, peer))
        supervisor = Recipient(device=None, role=Role.SUPERVISOR)
        router.slot(supervisor).attach(RemoteRef(self._stream, supervisor))
        hub.snapshot = DeviceSnapshot(frame.state, frame.version, None)
        hub.publisher = frame.generation
        ctx = GroupContext(
            device=device,
            router=router,
            clock=self._clock,
            metrics=self._metrics,
            loop=self._loop,
            lane=self._lanes.lane(str(device), device.address),
            hub=hub,
        )
        wish = frame.wish if isinstance(frame.wish, RadioWish) else None
        ref = RadioActor.start(
            ctx=ctx,
            generation=frame.generation,
            link=frame.options,
            attempt_timeout=frame.attempt_timeout,
            bridge=self._bridge,
            wish=wish,
        )
        router.slot_for(device, Role.RADIO).attach(ref)
        self._radios[device] = ref

    def _stop_radio(self, device: DeviceId) -> None:
        self._stopped.add(device)
        ref = self._radios.pop(device, None)
        if ref is not None:
            ref.stop(block=False)
        # Only its own slot is let go: what the radio still sends on its way out (the
        # notifications it flushes when its session ends) goes on to the runtime, and what
        # it hands over to a successor waits there unanswered (the runtime hands those
        # requests to the successor itself). A successor here gets fresh slots; without
        # one, the device's slots go once its link teardown had its time.
        if ref is not None:
            self._router.slot_for(device, Role.RADIO).detach(ref)
        self._loop.call_later(_FORGET_AFTER, self._forget_stopped, device)

    def _forget_stopped(self, device: DeviceId) -> None:
        if device in self._stopped and device not in self._radios:
            self._router.forget_group(device, RuntimeClosed(f"device {device.address} is gone"))

    async def _retire(self, timeout: float) -> None:
        # Stopping a radio tears its link down without a transition: the device's state
        # stays what was published, and a radio in the next host continues from it.
        for device in list(self._radios):
            ref: Mailbox = self._radios.pop(device)
            ref.stop(block=False)  # type: ignore[attr-defined]
        for _ in range(3):  # the stops are handled by the actors' next drains
            await asyncio.sleep(0)
        await self._bridge.drain(timeout)
        self._done.set()


def _rss() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return -1


def _fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1
