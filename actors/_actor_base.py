"""What every actor of a device group shares: its context, the prologue, how it dies.

The prologue (``on_receive``): ``Poison`` crashes the actor on purpose, ``GetStats`` is
answered with the actor's frozen statistics, anything the actor does not accept is logged
and ignored, and the rest goes to ``handle``, a ``match`` over the actor's command union.

Dying (``on_failure``): the caller of the message that crashed it gets an
``InternalError`` at once (not a timeout), the mail left in its inbox is handed to its
slot (the successor gets it), and the supervisor is told ``ChildFailed``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from types import TracebackType
from typing import Any, ClassVar

from blerun.actors._clock import Clock
from blerun.actors._hub import DeviceHub
from blerun.actors._lanes import Lane
from blerun.actors._loop_actor import LoopActor
from blerun.actors._metrics import Metrics
from blerun.actors._router import Router
from blerun.actors._slot import Slot
from blerun.actors.errors import InjectedCrash, InternalError
from blerun.messages import ChildFailed, DeviceId, GetStats, Poison, Role

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GroupContext:
    """What every actor of one device group is built with."""

    device: DeviceId
    router: Router
    clock: Clock
    metrics: Metrics
    loop: asyncio.AbstractEventLoop
    lane: Lane
    """Where this device's user code runs."""
    hub: DeviceHub
    """Where the device's state is published (the radio reads where to continue from)."""

    @property
    def address(self) -> str:
        return self.device.address

    def slot(self, role: Role) -> Slot:
        return self.router.slot_for(self.device, role)

    @property
    def supervisor(self) -> Slot:
        return self.router.slot_for(None, Role.SUPERVISOR)


class DeviceActor(LoopActor):
    """Base of the RadioActor, ReconnectActor and NotificationActor; see the module docstring."""

    role: ClassVar[Role]
    accepts: ClassVar[tuple[type, ...]]

    def __init__(self, *, ctx: GroupContext, generation: int) -> None:
        super().__init__(loop=ctx.loop)
        self.ctx = ctx
        self.address = ctx.address
        self.generation = generation
        self.tags = {"device": ctx.address}
        self.router = ctx.router

    def on_receive(self, message: Any) -> None:
        if isinstance(message, Poison):
            raise InjectedCrash(
                f"{type(self).__name__} of {self.address} poisoned: {message.note}",
                address=self.address,
            )
        if isinstance(message, GetStats):
            self.router.reply(message.request_id, self.statistics())
            return
        if not isinstance(message, self.accepts):
            log.warning(
                "%s ignores %r", type(self).__name__, message, extra={"device": self.address}
            )
            return
        self.handle(message)

    def handle(self, message: Any) -> None:
        """Handle one accepted message (a ``match`` over the command union)."""
        raise NotImplementedError

    def statistics(self) -> object:
        """This actor's frozen counters."""
        raise NotImplementedError

    def release(self, error: BaseException) -> None:
        """Cancel timers and answer callers before the actor is gone (crash or stop)."""

    def on_stop(self) -> None:
        self.release(InternalError(f"{type(self).__name__} of {self.address} stopped"))

    def on_failure(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        error = exc_value if exc_value is not None else InternalError("unknown crash")
        crash = InternalError(
            f"the {self.role.value} actor of {self.address} crashed", address=self.address
        )
        crash.__cause__ = error
        request_id = getattr(self._current, "request_id", None)
        if isinstance(request_id, int):
            self.router.reply(request_id, error=crash)
        self.release(crash)
        slot = self.ctx.slot(self.role)
        slot.detach(self.actor_ref)
        self.forward_mail(slot.deliver)
        self.ctx.supervisor.tell(
            ChildFailed(
                device=self.ctx.device, role=self.role, generation=self.generation, error=error
            )
        )
