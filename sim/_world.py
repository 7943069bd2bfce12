"""The air's state on its loop: link, peripherals, adapters, background work.

:class:`World` owns every fact about one air (which devices are on it, which adapters,
whether it is closed) and is the :class:`~._port.AirPort` of the backends in the air's
own process. :class:`~blerun.sim.VirtualAir` is its public, thread-safe face.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Coroutine
from typing import Any

from bleak.exc import BleakDeviceNotFoundError, BleakError
from bumble import hci
from bumble.transport.common import TransportSink, TransportSource

from ._bridge import LoopBridge
from ._central import Central
from ._hci import CentralController, SimLink
from ._link_policy import PROCEED, Admission
from ._node import Node
from ._port import Peer
from ._quiet_host import QuietHost
from ._realism import Realism

__all__ = ["World", "random_static"]

logger = logging.getLogger(__name__)


def random_static(text: str) -> hci.Address:
    """A random static address from its text, checked."""
    try:
        address = hci.Address(text, hci.Address.RANDOM_DEVICE_ADDRESS)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{text!r} is not a Bluetooth address") from exc
    if address.address_bytes[5] & 0xC0 != 0xC0:
        raise ValueError(f"{text} is not a random static address (top two bits must be 1)")
    return address


class _Policy:
    """A central controller's questions, answered by the addressed peripheral."""

    def __init__(self, nodes: dict[hci.Address, Node]) -> None:
        self._nodes = nodes

    def admit_connect(self, peer: hci.Address) -> Admission:
        node = self._nodes.get(peer)
        return node.admit("connect") if node is not None else PROCEED

    def admit_disconnect(self, peer: hci.Address) -> Admission:
        node = self._nodes.get(peer)
        return node.admit("disconnect") if node is not None else PROCEED

    def rssi_of(self, advertiser: hci.Address) -> int:
        node = self._nodes.get(advertiser)
        return node.spec.rssi if node is not None else -60


class World:
    """One air's state. Loop thread only, except :attr:`closed` and :meth:`check_loop`."""

    def __init__(self, bridge: LoopBridge, *, realism: Realism, quiet: bool) -> None:
        self._bridge = bridge
        self._realism = realism
        self._quiet = quiet
        self._closed = False
        self._link: SimLink | None = None
        self._nodes: dict[hci.Address, Node] = {}
        self._by_text: dict[str, hci.Address] = {}
        self._policy = _Policy(self._nodes)
        self._centrals: dict[str, Central] = {}
        self._controllers: list[CentralController] = []
        self._served: list[CentralController] = []
        self._adapter_numbers = itertools.count(0)
        self._peripheral_numbers = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the AirPort ---------------------------------------------------------------

    @property
    def realism(self) -> Realism:
        return self._realism

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def quiet(self) -> bool:
        return self._quiet

    def check_loop(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not self._bridge.loop:
            raise BleakError(
                "blerun.sim: run bleak on air.loop (Bumble is single-loop); "
                "from another thread use asyncio.run_coroutine_threadsafe(..., air.loop)"
            )
        if self._closed:
            raise BleakError("the air is closed")

    async def central(self, adapter: str | None) -> Central:
        if adapter is None:
            for central in self._centrals.values():
                return central
            raise BleakError("the air is not built")
        found = self._centrals.get(adapter)
        if found is None:
            raise BleakError(
                f"no adapter {adapter!r} on this air (it has {', '.join(self._centrals)})"
            )
        return found

    def peer(self, address: str) -> Peer:
        typed = self._by_text.get(address.upper())
        if typed is None:
            raise BleakDeviceNotFoundError(address, f"no emulated peripheral has address {address}")
        return Peer(typed, self._nodes[typed].spec.name)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._closed:
            coro.close()
            return
        task = self._bridge.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("blerun.sim background task failed", exc_info=task.exception())

    # -- building ------------------------------------------------------------------

    @property
    def link(self) -> SimLink:
        link = self._link
        if link is None:
            raise RuntimeError("air used before it was built")
        return link

    async def build(self) -> None:
        self._link = SimLink()
        await self.add_central()

    def _next_adapter(self) -> tuple[str, hci.Address]:
        number = next(self._adapter_numbers)
        return f"hci{number}", random_static(f"C0:00:00:00:{number >> 8:02X}:{number & 0xFF:02X}")

    async def add_central(self) -> Central:
        """A new adapter of this process on the air, powered on."""
        self._require_open()
        name, address = self._next_adapter()
        controller = CentralController(
            name, link=self.link, quiet=self._quiet, slots=self._realism.connection_slots
        )
        controller.policy = self._policy
        central = Central(
            name=name, host=QuietHost.local(controller), address=address, spawn=self.spawn
        )
        self._centrals[name] = central
        self._controllers.append(controller)
        try:
            await central.start()
        except (Exception, asyncio.CancelledError):
            del self._centrals[name]
            self._controllers.remove(controller)
            self.link.remove_controller(controller)
            raise
        return central

    def serve_controller(self, source: TransportSource, sink: TransportSink) -> CentralController:
        """A central controller for a host elsewhere (another process, via a socket)."""
        self._require_open()
        name, _ = self._next_adapter()
        controller = CentralController(
            name,
            link=self.link,
            quiet=True,
            slots=self._realism.connection_slots,
            host_source=source,
            host_sink=sink,
        )
        controller.policy = self._policy
        self._served.append(controller)
        return controller

    def unserve_controller(self, controller: CentralController) -> None:
        """The host of a served controller went away: its links end, as on a power cut."""
        if controller not in self._served:
            return
        self._served.remove(controller)
        controller.host = None  # nobody is listening any more
        controller.abandon_pending()
        controller.drop_links(_CONNECTION_TIMEOUT)
        self.link.remove_controller(controller)

    @property
    def centrals(self) -> tuple[Central, ...]:
        return tuple(self._centrals.values())

    def allocate(self, wanted: str | None) -> hci.Address:
        """A free peripheral address: ``wanted``, checked, or the next F0:...:NN."""
        if wanted is not None:
            address = random_static(wanted)
            if address in self._nodes:
                raise ValueError(f"address {wanted} is already on this air")
            return address
        while True:
            n = next(self._peripheral_numbers)
            address = random_static(f"F0:00:00:00:{n >> 8 & 0xFF:02X}:{n & 0xFF:02X}")
            if address not in self._nodes:
                return address

    def add_node(self, node: Node, text: str) -> None:
        self._nodes[node.address] = node
        self._by_text[text] = node.address

    def remove_node(self, node: Node, text: str) -> None:
        self._nodes.pop(node.address, None)
        self._by_text.pop(text, None)
        node.close()
        self.link.remove_controller(node.controller)

    def _require_open(self) -> None:
        if self._closed:
            raise RuntimeError("the air is closed")

    # -- closing -------------------------------------------------------------------

    def mark_closed(self) -> bool:
        """Close the air to new work; False when it already was."""
        if self._closed:
            return False
        self._closed = True
        return True

    async def teardown(self, *, owns_loop: bool) -> None:
        """Radio off first, so nothing still waiting on the air can hang: links drop
        (pending operations fail with BleakError) and pending connects fail. Then the
        drops are let through to every host, and the air's tasks (every task, when the
        air owns the loop) are cancelled and awaited until none is left: a task still
        pending when the loop closes is reported as destroyed."""
        for controller in [*self._controllers, *self._served]:
            controller.abandon_pending()
        for node in self._nodes.values():
            node.close()
        unlinked: list[asyncio.Future[None]] = [
            node.wait_unlinked() for node in self._nodes.values()
        ]
        unlinked += [asyncio.ensure_future(c.wait_unlinked()) for c in self._centrals.values()]
        if unlinked:
            _, late = await asyncio.wait(unlinked, timeout=_SETTLE_TIMEOUT)
            for waiter in late:
                waiter.cancel()
            if late:
                await asyncio.wait(late)
        current = asyncio.current_task()
        for _ in range(_SWEEPS):
            if owns_loop:
                # Nobody else runs on this loop: every task is ours or Bumble's.
                doomed = {t for t in asyncio.all_tasks() if t is not current}
            else:
                doomed = set(self._tasks)
            if not doomed:
                return
            for task in doomed:
                task.cancel()
            await asyncio.wait(doomed)


# Bounds on closing: time for the drops to reach the hosts, cancel-and-await rounds (a
# cancelled task's cleanup may start another).
_SETTLE_TIMEOUT = 1.0
_SWEEPS = 5
# HCI reason a central's host vanishing looks like to the peripheral: its link timed out.
_CONNECTION_TIMEOUT = 0x08
