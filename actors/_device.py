"""The twin public APIs of one device: ``Device`` (blocking) and ``AsyncDevice``.

Both are thin: ``DeviceCore`` checks the input (before any message is sent) and builds
the call; ``Device`` waits for the answer on a future with a timeout, ``AsyncDevice``
awaits it without blocking the caller's loop. Neither holds device state: the state is
read from the hub the device's RadioActor publishes to.

Teardown never raises: ``disconnect()`` on a device that is closed, removed, failed or
slow to tear down returns quietly (and says so in the log).
"""

from __future__ import annotations

import concurrent.futures
import logging
import typing
from collections.abc import Callable
from typing import Any, final

from blerun.actors import _plans as plans
from blerun.actors._device_core import TOKENS as _TOKENS
from blerun.actors._device_core import DecodeErrors, DeviceCore
from blerun.actors._subscription import AsyncSubscription, NotificationStream, Subscription
from blerun.actors._validate import check_callable, teardown_timeout
from blerun.actors._values import DeviceStatistics, Notification
from blerun.actors.errors import BleRuntimeError, InvalidArgument
from blerun.messages import (
    ConnectionState,
    Disconnect,
    NotifyCommand,
    RadioCommand,
    ReconnectCommand,
    Role,
    ServicesSnapshot,
    StateChanged,
)

log = logging.getLogger(__name__)

_DISCONNECT_TIMEOUT = 10.0

_COMMANDS: dict[Role, tuple[str, tuple[type, ...]]] = {
    Role.RADIO: ("RadioCommand", typing.get_args(RadioCommand)),
    Role.RECONNECT: ("ReconnectCommand", typing.get_args(ReconnectCommand)),
    Role.NOTIFY: ("NotifyCommand", typing.get_args(NotifyCommand)),
}
"""What each of a device's actors accepts from ``Device.tell``."""


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
        """The device's address (normalized)."""
        return self._core.address

    @property
    def state(self) -> ConnectionState:
        """The latest published state (no actor is asked)."""
        return self._core.snapshot.state

    @property
    def state_version(self) -> int:
        """The latest state_version; it only grows."""
        return self._core.snapshot.version

    @property
    def services(self) -> ServicesSnapshot | None:
        """The services of the latest connection, without asking the device."""
        return self._core.snapshot.services

    def on_state_change(self, callback: Callable[[StateChanged], None]) -> Callable[[], None]:
        """Call ``callback`` with every ``StateChanged`` of this device from now on.

        Each transition is seen once, in version order, one call at a time, on the
        device's callback lane (never on the event loop), inside the error guard; the last
        one is CLOSED or FAILED. Returns a function that removes the callback (idempotent,
        never raises).
        """
        check_callable(callback, name="callback")
        self._core.check_open()
        hub, token = self._core.hub, next(_TOKENS)
        hub.add_listener(token, callback)
        return lambda: hub.remove_listener(token)

    def tell(self, role: Role, message: object) -> None:
        """Send a command message to one of this device's actors (for actor-based apps).

        It goes through the router, so it reaches the current actor even after a restart,
        and fault injection applies. Pair it with ``new_request()`` for commands that
        carry a ``request_id``, and with ``on_state_change(your_ref.tell)`` for events.

        Raises:
            InvalidArgument: ``role`` is not one of the device's actors, or ``message`` is
                not a command that actor accepts (nothing is sent).
        """
        accepted = _COMMANDS.get(role) if isinstance(role, Role) else None
        if accepted is None:
            raise InvalidArgument("role", "Role.RADIO, Role.RECONNECT or Role.NOTIFY", role)
        union, classes = accepted
        if not isinstance(message, classes):
            raise InvalidArgument("message", f"a blerun.messages.{union}", message)
        self._core.tell(role, message)

    def new_request(self) -> tuple[int, concurrent.futures.Future[object]]:
        """A fresh ``request_id`` and the future its ``Reply`` completes."""
        return self._core.router.request()

    def _start_disconnect(self, timeout: float | None) -> float | None:
        """Seconds to wait for a disconnect, or None when there is nothing to wait for."""
        seconds = teardown_timeout(timeout, _DISCONNECT_TIMEOUT)
        return seconds if self._core.alive() else None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address} {self.state.value}>"


@final
class Device(_Facade):
    """The blocking API of one device. Every call takes ``timeout=`` (seconds).

    Create with ``Runtime.device()``. Calls are safe from any thread except the event
    loop the runtime runs on (use ``AsyncDevice`` there), including from inside this
    device's own callbacks. ``timeout=None`` means the runtime's ``default_timeout``.
    """

    def connect(self, timeout: float | None = 30.0) -> None:
        """Ask for the link and wait until it is up.

        Raises:
            ConnectTimeout: not connected within ``timeout``; the device keeps trying.
                Its ``__cause__`` (and message) is the last error seen meanwhile.
            DeviceNotFound: not seen within the scan window; the device keeps trying.
            BluetoothUnavailable: no Bluetooth stack/adapter, adapter off, permission
                denied, wrong loop: retrying cannot help; the device is FAILED.
            GaveUp: the reconnect policy is spent.
            RuntimeClosed: the runtime or the device is closed.
        """
        self._core.call(plans.connect(self._core, timeout))

    def disconnect(self, timeout: float | None = _DISCONNECT_TIMEOUT) -> None:
        """Take the link down and stop reconnecting. Idempotent; never raises.

        Returns once the link is down, or after ``timeout`` (the teardown goes on in the
        background), or at once if the device or its runtime is closed.
        """
        seconds = self._start_disconnect(timeout)
        if seconds is None:
            return
        core = self._core
        if core.bridge.in_loop_thread():
            core.tell(Role.RADIO, Disconnect(request_id=0))  # cannot wait on this thread
            return
        try:
            core.call(plans.disconnect(core, seconds))
        except BleRuntimeError as exc:
            log.info("disconnect of %s: %s", self.address, exc, extra={"device": self.address})

    def wait_connected(self, timeout: float | None = 30.0) -> None:
        """Wait until the device is CONNECTED (at once if it is).

        Raises:
            ConnectTimeout: not within ``timeout``.
            GaveUp / DeviceFailed: the device went FAILED while waiting.
        """
        self._core.call(plans.wait_connected(self._core, timeout))

    def read(self, uuid: object, *, timeout: float | None = None, retry: bool = False) -> bytes:
        """Read a characteristic.

        Args:
            uuid: The characteristic's UUID (16-bit, 128-bit, or ``uuid.UUID``).
            timeout: Seconds to wait.
            retry: Wait out link losses (the device reconnects under its policy) until
                ``timeout``, instead of failing with ``NotConnected``/``Disconnected``.
        """
        return _bytes(self._core.call(plans.read(self._core, uuid, timeout, retry)))

    def write(
        self,
        uuid: object,
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
        plan = plans.write(self._core, uuid, data, response=response, timeout=timeout, retry=retry)
        self._core.call(plan)

    def subscribe(
        self,
        uuid: object,
        callback: Callable[[Notification], None],
        *,
        decode: Callable[[bytes], object] | None = None,
        on_decode_error: DecodeErrors = "deliver",
        timeout: float | None = None,
    ) -> Subscription:
        """Subscribe to notifications (or indications); survives reconnects.

        The callback runs on the device's callback lane (one call at a time, in order,
        never on the event loop), inside the error guard: an exception is logged and
        counted, and delivery continues.

        Args:
            uuid: The characteristic's UUID.
            callback: Called with a ``Notification`` per notification.
            decode: Turns the payload into ``Notification.value``.
            on_decode_error: ``"deliver"`` the notification with ``value=UNDECODABLE``,
                or ``"skip"`` it; either way the error is logged and counted.
            timeout: Seconds to wait for the backend when connected now.
        """
        core = self._core
        sub = plans.subscribe(
            core, uuid, callback, decode=decode, on_decode_error=on_decode_error, timeout=timeout
        )
        core.call(sub.plan)
        return Subscription(core, sub.token, sub.uuid, sub.cancelled)

    def wait_delivered(self, timeout: float | None = None) -> None:
        """Wait until everything this device received so far reached its callbacks.

        Every notification bleak delivered and every state event published before this
        call has been handed to its subscriber callback or listener when it returns
        (callbacks run on the device's lane, so a test that checks what a callback saw
        waits for this).
        Called from one of this device's own callbacks it would wait for itself, and
        raises ``WrongThread``.
        """
        self._core.check_not_on_lane("wait_delivered")
        self._core.call(plans.wait_delivered(self._core, timeout))

    def get_services(self, timeout: float | None = None) -> ServicesSnapshot:
        """The services of the current connection.

        Args:
            timeout: Deprecated: discovery happens while connecting, so there is nothing
                to wait for. Still honoured as the bound of this call, with a
                ``DeprecationWarning``.

        Raises:
            NotConnected: the link is not up.
        """
        return _services(self._core.call(plans.get_services(self._core, timeout)))

    def statistics(self, timeout: float | None = None) -> DeviceStatistics:
        """The device's counters, from its three actors and its callback lane."""
        core = self._core
        return core.combine_statistics([core.call(p) for p in plans.statistics(core, timeout)])


@final
class AsyncDevice(_Facade):
    """The async API of one device: awaitables that never block the caller's loop.

    Create with ``Runtime.async_device()``. It sends the same messages as ``Device``;
    each method is documented there.
    """

    async def connect(self, timeout: float | None = 30.0) -> None:
        """See ``Device.connect``."""
        await self._core.acall(plans.connect(self._core, timeout))

    async def disconnect(self, timeout: float | None = _DISCONNECT_TIMEOUT) -> None:
        """See ``Device.disconnect``; never raises."""
        seconds = self._start_disconnect(timeout)
        if seconds is None:
            return
        try:
            await self._core.acall(plans.disconnect(self._core, seconds))
        except BleRuntimeError as exc:
            log.info("disconnect of %s: %s", self.address, exc, extra={"device": self.address})

    async def wait_connected(self, timeout: float | None = 30.0) -> None:
        """See ``Device.wait_connected``."""
        await self._core.acall(plans.wait_connected(self._core, timeout))

    async def read(
        self, uuid: object, *, timeout: float | None = None, retry: bool = False
    ) -> bytes:
        """See ``Device.read``."""
        return _bytes(await self._core.acall(plans.read(self._core, uuid, timeout, retry)))

    async def write(
        self,
        uuid: object,
        data: bytes | bytearray | memoryview,
        *,
        response: bool = True,
        timeout: float | None = None,
        retry: bool = False,
    ) -> None:
        """See ``Device.write``."""
        plan = plans.write(self._core, uuid, data, response=response, timeout=timeout, retry=retry)
        await self._core.acall(plan)

    async def subscribe(
        self,
        uuid: object,
        callback: Callable[[Notification], None],
        *,
        decode: Callable[[bytes], object] | None = None,
        on_decode_error: DecodeErrors = "deliver",
        timeout: float | None = None,
    ) -> AsyncSubscription:
        """See ``Device.subscribe``; the callback runs on the device's callback lane."""
        core = self._core
        sub = plans.subscribe(
            core, uuid, callback, decode=decode, on_decode_error=on_decode_error, timeout=timeout
        )
        await core.acall(sub.plan)
        return AsyncSubscription(core, sub.token, sub.uuid, sub.cancelled)

    def notifications(
        self,
        uuid: object,
        *,
        decode: Callable[[bytes], object] | None = None,
        maxsize: int = 1024,
    ) -> NotificationStream:
        """Notifications of ``uuid`` as an async iterator; see ``NotificationStream``."""
        self._core.check_subscriber(uuid, _ignore, decode, "deliver")
        return NotificationStream(self._core, uuid, decode=decode, maxsize=maxsize)

    async def wait_delivered(self, timeout: float | None = None) -> None:
        """See ``Device.wait_delivered``."""
        await self._core.acall(plans.wait_delivered(self._core, timeout))

    async def get_services(self, timeout: float | None = None) -> ServicesSnapshot:
        """See ``Device.get_services`` (``timeout`` is deprecated and still honoured)."""
        return _services(await self._core.acall(plans.get_services(self._core, timeout)))

    async def statistics(self, timeout: float | None = None) -> DeviceStatistics:
        """See ``Device.statistics``."""
        core = self._core
        return core.combine_statistics(
            [await core.acall(p) for p in plans.statistics(core, timeout)]
        )


def _ignore(_note: Any) -> None:
    """A callable stand-in for validating a stream's arguments."""
