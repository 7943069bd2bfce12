"""The one module that calls bleak: a connection to one device, on the loop thread.

Everything here runs on the loop, inside coroutines the RadioActor submitted. bleak's
exceptions are mapped to blerun's by ``_bleak_errors`` and chained. Backends are bleak's
seam: ``backend=None`` is the platform's (BlueZ, CoreBluetooth, WinRT, Android);
``blerun.sim`` and any third-party bleak backend plug in the same way, so the production
path runs under test.

Characteristic handles are whatever the backend reports; a UUID names the first
characteristic with that UUID, in handle order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient

from blerun.actors._bleak_errors import map_bleak_errors
from blerun.actors.errors import BleRuntimeError, CharacteristicNotFound, Disconnected
from blerun.gatt import CharProperty
from blerun.messages import CharacteristicInfo, ServiceInfo, ServicesSnapshot

log = logging.getLogger(__name__)

Backend = type[BaseBleakClient]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LinkOptions:
    """What bleak needs to reach one device; fixed for the device's life."""

    target: Any
    """The address, or the platform's device object from a scan."""
    backend: Backend | None
    """The bleak backend class; ``None`` for the platform's."""
    disconnect_timeout: float
    """Bound on one disconnect (teardown), seconds."""
    services: tuple[str, ...] | None = None
    """Only discover these services (bleak's ``services=``), or all."""
    pair: bool = False
    """Pair before connecting (bleak's ``pair=``)."""
    bluez: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """BlueZ options (``{"adapter": "hci1"}``...), passed to bleak as is."""
    winrt: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """WinRT options, passed to bleak as is."""


class BleakLink:
    """One connection attempt and, if it succeeds, its session. Loop thread only."""

    def __init__(self, *, address: str, options: LinkOptions, on_lost: Callable[[], None]) -> None:
        self.address = address
        self._options = options
        self._on_lost = on_lost
        self._client: BleakClient | None = None
        self._chars: dict[str, BleakGATTCharacteristic] = {}
        self._closing = False

    def _lost(self, _client: BleakClient) -> None:
        # bleak calls this after a requested disconnect too: a link we are tearing down
        # ourselves is not "lost".
        if not self._closing:
            self._on_lost()

    async def connect(self, timeout: float) -> ServicesSnapshot:
        """Connect and discover services; on failure or cancellation, tear down what was built."""
        opt = self._options
        try:
            with map_bleak_errors(self.address, connecting=True):
                client = BleakClient(
                    opt.target,
                    disconnected_callback=self._lost,
                    services=opt.services,
                    timeout=timeout,
                    pair=opt.pair,
                    bluez=dict(opt.bluez),  # type: ignore[arg-type]
                    winrt=dict(opt.winrt),  # type: ignore[arg-type]
                    backend=opt.backend,
                )
                self._client = client
                await client.connect()
                return self._snapshot(client)
        except (asyncio.CancelledError, BleRuntimeError):
            await self.disconnect()
            raise

    def _snapshot(self, client: BleakClient) -> ServicesSnapshot:
        services = []
        self._chars.clear()
        for service in sorted(client.services, key=lambda s: s.handle):
            chars = []
            for char in sorted(service.characteristics, key=lambda c: c.handle):
                self._chars.setdefault(char.uuid, char)
                chars.append(
                    CharacteristicInfo(
                        uuid=char.uuid,
                        handle=char.handle,
                        properties=CharProperty.from_names(char.properties),
                        max_write_without_response=char.max_write_without_response_size,
                    )
                )
            services.append(
                ServiceInfo(uuid=service.uuid, handle=service.handle, characteristics=tuple(chars))
            )
        return ServicesSnapshot(services=tuple(services), mtu=client.mtu_size)

    def _char(self, uuid: str) -> BleakGATTCharacteristic:
        char = self._chars.get(uuid)
        if char is None:
            raise CharacteristicNotFound(uuid, address=self.address)
        return char

    def _require_client(self) -> BleakClient:
        client = self._client
        if client is None or not client.is_connected:
            raise Disconnected(f"link to {self.address} is down", address=self.address)
        return client

    async def read(self, uuid: str) -> bytes:
        client = self._require_client()
        char = self._char(uuid)
        with map_bleak_errors(self.address, uuid=uuid, is_up=lambda: client.is_connected):
            return bytes(await client.read_gatt_char(char))

    async def write(self, uuid: str, data: bytes, response: bool) -> None:
        client = self._require_client()
        char = self._char(uuid)
        with map_bleak_errors(self.address, uuid=uuid, is_up=lambda: client.is_connected):
            await client.write_gatt_char(char, data, response=response)

    async def start_notify(self, uuid: str, push: Callable[[str, bytes], None]) -> None:
        client = self._require_client()
        char = self._char(uuid)

        def deliver(_char: BleakGATTCharacteristic, data: bytearray) -> None:
            push(uuid, bytes(data))

        with map_bleak_errors(self.address, uuid=uuid, is_up=lambda: client.is_connected):
            await client.start_notify(char, deliver)

    async def stop_notify(self, uuid: str) -> None:
        client = self._client
        if client is None or not client.is_connected:
            return  # notifications end with the link; nothing is left registered
        char = self._char(uuid)
        with map_bleak_errors(self.address, uuid=uuid, is_up=lambda: client.is_connected):
            await client.stop_notify(char)

    async def disconnect(self) -> bool:
        """Tear the link down within the bound; never raises. False if it gave up."""
        self._closing = True
        client = self._client
        if client is None:
            return True
        try:
            async with asyncio.timeout(self._options.disconnect_timeout):
                await client.disconnect()
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 -- teardown never raises: log, report, move on
            log.warning(
                "disconnect from %s did not complete cleanly: %r",
                self.address,
                exc,
                extra={"device": self.address},
            )
            return False
