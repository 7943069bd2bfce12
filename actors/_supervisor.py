"""SupervisorActor: device groups, restarts within an intensity, escalation, shutdown.

OTP's rules, on pykka: a group's children start in order and stop in reverse; a child
that dies reports it (``ChildFailed``); it is restarted from its spec's factory, handed
the last ``Checkpoint`` its predecessor sent, and attached to its slot, where the mail
that was waiting for it (including what was left in the dead actor's inbox) is delivered
first. A restarted peer of the radio is then told the current state (``Resync``) by the
radio, never by the supervisor: the radio is the one writer of a device's state.

More than ``intensity`` restarts within ``period`` seconds escalate: the radio is told
``Escalate`` (a successor is started for that if the radio is what keeps dying), goes
FAILED and says so to every listener; then the group stops, and every other device keeps
being served. The supervisor never waits: stopping is requested here and joined, against
one deadline, by the runtime.

It is a pykka ``ThreadingActor`` (one thread for the whole runtime), so it stays
responsive when the event loop that runs the device actors is busy or wedged.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import typing
from typing import Any, Protocol, assert_never

import pykka

from blerun.actors._clock import Clock
from blerun.actors._metrics import Metrics
from blerun.actors._router import Router
from blerun.actors._slot import ChildRef
from blerun.actors.errors import DeviceFailed, InjectedCrash, RuntimeClosed, UsageError
from blerun.messages import (
    Checkpoint,
    ChildFailed,
    ChildSpec,
    DeviceId,
    Escalate,
    Escalating,
    GetStats,
    GroupSpec,
    HostDown,
    HostRecycle,
    Poison,
    Restart,
    Resync,
    Role,
    Shutdown,
    StartGroup,
    StopGroup,
    Strategy,
    SupervisorCommand,
)

log = logging.getLogger(__name__)

_ACCEPTS = (*typing.get_args(SupervisorCommand), Poison)


class HostProcess(Protocol):
    """A radio host process, as the supervisor handles it."""

    def kill(self) -> None: ...


class Hosts(Protocol):
    """The radio host processes the supervisor owns (``_hosts.HostTable``)."""

    def current(self, key: str, incarnation: int) -> HostProcess | None: ...

    def drop(self, key: str) -> HostProcess | None: ...

    def recycle(self, key: str) -> HostProcess | None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Stopping:
    """A child the runtime must join: which one, its ref, and its own bound."""

    device: DeviceId
    role: Role
    ref: ChildRef
    timeout: float


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SupervisorStats:
    """The supervisor's counters."""

    groups: int
    restarts: int
    escalations: int


@dataclasses.dataclass(slots=True)
class _Group:
    spec: GroupSpec
    refs: dict[Role, ChildRef] = dataclasses.field(default_factory=dict)
    generations: dict[Role, int] = dataclasses.field(default_factory=dict)
    checkpoints: dict[Role, object] = dataclasses.field(default_factory=dict)
    restarts: collections.deque[float] = dataclasses.field(default_factory=collections.deque)
    failed: bool = False


class SupervisorActor(pykka.ThreadingActor):
    """Supervises every device group of one runtime; see the module docstring."""

    use_daemon_thread = True

    def __init__(
        self,
        *,
        router: Router,
        clock: Clock,
        metrics: Metrics,
        hosts: Hosts | None = None,
        host_intensity: int = 5,
        host_period: float = 60.0,
    ) -> None:
        super().__init__()
        self._router = router
        self._clock = clock
        self._metrics = metrics
        self._hosts = hosts
        self._host_intensity = host_intensity
        self._host_period = host_period
        self._host_restarts: dict[str, collections.deque[float]] = {}
        self._recycling: set[tuple[str, int]] = set()
        self._groups: dict[DeviceId, _Group] = {}  # insertion order is start order
        self._closing = False
        self._restarts = 0
        self._escalations = 0

    def on_receive(self, message: Any) -> None:
        if isinstance(message, Poison):
            raise InjectedCrash(f"SupervisorActor poisoned: {message.note}")
        if not isinstance(message, _ACCEPTS):
            log.warning("SupervisorActor ignores %r", message)
            return
        msg: SupervisorCommand = message
        match msg:
            case StartGroup():
                self._on_start_group(msg)
            case StopGroup():
                group = self._groups.pop(msg.device, None)
                self._router.reply(msg.request_id, self._stopping([group] if group else []))
            case ChildFailed():
                self._on_child_failed(msg)
            case Checkpoint():
                group = self._groups.get(msg.device)
                if group is not None:
                    group.checkpoints[msg.role] = msg.data
            case Shutdown():
                self._closing = True
                groups = list(self._groups.values())
                self._groups.clear()
                self._router.reply(msg.request_id, self._stopping(list(reversed(groups))))
            case HostDown():
                self._on_host_down(msg)
            case HostRecycle():
                self._on_host_recycle(msg)
            case GetStats():
                stats = SupervisorStats(
                    groups=len(self._groups),
                    restarts=self._restarts,
                    escalations=self._escalations,
                )
                self._router.reply(msg.request_id, stats)
            case _:
                assert_never(msg)

    def _stopping(self, groups: list[_Group]) -> list[Stopping]:
        """The groups' children, newest first, for the runtime to close and join."""
        out: list[Stopping] = []
        for group in groups:
            for child in reversed(group.spec.children):
                ref = group.refs.pop(child.role, None)
                if ref is not None:
                    out.append(Stopping(group.spec.device, child.role, ref, child.shutdown_timeout))
        return out

    def _on_start_group(self, msg: StartGroup) -> None:
        spec = msg.spec
        if self._closing:
            self._router.reply(msg.request_id, error=RuntimeClosed("the runtime is closing"))
            return
        if spec.device in self._groups:
            self._router.reply(
                msg.request_id, error=UsageError(f"device {spec.device} is already managed")
            )
            return
        group = _Group(spec)
        self._groups[spec.device] = group
        try:
            for child in spec.children:
                self._start_child(group, child)
        except Exception as exc:  # noqa: BLE001 -- a factory failed: undo, report to the caller
            self._groups.pop(spec.device, None)
            for stopping in self._stopping([group]):
                stopping.ref.stop(block=False)
            self._router.reply(msg.request_id, error=exc)
            return
        self._router.reply(msg.request_id)

    def _start_child(self, group: _Group, child: ChildSpec) -> ChildRef:
        generation = group.generations.get(child.role, 0) + 1
        group.generations[child.role] = generation
        ref: ChildRef = child.factory(group.checkpoints.get(child.role), generation)
        group.refs[child.role] = ref
        self._router.slot_for(group.spec.device, child.role).attach(ref)
        return ref

    def _on_child_failed(self, msg: ChildFailed) -> None:
        group = self._groups.get(msg.device)
        if (
            group is None
            or self._closing
            or group.failed
            or group.generations.get(msg.role) != msg.generation
        ):
            return  # a late report from an incarnation already replaced or stopped
        spec = group.spec
        now = self._clock.now()
        while group.restarts and group.restarts[0] <= now - spec.period:
            group.restarts.popleft()
        child = next(c for c in spec.children if c.role is msg.role)
        log.error(
            "%s: %s actor died: %r",
            msg.device.address,
            msg.role.value,
            msg.error,
            extra={"device": msg.device.address, "reason": "child_failed"},
        )
        group.refs.pop(msg.role, None)
        if child.restart is Restart.TEMPORARY or len(group.restarts) >= spec.intensity:
            self._escalate(group, f"{msg.role.value} actor crashed more than", msg.error)
            return
        group.restarts.append(now)
        self._restarts += 1
        if spec.strategy is Strategy.ONE_FOR_ALL:
            for stopping in self._stopping([group]):
                self._router.slot_for(stopping.device, stopping.role).detach(stopping.ref)
                stopping.ref.stop(block=False)
            restarted = list(spec.children)
        else:
            restarted = [child]
        for spec_child in restarted:
            self._start_child(group, spec_child)
        radio = self._router.slot_for(spec.device, Role.RADIO)
        for spec_child in restarted:
            if spec_child.role is not Role.RADIO:
                radio.tell(Resync(peer=spec_child.role))
        self._metrics.increment(
            "supervisor.restarts", tags={"device": spec.device.address, "role": msg.role.value}
        )

    def _escalate(self, group: _Group, what: str, cause: BaseException) -> None:
        device = group.spec.device
        group.failed = True
        self._escalations += 1
        self._metrics.increment("supervisor.escalations", tags={"device": device.address})
        error = DeviceFailed(
            f"{device.address}: {what} {group.spec.intensity} times in "
            f"{group.spec.period:g} s; the device is stopped",
            address=device.address,
        )
        error.__cause__ = cause
        log.error("%s", error, extra={"device": device.address, "reason": "escalated"})
        if Role.RADIO not in group.refs:
            # The radio is what keeps dying: a successor is started only to say FAILED.
            radio = next(c for c in group.spec.children if c.role is Role.RADIO)
            last = group.checkpoints.get(Role.RADIO)
            group.checkpoints[Role.RADIO] = Escalating(checkpoint=last, error=error)
            self._start_child(group, radio)
        self._router.slot_for(device, Role.RADIO).tell(Escalate(error=error))
        # Queued behind Escalate in each inbox: the radio says FAILED before it stops.
        for stopping in self._stopping([group]):
            stopping.ref.stop(block=False)
        self._groups.pop(device, None)
        self._router.forget_group(device, error)

    # --- radio host processes ---------------------------------------------------------

    def _on_host_down(self, msg: HostDown) -> None:
        hosts = self._hosts
        if hosts is None or self._closing:
            return
        recycled = (msg.host, msg.incarnation) in self._recycling
        self._recycling.discard((msg.host, msg.incarnation))
        host = hosts.current(msg.host, msg.incarnation)
        if host is None and not recycled:
            return  # a late report about a host already replaced
        if host is not None:
            hosts.drop(msg.host)
            host.kill()  # OTP's shutdown, then brutal_kill if it lingers
        groups = [g for g in self._groups.values() if g.spec.host == msg.host and not g.failed]
        for group in groups:
            self._detach_radio(group)
        if not recycled:
            log.error(
                "radio host %s %s; its %d devices move to a new host",
                msg.host,
                "stopped answering" if msg.reason == "hung" else "died",
                len(groups),
                extra={"reason": f"host_{msg.reason}"},
            )
            self._metrics.increment("supervisor.host_restarts", tags={"host": msg.host})
            if self._host_restart_spent(msg.host):
                cause = RuntimeError(f"radio host {msg.host} failed too often ({msg.reason})")
                for group in groups:
                    self._escalate(group, f"its radio host {msg.host} failed more than", cause)
                return
        try:
            for group in groups:
                radio = next(c for c in group.spec.children if c.role is Role.RADIO)
                self._start_child(group, radio)
        except RuntimeClosed:
            log.info("no radio host restarted: the process is exiting")

    def _detach_radio(self, group: _Group) -> None:
        ref = group.refs.pop(Role.RADIO, None)
        if ref is not None:
            self._router.slot_for(group.spec.device, Role.RADIO).detach(ref)
            ref.stop(block=False)

    def _host_restart_spent(self, key: str) -> bool:
        now = self._clock.now()
        window = self._host_restarts.setdefault(key, collections.deque())
        while window and window[0] <= now - self._host_period:
            window.popleft()
        if len(window) >= self._host_intensity:
            return True
        window.append(now)
        self._restarts += 1
        return False

    def _on_host_recycle(self, msg: HostRecycle) -> None:
        hosts = self._hosts
        if hosts is None or self._closing or hosts.current(msg.host, msg.incarnation) is None:
            return
        log.info("recycling radio host %s: %s", msg.host, msg.why, extra={"reason": "recycle"})
        self._metrics.increment("supervisor.host_recycles", tags={"host": msg.host})
        for group in self._groups.values():
            if group.spec.host == msg.host and not group.failed:
                self._detach_radio(group)  # mail waits in the slots for the next host
        self._recycling.add((msg.host, msg.incarnation))
        hosts.recycle(msg.host)
