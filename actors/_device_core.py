"""What both device facades share: checks before anything is sent, the calls, the waiting.

``DeviceCore`` checks the input (before any message is sent), builds each call as a
``Plan`` (the message, who answers, how long to wait, what a timeout means), sends it
through the device's slot, and waits: ``call`` blocks (``Device``), ``acall`` awaits
without blocking the caller's loop (``AsyncDevice``). Neither facade holds device state:
the state is read from the device's hub, where its RadioActor publishes it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import itertools
import logging
import threading
from collections.abc import Callable
from typing import Literal

from blerun.actors._capability import check_op
from blerun.actors._hub import DeviceHub, DeviceSnapshot
from blerun.actors._lanes import Lane, running_lane
from blerun.actors._loop import LoopBridge
from blerun.actors._policy import ReconnectPolicy
from blerun.actors._router import Router
from blerun.actors._validate import (
    check_callable,
    check_timeout,
    normalize_uuid,
)
from blerun.actors._values import (
    DeliveryStats,
    DeviceStatistics,
    NotifyStats,
    RadioStats,
    ReconnectStats,
)
from blerun.actors._wiring import DeviceOptions
from blerun.actors.errors import (
    ConnectTimeout,
    DeviceFailed,
    InvalidPolicy,
    OperationTimeout,
    RuntimeClosed,
    WrongThread,
)
from blerun.messages import (
    DeviceId,
    GattOp,
    Role,
)

log = logging.getLogger(__name__)

TOKENS = itertools.count(1)
"""Subscription and listener tokens, unique within the process."""

DecodeErrors = Literal["deliver", "skip"]
Request = tuple[int, concurrent.futures.Future[object]]


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """One checked call, ready to send: the twins only differ in how they wait for it."""

    what: str
    """The method's name, for errors."""
    role: Role
    """The actor that answers."""
    timeout: float
    """Seconds to wait for the answer."""
    build: Callable[[int], object]
    """The message, given its request id."""
    on_timeout: Callable[[], BaseException]
    """The error raised when the answer does not come in time."""


@dataclasses.dataclass(frozen=True, slots=True)
class SubscribePlan:
    """A checked subscription: the plan plus the identity the Subscription object keeps."""

    plan: Plan
    token: int
    uuid: str
    cancelled: threading.Event


class DeviceCore:
    """Shared by every facade of one device group."""

    def __init__(
        self,
        *,
        options: DeviceOptions,
        hub: DeviceHub,
        router: Router,
        bridge: LoopBridge,
        lane: Lane,
        started: concurrent.futures.Future[object],
        default_timeout: float,
    ) -> None:
        self.options = options
        self.device: DeviceId = options.device
        self.address = options.device.address
        self.hub = hub
        self.router = router
        self.bridge = bridge
        self.lane = lane
        self.started = started
        self.default_timeout = default_timeout
        self.removed = False
        """Set by ``Runtime.remove()``: this handle stays closed, even if the address is
        added again (that is a new group, with a new handle)."""
        self.deprecation_logged = False

    @property
    def policy(self) -> ReconnectPolicy:
        return self.options.policy

    @property
    def snapshot(self) -> DeviceSnapshot:
        return self.hub.snapshot

    def alive(self) -> bool:
        """Whether the group still runs (or is starting): not removed, failed or closed."""
        if self.router.closed or self.removed or self.hub.terminal:
            return False
        return not (self.started.done() and self.started.exception() is not None)

    # --- checks made before anything is sent ------------------------------------------

    def check_open(self) -> None:
        if self.router.closed:
            raise RuntimeClosed("the runtime is closed", address=self.address)
        if self.removed:
            raise RuntimeClosed(
                f"device {self.address} was removed from its runtime; this handle stays "
                "closed (rt.device() gives a new one)",
                address=self.address,
            )
        if self.hub.terminal:
            snapshot = self.hub.snapshot
            if isinstance(snapshot.error, DeviceFailed):
                raise DeviceFailed(str(snapshot.error), address=self.address) from snapshot.error
            raise RuntimeClosed(f"device {self.address} is closed", address=self.address)
        if self.started.done() and (error := self.started.exception()) is not None:
            raise error

    def check_may_block(self, what: str) -> None:
        if self.bridge.in_loop_thread():
            raise WrongThread(
                f"Device.{what}() blocks, and this thread runs the event loop it would wait "
                "for; in async code use rt.async_device() and await its methods",
                address=self.address,
            )

    def check_not_on_lane(self, what: str) -> None:
        if running_lane() == self.lane.key:
            raise WrongThread(
                f"Device.{what}() was called from one of this device's own callbacks, "
                "which it would wait for",
                address=self.address,
            )

    def seconds(self, value: float | None) -> float:
        return self.default_timeout if value is None else check_timeout(value)

    def uuid(self, value: object, op: GattOp, payload: bytes | None = None) -> str:
        """The normalized UUID, checked against the last known services (if any)."""
        uuid = normalize_uuid(value)
        check_op(self.hub.snapshot.services, op, uuid, address=self.address, payload=payload)
        return uuid

    def check_subscriber(
        self, uuid: object, callback: object, decode: object, errors: object
    ) -> str:
        check_callable(callback, name="callback")
        check_callable(decode, name="decode", optional=True)
        if errors not in ("deliver", "skip"):
            raise InvalidPolicy("on_decode_error", "'deliver' or 'skip'", errors)
        return self.uuid(uuid, GattOp.SUBSCRIBE)

    # --- what a timeout says ------------------------------------------------------------

    def _timeout(self, cls: type[OperationTimeout], message: str, seconds: float) -> BaseException:
        last = self.hub.snapshot.last_error
        if last is not None:
            message = f"{message}; last error: {last}"
        error = cls(message, timeout=seconds, address=self.address)
        error.__cause__ = last
        return error

    def op_timeout(self, what: str, seconds: float) -> Callable[[], BaseException]:
        return lambda: self._timeout(
            OperationTimeout,
            f"{what} on {self.address} did not complete within {seconds:g} s",
            seconds,
        )

    def connect_timeout(self, seconds: float) -> Callable[[], BaseException]:
        return lambda: self._timeout(
            ConnectTimeout,
            f"{self.address} did not connect within {seconds:g} s (it keeps trying under its "
            "policy until disconnect())",
            seconds,
        )

    def combine_statistics(self, parts: list[object]) -> DeviceStatistics:
        radio, reconnect, notify = parts
        assert isinstance(radio, RadioStats)
        assert isinstance(reconnect, ReconnectStats)
        assert isinstance(notify, NotifyStats)
        delivery: DeliveryStats = self.lane.statistics()
        snapshot = self.hub.snapshot
        return DeviceStatistics.merge(
            address=self.address,
            state=snapshot.state,
            state_version=snapshot.version,
            radio=radio,
            reconnect=reconnect,
            notify=notify,
            delivery=delivery,
        )

    # --- sending and waiting ------------------------------------------------------------

    def send(self, plan: Plan) -> Request:
        self.check_open()
        request_id, future = self.router.request()
        self.router.slot_for(self.device, plan.role).tell(plan.build(request_id))
        return request_id, future

    def tell(self, role: Role, message: object) -> None:
        """Send without waiting; kept in the slot until the actor runs if it is starting."""
        self.check_open()
        self.router.slot_for(self.device, role).tell(message)

    def call(self, plan: Plan) -> object:
        """Send ``plan`` and block for its answer (the blocking twin)."""
        self.check_may_block(plan.what)
        request_id, future = self.send(plan)
        try:
            return future.result(plan.timeout)
        except concurrent.futures.TimeoutError:
            self.router.forget(request_id)
            error = plan.on_timeout()
            raise error from error.__cause__

    async def acall(self, plan: Plan) -> object:
        """Send ``plan`` and await its answer without blocking the loop (the async twin).

        One bound for the whole call: the answer is awaited for ``plan.timeout`` at most.
        """
        self.check_open()
        loop = asyncio.get_running_loop()
        waiting: asyncio.Future[object]
        if loop is self.bridge.loop:
            # The caller shares the actors' loop: the answer is set right there.
            request_id, waiting = self.router.request_on(loop)
        else:
            request_id, future = self.router.request()
            waiting = asyncio.wrap_future(future)
        self.router.slot_for(self.device, plan.role).tell(plan.build(request_id))
        try:
            return await asyncio.wait_for(waiting, plan.timeout)
        except TimeoutError:
            self.router.forget(request_id)
            error = plan.on_timeout()
            raise error from error.__cause__
        except asyncio.CancelledError:
            self.router.forget(request_id)
            raise
