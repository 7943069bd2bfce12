"""The twin public APIs of one device: ``Device`` (blocking) and ``AsyncDevice``.

Both are thin: ``DeviceCore`` checks the input (before any message is sent) and builds
the call; ``Device`` waits for the answer on a future with a timeout, ``AsyncDevice``
awaits it without blocking the caller's loop. Neither holds device state: the state is
read from the snapshot the device's RadioActor publishes.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable

from blerun.actors._device_core import TOKENS, DecodeErrors, DeviceCore, DeviceStatistics
from blerun.actors._notify import Notification, dispatching_for
from blerun.actors._subscription import AsyncSubscription, NotificationStream, Subscription
from blerun.messages import (
    AddStateListener,
    ConnectionState,
    RemoveStateListener,
    Role,
    ServicesSnapshot,
    StateChanged,
)


def _bytes(value: object) -> bytes:
    assert isinstance(value, bytes)
    return value


def _services(value: object) -> ServicesSnapshot:
    assert isinstance(value, ServicesSnapshot)
    return value


class _Facade:
    """Properties and helpers shared by both twins."""

    def __init__(self, core: DeviceCore) -> None:
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
        guard. Returns a function that removes it (idempotent, never raises).
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        core = self._core
        token = next(TOKENS)
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
    loop the runtime runs on (use ``AsyncDevice`` there). ``timeout=None`` means the
    runtime's ``default_timeout``.
    """

    def connect(self, timeout: float | None = 30.0) -> None:
        """Ask for the link and wait until it is up.

        Raises:
            ConnectTimeout: not connected within ``timeout``; the device keeps trying.
            GaveUp: the reconnect policy is spent.
            RuntimeClosed: the runtime or the device is closed.
        """
        self._core.call(self._core.connect(timeout))

    def disconnect(self, timeout: float | None = 10.0) -> None:
        """Take the link down and stop reconnecting.

        Idempotent; returns quietly for a link that is already down or a runtime that
        is closed.
        """
        plan = self._core.disconnect(timeout)
        if not self._core.router.closed:
            self._core.call(plan)

    def wait_connected(self, timeout: float | None = 30.0) -> None:
        """Wait until the device is CONNECTED (at once if it is).

        Raises:
            ConnectTimeout: not within ``timeout``.
            GaveUp / DeviceFailed: the device went FAILED while waiting.
        """
        self._core.call(self._core.wait_connected(timeout))

    def read(self, char: object, *, timeout: float | None = None, retry: bool = False) -> bytes:
        """Read a characteristic.

        Args:
            char: The characteristic's UUID (16-bit, 128-bit, or ``uuid.UUID``).
            timeout: Seconds to wait.
            retry: Wait out link losses (the device reconnects under its policy) until
                ``timeout``, instead of failing with ``NotConnected``/``Disconnected``.
        """
        return _bytes(self._core.call(self._core.read(char, timeout, retry)))

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
        plan = self._core.write(char, data, response=response, timeout=timeout, retry=retry)
        self._core.call(plan)

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
        sub = core.subscribe(
            char, callback, decode=decode, on_decode_error=on_decode_error, timeout=timeout
        )
        if dispatching_for(core.device):
            core.tell(Role.NOTIFY, sub.plan.build(0))  # from a callback: never wait on itself
        else:
            core.call(sub.plan)
        return Subscription(core, sub.token, sub.char, sub.cancelled)

    def get_services(self, timeout: float | None = None) -> ServicesSnapshot:
        """The services of the current connection.

        Args:
            timeout: Deprecated: discovery happens while connecting, so there is nothing
                to wait for. Still honoured as the bound of this call, with a
                ``DeprecationWarning``.

        Raises:
            NotConnected: the link is not up.
        """
        return _services(self._core.call(self._core.get_services(timeout)))

    def statistics(self, timeout: float | None = None) -> DeviceStatistics:
        """The device's counters, gathered from its three actors."""
        core = self._core
        return core.combine_statistics([core.call(p) for p in core.statistics(timeout)])


class AsyncDevice(_Facade):
    """The async API of one device: awaitables that never block the caller's loop.

    Create with ``Runtime.async_device()``. It sends the same messages as ``Device``;
    each method is documented there.
    """

    async def connect(self, timeout: float | None = 30.0) -> None:
        """See ``Device.connect``."""
        await self._core.acall(self._core.connect(timeout))

    async def disconnect(self, timeout: float | None = 10.0) -> None:
        """See ``Device.disconnect``."""
        plan = self._core.disconnect(timeout)
        if not self._core.router.closed:
            await self._core.acall(plan)

    async def wait_connected(self, timeout: float | None = 30.0) -> None:
        """See ``Device.wait_connected``."""
        await self._core.acall(self._core.wait_connected(timeout))

    async def read(
        self, char: object, *, timeout: float | None = None, retry: bool = False
    ) -> bytes:
        """See ``Device.read``."""
        return _bytes(await self._core.acall(self._core.read(char, timeout, retry)))

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
        plan = self._core.write(char, data, response=response, timeout=timeout, retry=retry)
        await self._core.acall(plan)

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
        sub = core.subscribe(
            char, callback, decode=decode, on_decode_error=on_decode_error, timeout=timeout
        )
        await core.acall(sub.plan)
        return AsyncSubscription(core, sub.token, sub.char, sub.cancelled)

    def notifications(
        self,
        char: object,
        *,
        decode: Callable[[bytes], object] | None = None,
        maxsize: int = 1024,
    ) -> NotificationStream:
        """Notifications of ``char`` as an async iterator; see ``NotificationStream``."""
        self._core.check_subscriber(char, print, decode, "deliver")
        return NotificationStream(self, char, decode=decode, maxsize=maxsize)

    async def get_services(self, timeout: float | None = None) -> ServicesSnapshot:
        """See ``Device.get_services`` (``timeout`` is deprecated and still honoured)."""
        return _services(await self._core.acall(self._core.get_services(timeout)))

    async def statistics(self, timeout: float | None = None) -> DeviceStatistics:
        """See ``Device.statistics``."""
        core = self._core
        return core.combine_statistics([await core.acall(p) for p in core.statistics(timeout)])
