"""Subscription handles (blocking and async) and the async notification stream."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Self

from blerun.actors._device_core import DeviceCore, Plan
from blerun.actors._notify import Notification, dispatching_for
from blerun.actors._validate import check_timeout
from blerun.messages import Role, Unsubscribe

if TYPE_CHECKING:
    from blerun.actors._device import AsyncDevice

log = logging.getLogger(__name__)


class _SubscriptionBase:
    def __init__(self, core: DeviceCore, token: int, char: str, cancelled: threading.Event) -> None:
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

    def _forget_without_waiting(self) -> None:
        core = self._core
        core.router.tell(core.address(Role.NOTIFY), Unsubscribe(request_id=0, token=self.token))

    def _plan(self, timeout: float) -> Plan:
        seconds = check_timeout(timeout)
        token = self.token
        return Plan(
            "unsubscribe",
            Role.NOTIFY,
            seconds,
            lambda rid: Unsubscribe(request_id=rid, token=token),
            self._core.op_timeout("unsubscribe", seconds),
        )

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
                self._forget_without_waiting()
                return False
            core.call(self._plan(timeout))
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
        try:
            await self._core.acall(self._plan(timeout))
            return True
        except Exception as exc:  # noqa: BLE001 -- teardown never raises
            log.debug("cancel of %s did not complete: %r", self, exc)
            return False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cancel()


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
        """Subscribe now (``async with`` and the first ``__anext__`` call this)."""
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
        if sub is not None and sub._begin_cancel():
            sub._forget_without_waiting()
