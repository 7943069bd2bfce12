"""SupervisorActor: device groups, restarts within an intensity, escalation, shutdown.

OTP's rules, on pykka: a group's children start in order and stop in reverse; a child
that dies reports it from ``on_failure`` (``ChildFailed``); it is restarted from its
spec's factory, handed the last ``Checkpoint`` its predecessor sent, and the group's
RadioActor is asked to ``Resync`` so the newcomer learns the current state. More than
``intensity`` restarts within ``period`` seconds escalate: the group is stopped and the
device goes FAILED, while every other device keeps being served. The supervisor never
waits: stopping is requested here and joined, against one deadline, by the runtime.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import typing
from typing import Any, assert_never

import pykka

from blerun.actors._clock import Clock
from blerun.actors._errors import DeviceFailed, InjectedCrash, RuntimeClosed, UsageError
from blerun.actors._guard import guarded
from blerun.actors._metrics import Metrics
from blerun.actors._notify import NotifyCheckpoint
from blerun.actors._router import ActorRef, Router
from blerun.messages import (
    Address,
    Checkpoint,
    ChildFailed,
    ChildSpec,
    ConnectionState,
    GetStats,
    GroupSpec,
    Poison,
    Reason,
    Restart,
    Resync,
    Role,
    Shutdown,
    StartGroup,
    StateChanged,
    StopGroup,
    Strategy,
    SupervisorCommand,
)

log = logging.getLogger(__name__)

_ACCEPTS = (*typing.get_args(SupervisorCommand), Poison)


@dataclasses.dataclass(frozen=True, slots=True)
class Stopping:
    """A child the runtime must join: which one, its ref, and its own bound."""

    device: str
    role: Role
    ref: ActorRef
    timeout: float


@dataclasses.dataclass(slots=True)
class _Group:
    spec: GroupSpec
    refs: dict[Role, ActorRef] = dataclasses.field(default_factory=dict)
    generations: dict[Role, int] = dataclasses.field(default_factory=dict)
    checkpoints: dict[Role, object] = dataclasses.field(default_factory=dict)
    restarts: collections.deque[float] = dataclasses.field(default_factory=collections.deque)
    failed: bool = False
    restart_count: int = 0


class SupervisorActor(pykka.ThreadingActor):
    """Supervises every device group of one runtime; see the module docstring."""

    use_daemon_thread = True

    def __init__(self, *, router: Router, clock: Clock, metrics: Metrics) -> None:
        super().__init__()
        self._router = router
        self._clock = clock
        self._metrics = metrics
        self._groups: dict[str, _Group] = {}  # insertion order is start order
        self._closing = False
        self._escalations = 0

    def on_receive(self, message: Any) -> None:
        if not isinstance(message, _ACCEPTS):
            log.warning("SupervisorActor ignores %r", message)
            return
        if isinstance(message, Poison):
            raise InjectedCrash(f"SupervisorActor poisoned: {message.note}")
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
            case GetStats():
                self._router.reply(
                    msg.request_id,
                    {
                        "groups": len(self._groups),
                        "escalations": self._escalations,
                        "restarts": {d: g.restart_count for d, g in self._groups.items()},
                    },
                )
            case _:
                assert_never(msg)

    def _stopping(self, groups: list[_Group]) -> list[Stopping]:
        """Unregister the groups' children; return them newest-first for the runtime to join."""
        out: list[Stopping] = []
        for group in groups:
            for child in reversed(group.spec.children):
                ref = group.refs.pop(child.role, None)
                if ref is None:
                    continue
                self._router.unregister(Address(device=group.spec.device, role=child.role), ref)
                out.append(Stopping(group.spec.device, child.role, ref, child.shutdown_timeout))
        return out

    def _on_start_group(self, msg: StartGroup) -> None:
        spec = msg.spec
        if self._closing:
            self._router.reply(msg.request_id, error=RuntimeClosed("the runtime is closing"))
            return
        existing = self._groups.get(spec.device)
        if existing is not None and not existing.failed:
            self._router.reply(
                msg.request_id,
                error=UsageError(f"device {spec.device} is already managed by this runtime"),
            )
            return
        group = _Group(spec)
        self._groups[spec.device] = group
        try:
            for child in spec.children:
                self._start_child(group, child)
        except Exception as exc:  # noqa: BLE001 -- a factory failed: undo what started, report to the caller
            self._groups.pop(spec.device, None)
            for stopping in self._stopping([group]):
                stopping.ref.stop(block=False)
            self._router.reply(msg.request_id, error=exc)
            return
        self._router.reply(msg.request_id)

    def _start_child(self, group: _Group, child: ChildSpec) -> None:
        generation = group.generations.get(child.role, 0) + 1
        ref = child.factory(group.checkpoints.get(child.role), generation)
        group.generations[child.role] = generation
        group.refs[child.role] = ref
        self._router.register(Address(device=group.spec.device, role=child.role), ref)

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
            msg.device,
            msg.role.value,
            msg.error,
            extra={"device": msg.device, "reason": "child_failed"},
        )
        if child.restart is Restart.TEMPORARY or len(group.restarts) >= spec.intensity:
            self._escalate(group, msg)
            return
        group.restarts.append(now)
        group.restart_count += 1
        if spec.strategy is Strategy.ONE_FOR_ALL:
            to_restart = list(spec.children)
            for stopping in self._stopping([group]):
                stopping.ref.stop(block=False)
        else:
            to_restart = [child]
            group.refs.pop(msg.role, None)
        for spec_child in to_restart:
            self._start_child(group, spec_child)
        self._router.tell(
            Address(device=msg.device, role=Role.RADIO), Resync(generation=group.restart_count)
        )
        # Counted once the successor runs and the resync is queued behind nothing else.
        self._metrics.increment(
            "supervisor.restarts", tags={"device": msg.device, "role": msg.role.value}
        )

    def _escalate(self, group: _Group, msg: ChildFailed) -> None:
        device = group.spec.device
        group.failed = True
        self._escalations += 1
        self._metrics.increment("supervisor.escalations", tags={"device": device})
        for stopping in self._stopping([group]):
            stopping.ref.stop(block=False)
        error = DeviceFailed(
            f"{device}: {msg.role.value} actor crashed more than {group.spec.intensity} times "
            f"in {group.spec.period:g} s; the device is stopped",
            device=device,
        )
        error.__cause__ = msg.error
        snapshot = self._router.view(device).snapshot
        event = StateChanged(
            device=device,
            old=snapshot.state,
            new=ConnectionState.FAILED,
            reason=Reason.ESCALATED,
            version=snapshot.version + 1,
            attempt=0,
            error=error,
        )
        log.error("%s", error, extra={"device": device, "reason": Reason.ESCALATED.value})
        self._router.publish(event)
        # The group's NotificationActor is gone: tell the user's listeners from here.
        notify = group.checkpoints.get(Role.NOTIFY)
        if isinstance(notify, NotifyCheckpoint):
            for listener in notify.listeners:
                guarded(
                    listener.callback,
                    event,
                    what="on_state_change callback",
                    counter="callbacks.errors",
                    device=device,
                    metrics=self._metrics,
                )
