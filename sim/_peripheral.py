"""The public handle of an emulated peripheral: fault controls and counters.

Every method is thread-safe. Called on the air's loop thread, a method applies at once.
Called from any other thread, it runs on the loop and returns once it has taken effect,
or raises TimeoutError after ``timeout`` seconds (then it never takes effect).

"Takes effect" means the fault is armed for the next operation of its kind, or, for
:meth:`Peripheral.drop_link`, that the peripheral's controller has lost the link and
sent nothing more: the central's controller, its host and bleak's
``disconnected_callback`` learn it a few loop iterations later (wait on that callback, or
on :meth:`Peripheral.wait_until`, not on the call's return).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from bumble import hci

from blerun.gatt import AttErrorCode

from ._bridge import LoopBridge
from ._faults import Operation, PeripheralCounters, check_operation
from ._spec import PeripheralSpec

if TYPE_CHECKING:
    from ._node import Node

__all__ = ["Peripheral"]

_TIMEOUT = 5.0
T = TypeVar("T")


class Peripheral:
    """A running emulated peripheral on a :class:`~blerun.sim.VirtualAir`.

    Built by :meth:`VirtualAir.add_peripheral`; not constructed directly.
    """

    def __init__(self, spec: PeripheralSpec, address: hci.Address, bridge: LoopBridge) -> None:
        self._spec = spec
        self._address = address
        self._bridge = bridge
        self._node: Node | None = None

    def _attach(self, node: Node) -> None:
        self._node = node

    def _running(self) -> Node:
        node = self._node
        if node is None:
            raise RuntimeError(f"{self._spec.name} is not running")
        return node

    def _call_node(self, timeout: float, fn: Callable[[Node], T]) -> T:
        node = self._running()
        return self._bridge.call(lambda: fn(node), timeout)

    def __repr__(self) -> str:
        return f"<Peripheral {self._spec.name} {self.address}>"

    # -- identity ------------------------------------------------------------------

    @property
    def address(self) -> str:
        """The Bluetooth address to give ``BleakClient`` ("F0:00:00:00:00:01")."""
        return self._address.to_string(with_type_qualifier=False)

    @property
    def name(self) -> str:
        """The advertised local name."""
        return self._spec.name

    @property
    def spec(self) -> PeripheralSpec:
        """The spec this peripheral was built from."""
        return self._spec

    def is_connected(self, *, timeout: float = _TIMEOUT) -> bool:
        """Whether a central holds a link to this peripheral now."""
        return self._call_node(timeout, lambda n: n.connected)

    def counters(self, *, timeout: float = _TIMEOUT) -> PeripheralCounters:
        """A consistent snapshot of this peripheral's counters."""
        return self._call_node(timeout, lambda n: n.snapshot())

    def wait_until(
        self, predicate: Callable[[PeripheralCounters], bool], *, timeout: float = _TIMEOUT
    ) -> PeripheralCounters:
        """Block until ``predicate`` holds for the counters (from a thread off the loop).

        Returns:
            The first snapshot that satisfied ``predicate``.

        Raises:
            TimeoutError: It did not hold within ``timeout`` seconds.
            RuntimeError: Called on the loop thread (use :meth:`wait_until_async`).
        """
        if self._bridge.on_loop_thread():
            raise RuntimeError("wait_until blocks; on the loop thread await wait_until_async")
        node = self._running()
        return self._bridge.run(node.wait_until(predicate), timeout)

    async def wait_until_async(
        self, predicate: Callable[[PeripheralCounters], bool]
    ) -> PeripheralCounters:
        """Wait, on the air's loop, until ``predicate`` holds for the counters."""
        if not self._bridge.on_loop_thread():
            raise RuntimeError("wait_until_async runs on the air's loop; elsewhere use wait_until")
        return await self._running().wait_until(predicate)

    # -- link faults ---------------------------------------------------------------

    def drop_link(self, *, timeout: float = _TIMEOUT) -> bool:
        """Lose the link as a supervision timeout does (HCI reason 0x08, both sides).

        The central's host sees a disconnection with reason Connection Timeout, so
        bleak calls ``disconnected_callback``. Everything this peripheral sent before
        the drop still reaches the central; nothing is sent after it. The peripheral
        advertises again afterwards, as real devices do.

        Returns:
            False when there was no link to drop.
        """
        return self._call_node(timeout, lambda n: n.drop_link())

    def refuse_connects(self, count: int = 1, *, timeout: float = _TIMEOUT) -> None:
        """Refuse the next ``count`` connect attempts that reach this peripheral.

        A refused attempt fails at the central (HCI status 0x3E, Connection Failed to be
        Established); bleak's ``connect`` raises ``BleakError``. Calls add up.
        """
        _check_count(count)

        def arm(node: Node) -> None:
            node.faults.refuse_connects += count

        self._call_node(timeout, arm)

    def stop_advertising(self, duration: float | None = None, *, timeout: float = _TIMEOUT) -> None:
        """Go radio-silent: no advertising, so no scan sees it and no connect reaches it.

        Args:
            duration: Seconds until advertising resumes by itself; ``None`` waits for
                :meth:`resume_advertising`.
            timeout: Bound on reaching the loop from another thread.
        """
        if duration is not None and not duration > 0:
            raise ValueError(f"duration must be > 0 seconds, got {duration}")
        self._call_node(timeout, lambda n: n.silence(duration))

    def resume_advertising(self, *, timeout: float = _TIMEOUT) -> None:
        """Advertise again after :meth:`stop_advertising`."""
        self._call_node(timeout, lambda n: n.unsilence())

    # -- operation faults ----------------------------------------------------------

    def stall_next(self, op: Operation, count: int = 1, *, timeout: float = _TIMEOUT) -> None:
        """Never answer the next ``count`` operations of kind ``op``.

        ``connect``: the central keeps trying until bleak's timeout or a cancel.
        ``disconnect``: the central's controller acknowledges the request and never
        completes it; bleak's ``disconnect()`` hangs until cancelled. ``read``,
        ``write``, ``subscribe``: the request is dropped and never answered.
        """
        op = check_operation(op)
        _check_count(count)

        def arm(node: Node) -> None:
            node.faults.stalls[op] += count

        self._call_node(timeout, arm)

    def fail_next(
        self, op: Operation, code: AttErrorCode | int, count: int = 1, *, timeout: float = _TIMEOUT
    ) -> None:
        """Answer the next ``count`` operations of kind ``op`` with ATT error ``code``.

        Only ``read``, ``write`` and ``subscribe`` have ATT answers; bleak raises
        ``BleakGATTProtocolError`` with that code (with ``realism="bluez"``, BlueZ's
        ``BleakDBusError`` "Not paired" for the pairing codes). A write command (no
        response) consumes the fault and is dropped.

        Args:
            op: ``"read"``, ``"write"`` or ``"subscribe"``.
            code: The ATT error code, 0x01-0xFF (:class:`blerun.gatt.AttErrorCode`, or an
                application code 0x80-0x9F).
            count: How many operations to fail.
            timeout: Bound on reaching the loop from another thread.

        Raises:
            ValueError: ``op`` has no ATT answer, or ``code`` is out of range.
        """
        op = check_operation(op, att_only=True)
        _check_count(count)
        value = _check_code(code)

        def arm(node: Node) -> None:
            node.faults.codes[op].extend([value] * count)

        self._call_node(timeout, arm)

    def delay(self, op: Operation, seconds: float, *, timeout: float = _TIMEOUT) -> None:
        """Hold every operation of kind ``op`` for ``seconds`` before carrying it out.

        Lasts until changed; ``seconds=0`` removes the delay. A delayed connect
        completes at the first advertisement after the delay.
        """
        op = check_operation(op)
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")

        def arm(node: Node) -> None:
            node.faults.delays[op] = float(seconds)

        self._call_node(timeout, arm)

    def zombie_link(self, *, timeout: float = _TIMEOUT) -> None:
        """Go silent without a disconnect: a zombie link.

        The links stay up (no supervision timeout, no ``disconnected_callback``), but
        the peripheral answers no request and sends nothing: reads, writes and
        subscribes wait until cancelled, until the link is dropped or closed, or until
        Bumble's 30 s ATT timeout. Ended by :meth:`revive` or :meth:`clear_faults`;
        what was asked meanwhile stays unanswered.
        """
        self._call_node(timeout, lambda n: n.zombie(True))

    def revive(self, *, timeout: float = _TIMEOUT) -> None:
        """End :meth:`zombie_link`: answer and send again."""
        self._call_node(timeout, lambda n: n.zombie(False))

    def clear_faults(self, *, timeout: float = _TIMEOUT) -> None:
        """Disarm every stall, error, refusal, delay and zombie, and resume notifications.

        Advertising silence is left as it is (see :meth:`resume_advertising`).
        """

        def clear(node: Node) -> None:
            node.faults.clear()
            node.resume_notifications()

        self._call_node(timeout, clear)

    # -- notifications -------------------------------------------------------------

    def pause_notifications(self, *, timeout: float = _TIMEOUT) -> None:
        """Hold back every notification and indication until resumed.

        Periodic streams skip their ticks while paused (the sensor stops reporting);
        queued values (bursts, echoes, :meth:`notify`) go out on resume.
        """

        def pause(node: Node) -> None:
            node.faults.notifications_paused = True

        self._call_node(timeout, pause)

    def resume_notifications(self, *, timeout: float = _TIMEOUT) -> None:
        """Undo :meth:`pause_notifications`."""
        self._call_node(timeout, lambda n: n.resume_notifications())

    def burst(
        self,
        count: int,
        uuid: str | None = None,
        *,
        force: bool = False,
        timeout: float = _TIMEOUT,
    ) -> int:
        """Queue ``count`` notifications of one characteristic at once.

        Args:
            count: How many.
            uuid: The characteristic; ``None`` picks the first one that can notify.
                Payloads come from its ``notify_value`` (so a heart-rate burst carries
                consecutive sequence numbers) or its current value.
            force: Send even to a central that has not subscribed (a misbehaving
                device); such PDUs count in ``notifications_sent`` only.
            timeout: Bound on reaching the loop from another thread.

        Returns:
            The number of links they were queued on (0 when nobody listens).
        """
        _check_count(count)

        def go(node: Node) -> int:
            return node.transmitter.enqueue(
                node.char_by_uuid(uuid, subscribable=True), None, count=count, force=force
            )

        return self._call_node(timeout, go)

    def notify(
        self,
        uuid: str,
        value: bytes,
        *,
        split: bool = False,
        force: bool = False,
        timeout: float = _TIMEOUT,
    ) -> int:
        """Send ``value`` as a notification (or indication) of characteristic ``uuid``.

        Args:
            uuid: The characteristic.
            value: The payload. Longer than the link's MTU - 3 bytes, it is truncated,
                as ATT requires, unless ``split``.
            split: Send a long value as several notifications, as a serial link does.
            force: Send even to a central that has not subscribed.
            timeout: Bound on reaching the loop from another thread.

        Returns:
            The number of links it was queued on (0 when nobody listens).
        """
        payload = bytes(value)

        def go(node: Node) -> int:
            char = node.char_by_uuid(uuid, subscribable=True)
            return node.transmitter.enqueue(char, payload, force=force, split=split)

        return self._call_node(timeout, go)

    def reset_notify_sequence(self, uuid: str, *, timeout: float = _TIMEOUT) -> None:
        """Restart the sequence numbers ``notify_value`` receives for ``uuid`` at 0."""

        def reset(node: Node) -> None:
            node.char_by_uuid(uuid, subscribable=True).notify_sequence = 0

        self._call_node(timeout, reset)

    def set_value(self, uuid: str, value: bytes, *, timeout: float = _TIMEOUT) -> None:
        """Replace the stored value of characteristic ``uuid`` (what reads return).

        Has no effect on a characteristic whose value is computed.
        """
        payload = bytes(value)

        def store(node: Node) -> None:
            node.char_by_uuid(uuid).stored = payload

        self._call_node(timeout, store)


def _check_code(code: AttErrorCode | int) -> int:
    if isinstance(code, bool) or not isinstance(code, int) or not 0x01 <= code <= 0xFF:
        raise ValueError(f"an ATT error code must be an int in 0x01..0xFF, got {code!r}")
    return int(code)


def _check_count(count: int) -> None:
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive int, got {count!r}")
