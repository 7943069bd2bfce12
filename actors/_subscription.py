"""Subscription handles (blocking and async) and the async notification stream.

Cancelling is teardown: it never raises. ``cancel()`` marks the subscription cancelled
first (no callback starts after that), then asks the NotificationActor to forget it and,
when it was the last one on its characteristic, the radio to stop the notification.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from types import TracebackType
from typing import Any, Self, final

from blerun.actors import _plans as plans
from blerun.actors._device_core import DeviceCore
from blerun.actors._validate import check_count, teardown_timeout
from blerun.actors._values import UNDECODABLE, Notification
from blerun.messages import RawNotification, Role, Unsubscribe

log = logging.getLogger(__name__)

_CANCEL_TIMEOUT = 5.0


class _SubscriptionBase:
    def __init__(self, core: DeviceCore, token: int, uuid: str, cancelled: threading.Event) -> None:
        self._core = core
        self.token = token
        """Identity of this subscription within the runtime."""
        self.uuid = uuid
        """Normalized characteristic UUID."""
        self._cancelled = cancelled

    @property
    def address(self) -> str:
        """The device's address."""
        return self._core.address

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def _begin_cancel(self) -> bool:
        """Stop deliveries at once; returns False if there is nothing left to do."""
        if self._cancelled.is_set():
            return False
        self._cancelled.set()
        return self._core.alive()

    def _forget_without_waiting(self) -> None:
        try:
            self._core.tell(Role.NOTIFY, Unsubscribe(request_id=0, token=self.token))
        except Exception as exc:  # noqa: BLE001 -- teardown never raises
            log.debug("unsubscribe of %s not sent: %r", self, exc)

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else "active"
        return f"<{type(self).__name__} {self.uuid} on {self.address} ({state})>"


@final
class Subscription(_SubscriptionBase):
    """A wanted notification subscription; it survives reconnects until cancelled."""

    def cancel(self, timeout: float = _CANCEL_TIMEOUT) -> bool:
        """Stop this subscription. Idempotent; never raises.

        No callback starts after this returns (one already running on the device's lane
        finishes). The backend notification is stopped when this was the last
        subscription on the characteristic.

        Returns:
            True if the backend confirmed within ``timeout`` (or nothing was active).
        """
        seconds = teardown_timeout(timeout, _CANCEL_TIMEOUT)
        if not self._begin_cancel():
            return True
        core = self._core
        if core.bridge.in_loop_thread():
            self._forget_without_waiting()  # this thread runs the loop it would wait for
            return False
        try:
            core.call(plans.unsubscribe(core, self.token, seconds))
            return True
        except Exception as exc:  # noqa: BLE001 -- teardown never raises
            log.debug("cancel of %s did not complete: %r", self, exc)
            return False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


@final
class AsyncSubscription(_SubscriptionBase):
    """The async twin of ``Subscription``: ``await sub.cancel()``."""

    async def cancel(self, timeout: float = _CANCEL_TIMEOUT) -> bool:
        """Stop this subscription; see ``Subscription.cancel``. Never raises."""
        seconds = teardown_timeout(timeout, _CANCEL_TIMEOUT)
        if not self._begin_cancel():
            return True
        try:
            await self._core.acall(plans.unsubscribe(self._core, self.token, seconds))
            return True
        except Exception as exc:  # noqa: BLE001 -- teardown never raises
            log.debug("cancel of %s did not complete: %r", self, exc)
            return False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cancel()


@final
class NotificationStream:
    """``async for n in dev.notifications(uuid)``: notifications as an async iterator.

    Notifications reach the consumer's own event loop straight from the runtime (one
    ``call_soon_threadsafe`` per batch, no thread in between) and are decoded by the
    consumer as it takes them. Bounded: when the consumer falls behind by ``maxsize``
    notifications, the oldest is dropped (and counted in ``dropped``), so a slow consumer
    costs memory, not latency. Use it as ``async with dev.notifications(uuid) as stream:``
    to unsubscribe promptly; leaving an ``async for`` without it unsubscribes when the
    stream is collected.
    """

    def __init__(
        self,
        core: DeviceCore,
        uuid: object,
        *,
        decode: Any,
        maxsize: int,
    ) -> None:
        self._sub: AsyncSubscription | None = None  # first: __del__ reads it
        self._maxsize = check_count(maxsize, name="maxsize")
        self._core = core
        self._uuid = uuid
        self._decode = decode
        self._items: collections.deque[RawNotification] = collections.deque()
        self._ready: asyncio.Event | None = None
        self._closed = False
        self.dropped = 0
        """Notifications dropped because the consumer fell behind."""
        self.decode_errors = 0
        """Payloads the decoder rejected (delivered with ``value=UNDECODABLE``)."""

    def _offer(self, items: tuple[RawNotification, ...]) -> None:
        # On the consumer's loop thread, once per batch.
        self._items.extend(items)
        excess = len(self._items) - self._maxsize
        for _ in range(max(0, excess)):
            self._items.popleft()
            self.dropped += 1
        if self._ready is not None:
            self._ready.set()

    async def start(self) -> Self:
        """Subscribe now (``async with`` and the first ``__anext__`` call this)."""
        if self._sub is None and not self._closed:
            self._ready = asyncio.Event()
            core = self._core
            sub = plans.subscribe(
                core,
                self._uuid,
                self._offer,
                decode=None,
                on_decode_error="deliver",
                timeout=None,
                loop=asyncio.get_running_loop(),
            )
            await core.acall(sub.plan)
            self._sub = AsyncSubscription(core, sub.token, sub.uuid, sub.cancelled)
        return self

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Notification:
        if self._closed:
            raise StopAsyncIteration
        await self.start()
        assert self._ready is not None
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
            if self._closed:
                raise StopAsyncIteration
        return self._note(self._items.popleft())

    def _note(self, raw: RawNotification) -> Notification:
        value: Any = raw.data
        if self._decode is not None:
            try:
                value = self._decode(raw.data)
            except Exception:
                self.decode_errors += 1
                log.exception(
                    "decoder for %s raised", raw.uuid, extra={"device": self._core.address}
                )
                value = UNDECODABLE
        return Notification(
            address=self._core.address,
            uuid=raw.uuid,
            data=raw.data,
            value=value,
            seq=raw.seq,
            received_at=raw.received_at,
            session=raw.session,
        )

    async def aclose(self) -> None:
        """Unsubscribe; idempotent, never raises."""
        self._closed = True
        if self._ready is not None:
            self._ready.set()
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
