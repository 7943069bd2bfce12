"""bleak's client backend, on one central of an air.

Plain bleak code uses it through ``BleakClient(address, backend=air.client_backend)`` (or
with no ``backend=`` at all inside :func:`~blerun.sim.use_air`). Every call must run on
the air's loop (Bumble is single-loop); a call from another loop raises ``BleakError``
instead of hanging. The backend reaches its air only through an
:class:`~._port.AirPort`, so the same class works in the air's process and, unpickled,
in another one.

Adapters: ``bluez={"adapter": "hci1"}`` picks the air's adapter of that name, as on
BlueZ; otherwise the class's own (``air.client_backend``: the first adapter, ``hci0``).

Handle convention (the one BlueZ uses): ``BleakGATTService.handle`` is the service
declaration handle; ``BleakGATTCharacteristic.handle`` is the characteristic
*declaration* handle, so its value handle is ``handle + 1``; a descriptor's handle is
its own attribute handle. Handles are the real ones the emulated server assigned.

Errors (texts and types per the air's :class:`~._realism.Realism`): an ATT Error
Response raises ``BleakGATTProtocolError`` with its code; a link lost during an
operation raises ``BleakError`` (Bumble cancels the pending ATT request, which would
otherwise surface as a bare ``CancelledError``); an unknown address raises
``BleakDeviceNotFoundError``; a connect the peripheral or the adapter refuses raises
BlueZ's "le-connection-abort-by-local"; a second connect to a device being connected,
BlueZ's "In Progress"; a connect that finds nothing advertising within bleak's
``timeout`` raises ``TimeoutError``. ``disconnected_callback`` runs once when an
established link ends, for any reason, this client's own ``disconnect()`` included (as
on bleak's platform backends).
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError
from bumble import att, core, hci
from bumble.device import Connection
from bumble.gatt_client import CharacteristicProxy, DescriptorProxy, ServiceProxy

from blerun.gatt import CCCD, normalize_uuid

from ._central import Central, ConnectFailed, ConnectInProgress
from ._gatt import ATT_CID, Op
from ._port import AirPort

__all__ = ["SimBleakClient"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# BlueZ asks for the largest MTU ATT allows; the peripheral answers with its own limit.
_REQUESTED_MTU = 517
_CCCD_UUID = CCCD


def _uuid_str(uuid: core.UUID) -> str:
    return normalize_uuid(uuid.to_hex_str("-"))


class _Link:
    """One connection of this client, from connect to disconnection."""

    def __init__(self, connection: Connection, central: Central) -> None:
        self.connection = connection
        self.central = central
        self.lost: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        # The callback is for a link that was up, and is called once per link.
        self.established = False
        self.reported = False
        self.callbacks: dict[int, NotifyCallback] = {}

    def deliver(self, value_handle: int, value: bytes) -> None:
        callback = self.callbacks.get(value_handle)
        if callback is None:
            return
        try:
            callback(bytearray(value))
        except Exception:
            # On BlueZ the callback runs in a D-Bus signal handler, and dbus-fast logs
            # what it raises; the link and the next notification are unaffected.
            logger.exception("notification callback for handle %#06x raised", value_handle)


class SimBleakClient(BaseBleakClient):
    """bleak client backend for a :class:`~blerun.sim.VirtualAir`.

    Use the subclass bound to an air, ``air.client_backend`` (or an adapter's).
    """

    _port: ClassVar[AirPort]
    _adapter: ClassVar[str | None] = None

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        services: set[str] | None = None,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float,
        bluez: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._requested_services = services
        self._link: _Link | None = None
        self._name: str | None = None
        chosen = (bluez or {}).get("adapter")
        self._adapter_name: str | None = chosen if isinstance(chosen, str) else self._adapter
        # BlueZ's backend keeps this across links; None until _acquire_mtu() ran.
        self._mtu_size: int | None = None

    # -- properties ----------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name if self._name is not None else self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        if not self._port.realism.default_mtu_until_acquired:
            return self._negotiated_mtu()
        if self._mtu_size is None:
            # bleak's BlueZ backend, word for word (BleakClientBlueZDBus.mtu_size).
            warnings.warn(
                "Using default MTU value. Call _acquire_mtu() or set _mtu_size first to "
                "avoid this warning.",
                stacklevel=2,
            )
            return att.ATT_DEFAULT_MTU
        return self._mtu_size

    def _negotiated_mtu(self) -> int:
        link = self._link
        return link.connection.att_mtu if link is not None else att.ATT_DEFAULT_MTU

    async def _acquire_mtu(self) -> None:
        """Learn the link's MTU, as bleak's BlueZ backend's method of that name does
        (Home Assistant's Bluetooth stack calls it on BlueZ)."""
        self._require_link()
        self._mtu_size = self._negotiated_mtu()

    @property
    def is_connected(self) -> bool:
        link = self._link
        return link is not None and not link.lost.done()

    # -- connecting ----------------------------------------------------------------

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        port = self._port
        port.check_loop()
        if self.is_connected:
            raise BleakError("Client is already connected")
        if pair:
            logger.info("blerun.sim emulates no pairing; connecting without it")
        timeout: float | None = kwargs.get("timeout", self._timeout)
        # The port gives the typed address (BLEDevice.details carries it too, but a
        # BLEDevice from another air must not reach this one's central).
        peer = port.peer(self.address)
        self._name = peer.name
        async with asyncio.timeout(timeout):
            central = await port.central(self._adapter_name)
            try:
                connection = await central.connect(peer.address)
            except ConnectFailed as exc:
                raise port.realism.connect_failed(self.address, exc.status) from exc
            except ConnectInProgress as exc:
                raise port.realism.connect_in_progress(self.address) from exc
            except core.BaseBumbleError as exc:  # e.g. the air's process went away
                raise BleakError(f"{self.address}: connect failed: {exc!r}") from exc
            link = _Link(connection, central)
            connection.on("disconnection", lambda reason: self._on_disconnection(link, reason))
            central.value_sinks[connection.handle] = link.deliver
            self._link = link
            try:
                await self._until_lost(connection.gatt_client.request_mtu(_REQUESTED_MTU))
                self.services = await self._discover(connection)
                link.established = True
            except (Exception, asyncio.CancelledError):
                # A half-set-up link is torn down before the error reaches the caller;
                # the teardown is not this caller's to cancel.
                port.spawn(_disconnect_quietly(connection))
                self._forget(link)
                raise

    def _on_disconnection(self, link: _Link, reason: int) -> None:
        if not link.lost.done():
            link.lost.set_result(reason)
        self._end(link)

    def _end(self, link: _Link) -> None:
        """This client is done with ``link``: forget it, and report it once if it was up.

        As bleak's BlueZ, WinRT and CoreBluetooth backends do, the report comes for every
        cause, this client's own ``disconnect()`` included (before it returns).
        """
        self._forget(link)
        if link.established and not link.reported:
            link.reported = True
            if self._disconnected_callback is not None:
                self._disconnected_callback()

    def _forget(self, link: _Link) -> None:
        sinks = link.central.value_sinks
        if sinks.get(link.connection.handle) == link.deliver:
            del sinks[link.connection.handle]
        link.callbacks.clear()
        if self._link is link:
            self._link = None
            self.services = None

    async def disconnect(self) -> None:
        link = self._link
        port = self._port
        if link is None or link.lost.done() or port.closed:
            if link is not None:
                self._end(link)
            return
        port.check_loop()
        try:
            await link.connection.disconnect()
        except asyncio.CancelledError:
            # As bleak's BlueZ backend does: after a cancelled disconnect this client is
            # disconnected and has reported it; the link itself is torn down in the
            # background (a stalled disconnect consumed its fault, so this one goes
            # through).
            self._end(link)
            port.spawn(_disconnect_quietly(link.connection))
            raise
        except (hci.HCI_Error, core.BaseBumbleError) as exc:
            if not link.lost.done():
                self._end(link)
                port.spawn(_disconnect_quietly(link.connection))
                raise BleakError(f"{self.address}: disconnect failed: {exc}") from exc
        self._end(link)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise BleakError("blerun.sim does not emulate pairing")

    async def unpair(self) -> None:
        raise BleakError("blerun.sim does not emulate pairing")

    # -- discovery -----------------------------------------------------------------

    async def _discover(self, connection: Connection) -> BleakGATTServiceCollection:
        client = connection.gatt_client
        wanted = self._requested_services
        collection = BleakGATTServiceCollection()
        proxies: list[ServiceProxy] = await self._until_lost(client.discover_services())
        for proxy in proxies:
            uuid = _uuid_str(proxy.uuid)
            if wanted is not None and uuid not in wanted:
                continue
            service = BleakGATTService(proxy, proxy.handle, uuid)
            collection.add_service(service)
            chars: list[CharacteristicProxy[bytes]] = await self._until_lost(
                proxy.discover_characteristics()
            )
            for char in chars:
                characteristic = BleakGATTCharacteristic(
                    char,
                    char.handle - 1,  # the declaration handle, as BlueZ reports it
                    _uuid_str(char.uuid),
                    [
                        name
                        for bit, name in CHARACTERISTIC_PROPERTIES.items()
                        if char.properties & bit
                    ],
                    lambda: self._negotiated_mtu() - 3,
                    service,
                )
                collection.add_characteristic(characteristic)
                descriptors: list[DescriptorProxy] = await self._until_lost(
                    client.discover_descriptors(char)
                )
                # Bumble never sets this, and would discover them again on subscribe.
                char.descriptors_discovered = True
                for desc in descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(desc, desc.handle, _uuid_str(desc.type), characteristic)
                    )
        return collection

    # -- I/O -----------------------------------------------------------------------

    def _require_link(self) -> _Link:
        self._port.check_loop()
        link = self._link
        if link is None or link.lost.done():
            raise BleakError("Not connected")
        return link

    async def _until_lost(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro``; if the link goes down first, raise BleakError instead."""
        link = self._link
        if link is None or link.lost.done():
            coro.close()
            raise BleakError("Not connected")
        task = asyncio.ensure_future(coro)

        def on_lost(_: asyncio.Future[int]) -> None:
            task.cancel()

        link.lost.add_done_callback(on_lost)
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # our caller cancelled us: not a link problem
            raise BleakError(f"{self.address}: disconnected during the operation") from None
        except att.ATT_Error as exc:
            raise self._port.realism.att_error(int(exc.error_code)) from exc
        except core.TimeoutError as exc:
            raise BleakError(f"{self.address}: ATT request timed out") from exc
        except core.BaseBumbleError as exc:  # e.g. the air's process went away
            raise BleakError(f"{self.address}: {exc!r}") from exc
        finally:
            link.lost.remove_done_callback(on_lost)

    async def read_gatt_char(
        self,
        characteristic: BleakGATTCharacteristic,
        *,
        use_cached: bool = False,
        **kwargs: Any,
    ) -> bytearray:
        link = self._require_link()
        value: bytes = await self._until_lost(
            link.connection.gatt_client.read_value(characteristic.handle + 1)
        )
        return bytearray(value)

    async def read_gatt_descriptor(
        self,
        descriptor: BleakGATTDescriptor,
        *,
        use_cached: bool = False,
        **kwargs: Any,
    ) -> bytearray:
        link = self._require_link()
        value: bytes = await self._until_lost(
            link.connection.gatt_client.read_value(descriptor.handle)
        )
        return bytearray(value)

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        link = self._require_link()
        value = bytes(data)
        value_handle = characteristic.handle + 1
        if response:
            await self._until_lost(
                link.connection.gatt_client.write_value(value_handle, value, with_response=True)
            )
            return
        if len(value) > link.connection.att_mtu - 3:
            raise BleakError(
                f"{len(value)} bytes exceed max_write_without_response_size "
                f"({link.connection.att_mtu - 3})"
            )
        # A write command straight to L2CAP: Bumble's client would format it into a
        # debug string first. Yield like a real backend's I/O call does, and wait while
        # the host's ACL queue is full, so a tight write loop cannot grow it unbounded.
        link.connection.send_l2cap_pdu(
            ATT_CID, bytes([Op.WRITE_CMD]) + value_handle.to_bytes(2, "little") + value
        )
        central = link.central
        if central.acl_backlogged():
            await self._until_lost(central.acl_room())
        else:
            await asyncio.sleep(0)

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        link = self._require_link()
        await self._until_lost(
            link.connection.gatt_client.write_value(
                descriptor.handle, bytes(data), with_response=True
            )
        )

    async def start_notify(
        self,
        characteristic: BleakGATTCharacteristic,
        callback: NotifyCallback,
        **kwargs: Any,
    ) -> None:
        link = self._require_link()
        cccd = characteristic.get_descriptor(_CCCD_UUID)
        if cccd is None:
            raise BleakError(f"characteristic {characteristic.uuid} has no CCCD: cannot notify")
        properties = characteristic.properties
        if "notify" in properties:
            bits = b"\x01\x00"
        elif "indicate" in properties:
            bits = b"\x02\x00"
        else:
            raise BleakError(
                f"characteristic {characteristic.uuid} can neither notify nor indicate"
            )
        value_handle = characteristic.handle + 1
        # The callback is in place before the CCCD write, so nothing sent right after
        # the subscription is lost.
        link.callbacks[value_handle] = callback
        try:
            await self._until_lost(
                link.connection.gatt_client.write_value(cccd.handle, bits, with_response=True)
            )
        except (Exception, asyncio.CancelledError):
            if link.callbacks.get(value_handle) is callback:
                del link.callbacks[value_handle]
            raise

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        link = self._require_link()
        cccd = characteristic.get_descriptor(_CCCD_UUID)
        if cccd is None or characteristic.handle + 1 not in link.callbacks:
            # BlueZ's answer (src/gatt-client.c, characteristic_stop_notify).
            raise self._port.realism.no_notify_session(self.address, characteristic.uuid)
        await self._until_lost(
            link.connection.gatt_client.write_value(cccd.handle, b"\x00\x00", with_response=True)
        )
        # Only now, as bleak's BlueZ, WinRT and CoreBluetooth backends do: what the
        # peripheral sent before it took the unsubscribe in arrives ahead of the write
        # response on the same link, and still reaches the callback.
        link.callbacks.pop(characteristic.handle + 1, None)


async def _disconnect_quietly(connection: Connection) -> None:
    try:
        await connection.disconnect()
    except (hci.HCI_Error, core.BaseBumbleError) as exc:
        logger.debug("teardown of %s: %r", connection.peer_address, exc)
