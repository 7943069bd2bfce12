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
import threading
from collections.abc import Callable
from typing import Any

import pykka

from blerun.actors._clock import Clock, LoopClock, Timer, monotonic
from blerun.actors._host_main import HostConfig, run_host
from blerun.actors._hub import DeviceSnapshot
from blerun.actors._link import LinkOptions
from blerun.actors._metrics import Metrics
from blerun.actors._router import Router
from blerun.actors._transport import FrameStream, RemoteRef
from blerun.actors.errors import Disconnected, InvalidPolicy, RuntimeClosed
from blerun.messages import (
    Connect,
    DeviceId,
    Disconnect,
    Drain,
    GetStats,
    HostDown,
    HostRecycle,
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
class HostPolicy:
    """How the runtime supervises its radio host processes (``Runtime(radio="process")``).

    Args:
        heartbeat: Seconds between two pings to each host.
        hang_timeout: A host that has not answered for this long is wedged: killed and
            started again (its devices reconnect from their wishes).
        shutdown_timeout: After ``terminate()``, seconds before ``kill()``.
        recycle_after: Restart a host after this many seconds of uptime (``None``: never).
        max_rss: Restart a host whose resident memory passes this many bytes.
        max_fds: Restart a host with more open file descriptors than this.

    Recycling waits for a moment with nothing in flight on the host.
    """

    heartbeat: float = 0.5
    hang_timeout: float = 3.0
    shutdown_timeout: float = 1.0
    recycle_after: float | None = None
    max_rss: int | None = None
    max_fds: int | None = None

    def __post_init__(self) -> None:
        for name in ("heartbeat", "hang_timeout", "shutdown_timeout"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 < value < float("inf")
            ):
                raise InvalidPolicy(f"HostPolicy.{name}", "a finite number of seconds > 0", value)
        if self.hang_timeout <= self.heartbeat:
            raise InvalidPolicy(
                "HostPolicy.hang_timeout", f"> heartbeat ({self.heartbeat:g})", self.hang_timeout
            )
        recycle = self.recycle_after
        if recycle is not None and (
            isinstance(recycle, bool)
            or not isinstance(recycle, int | float)
            or not 0 < recycle < float("inf")
        ):
            raise InvalidPolicy("HostPolicy.recycle_after", "None or seconds > 0", recycle)
        for name in ("max_rss", "max_fds"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise InvalidPolicy(f"HostPolicy.{name}", "None or an int > 0", value)

    def recycle_reason(self, uptime: float, pong: Pong) -> str | None:
        """Why a host should be recycled now, or ``None``."""
        if self.recycle_after is not None and uptime > self.recycle_after:
            return f"uptime {uptime:.0f} s > {self.recycle_after:g} s"
        if self.max_rss is not None and pong.rss > self.max_rss:
            return f"RSS {pong.rss} B > {self.max_rss} B"
        if self.max_fds is not None and pong.fds > self.max_fds:
            return f"{pong.fds} open descriptors > {self.max_fds}"
        return None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HostInfo:
    """One radio host process, as ``Runtime.hosts()`` reports it."""

    key: str
    """The radio (adapter) it serves."""
    incarnation: int
    """How many times a host was started for this key (restarts and recycles count)."""
    pid: int | None
    """Its process id."""
    uptime: float
    """Seconds since it was started."""
    rss: int
    """Resident memory at its last heartbeat, bytes (-1: not known yet)."""
    fds: int
    """Open file descriptors at its last heartbeat (-1: not known)."""


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


class HostTable:
    """The supervisor's radio hosts, one per key (a radio, or adapter)."""

    def __init__(self, *, policy: HostPolicy, parts: HostParts) -> None:
        self.policy = policy
        self._parts = parts
        self._hosts: dict[str, RadioHost] = {}
        self._incarnations: dict[str, int] = {}
        self.retired: list[RadioHost] = []
        """Replaced hosts not reaped yet (joined at close)."""

    def host(self, key: str) -> RadioHost:
        """The host serving ``key``, started if there is none.

        Raises:
            RuntimeClosed: the interpreter is exiting (its main thread has ended): no new
                process is started then.
        """
        host = self._hosts.get(key)
        if host is None:
            if not threading.main_thread().is_alive():
                raise RuntimeClosed("the process is exiting; no radio host is started")
            incarnation = self._incarnations.get(key, 0) + 1
            self._incarnations[key] = incarnation
            host = RadioHost(
                key=key, incarnation=incarnation, policy=self.policy, parts=self._parts
            )
            self._hosts[key] = host
            self._parts.router.on_forget.append(host.forget)
        return host

    def current(self, key: str, incarnation: int) -> RadioHost | None:
        host = self._hosts.get(key)
        return host if host is not None and host.incarnation == incarnation else None

    def drop(self, key: str) -> RadioHost | None:
        """Forget the current host of ``key`` (it is gone or being killed)."""
        host = self._hosts.pop(key, None)
        if host is not None:
            if host.forget in self._parts.router.on_forget:
                self._parts.router.on_forget.remove(host.forget)
            self.retired.append(host)
        return host

    def recycle(self, key: str) -> RadioHost | None:
        """Retire the current host of ``key`` and start its successor now (it imports while
        the old one tears its links down). Returns the retiring one."""
        old = self.drop(key)
        if old is not None:
            old.retire(self.policy.shutdown_timeout)
            self.host(key)
        return old

    def info(self) -> tuple[HostInfo, ...]:
        """What each current host looks like now."""
        return tuple(host.info() for host in list(self._hosts.values()))

    def fault(self, how: str, key: str | None) -> int | None:
        """Make the host of ``key`` (default: the first) fail as ``how`` says; its pid."""
        if how not in ("kill", "freeze", "wedge"):
            raise InvalidPolicy("how", "'kill', 'freeze' or 'wedge'", how)
        host = self._hosts.get(key) if key is not None else next(iter(self._hosts.values()), None)
        if host is None:
            return None
        host.signal(how)
        return host.process.pid

    def close(self, deadline: float) -> list[str]:
        """Retire every host, and reap every process by ``deadline``; returns the ones
        that would not go."""
        hosts = [*self._hosts.values(), *self.retired]
        for host in self._hosts.values():
            host.retire(max(0.0, 0.5 * (deadline - monotonic())))
        stuck = [f"host:{h.key}#{h.incarnation}" for h in hosts if not h.join(deadline)]
        self._hosts.clear()
        self.retired.clear()
        return stuck


def host_table(
    policy: HostPolicy | None, router: Router, loop: Any, metrics: Metrics
) -> HostTable | None:
    """The host table of a runtime in process mode (``None`` in-process)."""
    if policy is None:
        return None
    supervisor = router.slot_for(None, Role.SUPERVISOR)

    def down(host: str, incarnation: int, reason: str) -> None:
        supervisor.tell(HostDown(host=host, incarnation=incarnation, reason=reason))

    def recycle(host: str, incarnation: int, why: str) -> None:
        supervisor.tell(HostRecycle(host=host, incarnation=incarnation, why=why))

    parts = HostParts(
        router=router,
        clock=LoopClock(loop),  # liveness is real time, whatever clock the devices use
        metrics=metrics,
        loop=loop,
        on_down=down,
        on_recycle=recycle,
    )
    return HostTable(policy=policy, parts=parts)
