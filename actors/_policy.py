"""``ReconnectPolicy``: the one backoff policy used by connect, reconnect and retries.

A frozen value with pure functions. The attempt counter lives in the ReconnectActor; the
random generator is injected, so a seeded ``random.Random`` makes every delay
reproducible.

Counting, as the runtime applies it: ``connect()`` makes an immediate first attempt that
is not counted. Each time the device then enters RECONNECTING (an attempt failed, or the
link dropped) the counter goes up by one and the next attempt waits ``delay(counter)``;
past ``max_attempts`` the device goes FAILED. The counter goes back to zero on a new
``connect()``, when a connection stayed up for ``stable_window`` seconds, and (with
``reset_on_io``) when a read or write succeeds. So a link that flaps backs off ever more,
while a link that was stable for a while starts again from ``initial``.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import random
from collections.abc import Callable, Mapping

from blerun.actors._validate import check_callable
from blerun.actors.errors import InvalidPolicy


class Jitter(enum.Enum):
    """How randomness spreads the delays of many devices that lost their link together."""

    NONE = "none"
    """Exactly the capped exponential delay."""
    FULL = "full"
    """Uniform in [0, delay]: the widest spread (AWS architecture blog's "full jitter")."""
    EQUAL = "equal"
    """Half the delay, plus uniform in [0, delay / 2]."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AttemptInfo:
    """What a policy hook is told."""

    address: str
    """The device's address."""
    attempt: int
    """The attempt number (for ``on_success``: the attempts this run took)."""
    delay: float
    """The delay before this attempt (0 for ``on_success`` and ``on_give_up``)."""
    error: BaseException | None
    """The error that led here, if any."""


Hook = Callable[[AttemptInfo], None]


def _finite(name: str, value: object, *, low: float, inclusive: bool = True) -> None:
    bound = f"a finite number {'>=' if inclusive else '>'} {low:g}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidPolicy(f"ReconnectPolicy.{name}", bound, value)
    if not ((value >= low if inclusive else value > low) and math.isfinite(value)):
        raise InvalidPolicy(f"ReconnectPolicy.{name}", bound, value)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ReconnectPolicy:
    """Capped exponential backoff with jitter, limits and reset criteria.

    Args:
        initial: Delay before the first reconnection attempt, seconds (>= 0).
        multiplier: Growth factor per attempt (>= 1).
        cap: Largest delay ever waited, seconds (> 0, >= ``initial``).
        jitter: ``Jitter.FULL``/``EQUAL``/``NONE``, or a fraction f in [0, 1] for a
            symmetric spread of +-f around the delay (clamped to the bounds).
        min_delay: Smallest delay ever waited, seconds (0 <= min_delay <= cap).
        max_attempts: Reconnection attempts in a row before giving up; ``None`` tries
            forever, ``0`` never reconnects.
        stable_window: Seconds a connection must stay up to reset the counter (> 0).
        reset_on_io: Whether a successful read or write resets the counter too.
        min_delay_for: A floor per error class, e.g. ``{DeviceNotFound: 10.0}``: a device
            that is out of range is not worth hammering; each floor <= ``cap``.
        deadline: Seconds one ``connect()`` request keeps trying before it gives up
            (``None``: only ``max_attempts`` limits it).
        attempt_timeout: Seconds one connection attempt (connect + discovery) may take.
        on_attempt: Called when an attempt is scheduled (with its delay).
        on_success: Called when an attempt connected.
        on_give_up: Called when the policy is spent.

    Raises:
        InvalidPolicy: a value is out of bounds; the message names field and bound.
    """

    initial: float = 1.0
    multiplier: float = 2.0
    cap: float = 30.0
    jitter: Jitter | float = 0.2
    min_delay: float = 0.0
    max_attempts: int | None = None
    stable_window: float = 60.0
    reset_on_io: bool = True
    min_delay_for: Mapping[type[BaseException], float] = dataclasses.field(default_factory=dict)
    deadline: float | None = None
    attempt_timeout: float = 20.0
    on_attempt: Hook | None = dataclasses.field(default=None, compare=False)
    on_success: Hook | None = dataclasses.field(default=None, compare=False)
    on_give_up: Hook | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self) -> None:
        _finite("initial", self.initial, low=0.0)
        _finite("multiplier", self.multiplier, low=1.0)
        _finite("cap", self.cap, low=0.0, inclusive=False)
        if self.cap < self.initial:
            raise InvalidPolicy("ReconnectPolicy.cap", f">= initial ({self.initial:g})", self.cap)
        if isinstance(self.jitter, bool) or not isinstance(self.jitter, Jitter | float | int):
            raise InvalidPolicy("ReconnectPolicy.jitter", "a Jitter or a fraction", self.jitter)
        if not isinstance(self.jitter, Jitter) and not 0.0 <= self.jitter <= 1.0:
            raise InvalidPolicy("ReconnectPolicy.jitter", "a fraction in [0, 1]", self.jitter)
        _finite("min_delay", self.min_delay, low=0.0)
        if self.min_delay > self.cap:
            raise InvalidPolicy(
                "ReconnectPolicy.min_delay", f"<= cap ({self.cap:g})", self.min_delay
            )
        if self.max_attempts is not None and (
            isinstance(self.max_attempts, bool)
            or not isinstance(self.max_attempts, int)
            or self.max_attempts < 0
        ):
            raise InvalidPolicy(
                "ReconnectPolicy.max_attempts", "None or an int >= 0", self.max_attempts
            )
        _finite("stable_window", self.stable_window, low=0.0, inclusive=False)
        if not isinstance(self.reset_on_io, bool):
            raise InvalidPolicy("ReconnectPolicy.reset_on_io", "True or False", self.reset_on_io)
        for hook in ("on_attempt", "on_success", "on_give_up"):
            check_callable(getattr(self, hook), name=f"ReconnectPolicy.{hook}", optional=True)
        if not isinstance(self.min_delay_for, Mapping):
            raise InvalidPolicy(
                "ReconnectPolicy.min_delay_for",
                "a mapping of exception classes to seconds",
                self.min_delay_for,
            )
        for error_class, floor in self.min_delay_for.items():
            if not (isinstance(error_class, type) and issubclass(error_class, BaseException)):
                raise InvalidPolicy(
                    "ReconnectPolicy.min_delay_for", "keyed by exception classes", error_class
                )
            _finite(f"min_delay_for[{error_class.__name__}]", floor, low=0.0)
            if floor > self.cap:
                raise InvalidPolicy(
                    f"ReconnectPolicy.min_delay_for[{error_class.__name__}]",
                    f"<= cap ({self.cap:g})",
                    floor,
                )
        # A frozen value must not share a dict the caller may still mutate.
        object.__setattr__(self, "min_delay_for", dict(self.min_delay_for))
        if self.deadline is not None:
            _finite("deadline", self.deadline, low=0.0, inclusive=False)
        _finite("attempt_timeout", self.attempt_timeout, low=0.0, inclusive=False)

    def base_delay(self, attempt: int) -> float:
        """The capped exponential delay for ``attempt`` (1-based), before jitter."""
        if attempt < 1:
            raise ValueError(f"attempt is 1-based, got {attempt}")
        try:
            raw = self.initial * self.multiplier ** (attempt - 1)
        except OverflowError:  # a long outage: the cap has long been reached
            raw = self.cap
        return min(raw, self.cap)

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The delay before reconnection attempt ``attempt`` (1-based). Pure.

        Always within ``[min_delay, cap]``.
        """
        base = self.base_delay(attempt)
        match self.jitter:
            case Jitter.NONE:
                spread = base
            case Jitter.FULL:
                spread = rng.uniform(0.0, base)
            case Jitter.EQUAL:
                spread = base / 2 + rng.uniform(0.0, base / 2)
            case fraction:
                spread = base * (1.0 + rng.uniform(-fraction, fraction))
        return min(self.cap, max(self.min_delay, spread))

    def delay_after(self, attempt: int, rng: random.Random, error: BaseException | None) -> float:
        """``delay()``, raised to the floor of the error's class (``min_delay_for``)."""
        delay = self.delay(attempt, rng)
        if error is not None:
            for error_class, floor in self.min_delay_for.items():
                if isinstance(error, error_class):
                    delay = max(delay, floor)
        return delay

    def exhausted(self, attempt: int) -> bool:
        """Whether reconnection attempt ``attempt`` would exceed ``max_attempts``."""
        return self.max_attempts is not None and attempt > self.max_attempts
