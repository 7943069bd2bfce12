"""bleak's scanner backend, on the air's central.

Plain bleak code uses it through ``BleakScanner(backend=air.scanner_backend)`` or the
class methods (``BleakScanner.discover(backend=...)``, ``find_device_by_name``,
``find_device_by_address``). Several scanners may run at once; they share the
central's scan. Each advertisement carries the name, the service UUIDs (each once), the
manufacturer data and the peripheral's RSSI; ``BLEDevice.details`` keeps the typed
Bumble address (bleak's address strings drop the address type).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bumble import hci

if TYPE_CHECKING:
    from ._air import VirtualAir
    from ._central import ScanReport

__all__ = ["SimBleakScanner", "SimDeviceDetails", "bind_scanner"]


@dataclasses.dataclass(frozen=True, slots=True)
class SimDeviceDetails:
    """``BLEDevice.details`` of an emulated peripheral."""

    address: hci.Address
    """The typed address (random static), which the address string cannot carry."""


class SimBleakScanner(BaseBleakScanner):
    """bleak scanner backend for a :class:`~blerun.sim.VirtualAir`.

    Use the subclass bound to an air, ``air.scanner_backend``.
    """

    _air: ClassVar[VirtualAir]

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._token: object | None = None

    async def start(self) -> None:
        air = self._air
        air._require_loop()
        self.seen_devices = {}
        if self._token is None:
            self._token = await air._central.add_scan_listener(self._on_report)

    async def stop(self) -> None:
        air = self._air
        air._require_loop()
        token, self._token = self._token, None
        if token is not None:
            await air._central.remove_scan_listener(token)

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


def bind_scanner(air: VirtualAir) -> type[SimBleakScanner]:
    """A scanner backend class bound to ``air``."""
    return type("SimBleakScanner", (SimBleakScanner,), {"_air": air})
