"""Declarative description of an emulated peripheral: frozen values, no I/O.

A :class:`PeripheralSpec` says what a device advertises and which GATT services it
serves; :meth:`blerun.sim.VirtualAir.add_peripheral` brings one to life. The same spec
can be added to several airs (or twice to one air): all mutable state (stored values,
notification sequence numbers, faults, counters) lives in the running
:class:`~blerun.sim.Peripheral`, never in the spec.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from blerun.gatt import AttErrorCode, InvalidUUIDValue, normalize_uuid

if TYPE_CHECKING:
    from ._peripheral import Peripheral

__all__ = [
    "AttError",
    "CharacteristicSpec",
    "NotifySource",
    "PeripheralSpec",
    "Property",
    "ServiceSpec",
    "ValueSource",
    "WriteHandler",
]

_MAX_ATTRIBUTE_VALUE = 512  # Core spec Vol 3, Part F, 3.2.9
_MIN_ADVERTISING_INTERVAL = 0.02  # connectable undirected advertising, Vol 6, Part B 4.4.2.2
_MAX_ADVERTISING_INTERVAL = 10.24
_MIN_MTU = 23
_MAX_MTU = 517


class Property(enum.Flag):
    """GATT characteristic properties an emulated characteristic supports.

    The emulated server enforces them: a read of a characteristic without ``READ`` is
    answered with ATT Read Not Permitted, a write request without ``WRITE`` with ATT
    Write Not Permitted, and a write command without ``WRITE_WITHOUT_RESPONSE`` is
    dropped, as the ATT protocol requires for commands.
    """

    READ = enum.auto()
    """Reads are answered with the characteristic's value."""
    WRITE = enum.auto()
    """Write requests (write with response) are accepted."""
    WRITE_WITHOUT_RESPONSE = enum.auto()
    """Write commands (write without response) are accepted."""
    NOTIFY = enum.auto()
    """A central can subscribe to notifications."""
    INDICATE = enum.auto()
    """A central can subscribe to indications (each one is confirmed)."""


class AttError(Exception):
    """Raise from a write handler or a computed value to answer with an ATT error.

    Args:
        code: The ATT error code, 0x01-0xFF: a :class:`blerun.gatt.AttErrorCode`, or an
            application error 0x80-0x9F.
    """

    def __init__(self, code: AttErrorCode | int) -> None:
        if isinstance(code, bool) or not isinstance(code, int) or not 0x01 <= code <= 0xFF:
            raise ValueError(f"ATT error code must be an int in 0x01..0xFF, got {code!r}")
        super().__init__(code)
        self.code = int(code)

    def __str__(self) -> str:
        return f"ATT error {AttErrorCode.describe(self.code)}"


ValueSource = bytes | Callable[[], bytes]
"""A characteristic's value: fixed bytes, or a function called on every read."""

WriteHandler = Callable[["Peripheral", bytes], None]
"""Called on the loop thread with the running peripheral and the bytes written.

Raise :class:`AttError` to refuse the write with that code (write requests only; a
write command has no answer)."""

NotifySource = Callable[[int], bytes]
"""Builds the payload of the n-th notification of a characteristic (n counts from 0
and increases by one per notification the peripheral transmits)."""


def _uuid(value: str, what: str) -> str:
    try:
        return normalize_uuid(value)
    except InvalidUUIDValue as exc:
        raise ValueError(f"{what}: {value!r} is not a 16-bit or 128-bit UUID") from exc


def _set(obj: object, name: str, value: object) -> None:
    # Frozen dataclasses normalise their own fields once, in __post_init__.
    object.__setattr__(obj, name, value)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CharacteristicSpec:
    """One characteristic of an emulated service."""

    uuid: str
    """16-bit (``"2a37"``) or 128-bit UUID; stored normalised to bleak's 128-bit form."""
    properties: Property
    """What the characteristic supports; the server refuses anything else."""
    value: ValueSource = b""
    """What a read returns. A write without ``on_write`` replaces a fixed value."""
    on_write: WriteHandler | None = None
    """Called for every accepted write instead of storing the value."""
    notify_value: NotifySource | None = None
    """Payload of each notification; by default, the current value."""
    notify_rate_hz: float | None = None
    """Send a notification this often while a central is subscribed (needs NOTIFY or
    INDICATE); the first one right after the subscription is acknowledged."""
    description: str | None = None
    """Adds a Characteristic User Description descriptor (0x2901) with this text."""
    requires_pairing: bool = False
    """Reads, writes and subscriptions are refused with ATT Insufficient Authentication
    (0x05), as a device that wants an encrypted link refuses them on one that is not
    paired (the sim emulates no pairing). With ``realism="bluez"`` bleak raises BlueZ's
    ``NotPermitted`` "Not paired"."""

    def __post_init__(self) -> None:
        _set(self, "uuid", _uuid(self.uuid, "characteristic uuid"))
        if not isinstance(self.properties, Property) or not self.properties:
            raise ValueError(f"characteristic {self.uuid}: properties must be a non-empty Property")
        if isinstance(self.value, (bytearray, memoryview)):
            _set(self, "value", bytes(self.value))
        if isinstance(self.value, bytes):
            if len(self.value) > _MAX_ATTRIBUTE_VALUE:
                raise ValueError(f"characteristic {self.uuid}: value longer than 512 bytes")
        elif not callable(self.value):
            raise TypeError(f"characteristic {self.uuid}: value must be bytes or a callable")
        subscribable = Property.NOTIFY | Property.INDICATE
        if self.notify_rate_hz is not None:
            if not self.properties & subscribable:
                raise ValueError(
                    f"characteristic {self.uuid}: notify_rate_hz needs NOTIFY or INDICATE"
                )
            if not (math.isfinite(self.notify_rate_hz) and self.notify_rate_hz > 0):
                raise ValueError(f"characteristic {self.uuid}: notify_rate_hz must be > 0")
        if self.notify_value is not None and not self.properties & subscribable:
            raise ValueError(f"characteristic {self.uuid}: notify_value needs NOTIFY or INDICATE")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServiceSpec:
    """One primary service of an emulated peripheral."""

    uuid: str
    """16-bit or 128-bit UUID; stored normalised."""
    characteristics: tuple[CharacteristicSpec, ...] = ()
    """The characteristics, in handle order."""

    def __post_init__(self) -> None:
        _set(self, "uuid", _uuid(self.uuid, "service uuid"))
        _set(self, "characteristics", tuple(self.characteristics))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PeripheralSpec:
    """What an emulated peripheral advertises and serves.

    The advertising data carries flags, the complete local name, the advertised service
    UUIDs and the manufacturer data. The virtual link has no scan response, so
    everything travels in one PDU; the 31-byte limit of legacy advertising is not
    enforced (a real device would split the same fields over advertising data and scan
    response, and bleak would merge them back).
    """

    name: str
    """Complete local name, advertised and served as the GAP Device Name."""
    services: tuple[ServiceSpec, ...] = ()
    """Primary services, in handle order (after Bumble's GAP and GATT services)."""
    advertising_interval: float = 0.02
    """Seconds between advertising events (0.02-10.24). Connect latency is about one
    interval; with many peripherals, longer intervals cost less CPU."""
    advertised_service_uuids: tuple[str, ...] | None = None
    """UUIDs listed in the advertising data; ``None`` lists every service's UUID."""
    manufacturer_data: Mapping[int, bytes] = dataclasses.field(default_factory=dict)
    """Company identifier -> payload, advertised as Manufacturer Specific Data."""
    rssi: int = -60
    """RSSI (dBm) the central reports for this peripheral's advertisements."""
    mtu: int = 247
    """The largest ATT MTU this peripheral accepts in an MTU exchange (23-517)."""
    address: str | None = None
    """A random static address ("F0:00:00:00:00:2A"); ``None`` lets the air pick one."""

    def __post_init__(self) -> None:
        if not self.name or len(self.name.encode()) > 248:
            raise ValueError("name must be 1-248 bytes of UTF-8")
        _set(self, "services", tuple(self.services))
        if not (
            math.isfinite(self.advertising_interval)
            and _MIN_ADVERTISING_INTERVAL <= self.advertising_interval <= _MAX_ADVERTISING_INTERVAL
        ):
            raise ValueError(
                f"advertising_interval must be in [{_MIN_ADVERTISING_INTERVAL}, "
                f"{_MAX_ADVERTISING_INTERVAL}] seconds, got {self.advertising_interval}"
            )
        if self.advertised_service_uuids is not None:
            _set(
                self,
                "advertised_service_uuids",
                tuple(_uuid(u, "advertised service uuid") for u in self.advertised_service_uuids),
            )
        data = {}
        for company, payload in self.manufacturer_data.items():
            if not 0 <= company <= 0xFFFF:
                raise ValueError(f"manufacturer id {company} is not a 16-bit company identifier")
            data[company] = bytes(payload)
        _set(self, "manufacturer_data", types.MappingProxyType(data))
        if not -127 <= self.rssi <= 20:
            raise ValueError(f"rssi must be in -127..20 dBm, got {self.rssi}")
        if not _MIN_MTU <= self.mtu <= _MAX_MTU:
            raise ValueError(f"mtu must be in {_MIN_MTU}..{_MAX_MTU}, got {self.mtu}")

    @property
    def service_uuids(self) -> tuple[str, ...]:
        """The UUIDs this peripheral advertises."""
        if self.advertised_service_uuids is not None:
            return self.advertised_service_uuids
        return tuple(dict.fromkeys(s.uuid for s in self.services))
