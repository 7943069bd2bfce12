"""What every actor understands, how actors are addressed, and the reply envelope."""

from __future__ import annotations

import dataclasses
import enum


class Role(enum.Enum):
    """Which actor of a device group a message is addressed to."""

    RADIO = "radio"
    RECONNECT = "reconnect"
    NOTIFY = "notify"
    SUPERVISOR = "supervisor"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DeviceId:
    """One device group's identity: its address and the epoch the runtime gave it.

    A device removed and added again gets a new epoch, so a handle (or a message) of the
    old group can never reach the new one.
    """

    address: str
    """The device's normalized address."""
    epoch: int
    """Counts the groups this runtime started for the address, from 1."""

    def __str__(self) -> str:
        return f"{self.address}#{self.epoch}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Recipient:
    """Where the router delivers a message: one actor of one device group."""

    device: DeviceId | None
    """The group, or ``None`` for the runtime-wide actor (the supervisor)."""
    role: Role
    """Which actor of that group."""

    def __str__(self) -> str:
        return f"{self.device or 'runtime'}/{self.role.value}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """The answer to a request: exactly one of ``value`` or ``error`` is meaningful."""

    request_id: int
    """The id the caller got from ``Router.request()``."""
    value: object = None
    """The result on success (bytes, a services snapshot, statistics, ...)."""
    error: BaseException | None = None
    """The failure, one of blerun's exceptions; ``None`` on success."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Poison:
    """Fault injection: the receiving actor raises ``InjectedCrash`` and dies.

    It exercises the supervisor's restart path exactly as a real bug would.
    """

    note: str = ""
    """Free text carried into the crash message, for the test's log."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GetStats:
    """Ask an actor for its counters; answered with its frozen statistics object."""

    request_id: int
    """Where the answer goes."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Resync:
    """From the supervisor to a RadioActor: tell ``peer`` (just restarted) the current state.

    The event goes to that actor only, never to the device's listeners, which have seen it.
    """

    peer: Role
    """The restarted actor of the same group."""
