"""bleak's scanner backend, on one central of an air.

Plain bleak code uses it through ``BleakScanner(backend=air.scanner_backend)`` or the
class methods (``BleakScanner.discover(backend=...)``, ``find_device_by_name``,
``find_device_by_address``), or with no ``backend=`` inside :func:`~blerun.sim.use_air`.
``bluez={"adapter": "hci1"}`` scans on that adapter. Several scanners may run at once;
they share the central's scan. Each advertisement carries the name, the service UUIDs
(each once), the manufacturer data and the peripheral's RSSI; ``BLEDevice.details`` keeps the typed
Bumble address (bleak's address strings drop the address type).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bumble import hci

from ._port import AirPort

if TYPE_CHECKING:
    from ._central import Central, ScanReport

__all__ = ["SimBleakScanner", "SimDeviceDetails"]


@dataclasses.dataclass(frozen=True, slots=True)
class SimDeviceDetails:
    """``BLEDevice.details`` of an emulated peripheral."""

    address: hci.Address
    """The typed address (random static), which the address string cannot carry."""


class SimBleakScanner(BaseBleakScanner):
    """bleak scanner backend for a :class:`~blerun.sim.VirtualAir`.

    Use the subclass bound to an air, ``air.scanner_backend`` (or an adapter's).
    """

    _port: ClassVar[AirPort]
    _adapter: ClassVar[str | None] = None

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        *,
        bluez: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        chosen = (bluez or {}).get("adapter")
        self._adapter_name: str | None = chosen if isinstance(chosen, str) else self._adapter
        self._scan: tuple[Central, object] | None = None

    async def start(self) -> None:
        port = self._port
        port.check_loop()
        self.seen_devices = {}
        if self._scan is None:
            central = await port.central(self._adapter_name)
            self._scan = (central, await central.add_scan_listener(self._on_report))

    async def stop(self) -> None:
        self._port.check_loop()
        scan, self._scan = self._scan, None
        if scan is not None:
            central, token = scan
            await central.remove_scan_listener(token)

    def _on_report(self, scan: ScanReport) -> None:
        advert = scan.advert
        uuids = list(advert.service_uuids)
        if not self.is_allowed_uuid(uuids):
            return
        address = scan.address.to_string(with_type_qualifier=False)
        data = AdvertisementData(
            local_name=advert.local_name,
            manufacturer_data=dict(advert.manufacturer_data),
            service_data=dict(advert.service_data),
            service_uuids=uuids,
            tx_power=advert.tx_power,
            rssi=scan.rssi,
            platform_data=(scan,),
        )
        device = self.create_or_update_device(
            address, address, advert.local_name, SimDeviceDetails(scan.address), data
        )
        self.call_detection_callbacks(device, data)
