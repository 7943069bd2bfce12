"""Radio host processes, seen from the runtime: start, frames, heartbeat, kill, reap.

A ``RadioHost`` is one child process (spawn start method) running the radios of the
devices of one radio (adapter), reached through one ``FrameStream``. Its frames are
dispatched on the runtime's loop into the runtime's own router, so the actors on both
sides speak the same typed messages. Liveness: the stream ending means the process is
gone; a ``Ping`` every ``heartbeat`` seconds that is not answered within ``hang_timeout``
means it is wedged (frozen, or stuck in a native call). Either is reported to the
supervisor (``HostDown``), which owns the processes as OTP owns its children: it kills
(``terminate``, then ``kill`` after ``shutdown_timeout``), restarts, counts, escalates.

``HostTable`` is the supervisor's set of hosts: plain state, touched by its thread only
(and by ``close()`` once the supervisor is stopped).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import multiprocessing
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

import pykka

from blerun.actors._clock import Clock, Timer, monotonic
from blerun.actors._host_main import HostConfig, run_host
from blerun.actors._host_policy import HostInfo, HostPolicy
from blerun.actors._hub import DeviceSnapshot
from blerun.actors._link import LinkOptions
from blerun.actors._metrics import Metrics
from blerun.actors._router import Router
from blerun.actors._transport import FrameStream, RemoteRef
from blerun.actors.errors import Disconnected
from blerun.messages import (
    Connect,
    DeviceId,
    Disconnect,
    Drain,
    GetStats,
    Recipient,
    Role,
    WaitForState,
)
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


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HostParts:
    """The runtime's pieces a host's frames go to."""

    router: Router
    clock: Clock
    metrics: Metrics
    loop: Any
    on_down: Callable[[str, int, str], None]
    """Tell the supervisor ``HostDown(host, incarnation, reason)``."""
    on_recycle: Callable[[str, int, str], None]
    """Tell the supervisor ``HostRecycle(host, incarnation, why)``."""


# Requests a successor can simply take over: they wait on the device's state (or retry),
# or ask about the device rather than the link.
_CARRIED_OVER = (Connect, Disconnect, WaitForState, GetStats, Drain)


def _carried(message: object) -> bool:
    return isinstance(message, _CARRIED_OVER) or getattr(message, "retry", False) is True


class RemoteRadio(RemoteRef):
    """A RadioActor in a host process, as its slot and the supervisor see it.

    It remembers the requests it passed on until their answers come back: if the host
    dies first, those are settled here (see ``RadioHost.settle``), not left to time out.
    When it is stopped (its group restarts), the requests its successor can take over
    are handed to it here (the stopped radio leaves them unanswered in its host).
    """

    __slots__ = ("_device", "_hand_over", "outstanding")

    def __init__(
        self,
        stream: FrameStream,
        device: DeviceId,
        hand_over: Callable[[RemoteRadio], None] | None = None,
    ) -> None:
        super().__init__(stream, Recipient(device=device, role=Role.RADIO))
        self._device = device
        self._hand_over = hand_over
        self.outstanding: dict[int, object] = {}

    def tell(self, message: object) -> None:
        request_id = getattr(message, "request_id", None)
        super().tell(message)
        if isinstance(request_id, int):
            self.outstanding[request_id] = message

    def stop(self, block: bool = False, timeout: float | None = None) -> Any:
        """Ask the host to stop the radio; the host process itself is joined at close."""
        if self.is_alive():
            self._stream.post(StopRadio(device=self._device))
            self.die()
            if self._hand_over is not None:
                self._hand_over(self)
        done: pykka.ThreadingFuture[None] = pykka.ThreadingFuture()
        done.set(None)
        return done


class RadioHost:
    """One radio host process; see the module docstring."""

    def __init__(self, *, key: str, incarnation: int, policy: HostPolicy, parts: HostParts):
        self.key = key
        self.incarnation = incarnation
        self._policy = policy
        self._parts = parts
        self._pings = itertools.count(1)
        self._last_answer = parts.clock.now()
        self._started_at = parts.clock.now()
        self._timer: Timer | None = None
        self._radios: list[RemoteRadio] = []
        self.retiring = False
        """Set when it was asked to exit (recycle): its exit is not a failure."""
        self.pid: int | None = None
        self.last_pong: Pong | None = None
        parent_sock, child_sock = socket.socketpair()
        spawn = multiprocessing.get_context("spawn")
        config = HostConfig(key=key, log_level=logging.getLogger("blerun").getEffectiveLevel())
        self.process = spawn.Process(
            target=run_host,
            args=(child_sock, config),
            name=f"blerun-host-{key}-{incarnation}",
            daemon=True,
        )
        self.process.start()
        child_sock.close()
        self.stream = FrameStream(
            loop=parts.loop, sock=parent_sock, on_frames=self._on_frames, on_closed=self._on_closed
        )
        parts.loop.call_soon_threadsafe(self.stream.start)
        self._arm()

    # --- radios --------------------------------------------------------------------------

    def start_radio(
        self,
        *,
        device: DeviceId,
        generation: int,
        link: LinkOptions,
        attempt_timeout: float,
        wish: object | None,
        snapshot: DeviceSnapshot,
    ) -> RemoteRadio:
        self.stream.post(
            StartRadio(
                device=device,
                generation=generation,
                options=link,
                attempt_timeout=attempt_timeout,
                wish=wish,
                state=snapshot.state,
                version=snapshot.version,
            )
        )
        radio = RemoteRadio(self.stream, device, self._carry_over)
        self._radios.append(radio)
        return radio

    def _carry_over(self, radio: RemoteRadio) -> None:
        """A radio stopped for a restart: its successor takes over what it can."""
        router = self._parts.router
        for request_id, message in list(radio.outstanding.items()):
            if _carried(message):
                del radio.outstanding[request_id]
                router.slot(radio.recipient).deliver(message)

    def forget(self, request_id: int) -> None:
        self.stream.post(Forget(request_id=request_id))

    # --- frames from the host, on the runtime's loop ------------------------------------

    def _on_frames(self, frames: list[Any]) -> None:
        router, parts = self._parts.router, self._parts
        self._last_answer = self._parts.clock.now()  # any frame: the host's loop runs
        for frame in frames:
            match frame:
                case Tell():
                    router.slot(frame.recipient).tell(frame.message)
                case Publish():
                    router.publish(frame.device, frame.event, frame.generation)
                case Answer():
                    for radio in self._radios:
                        radio.outstanding.pop(frame.reply.request_id, None)
                    router.deliver_reply(frame.reply)
                case Metric():
                    tags = dict(frame.tags)
                    if frame.observation:
                        parts.metrics.observe(frame.name, frame.value, tags=tags)
                    else:
                        parts.metrics.increment(frame.name, int(frame.value), tags=tags)
                case LogLine():
                    extra = {**dict(frame.extra), "host": self.key}
                    logging.getLogger(frame.name).log(frame.level, frame.message, extra=extra)
                case Pong():
                    self.last_pong = frame
                    self._maybe_recycle(frame)
                case Hello():
                    self.pid = frame.pid
                case _:
                    log.warning("runtime ignores %r from host %s", frame, self.key)

    def _maybe_recycle(self, pong: Pong) -> None:
        if self.retiring or pong.busy:
            return
        why = self._policy.recycle_reason(self._parts.clock.now() - self._started_at, pong)
        if why is not None:
            self._parts.on_recycle(self.key, self.incarnation, why)

    def _on_closed(self) -> None:
        self._cancel_timer()
        self.settle()
        self._parts.on_down(self.key, self.incarnation, "exited")

    def settle(self) -> None:
        """The host is gone: its radios take no more mail, and what they owed is settled.

        A caller waiting on the device's state (connect, wait_connected, disconnect), asking
        for its statistics, or a retrying read or write is carried over to the successor
        (its request waits in the radio's slot); any other operation fails with
        ``Disconnected``.
        """
        router = self._parts.router
        for radio in self._radios:
            radio.die()
            owed, radio.outstanding = radio.outstanding, {}
            for request_id, message in owed.items():
                if _carried(message):
                    router.slot(radio.recipient).deliver(message)
                else:
                    error = Disconnected(
                        f"the radio host of {radio.recipient.device} died during the operation",
                        address=radio.recipient.device.address if radio.recipient.device else None,
                    )
                    router.reply(request_id, error=error)

    # --- heartbeat ----------------------------------------------------------------------

    def _arm(self) -> None:
        self._timer = self._parts.clock.call_later(
            self._policy.heartbeat, self._beat, label="HostHeartbeat"
        )

    def _beat(self) -> None:
        silent = self._parts.clock.now() - self._last_answer
        if silent > self._policy.hang_timeout:
            log.error(
                "radio host %s (pid %s) has not answered for %.1f s: wedged",
                self.key,
                self.pid,
                silent,
                extra={"host": self.key, "reason": "hung"},
            )
            self._parts.on_down(self.key, self.incarnation, "hung")
            return
        self.stream.post(Ping(seq=next(self._pings)))
        self._arm()

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    # --- ending -------------------------------------------------------------------------

    def retire(self, timeout: float) -> None:
        """Ask the host to tear its links down within ``timeout`` and exit."""
        self.retiring = True
        self.stream.post(Retire(timeout=timeout))

    def kill(self) -> None:
        """OTP's ``shutdown`` then ``brutal_kill``: terminate now, kill if it lingers."""
        self._cancel_timer()
        if self.process.is_alive():
            self.process.terminate()
            self._parts.clock.call_later(
                self._policy.shutdown_timeout, self._kill_if_alive, label="HostKill"
            )

    def _kill_if_alive(self) -> None:
        if self.process.is_alive():
            self.process.kill()

    def join(self, deadline: float) -> bool:
        """Wait for the process to end by ``deadline`` (terminating, then killing it at the
        end); reaps it. Returns False if it is still there."""
        self._cancel_timer()
        grace = min(self._policy.shutdown_timeout, 0.25 * max(0.0, deadline - monotonic()))
        self.process.join(max(0.0, deadline - monotonic() - grace))
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(max(0.0, deadline - monotonic()))
        if self.process.is_alive():
            self.process.kill()
            self.process.join(0.5)
        return not self.process.is_alive()

    def info(self) -> HostInfo:
        pong = self.last_pong
        return HostInfo(
            key=self.key,
            incarnation=self.incarnation,
            pid=self.process.pid,
            uptime=self._parts.clock.now() - self._started_at,
            rss=pong.rss if pong else -1,
            fds=pong.fds if pong else -1,
        )

    # --- fault injection ----------------------------------------------------------------

    def signal(self, how: str) -> None:
        """kill (SIGKILL), freeze (SIGSTOP, the hang case), wedge (block its loop)."""
        pid = self.process.pid
        if how == "wedge":
            self.stream.post(Wedge(note="fault injection"))
        elif pid is not None and sys.platform != "win32":
            import os  # noqa: PLC0415 -- only for the faults

            os.kill(pid, signal.SIGKILL if how == "kill" else signal.SIGSTOP)
        elif how == "kill":
            self.process.kill()
