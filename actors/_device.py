"""The twin public APIs of one device: ``Device`` (blocking) and ``AsyncDevice``.

Both are thin: they validate input at the call (before any message is sent), build the
same command messages through ``_DeviceCore``, and wait for the reply, ``Device`` on a
``concurrent.futures.Future`` with a timeout and ``AsyncDevice`` through
``asyncio.wrap_future`` so the caller's loop never blocks. Neither holds state of the
device: the state is read from the snapshot its RadioActor publishes.
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
from types import TracebackType
from typing import Literal, Self

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
from blerun.actors._notify import Notification, dispatching_for
from blerun.actors._policy import ReconnectPolicy
from blerun.actors._router import Router
from blerun.actors._validate import as_payload, check_timeout, normalize_uuid
from blerun.messages import (
    Address,
    AddStateListener,
    Connect,
    ConnectionState,
    Disconnect,
    GetServices,
    GetStats,
    Read,
    RemoveStateListener,
    Role,
    ServicesSnapshot,
    StateChanged,
    Subscribe,
    Unsubscribe,
    WaitForState,
    Write,
)

log = logging.getLogger(__name__)

DecodeErrors = Literal["deliver", "skip"]


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


_TOKENS = itertools.count(1)


class _DeviceCore:
    """What ``Device`` and ``AsyncDevice`` share: checks, messages, request bookkeeping."""

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

    # --- checks made before anything is sent ------------------------------------------------

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

    def timeout(self, value: float | None) -> float:
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

    # --- sending and waiting ------------------------------------------------------------------

    def address(self, role: Role) -> Address:
        return Address(device=self.device, role=role)

    def send(
        self, role: Role, build: Callable[[int], object]
    ) -> tuple[int, concurrent.futures.Future[object]]:
        self.check_open()
        request_id, future = self.router.request()
        self.router.tell(self.address(role), build(request_id))
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

    def wait_started(self, timeout: float) -> None:
        try:
            self.started.result(timeout)
        except concurrent.futures.TimeoutError:
            raise OperationTimeout(
                f"device {self.device} did not start within {timeout:g} s",
                timeout=timeout,
                device=self.device,
            ) from None

    def result(
        self,
        request: tuple[int, concurrent.futures.Future[object]],
        timeout: float,
        on_timeout: Callable[[], BaseException],
    ) -> object:
        request_id, future = request
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            self.router.forget(request_id)
            raise on_timeout() from None

    async def aresult(
        self,
        request: tuple[int, concurrent.futures.Future[object]],
        timeout: float,
        on_timeout: Callable[[], BaseException],
    ) -> object:
        request_id, future = request
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            self.router.forget(request_id)
            raise on_timeout() from None
        except asyncio.CancelledError:
            self.router.forget(request_id)
            raise

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

    def services_timeout(self, timeout: float | None) -> float:
        if timeout is None:
            return self.default_timeout
        warnings.warn(
            "get_services(timeout=...) is deprecated: services are discovered while "
            "connecting, so there is nothing left to wait for; the timeout is still honoured",
            DeprecationWarning,
            stacklevel=3,
        )
        if not self.deprecation_logged:
            self.deprecation_logged = True
            log.warning(
                "get_services(timeout=...) is deprecated; drop the argument",
                extra={"device": self.device},
            )
        return check_timeout(timeout)

    # --- building messages ------------------------------------------------------------------

    def subscribe_message(
        self,
        *,
        request_id: int,
        token: int,
        char: str,
        callback: Callable[[Notification], None],
        decode: Callable[[bytes], object] | None,
        on_decode_error: DecodeErrors,
        cancelled: threading.Event,
    ) -> Subscribe:
        return Subscribe(
            request_id=request_id,
            token=token,
            char=char,
            callback=callback,
            decode=decode,
            skip_undecodable=on_decode_error == "skip",
            cancelled=cancelled,
        )

    def check_subscribe(
        self,
        char: object,
        callback: object,
        decode: object,
        on_decode_error: object,
    ) -> str:
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        if decode is not None and not callable(decode):
            raise TypeError(f"decode must be callable or None, not {type(decode).__name__}")
        if on_decode_error not in ("deliver", "skip"):
            raise ValueError(
                f"on_decode_error must be 'deliver' or 'skip', not {on_decode_error!r}"
            )
        return self.char(char, needs=frozenset({"notify", "indicate"}))

    def statistics_from(self, parts: list[object]) -> DeviceStatistics:
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


class _SubscriptionBase:
    def __init__(
        self, core: _DeviceCore, token: int, char: str, cancelled: threading.Event
    ) -> None:
        self._core = core
        self.token = token
        """Identity of this subscription within the runtime."""
        self.char = char
        """Normalized characteristic UUID."""
        self._cancelled = cancelled

    @property
    def device(self) -> str:
        return self._core.device

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def _begin_cancel(self) -> bool:
        """Stop deliveries at once; returns False if there is nothing left to do."""
        if self._cancelled.is_set():
            return False
        self._cancelled.set()
        return not self._core.router.closed

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else "active"
        return f"<{type(self).__name__} {self.char} on {self.device} ({state})>"


class Subscription(_SubscriptionBase):
    """A wanted notification subscription; it survives reconnects until cancelled."""

    def cancel(self, timeout: float = 5.0) -> bool:
        """Stop this subscription. Idempotent; never raises.

        No callback runs after this returns (or, if called from inside a callback, after
        that callback returns). The backend notification is stopped when this was the
        last subscription on the characteristic.

        Returns:
            True if the backend confirmed within ``timeout`` (or nothing was active).
        """
        if not self._begin_cancel():
            return True
        core = self._core
        try:
            if dispatching_for(core.device) or core.bridge.in_loop_thread():
                # Called from a callback: waiting would wait for this very thread.
                core.router.tell(
                    core.address(Role.NOTIFY), Unsubscribe(request_id=0, token=self.token)
                )
                return False
            request = core.send(
                Role.NOTIFY, lambda rid: Unsubscribe(request_id=rid, token=self.token)
            )
            core.result(request, check_timeout(timeout), core.op_timeout("unsubscribe", timeout))
            return True
        except Exception as exc:  # noqa: BLE001 -- teardown never raises
            log.debug("cancel of %s did not complete: %r", self, exc)
            return False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


class AsyncSubscription(_SubscriptionBase):
    """The async twin of ``Subscription``: ``await sub.cancel()``."""

    async def cancel(self, timeout: float = 5.0) -> bool:
        """Stop this subscription; see ``Subscription.cancel``. Never raises."""
        if not self._begin_cancel():
            return True
        core = self._core
        try:
            request = core.send(
                Role.NOTIFY, lambda rid: Unsubscribe(request_id=rid, token=self.token)
            )
            await core.aresult(
                request, check_timeout(timeout), core.op_timeout("unsubscribe", timeout)
            )
            return True
        except Exception as exc:  # noqa: BLE001 -- teardown never raises
            log.debug("cancel of %s did not complete: %r", self, exc)
            return False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cancel()


class _Facade:
    """Properties shared by both twins."""

    def __init__(self, core: _DeviceCore) -> None:
        self._core = core

    @property
    def address(self) -> str:
        """The device id (its normalized address)."""
        return self._core.device

    @property
    def state(self) -> ConnectionState:
        """The latest state (from the last published ``StateChanged``)."""
        return self._core.router.view(self._core.device).snapshot.state

    @property
    def state_version(self) -> int:
        """The latest state_version; it only grows."""
        return self._core.router.view(self._core.device).snapshot.version

    @property
    def services(self) -> ServicesSnapshot | None:
        """The services of the latest connection, without asking the device."""
        return self._core.router.view(self._core.device).snapshot.services

    def on_state_change(self, callback: Callable[[StateChanged], None]) -> Callable[[], None]:
        """Call ``callback`` with every ``StateChanged`` of this device.

        The callback runs on the device's NotificationActor thread, inside the error
        guard. Returns a function that removes it (idempotent).
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        core = self._core
        token = next(_TOKENS)
        core.tell(Role.NOTIFY, AddStateListener(token=token, callback=callback))

        def remove() -> None:
            if not core.router.closed:
                core.router.tell(core.address(Role.NOTIFY), RemoveStateListener(token=token))

        return remove

    def tell(self, role: Role, message: object) -> None:
        """Send a command message to one of this device's actors (for actor-based apps).

        It goes through the router, so it reaches the current actor even after a restart,
        and fault injection applies. Pair it with ``new_request()`` for commands that
        carry a ``request_id``, and with ``on_state_change(your_ref.tell)`` for events.
        """
        self._core.tell(role, message)

    def new_request(self) -> tuple[int, concurrent.futures.Future[object]]:
        """A fresh ``request_id`` and the future its ``Reply`` completes."""
        return self._core.router.request()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address} {self.state.value}>"


class Device(_Facade):
    """The blocking API of one device. Every call takes ``timeout=`` (seconds).

    Create with ``Runtime.device()``. Calls are safe from any thread except the event
    loop the runtime runs on (use ``AsyncDevice`` there).
    """

    def connect(self, timeout: float | None = 30.0) -> None:
        """Ask for the link and wait until it is up.

        Raises:
            ConnectTimeout: not connected within ``timeout``; the device keeps trying.
            GaveUp: the reconnect policy is spent.
            RuntimeClosed: the runtime or the device is closed.
        """
        core = self._core
        seconds = core.timeout(timeout)
        core.check_may_block("connect")
        request = core.send(Role.RADIO, lambda rid: Connect(request_id=rid))
        core.result(request, seconds, core.connect_timeout(seconds))

    def disconnect(self, timeout: float | None = 10.0) -> None:
        """Take the link down and stop reconnecting. Idempotent; never raises for a link
        that is already down or a runtime that is closed."""
        core = self._core
        seconds = core.timeout(timeout)
        core.check_may_block("disconnect")
        if core.router.closed:
            return
        request = core.send(Role.RADIO, lambda rid: Disconnect(request_id=rid))
        core.result(request, seconds, core.op_timeout("disconnect", seconds))

    def wait_connected(self, timeout: float | None = 30.0) -> None:
        """Wait until the device is CONNECTED (at once if it is).

        Raises:
            ConnectTimeout: not within ``timeout``.
            GaveUp / DeviceFailed: the device went FAILED while waiting.
        """
        core = self._core
        seconds = core.timeout(timeout)
        core.check_may_block("wait_connected")
        states = frozenset({ConnectionState.CONNECTED})
        request = core.send(Role.RADIO, lambda rid: WaitForState(request_id=rid, states=states))
        core.result(request, seconds, core.connect_timeout(seconds))

    def read(self, char: object, *, timeout: float | None = None, retry: bool = False) -> bytes:
        """Read a characteristic.

        Args:
            char: The characteristic's UUID (16-bit, 128-bit, or ``uuid.UUID``).
            timeout: Seconds to wait (default: the runtime's ``default_timeout``).
            retry: Wait out link losses (the device reconnects under its policy) until
                ``timeout``, instead of failing with ``NotConnected``/``Disconnected``.
        """
        core = self._core
        uuid = core.char(char, needs=frozenset({"read"}))
        seconds = core.timeout(timeout)
        core.check_may_block("read")
        request = core.send(
            Role.RADIO,
            lambda rid: Read(request_id=rid, char=uuid, retry=retry, timeout=seconds),
        )
        value = core.result(request, seconds, core.op_timeout(f"read of {uuid}", seconds))
        assert isinstance(value, bytes)
        return value

    def write(
        self,
        char: object,
        data: bytes | bytearray | memoryview,
        *,
        response: bool = True,
        timeout: float | None = None,
        retry: bool = False,
    ) -> None:
        """Write a characteristic, with response (acknowledged) or without.

        ``retry=True`` waits out link losses and may repeat a write whose outcome was
        lost with the link (at-least-once).
        """
        core = self._core
        needs = frozenset({"write" if response else "write-without-response"})
        uuid = core.char(char, needs=needs)
        payload = core.payload(uuid, data, response)
        seconds = core.timeout(timeout)
        core.check_may_block("write")
        request = core.send(
            Role.RADIO,
            lambda rid: Write(
                request_id=rid,
                char=uuid,
                data=payload,
                response=response,
                retry=retry,
                timeout=seconds,
            ),
        )
        core.result(request, seconds, core.op_timeout(f"write to {uuid}", seconds))

    def subscribe(
        self,
        char: object,
        callback: Callable[[Notification], None],
        *,
        decode: Callable[[bytes], object] | None = None,
        on_decode_error: DecodeErrors = "deliver",
        timeout: float | None = None,
    ) -> Subscription:
        """Subscribe to notifications (or indications); survives reconnects.

        The callback runs on the device's NotificationActor thread, inside the error
        guard: an exception is logged and counted, and delivery continues.

        Args:
            char: The characteristic's UUID.
            callback: Called with a ``Notification`` per notification.
            decode: Turns the payload into ``Notification.value``.
            on_decode_error: ``"deliver"`` the notification with ``value=UNDECODABLE``,
                or ``"skip"`` it; either way the error is logged and counted.
            timeout: Seconds to wait for the backend when connected now.
        """
        core = self._core
        uuid = core.check_subscribe(char, callback, decode, on_decode_error)
        seconds = core.timeout(timeout)
        token, cancelled = next(_TOKENS), threading.Event()
        sub = Subscription(core, token, uuid, cancelled)

        def build(rid: int) -> Subscribe:
            return core.subscribe_message(
                request_id=rid,
                token=token,
                char=uuid,
                callback=callback,
                decode=decode,
                on_decode_error=on_decode_error,
                cancelled=cancelled,
            )

        if dispatching_for(core.device):
            core.tell(Role.NOTIFY, build(0))  # from a callback: don't wait on our own thread
            return sub
        core.check_may_block("subscribe")
        request = core.send(Role.NOTIFY, build)
        core.result(request, seconds, core.op_timeout(f"subscribe to {uuid}", seconds))
        return sub

    def get_services(self, timeout: float | None = None) -> ServicesSnapshot:
        """The services of the current connection.

        Args:
            timeout: Deprecated: discovery happens while connecting, so there is nothing
                to wait for. Still honoured as the bound of this call, with a
                ``DeprecationWarning``.

        Raises:
            NotConnected: the link is not up.
        """
        core = self._core
        seconds = core.services_timeout(timeout)
        core.check_may_block("get_services")
        request = core.send(Role.RADIO, lambda rid: GetServices(request_id=rid))
        value = core.result(request, seconds, core.op_timeout("get_services", seconds))
        assert isinstance(value, ServicesSnapshot)
        return value

    def statistics(self, timeout: float | None = None) -> DeviceStatistics:
        """The device's counters, gathered from its three actors."""
        core = self._core
        seconds = core.timeout(timeout)
        core.check_may_block("statistics")
        requests = [
            core.send(role, lambda rid: GetStats(request_id=rid))
            for role in (Role.RADIO, Role.RECONNECT, Role.NOTIFY)
        ]
        parts = [core.result(r, seconds, core.op_timeout("statistics", seconds)) for r in requests]
        return core.statistics_from(parts)


class NotificationStream:
    """``async for n in dev.notifications(uuid)``: notifications as an async iterator.

    Bounded: when the consumer falls behind by ``maxsize`` notifications, the oldest is
    dropped (and counted in ``dropped``), so a slow consumer costs memory, not latency.
    Use it as ``async with dev.notifications(uuid) as stream:`` to unsubscribe promptly;
    leaving an ``async for`` loop without it unsubscribes when the stream is collected.
    """

    def __init__(
        self,
        device: AsyncDevice,
        char: object,
        *,
        decode: Callable[[bytes], object] | None,
        maxsize: int,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self._device = device
        self._char = char
        self._decode = decode
        self._queue: asyncio.Queue[Notification] = asyncio.Queue(maxsize)
        self._sub: AsyncSubscription | None = None
        self._closed = False
        self.dropped = 0
        """Notifications dropped because the consumer fell behind."""

    def _offer(self, note: Notification) -> None:
        # On the consumer's loop thread: make room by dropping the oldest.
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(note)

    async def start(self) -> Self:
        if self._sub is None and not self._closed:
            loop = asyncio.get_running_loop()
            offer = self._offer

            def push(note: Notification) -> None:
                loop.call_soon_threadsafe(offer, note)

            self._sub = await self._device.subscribe(self._char, push, decode=self._decode)
        return self

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Notification:
        if self._closed:
            raise StopAsyncIteration
        await self.start()
        return await self._queue.get()

    async def aclose(self) -> None:
        """Unsubscribe; idempotent, never raises."""
        self._closed = True
        sub, self._sub = self._sub, None
        if sub is not None:
            await sub.cancel()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        sub = self._sub
        if sub is not None and not sub.cancelled:
            sub._begin_cancel()
            core = sub._core
            if not core.router.closed:
                core.router.tell(
                    core.address(Role.NOTIFY), Unsubscribe(request_id=0, token=sub.token)
                )


class AsyncDevice(_Facade):
    """The async API of one device: awaitables that never block the caller's loop.

    Create with ``Runtime.async_device()``. It sends the same messages as ``Device``.
    """

    async def connect(self, timeout: float | None = 30.0) -> None:
        """See ``Device.connect``."""
        core = self._core
        seconds = core.timeout(timeout)
        await core.astarted(seconds)
        request = core.send(Role.RADIO, lambda rid: Connect(request_id=rid))
        await core.aresult(request, seconds, core.connect_timeout(seconds))

    async def disconnect(self, timeout: float | None = 10.0) -> None:
        """See ``Device.disconnect``."""
        core = self._core
        seconds = core.timeout(timeout)
        if core.router.closed:
            return
        await core.astarted(seconds)
        request = core.send(Role.RADIO, lambda rid: Disconnect(request_id=rid))
        await core.aresult(request, seconds, core.op_timeout("disconnect", seconds))

    async def wait_connected(self, timeout: float | None = 30.0) -> None:
        """See ``Device.wait_connected``."""
        core = self._core
        seconds = core.timeout(timeout)
        await core.astarted(seconds)
        states = frozenset({ConnectionState.CONNECTED})
        request = core.send(Role.RADIO, lambda rid: WaitForState(request_id=rid, states=states))
        await core.aresult(request, seconds, core.connect_timeout(seconds))

    async def read(
        self, char: object, *, timeout: float | None = None, retry: bool = False
    ) -> bytes:
        """See ``Device.read``."""
        core = self._core
        uuid = core.char(char, needs=frozenset({"read"}))
        seconds = core.timeout(timeout)
        await core.astarted(seconds)
        request = core.send(
            Role.RADIO,
            lambda rid: Read(request_id=rid, char=uuid, retry=retry, timeout=seconds),
        )
        value = await core.aresult(request, seconds, core.op_timeout(f"read of {uuid}", seconds))
        assert isinstance(value, bytes)
        return value

    async def write(
        self,
        char: object,
        data: bytes | bytearray | memoryview,
        *,
        response: bool = True,
        timeout: float | None = None,
        retry: bool = False,
    ) -> None:
        """See ``Device.write``."""
        core = self._core
        needs = frozenset({"write" if response else "write-without-response"})
        uuid = core.char(char, needs=needs)
        payload = core.payload(uuid, data, response)
        seconds = core.timeout(timeout)
        await core.astarted(seconds)
        request = core.send(
            Role.RADIO,
            lambda rid: Write(
                request_id=rid,
                char=uuid,
                data=payload,
                response=response,
                retry=retry,
                timeout=seconds,
            ),
        )
        await core.aresult(request, seconds, core.op_timeout(f"write to {uuid}", seconds))

    async def subscribe(
        self,
        char: object,
        callback: Callable[[Notification], None],
        *,
        decode: Callable[[bytes], object] | None = None,
        on_decode_error: DecodeErrors = "deliver",
        timeout: float | None = None,
    ) -> AsyncSubscription:
        """See ``Device.subscribe``; the callback runs on the NotificationActor thread."""
        core = self._core
        uuid = core.check_subscribe(char, callback, decode, on_decode_error)
        seconds = core.timeout(timeout)
        await core.astarted(seconds)
        token, cancelled = next(_TOKENS), threading.Event()
        request = core.send(
            Role.NOTIFY,
            lambda rid: core.subscribe_message(
                request_id=rid,
                token=token,
                char=uuid,
                callback=callback,
                decode=decode,
                on_decode_error=on_decode_error,
                cancelled=cancelled,
            ),
        )
        await core.aresult(request, seconds, core.op_timeout(f"subscribe to {uuid}", seconds))
        return AsyncSubscription(core, token, uuid, cancelled)

    def notifications(
        self,
        char: object,
        *,
        decode: Callable[[bytes], object] | None = None,
        maxsize: int = 1024,
    ) -> NotificationStream:
        """Notifications of ``char`` as an async iterator; see ``NotificationStream``."""
        self._core.check_subscribe(char, print, decode, "deliver")
        return NotificationStream(self, char, decode=decode, maxsize=maxsize)

    async def get_services(self, timeout: float | None = None) -> ServicesSnapshot:
        """See ``Device.get_services`` (``timeout`` is deprecated and still honoured)."""
        core = self._core
        seconds = core.services_timeout(timeout)
        await core.astarted(seconds)
        request = core.send(Role.RADIO, lambda rid: GetServices(request_id=rid))
        value = await core.aresult(request, seconds, core.op_timeout("get_services", seconds))
        assert isinstance(value, ServicesSnapshot)
        return value

    async def statistics(self, timeout: float | None = None) -> DeviceStatistics:
        """See ``Device.statistics``."""
        core = self._core
        seconds = core.timeout(timeout)
        await core.astarted(seconds)
        requests = [
            core.send(role, lambda rid: GetStats(request_id=rid))
            for role in (Role.RADIO, Role.RECONNECT, Role.NOTIFY)
        ]
        parts = [
            await core.aresult(r, seconds, core.op_timeout("statistics", seconds)) for r in requests
        ]
        return core.statistics_from(parts)


__all__ = [
    "AsyncDevice",
    "AsyncSubscription",
    "Device",
    "DeviceStatistics",
    "NotificationStream",
    "Subscription",
]
