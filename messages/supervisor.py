"""The SupervisorActor's protocol: device groups, child deaths, checkpoints, shutdown.

Supervision follows OTP: a group is started from frozen child specs, children start in
order and stop in reverse, and a child reports its own death (``ChildFailed``). pykka
cannot restart an actor, so a restart is a new actor from the spec's factory, handed the
last checkpoint its predecessor sent.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any

from blerun.messages.common import DeviceId, GetStats, Role


class Restart(enum.Enum):
    """Whether a dead child is restarted (OTP's restart values; every death is an error)."""

    PERMANENT = "permanent"
    """Always, within the group's restart intensity."""
    TEMPORARY = "temporary"
    """Never; the group escalates instead."""


class Strategy(enum.Enum):
    """Which siblings are restarted with a dead child."""

    ONE_FOR_ONE = "one_for_one"
    """Only the dead child."""
    ONE_FOR_ALL = "one_for_all"
    """Every child of the group, stopped in reverse order and started in order."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ChildSpec:
    """How to start, restart and stop one child of a device group."""

    role: Role
    """Which actor this is."""
    factory: Callable[[object | None, int], Any]
    """Starts the child from its last checkpoint (``None`` at first) and a generation;
    returns its pykka ``ActorRef`` (or, for a radio in a host process, a stand-in with
    ``tell``, ``is_alive`` and ``stop``)."""
    restart: Restart = Restart.PERMANENT
    """Whether a dead child comes back."""
    shutdown_timeout: float = 2.0
    """Seconds to wait for this child to stop, within the overall close deadline."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GroupSpec:
    """A device group: its children in start order and its restart rules."""

    device: DeviceId
    """The group's identity."""
    children: tuple[ChildSpec, ...]
    """Started in this order, stopped in reverse."""
    strategy: Strategy = Strategy.ONE_FOR_ONE
    """Who restarts with a dead child."""
    intensity: int = 5
    """At most this many restarts ..."""
    period: float = 60.0
    """... within this many seconds; one more escalates: the device goes FAILED."""
    host: str | None = None
    """The radio host process its radio runs in (``None``: in the runtime's process)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StartGroup:
    """Start a device group; answered once every child is running."""

    request_id: int
    """Where the answer goes."""
    spec: GroupSpec
    """What to start."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StopGroup:
    """Stop one device group; answered with the children to join (newest first)."""

    request_id: int
    """Where the answer goes."""
    device: DeviceId
    """The group to stop."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ChildFailed:
    """From a dying child: it is gone, restart it by the rules."""

    device: DeviceId
    """Its group."""
    role: Role
    """Which child."""
    generation: int
    """The child's generation, so a late report of an old incarnation is ignored."""
    error: BaseException
    """What killed it."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """A child's durable state (the user's wishes), kept by the supervisor for a successor.

    Sent only when the wish changes (a subscription added, ``connect()`` called), never
    per transition: state and versions are published, and the successor reads them there.
    """

    device: DeviceId
    """Its group."""
    role: Role
    """Which child."""
    data: object
    """Opaque to the supervisor; the child's factory understands it."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Escalating:
    """Handed to a child's factory instead of its checkpoint: start only to end the group."""

    checkpoint: object
    """The checkpoint the child would have been started from."""
    error: BaseException
    """Why the group ends (a ``DeviceFailed``)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Shutdown:
    """Set the closing flag and answer with every child to join, in stop order."""

    request_id: int
    """Where the answer goes."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HostDown:
    """A radio host process is gone or must go: it exited, died, or stopped answering."""

    host: str
    """Which host (its radio's key)."""
    incarnation: int
    """Which start of it, so a late report about a replaced host is ignored."""
    reason: str
    """"exited" (its stream ended), "hung" (no heartbeat answer in time)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HostRecycle:
    """A radio host passed its recycle bound (uptime, memory, descriptors) while idle."""

    host: str
    """Which host."""
    incarnation: int
    """Which start of it."""
    why: str
    """What bound it passed, for the log."""


SupervisorCommand = (
    StartGroup | StopGroup | ChildFailed | Checkpoint | Shutdown | HostDown | HostRecycle | GetStats
)
"""Everything the SupervisorActor accepts."""

LIFECYCLE = (StartGroup, StopGroup, ChildFailed, Checkpoint, Shutdown, HostDown, HostRecycle)
"""Supervision messages: a fault plan touches them only when a rule names them."""
