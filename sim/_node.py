"""One emulated peripheral on the loop thread: its Bumble device, links, counters, faults.

Everything here runs on the air's loop thread and is reached from other threads only
through :class:`~blerun.sim.Peripheral`. The node assembles the parts and owns the
peripheral's life: the GATT table (:mod:`._gatt`), the ATT gate every request passes
(:mod:`._gate`), the transmitter of notifications and streams (:mod:`._transmitter`),
its links and subscriptions, its counters and their watchers, and the faults that act
on the radio (drop, silence, refusals, stalls, zombie).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from bumble import hci
from bumble.core import AdvertisingData
from bumble.device import Connection

from blerun.gatt import normalize_uuid

from ._faults import Counters, FaultPlan, Operation, PeripheralCounters
from ._gate import AttGate, GatedDevice
from ._gatt import CharState, GattTable, to_bumble_uuid
from ._hci import PeripheralController, SimLink
from ._link_policy import PROCEED, Admission, Verdict
from ._quiet_host import QuietHost
from ._spec import PeripheralSpec, Property
from ._transmitter import CCCD_INDICATE, CCCD_NOTIFY, PeripheralLink, Transmitter

if TYPE_CHECKING:
    from ._peripheral import Peripheral

__all__ = ["Node"]

# HCI reason a supervision timeout reports (Vol 1, Part F, 1.3: Connection Timeout).
_CONNECTION_TIMEOUT = 0x08
# What the central hears when the air closes under it: the peripheral powered off.
_POWER_OFF = 0x15
_FLAGS_LE_ONLY = bytes([0x06])  # LE General Discoverable, BR/EDR not supported


class Node:
    """The loop-side half of an emulated peripheral."""

    def __init__(
        self,
        spec: PeripheralSpec,
        address: hci.Address,
        owner: Peripheral,
        *,
        link: SimLink,
        quiet: bool,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self.spec = spec
        self._spawn = spawn
        self.address = address
        self._owner = owner
        self._loop = asyncio.get_running_loop()
        self.faults = FaultPlan()
        self.counters = Counters()
        self._links: dict[int, PeripheralLink] = {}
        self._silence: asyncio.TimerHandle | None = None
        self._closed = False
        self._unlinked: list[asyncio.Future[None]] = []
        self._watchers: list[
            tuple[Callable[[PeripheralCounters], bool], asyncio.Future[PeripheralCounters]]
        ] = []

        self.controller = PeripheralController(spec.name, link=link, quiet=quiet)
        self.device = GatedDevice(name=spec.name, address=address)
        self.device.host = QuietHost.local(self.controller)
        self.table = GattTable(spec.services, self._on_app_write)
        self.device.add_services(self.table.services)
        self.table.index(self.device.gatt_server.attributes)
        self.device.gatt_server.max_mtu = spec.mtu
        self.transmitter = Transmitter(
            links=self._links, faults=self.faults, counters=self.counters, changed=self._changed
        )
        for char in self.table.chars:
            if char.spec.notify_rate_hz is not None:
                self.transmitter.add_stream(char, char.spec.notify_rate_hz)
        self.device.gate = AttGate(
            device=self.device,
            table=self.table,
            links=self._links,
            faults=self.faults,
            counters=self.counters,
            transmitter=self.transmitter,
            changed=self._changed,
        )
        self.device.on("connection", self._on_connection)
        self.device.on("characteristic_subscription", self._on_subscription)

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Power on and start advertising (again after every disconnection)."""
        await self.device.power_on()
        queue = self.device.host.le_acl_packet_queue
        assert queue is not None, "Bumble host without an LE ACL queue after power-on"
        self.transmitter.attach(queue)
        self.device.advertising_data = self._advertising_data()
        interval_ms = self.spec.advertising_interval * 1000.0
        self.device.advertising_interval_min = interval_ms
        self.device.advertising_interval_max = interval_ms
        # Restarted by this node, not by Bumble's auto_restart: Bumble's restart is a
        # task nobody owns, still pending when the air's loop stops after a close.
        await self.device.start_advertising()

    async def _advertise_again(self) -> None:
        if self._closed:
            return
        device = self.device
        advertiser = device.legacy_advertising_set or device.legacy_advertiser
        if advertiser is not None:
            await advertiser.start()

    def _advertising_data(self) -> bytes:
        fields: list[tuple[int, bytes]] = [
            (AdvertisingData.FLAGS, _FLAGS_LE_ONLY),
            (AdvertisingData.COMPLETE_LOCAL_NAME, self.spec.name.encode()),
        ]
        uuids = [to_bumble_uuid(u) for u in self.spec.service_uuids]
        short = b"".join(u.to_bytes() for u in uuids if len(u.to_bytes()) == 2)
        long = b"".join(u.to_bytes() for u in uuids if len(u.to_bytes()) == 16)
        if short:
            fields.append((AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, short))
        if long:
            fields.append((AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, long))
        for company, payload in self.spec.manufacturer_data.items():
            fields.append(
                (
                    AdvertisingData.MANUFACTURER_SPECIFIC_DATA,
                    company.to_bytes(2, "little") + payload,
                )
            )
        return bytes(AdvertisingData(fields))

    def close(self) -> None:
        """Stop timers and radio activity; the loop may stop right after."""
        self._closed = True
        self.transmitter.stop()
        if self._silence is not None:
            self._silence.cancel()
            self._silence = None
        self.controller.silent = True
        for link in self._links.values():
            link.end()
        self.controller.drop_links(_POWER_OFF)

    # -- links and subscriptions ---------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        link = PeripheralLink(connection)
        self._links[connection.handle] = link
        self.counters.connects += 1
        connection.on("disconnection", lambda _reason: self._on_disconnection(link))
        self._changed()

    def _on_disconnection(self, link: PeripheralLink) -> None:
        link.end()
        self._links.pop(link.connection.handle, None)
        self.counters.disconnects += 1
        if not self._links:
            for future in self._unlinked:
                if not future.done():
                    future.set_result(None)
            self._unlinked.clear()
        for handle in [h for h, bits in link.subs.items() if bits]:
            link.subs[handle] = 0
            self.transmitter.update_stream(handle)
        self._changed()
        if not self._closed:
            self._spawn(self._advertise_again())

    def _on_subscription(
        self, connection: Connection, characteristic: object, notify: bool, indicate: bool
    ) -> None:
        link = self._links.get(connection.handle)
        handle = getattr(characteristic, "handle", None)
        if link is None or not isinstance(handle, int):
            return
        link.subs[handle] = (CCCD_NOTIFY if notify else 0) | (CCCD_INDICATE if indicate else 0)
        self.transmitter.update_stream(handle)
        self._changed()

    def _on_app_write(self, char: CharState, value: bytes) -> None:
        handler = char.spec.on_write
        if handler is None:
            char.stored = value
        else:
            handler(self._owner, value)  # raising refuses the write: not counted
        # Counted once the application took it: a request, a command, or the Execute
        # of a long write, never one the server or the application refused.
        self.counters.writes += 1
        self._changed()

    @property
    def connected(self) -> bool:
        return any(link.alive for link in self._links.values())

    def wait_unlinked(self) -> asyncio.Future[None]:
        """Resolves once this peripheral's host has seen every link of it end."""
        future: asyncio.Future[None] = self._loop.create_future()
        if not self._links:
            future.set_result(None)
        else:
            self._unlinked.append(future)
        return future

    # -- counters ------------------------------------------------------------------

    def active_subscriptions(self) -> int:
        return sum(
            1 for link in self._links.values() if link.alive for bits in link.subs.values() if bits
        )

    def snapshot(self) -> PeripheralCounters:
        return self.counters.snapshot(self.active_subscriptions())

    def _changed(self) -> None:
        if not self._watchers:
            return
        snapshot = self.snapshot()
        for predicate, future in list(self._watchers):
            if future.done():
                continue
            try:
                if predicate(snapshot):
                    future.set_result(snapshot)
            except Exception as exc:  # noqa: BLE001  # raised in the waiting caller
                future.set_exception(exc)

    async def wait_until(
        self, predicate: Callable[[PeripheralCounters], bool]
    ) -> PeripheralCounters:
        """Wait until ``predicate`` holds for the counters; returns that snapshot."""
        snapshot = self.snapshot()
        if predicate(snapshot):
            return snapshot
        future: asyncio.Future[PeripheralCounters] = self._loop.create_future()
        entry = (predicate, future)
        self._watchers.append(entry)
        try:
            return await future
        finally:
            self._watchers.remove(entry)

    # -- faults that act on the radio ----------------------------------------------

    def drop_link(self) -> bool:
        """Lose the link as a supervision timeout would; False when not connected."""
        live = [link for link in self._links.values() if link.alive]
        if not live:
            return False
        for link in live:
            link.end()  # nothing more leaves this peripheral on a link going down
        self.counters.drops_injected += len(live)
        self._changed()
        self.controller.drop_links(_CONNECTION_TIMEOUT)
        return True

    def silence(self, duration: float | None) -> None:
        if self._silence is not None:
            self._silence.cancel()
            self._silence = None
        self.controller.silent = True
        if duration is not None:
            self._silence = self._loop.call_later(duration, self.unsilence)

    def unsilence(self) -> None:
        if self._silence is not None:
            self._silence.cancel()
            self._silence = None
        if not self._closed:
            self.controller.silent = False

    def resume_notifications(self) -> None:
        self.faults.notifications_paused = False
        self.transmitter.pump_all()

    def zombie(self, on: bool) -> None:
        """Go silent on every link without ending it (``on``), or come back."""
        self.faults.zombie = on
        if not on:
            self.transmitter.pump_all()

    # -- what the central controller asks (LinkPolicy, via the air) ----------------

    def admit(self, op: Operation) -> Admission:
        ruling = self.faults.rule(op)
        if ruling.refuse:
            self.counters.refused_connects += 1
            self._changed()
            return Admission(Verdict.REFUSE)
        if ruling.stall:
            return Admission(Verdict.STALL)
        if ruling.delay > 0:
            return Admission(Verdict.PROCEED, ruling.delay)
        return PROCEED

    def char_by_uuid(self, uuid: str | None, *, subscribable: bool = False) -> CharState:
        """The characteristic with ``uuid``; without one, the first that can notify."""
        if uuid is None:
            for char in self.table.chars:
                if char.properties & (Property.NOTIFY | Property.INDICATE):
                    return char
            raise ValueError(f"{self.spec.name} has no characteristic that can notify")
        found = self.table.by_uuid.get(normalize_uuid(uuid))
        if found is None:
            raise ValueError(f"{self.spec.name} has no characteristic {uuid}")
        if subscribable and not found.properties & (Property.NOTIFY | Property.INDICATE):
            raise ValueError(f"characteristic {uuid} of {self.spec.name} cannot notify")
        return found
