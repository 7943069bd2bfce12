"""The RadioActor's state: the guarded machine, its publication, the wish, the waiters.

A plain object the RadioActor owns. ``go`` is the only way a device's state changes: it
applies the transition (or refuses it), publishes the event through the router (the one
writer of the device's state), logs it with structured fields, and answers the callers
parked on that state. The user's wish (connected or not) is checkpointed with the
supervisor when it changes, never per transition.
"""

from __future__ import annotations

import dataclasses
import logging

from blerun.actors._actor_base import GroupContext
from blerun.actors._state import StateMachine
from blerun.actors._waiters import Parked, ParkingLot
from blerun.actors.errors import GaveUp, NotConnected, RuntimeClosed
from blerun.messages import (
    Checkpoint,
    ConnectionState,
    Reason,
    Role,
    ServicesSnapshot,
    StateChanged,
)

log = logging.getLogger(__name__)

S = ConnectionState


@dataclasses.dataclass(frozen=True, slots=True)
class RadioWish:
    """What survives a RadioActor restart: the user's wish and the callers still waiting."""

    wants_connected: bool
    parked: tuple[Parked, ...] = ()
    escalated: BaseException | None = None
    """Set when the successor is started only to end the group (escalation)."""


class RadioState:
    """One device's state and everything tied to it; see the module docstring."""

    def __init__(self, ctx: GroupContext, wish: RadioWish | None, generation: int) -> None:
        self._ctx = ctx
        self._generation = generation
        self._address = ctx.address
        published = ctx.hub.snapshot
        # A successor continues from what the world last saw: versions keep growing.
        self.machine = StateMachine(
            self._address, ctx.metrics, state=published.state, version=published.version
        )
        self.wants = wish.wants_connected if wish else False
        self.lot = ParkingLot(ctx.router.reply, wish.parked if wish else ())
        self.escalated: BaseException | None = wish.escalated if wish else None
        """Set by escalation: the group is over, every caller gets this error."""
        self.last_event = StateChanged(
            address=self._address,
            old=published.state,
            new=published.state,
            reason=Reason.RESTARTED,
            version=published.version,
            attempt=0,
        )
        """What a restarted peer is told on ``Resync``."""

    @property
    def now(self) -> ConnectionState:
        return self.machine.state

    @property
    def version(self) -> int:
        return self.machine.version

    def go(
        self,
        new: ConnectionState,
        reason: Reason,
        *,
        attempt: int = 0,
        error: BaseException | None = None,
        services: ServicesSnapshot | None = None,
    ) -> StateChanged | None:
        """Apply, publish and log one transition; ``None`` if it was a no-op or refused."""
        event = self.machine.transition(
            new, reason, attempt=attempt, error=error, services=services
        )
        if event is None:
            return None
        self.last_event = event
        log.info(
            "%s: %s -> %s (%s)",
            self._address,
            event.old.value,
            event.new.value,
            reason.value,
            extra={
                "device": self._address,
                "state_version": event.version,
                "attempt": attempt,
                "reason": reason.value,
            },
        )
        self._ctx.router.publish(self._ctx.device, event, self._generation)
        self.lot.on_state(event.new, lambda: self._ending_error(event))
        return event

    def current(self, version: int, state: ConnectionState) -> bool:
        """Whether a completion tagged ``version`` still applies (counted as stale if not)."""
        return self.machine.is_current(version) and self.machine.state is state

    def set_wish(self, wants: bool) -> None:
        if wants != self.wants:
            self.wants = wants
            self._checkpoint(RadioWish(wants))

    def handover(self) -> None:
        """Before dying: pass the wish and the parked callers to the successor."""
        self._checkpoint(RadioWish(self.wants, self.lot.snapshot()))
        self.lot.clear()

    def _checkpoint(self, wish: RadioWish) -> None:
        self._ctx.supervisor.tell(Checkpoint(device=self._ctx.device, role=Role.RADIO, data=wish))

    def park(self, request_id: int, until: frozenset[ConnectionState]) -> None:
        # Callers that gave up are forgotten, so polling connect() for days grows nothing.
        self.lot.forget_gone(self._ctx.router.waiting)
        self.lot.park(request_id, until)

    def unavailable(self) -> BaseException:
        """Why an operation cannot run now: closed, escalated, or not connected."""
        if self.escalated is not None:
            return self.escalated
        if self.now is S.CLOSED:
            return self.closed()
        state = self.now.value
        return NotConnected(f"{self._address} is {state}, not connected", address=self._address)

    def closed(self) -> RuntimeClosed:
        return RuntimeClosed(f"device {self._address} is closed", address=self._address)

    def _ending_error(self, event: StateChanged) -> BaseException:
        if event.new is S.CLOSED:
            return self.closed()
        if event.error is not None:
            return event.error
        return GaveUp(f"device {self._address} failed", attempts=0, address=self._address)
