"""What the twin APIs share: input checks, message building, request bookkeeping.

Each public call is built here as a ``Plan`` (which actor, how long to wait, the message
to send, the error for a timeout) after its input has been checked; ``Device`` then
waits on a ``concurrent.futures.Future`` and ``AsyncDevice`` awaits it through
``asyncio.wrap_future``. Nothing here blocks except ``result()``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import itertools
import logging
import threading
import warnings
from collections.abc import Callable
from typing import Literal

from blerun.actors._errors import (
    CharacteristicNotFound,
    ConnectTimeout,
    DeviceFailed,
    NotSupported,
    OperationTimeout,
    PayloadTooLong,
    RuntimeClosed,
    WrongThread,
)
from blerun.actors._link import MAX_ATTRIBUTE_LENGTH, Backend
from blerun.actors._loop import LoopBridge
from blerun.actors._notify import Notification
from blerun.actors._policy import ReconnectPolicy
from blerun.actors._router import Router
from blerun.actors._validate import as_payload, check_timeout, normalize_uuid
from blerun.messages import (
    Address,
    Connect,
    ConnectionState,
    Disconnect,
    GetServices,
    GetStats,
    Read,
    Role,
    Subscribe,
    WaitForState,
    Write,
)

log = logging.getLogger(__name__)

DecodeErrors = Literal["deliver", "skip"]
Request = tuple[int, concurrent.futures.Future[object]]

TOKENS = itertools.count(1)
"""Subscription and listener tokens, unique within the process."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStatistics:
    """A device's counters at one moment; see each field."""

    device: str
    """The device id."""
    state: ConnectionState
    """Current state."""
    state_version: int
    """Current state_version."""
    connect_attempts: int
    """Connection attempts started (initial and reconnections)."""
    connect_successes: int
    """Attempts that reached CONNECTED."""
    links_lost: int
    """Unrequested link losses."""
    give_ups: int
    """Times the policy gave up."""
    reconnect_attempt: int
    """The reconnect counter now (0 after a reset)."""
    refused_transitions: int
    """Illegal transitions refused by the state machine."""
    stale_completions: int
    """Completions that arrived after their version was over."""
    subscriptions: int
    """Wanted subscriptions."""
    notifications_delivered: int
    """Notifications handed to subscribers."""
    notifications_stale: int
    """Notifications dropped because their connection was over."""
    notifications_out_of_order: int
    """Duplicated or reordered notifications dropped."""
    callback_errors: int
    """Subscriber callbacks that raised."""
    decode_errors: int
    """Decoders that raised."""


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
    char: str
    cancelled: threading.Event


class DeviceCore:
    """Shared by every facade of one device."""

    def __init__(
        self,
        *,
        device: str,
        router: Router,
        bridge: LoopBridge,
        started: concurrent.futures.Future[object],
        default_timeout: float,
        policy: ReconnectPolicy,
        backend: Backend | None,
    ) -> None:
        self.device = device
        self.policy = policy
        self.backend = backend
        self.router = router
        self.bridge = bridge
        self.started = started
        self.default_timeout = default_timeout
        self.deprecation_logged = False

    def alive(self) -> bool:
        """Whether the group still runs (or is starting): not removed, failed or closed."""
        if self.router.closed:
            return False
        if not self.started.done():
            return True
        if self.started.exception() is not None:
            return False
        return self.router.ref(self.address(Role.RADIO)) is not None

    def address(self, role: Role) -> Address:
        return Address(device=self.device, role=role)

    # --- checks made before anything is sent ------------------------------------------

    def check_open(self) -> None:
        if self.router.closed:
            raise RuntimeClosed("the runtime is closed", device=self.device)
        if self.started.done() and self.router.ref(self.address(Role.RADIO)) is None:
            snapshot = self.router.view(self.device).snapshot
            if isinstance(snapshot.error, DeviceFailed):
                raise DeviceFailed(str(snapshot.error), device=self.device) from snapshot.error
            raise RuntimeClosed(f"device {self.device} is closed", device=self.device)

    def check_may_block(self, what: str) -> None:
        if self.bridge.in_loop_thread():
            raise WrongThread(
                f"Device.{what}() blocks, and this thread runs the event loop it would wait "
                "for; in async code use rt.async_device() and await its methods",
                device=self.device,
            )

    def seconds(self, value: float | None) -> float:
        return self.default_timeout if value is None else check_timeout(value)

    def char(self, uuid: object, *, needs: frozenset[str] | None = None) -> str:
        """The normalized UUID, checked against the last known services if there are any."""
        char = normalize_uuid(uuid)
        services = self.router.view(self.device).snapshot.services
        if services is not None:
            info = services.characteristic(char)
            if info is None:
                raise CharacteristicNotFound(char, device=self.device)
            if needs is not None and not needs & info.properties:
                raise NotSupported(char, needed=" or ".join(sorted(needs)), device=self.device)
        return char

    def payload(self, char: str, data: object, response: bool) -> bytes:
        payload = as_payload(data)
        services = self.router.view(self.device).snapshot.services
        info = services.characteristic(char) if services is not None else None
        limit = MAX_ATTRIBUTE_LENGTH
        if info is not None and not response:
            limit = info.max_write_without_response
        if len(payload) > limit:
            raise PayloadTooLong(
                length=len(payload),
                limit=limit,
                char_uuid=char,
                response=response,
                device=self.device,
            )
        return payload

    def check_subscriber(
        self, char: object, callback: object, decode: object, errors: object
    ) -> str:
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        if decode is not None and not callable(decode):
            raise TypeError(f"decode must be callable or None, not {type(decode).__name__}")
        if errors not in ("deliver", "skip"):
            raise ValueError(f"on_decode_error must be 'deliver' or 'skip', not {errors!r}")
        return self.char(char, needs=frozenset({"notify", "indicate"}))

    # --- timeouts -----------------------------------------------------------------------

    def op_timeout(self, what: str, timeout: float) -> Callable[[], BaseException]:
        return lambda: OperationTimeout(
            f"{what} on {self.device} did not complete within {timeout:g} s",
            timeout=timeout,
            device=self.device,
        )

    def connect_timeout(self, timeout: float) -> Callable[[], BaseException]:
        return lambda: ConnectTimeout(
            f"{self.device} did not connect within {timeout:g} s; it keeps trying under its "
            "policy until disconnect()",
            timeout=timeout,
            device=self.device,
        )

    # --- the calls ----------------------------------------------------------------------

    def connect(self, timeout: float | None) -> Plan:
        seconds = self.seconds(timeout)
        return Plan(
            "connect",
            Role.RADIO,
            seconds,
            lambda rid: Connect(request_id=rid),
            self.connect_timeout(seconds),
        )

    def disconnect(self, timeout: float | None) -> Plan:
        seconds = self.seconds(timeout)
        return Plan(
            "disconnect",
            Role.RADIO,
            seconds,
            lambda rid: Disconnect(request_id=rid),
            self.op_timeout("disconnect", seconds),
        )

    def wait_connected(self, timeout: float | None) -> Plan:
        seconds = self.seconds(timeout)
        states = frozenset({ConnectionState.CONNECTED})
        return Plan(
            "wait_connected",
            Role.RADIO,
            seconds,
            lambda rid: WaitForState(request_id=rid, states=states),
            self.connect_timeout(seconds),
        )

    def read(self, char: object, timeout: float | None, retry: bool) -> Plan:
        uuid = self.char(char, needs=frozenset({"read"}))
        seconds = self.seconds(timeout)
        return Plan(
            "read",
            Role.RADIO,
            seconds,
            lambda rid: Read(request_id=rid, char=uuid, retry=retry, timeout=seconds),
            self.op_timeout(f"read of {uuid}", seconds),
        )

    def write(
        self, char: object, data: object, *, response: bool, timeout: float | None, retry: bool
    ) -> Plan:
        uuid = self.char(char, needs=frozenset({"write" if response else "write-without-response"}))
        payload = self.payload(uuid, data, response)
        seconds = self.seconds(timeout)
        return Plan(
            "write",
            Role.RADIO,
            seconds,
            lambda rid: Write(
                request_id=rid,
                char=uuid,
                data=payload,
                response=response,
                retry=retry,
                timeout=seconds,
            ),
            self.op_timeout(f"write to {uuid}", seconds),
        )

    def subscribe(
        self,
        char: object,
        callback: Callable[[Notification], None],
        *,
        decode: Callable[[bytes], object] | None,
        on_decode_error: DecodeErrors,
        timeout: float | None,
    ) -> SubscribePlan:
        uuid = self.check_subscriber(char, callback, decode, on_decode_error)
        seconds = self.seconds(timeout)
        token, cancelled = next(TOKENS), threading.Event()
        plan = Plan(
            "subscribe",
            Role.NOTIFY,
            seconds,
            lambda rid: Subscribe(
                request_id=rid,
                token=token,
                char=uuid,
                callback=callback,
                decode=decode,
                skip_undecodable=on_decode_error == "skip",
                cancelled=cancelled,
            ),
            self.op_timeout(f"subscribe to {uuid}", seconds),
        )
        return SubscribePlan(plan, token, uuid, cancelled)

    def get_services(self, timeout: float | None) -> Plan:
        seconds = self.default_timeout
        if timeout is not None:
            warnings.warn(
                "get_services(timeout=...) is deprecated: services are discovered while "
                "connecting, so there is nothing left to wait for; the timeout is still "
                "honoured",
                DeprecationWarning,
                stacklevel=3,
            )
            if not self.deprecation_logged:
                self.deprecation_logged = True
                log.warning(
                    "get_services(timeout=...) is deprecated; drop the argument",
                    extra={"device": self.device},
                )
            seconds = check_timeout(timeout)
        return Plan(
            "get_services",
            Role.RADIO,
            seconds,
            lambda rid: GetServices(request_id=rid),
            self.op_timeout("get_services", seconds),
        )

    def statistics(self, timeout: float | None) -> list[Plan]:
        seconds = self.seconds(timeout)
        return [
            Plan(
                "statistics",
                role,
                seconds,
                lambda rid: GetStats(request_id=rid),
                self.op_timeout("statistics", seconds),
            )
            for role in (Role.RADIO, Role.RECONNECT, Role.NOTIFY)
        ]

    def combine_statistics(self, parts: list[object]) -> DeviceStatistics:
        radio, reconnect, notify = (p if isinstance(p, dict) else {} for p in parts)
        snapshot = self.router.view(self.device).snapshot
        return DeviceStatistics(
            device=self.device,
            state=snapshot.state,
            state_version=snapshot.version,
            connect_attempts=radio.get("attempts", 0),
            connect_successes=radio.get("successes", 0),
            links_lost=radio.get("links_lost", 0),
            give_ups=radio.get("give_ups", 0),
            reconnect_attempt=reconnect.get("attempt", 0),
            refused_transitions=radio.get("refused_transitions", 0),
            stale_completions=radio.get("stale_completions", 0),
            subscriptions=notify.get("subscriptions", 0),
            notifications_delivered=notify.get("delivered", 0),
            notifications_stale=notify.get("stale", 0),
            notifications_out_of_order=notify.get("out_of_order", 0),
            callback_errors=notify.get("callback_errors", 0),
            decode_errors=notify.get("decode_errors", 0),
        )

    # --- sending and waiting ------------------------------------------------------------

    def send(self, plan: Plan) -> Request:
        self.check_open()
        request_id, future = self.router.request()
        self.router.tell(self.address(plan.role), plan.build(request_id))
        return request_id, future

    def tell(self, role: Role, message: object) -> None:
        """Send without waiting; held until the group runs if it is still starting."""
        self.check_open()
        address, router = self.address(role), self.router
        if self.started.done():
            router.tell(address, message)
            return

        def send_when_started(started: concurrent.futures.Future[object]) -> None:
            if not started.cancelled() and started.exception() is None:
                router.tell(address, message)

        self.started.add_done_callback(send_when_started)

    def call(self, plan: Plan) -> object:
        """Send ``plan`` and block for its answer (the blocking twin)."""
        self.check_may_block(plan.what)
        request_id, future = self.send(plan)
        try:
            return future.result(plan.timeout)
        except concurrent.futures.TimeoutError:
            self.router.forget(request_id)
            raise plan.on_timeout() from None

    async def acall(self, plan: Plan) -> object:
        """Send ``plan`` and await its answer without blocking the loop (the async twin)."""
        await self.astarted(plan.timeout)
        request_id, future = self.send(plan)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), plan.timeout)
        except TimeoutError:
            self.router.forget(request_id)
            raise plan.on_timeout() from None
        except asyncio.CancelledError:
            self.router.forget(request_id)
            raise

    def wait_started(self, timeout: float) -> None:
        try:
            self.started.result(timeout)
        except concurrent.futures.TimeoutError:
            raise OperationTimeout(
                f"device {self.device} did not start within {timeout:g} s",
                timeout=timeout,
                device=self.device,
            ) from None

    async def astarted(self, timeout: float) -> None:
        if not self.started.done():
            try:
                await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self.started)), timeout)
            except TimeoutError:
                raise OperationTimeout(
                    f"device {self.device} did not start within {timeout:g} s",
                    timeout=timeout,
                    device=self.device,
                ) from None
        self.started.result()
