"""The one module that calls bleak: a connection to one device, on the loop thread.

Everything here runs on the loop bridge's thread, inside coroutines the RadioActor
submitted. bleak's exceptions are mapped to blerun's in ``map_bleak_errors`` and chained
(``raise ... from``). Backends are bleak's seam: ``backend=None`` is the platform's
(BlueZ, CoreBluetooth, WinRT, Android); ``blerun.sim`` and any third-party bleak backend
plug in the same way, so the production path runs under test.

Characteristic handles are whatever the backend reports; UUIDs are looked up as the
first characteristic with that UUID, in handle order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.exc import (
    BleakCharacteristicNotFoundError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)

from blerun.actors._errors import (
    BleRuntimeError,
    CharacteristicNotFound,
    ConnectFailed,
    DeviceNotFound,
    Disconnected,
    GattError,
    LinkError,
    NotSupported,
    OperationTimeout,
)
from blerun.messages import CharacteristicInfo, ServiceInfo, ServicesSnapshot

log = logging.getLogger(__name__)

# ATT caps an attribute value at 512 bytes (Core spec Vol 3, Part F, 3.2.9): the most a
# write with response can carry, whatever the MTU.
MAX_ATTRIBUTE_LENGTH = 512

Backend = type[BaseBleakClient]


@contextlib.contextmanager
def map_bleak_errors(
    device: str,
    *,
    char: str | None = None,
    connecting: bool = False,
    is_up: Callable[[], bool] | None = None,
) -> Iterator[None]:
    """Translate bleak's (and the transport's) exceptions into blerun's.

    ``is_up`` tells, at the moment of failure, whether the link still stands: a generic
    failure on a link that has dropped is reported as ``Disconnected``.
    """
    try:
        yield
    except BleRuntimeError:
        raise
    except BleakDeviceNotFoundError as exc:
        raise DeviceNotFound(f"device {device} was not found", device=device) from exc
    except BleakGATTProtocolError as exc:
        raise GattError(status=int(exc.code), char_uuid=char, device=device) from exc
    except BleakCharacteristicNotFoundError as exc:
        raise CharacteristicNotFound(char or str(exc.char_specifier), device=device) from exc
    except TimeoutError as exc:
        if connecting:
            raise ConnectFailed(f"connecting to {device} timed out", device=device) from exc
        raise OperationTimeout(
            f"operation on {char} of {device} timed out", timeout=0.0, device=device
        ) from exc
    except (BleakError, EOFError, OSError) as exc:
        if connecting:
            raise ConnectFailed(f"connecting to {device} failed: {exc}", device=device) from exc
        if is_up is not None and not is_up():
            raise Disconnected(
                f"link to {device} dropped during the operation", device=device
            ) from exc
        raise LinkError(f"operation on {char} of {device} failed: {exc}", device=device) from exc


class BleakLink:
    """One connection attempt and, if it succeeds, its session. Loop thread only."""

    def __init__(
        self,
        *,
        device: str,
        target: Any,
        backend: Backend | None,
        on_lost: Callable[[], None],
        disconnect_timeout: float,
    ) -> None:
        self.device = device
        self._target = target
        self._backend = backend
        self._on_lost = on_lost
        self._disconnect_timeout = disconnect_timeout
        self._client: BleakClient | None = None
        self._chars: dict[str, BleakGATTCharacteristic] = {}
        self._closing = False

    def _lost(self, _client: BleakClient) -> None:
        # bleak calls this for requested disconnects on some platforms too; a link we are
        # tearing down ourselves is not "lost".
        if not self._closing:
            self._on_lost()

    async def connect(self, timeout: float) -> ServicesSnapshot:
        """Connect and discover services; on cancellation, tear down what was built."""
        client = BleakClient(
            self._target,
            disconnected_callback=self._lost,
            timeout=timeout,
            backend=self._backend,
        )
        self._client = client
        try:
            with map_bleak_errors(self.device, connecting=True):
                await client.connect()
                return self._snapshot(client)
        except asyncio.CancelledError:
            await self.disconnect()
            raise
        except BleRuntimeError:
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
                        properties=frozenset(char.properties),
                        max_write_without_response=char.max_write_without_response_size,
                    )
                )
            services.append(
                ServiceInfo(uuid=service.uuid, handle=service.handle, characteristics=tuple(chars))
            )
        return ServicesSnapshot(services=tuple(services), mtu=client.mtu_size)

    def _char(self, uuid: str, needed: str | None = None) -> BleakGATTCharacteristic:
        char = self._chars.get(uuid)
        if char is None:
            raise CharacteristicNotFound(uuid, device=self.device)
        if needed is not None and not set(needed.split("|")) & set(char.properties):
            raise NotSupported(uuid, needed=needed.replace("|", " or "), device=self.device)
        return char

    def _require_client(self) -> BleakClient:
        client = self._client
        if client is None or not client.is_connected:
            raise Disconnected(f"link to {self.device} is down", device=self.device)
        return client

    async def read(self, uuid: str) -> bytes:
        client = self._require_client()
        char = self._char(uuid, "read")
        with map_bleak_errors(self.device, char=uuid, is_up=lambda: client.is_connected):
            return bytes(await client.read_gatt_char(char))

    async def write(self, uuid: str, data: bytes, response: bool) -> None:
        client = self._require_client()
        char = self._char(uuid, "write" if response else "write-without-response")
        with map_bleak_errors(self.device, char=uuid, is_up=lambda: client.is_connected):
            await client.write_gatt_char(char, data, response=response)

    async def start_notify(self, uuid: str, on_data: Callable[[bytes], None]) -> None:
        client = self._require_client()
        char = self._char(uuid, "notify|indicate")

        def deliver(_char: BleakGATTCharacteristic, data: bytearray) -> None:
            on_data(bytes(data))

        with map_bleak_errors(self.device, char=uuid, is_up=lambda: client.is_connected):
            await client.start_notify(char, deliver)

    async def stop_notify(self, uuid: str) -> None:
        client = self._client
        if client is None or not client.is_connected:
            return  # notifications end with the link; nothing is left registered
        char = self._char(uuid)
        with map_bleak_errors(self.device, char=uuid, is_up=lambda: client.is_connected):
            await client.stop_notify(char)

    async def disconnect(self) -> None:
        """Tear the link down within the bound; never raises."""
        self._closing = True
        client = self._client
        if client is None:
            return
        try:
            async with asyncio.timeout(self._disconnect_timeout):
                await client.disconnect()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 -- teardown never raises: log and move on
            log.warning(
                "disconnect from %s did not complete cleanly: %r",
                self.device,
                exc,
                extra={"device": self.device},
            )
