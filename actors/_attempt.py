"""Connection attempts and sessions: the RadioActor's link bookkeeping, as plain objects.

A ``Connector`` starts an attempt (a new ``BleakLink``, its connect coroutine on the loop,
its deadline on the Clock) and tears links down; each completion comes back to the radio
as a message tagged with the version the attempt started under. An ``Attempt`` is what
is in flight; a ``Session`` is what a successful attempt became.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from typing import Any

from blerun.actors._clock import Clock, Timer
from blerun.actors._link import BleakLink, LinkOptions
from blerun.actors._loop import LoopBridge
from blerun.actors._sink import SessionSink
from blerun.actors._slot import Slot
from blerun.actors.errors import ConnectFailed
from blerun.messages import AttemptDeadline, AttemptDone, LinkLost, ServicesSnapshot


@dataclasses.dataclass(slots=True)
class Attempt:
    """One connection attempt in flight."""

    version: int
    """The CONNECTING state_version it started under."""
    number: int
    """Attempt number within the current run (0: the first of a connect() request)."""
    link: BleakLink
    future: concurrent.futures.Future[ServicesSnapshot] | None
    timer: Timer | None
    early_loss: bool = False
    """The link dropped before the attempt's completion was handled."""

    def stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def cancel(self) -> None:
        self.stop_timer()
        future, self.future = self.future, None
        if future is not None:
            future.cancel()


@dataclasses.dataclass(slots=True)
class Session:
    """A connection that is up."""

    version: int
    """The CONNECTED state_version: the session id notifications and ops are tagged with."""
    link_version: int
    """The version of the attempt that made the link (what ``LinkLost`` names)."""
    link: BleakLink
    services: ServicesSnapshot
    sink: SessionSink
    notifying: set[str] = dataclasses.field(default_factory=set)
    """Characteristics with a backend subscription (or one starting) on this session."""


class Connector:
    """Starts attempts and tears links down for one RadioActor; see the module docstring."""

    def __init__(
        self,
        *,
        address: str,
        options: LinkOptions,
        attempt_timeout: float,
        bridge: LoopBridge,
        clock: Clock,
        inbox: Slot,
    ) -> None:
        self._address = address
        self._options = options
        self._timeout = attempt_timeout
        self._bridge = bridge
        self._clock = clock
        self._inbox = inbox

    @property
    def timeout(self) -> float:
        """Seconds one attempt may take."""
        return self._timeout

    def start(self, *, version: int, number: int) -> Attempt:
        inbox, timeout = self._inbox, self._timeout

        def on_lost() -> None:
            inbox.tell(LinkLost(link=version))

        link = BleakLink(address=self._address, options=self._options, on_lost=on_lost)

        def done(future: concurrent.futures.Future[ServicesSnapshot]) -> None:
            services, error = outcome(future)
            inbox.tell(
                AttemptDone(
                    version=version,
                    attempt=number,
                    services=services if isinstance(services, ServicesSnapshot) else None,
                    error=error,
                )
            )

        future = self._bridge.submit(lambda: link.connect(timeout), done)
        timer = self._clock.call_later(
            timeout, lambda: inbox.tell(AttemptDeadline(version=version)), label="AttemptDeadline"
        )
        return Attempt(version=version, number=number, link=link, future=future, timer=timer)

    def teardown(self, link: BleakLink, then: object | None = None) -> None:
        """Disconnect ``link`` in the background (bounded); tell ``then`` when it ended."""
        inbox = self._inbox

        def done(_future: concurrent.futures.Future[bool]) -> None:
            if then is not None:
                inbox.tell(then)

        self._bridge.submit(link.disconnect, done, teardown=True)


def outcome(future: concurrent.futures.Future[Any]) -> tuple[Any, BaseException | None]:
    """A finished future as ``(value, error)``; a cancelled one is a failed attempt."""
    if future.cancelled():
        return None, ConnectFailed("cancelled")
    error = future.exception()
    if error is not None:
        return None, error
    return future.result(), None
