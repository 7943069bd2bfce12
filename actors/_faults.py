"""Message-level fault injection: drop, delay, duplicate, reorder, crash.

Every send between actors (and from bleak's callbacks into actors) passes the router;
with a ``FaultPlan`` installed the router asks the plan what to do with each message. A
plan is a list of rules, first match wins; each rule draws from its own seeded random
stream per destination, so a message stream produced by one thread (notifications from
the loop, for instance) sees the same faults on every run with the same seed.

Replies to callers are not subject to faults: a dropped reply would only turn into the
caller's timeout, which the tests of timeouts cover directly. The runtime's own lifecycle
messages (supervision, ``Close``, ``Escalate``, ``Resync``, ``Poison``) and the state
events a device's actors live by (``StateChanged``) are protected: a rule touches them
only when it names their type, so "drop 10% of everything" cannot make ``close()`` leave
actors running, nor leave a connected device with its subscriptions never re-applied.
"""

from __future__ import annotations

import dataclasses
import enum
import random
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TypedDict, Unpack

from blerun.actors.errors import InvalidArgument, InvalidPolicy
from blerun.messages import (
    LIFECYCLE,
    Close,
    Escalate,
    NotificationBatch,
    Poison,
    Recipient,
    Resync,
    Role,
    StateChanged,
)


class FaultKind(enum.Enum):
    """What a rule does to a matching message."""

    DROP = "drop"
    """The message is never delivered."""
    DELAY = "delay"
    """Delivered ``seconds`` later, through the runtime's Clock."""
    DUPLICATE = "duplicate"
    """Delivered twice."""
    REORDER = "reorder"
    """Held back and delivered after the next message to the same actor (or after the
    plan's ``hold`` bound, whichever comes first)."""


PROTECTED: tuple[type, ...] = (*LIFECYCLE, Close, Escalate, Resync, Poison, StateChanged)
"""Messages a rule applies to only when it names their type."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FaultRule:
    """One rule of a plan."""

    kind: FaultKind
    """What to do."""
    types: tuple[type, ...]
    """Message classes it applies to (empty: all)."""
    role: Role | None
    """Only messages to this actor role (``None``: any)."""
    device: str | None
    """Only messages to this device (``None``: any)."""
    probability: float
    """Chance per matching message, in [0, 1]."""
    seconds: float = 0.0
    """For DELAY: how long."""
    limit: int | None = None
    """Apply at most this many times (``None``: unlimited)."""

    def matches(self, recipient: Recipient, message: object) -> bool:
        if self.types:
            if not isinstance(message, self.types):
                return False
        elif isinstance(message, PROTECTED):
            return False
        device = recipient.device
        return (self.role is None or recipient.role is self.role) and (
            self.device is None or (device is not None and device.address == self.device)
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """What the router does with one message."""

    kind: FaultKind | None
    """``None``: deliver normally."""
    seconds: float = 0.0
    """For DELAY."""


_DELIVER = Decision(None)

Types = Iterable[type] | type | None
"""The message classes a rule applies to; ``None`` for every message."""


class Match(TypedDict, total=False):
    """Which matching messages a rule touches."""

    probability: float
    """Chance per matching message, in [0, 1] (default 1.0)."""
    role: Role | None
    """Only messages to this actor role."""
    device: str | None
    """Only messages to this device (its address)."""
    limit: int | None
    """Apply at most this many times."""


def _check_seconds(name: str, value: object) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not 0 <= value < float("inf"):  # type: ignore[operator]
        raise InvalidPolicy(name, "a finite number of seconds >= 0", value)


def _classes(types: object) -> tuple[type, ...]:
    if types is None:
        return ()
    if isinstance(types, type):
        return (types,)
    if isinstance(types, Iterable) and not isinstance(types, str | bytes | Mapping):
        classes = tuple(types)
        if classes and all(isinstance(t, type) for t in classes):
            return classes
    raise InvalidArgument("types", "a message class, some of them, or None", types)


class FaultPlan:
    """A seeded set of fault rules for the router.

    Example::

        plan = FaultPlan(seed=7)
        plan.drop(NotificationBatch, probability=0.1)
        plan.delay(LinkLost, seconds=0.5)
        with Runtime(faults=plan) as rt: ...
        print(plan.applied())    # what was actually injected

    Args:
        seed: Seeds every rule's random streams (an int or a str).
        hold: Longest time (Clock seconds) a reordered message is held back when no later
            message to the same actor comes along.
    """

    def __init__(self, seed: int | str = 0, *, hold: float = 0.05) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int | str):
            raise InvalidArgument("seed", "an int or a str", seed)
        _check_seconds("FaultPlan hold", hold)
        self.seed = seed
        self.hold = hold
        self._rules: list[FaultRule] = []
        self._streams: dict[tuple[int, Recipient], random.Random] = {}
        self._uses: Counter[int] = Counter()
        self._applied: Counter[tuple[FaultKind, str]] = Counter()
        self._notifications: Counter[tuple[FaultKind, str]] = Counter()
        # Rules are consulted from every sending thread; the plan is test machinery
        # shared by all of them, not actor state.
        self._lock = threading.Lock()

    def _add(
        self,
        kind: FaultKind,
        types: Iterable[type] | type | None,
        *,
        probability: float = 1.0,
        role: Role | None = None,
        device: str | None = None,
        limit: int | None = None,
        seconds: float = 0.0,
    ) -> FaultPlan:
        number = isinstance(probability, int | float) and not isinstance(probability, bool)
        if not number or not 0.0 <= probability <= 1.0:
            raise InvalidPolicy("FaultPlan probability", "a number in [0, 1]", probability)
        _check_seconds("FaultPlan seconds", seconds)
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise InvalidPolicy("FaultPlan limit", "None or an int >= 0", limit)
        if role is not None and not isinstance(role, Role):
            raise InvalidArgument("role", "a Role or None", role)
        if device is not None and not isinstance(device, str):
            raise InvalidArgument("device", "an address (str) or None", device)
        classes = _classes(types)
        rule = FaultRule(
            kind=kind,
            types=classes,
            role=role,
            device=device,
            probability=probability,
            seconds=seconds,
            limit=limit,
        )
        with self._lock:
            self._rules.append(rule)
        return self

    # Each rule method takes the message classes it applies to (None: all) and the
    # keywords of ``Match``: probability (default 1.0), role, device, limit.

    def drop(self, types: Types = None, **match: Unpack[Match]) -> FaultPlan:
        """Never deliver matching messages."""
        return self._add(FaultKind.DROP, types, **match)

    def delay(self, types: Types = None, *, seconds: float, **match: Unpack[Match]) -> FaultPlan:
        """Deliver matching messages ``seconds`` later (Clock time)."""
        return self._add(FaultKind.DELAY, types, seconds=seconds, **match)

    def duplicate(self, types: Types = None, **match: Unpack[Match]) -> FaultPlan:
        """Deliver matching messages twice."""
        return self._add(FaultKind.DUPLICATE, types, **match)

    def reorder(self, types: Types = None, **match: Unpack[Match]) -> FaultPlan:
        """Hold matching messages back until the next message to the same actor passes."""
        return self._add(FaultKind.REORDER, types, **match)

    @property
    def max_delay(self) -> float:
        """The longest delay any rule can inject (the reorder ``hold`` included)."""
        with self._lock:
            delays = [r.seconds for r in self._rules if r.kind is FaultKind.DELAY]
        return max([self.hold, *delays])

    def decide(self, recipient: Recipient, message: object) -> Decision:
        """The router's question: what happens to this message?"""
        with self._lock:
            for index, rule in enumerate(self._rules):
                if not rule.matches(recipient, message):
                    continue
                if rule.limit is not None and self._uses[index] >= rule.limit:
                    continue
                stream = self._streams.get((index, recipient))
                if stream is None:
                    stream = random.Random(f"{self.seed}:{index}:{recipient}")
                    self._streams[(index, recipient)] = stream
                if stream.random() >= rule.probability:
                    continue
                self._uses[index] += 1
                self._applied[(rule.kind, type(message).__name__)] += 1
                if isinstance(message, NotificationBatch):
                    address = recipient.device.address if recipient.device else ""
                    self._notifications[(rule.kind, address)] += len(message.items)
                return Decision(rule.kind, rule.seconds)
        return _DELIVER

    def applied(self) -> dict[str, int]:
        """How many faults were injected, as ``{"drop:RawNotification": 3, ...}``."""
        with self._lock:
            return {f"{kind.value}:{name}": n for (kind, name), n in self._applied.items()}

    def dropped_notifications(self, address: str | None = None) -> int:
        """Notifications lost in the batches this plan dropped (to ``address``, or to all).

        What a test needs to reconcile what a peripheral sent with what was delivered.
        """
        return self._count_notifications(FaultKind.DROP, address)

    def duplicated_notifications(self, address: str | None = None) -> int:
        """Notifications in the batches this plan delivered twice (the extra copies)."""
        return self._count_notifications(FaultKind.DUPLICATE, address)

    def _count_notifications(self, kind: FaultKind, address: str | None) -> int:
        with self._lock:
            return sum(
                n
                for (counted, to), n in self._notifications.items()
                if counted is kind and (address is None or to == address)
            )
