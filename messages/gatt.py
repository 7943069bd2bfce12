"""GATT values carried by messages: blerun's own frozen view of a device's services.

Never bleak's types: these pickle, compare by value, and stay valid after the link drops.
``ServicesSnapshot.permits`` is the one answer to "may I do this operation on that
characteristic", used before a call is sent and again when the radio runs it.
"""

from __future__ import annotations

import dataclasses
import enum

from blerun.gatt import CharProperty


class GattOp(enum.Enum):
    """An operation on a characteristic, and the properties that allow it."""

    READ = CharProperty.READ
    WRITE = CharProperty.WRITE
    WRITE_WITHOUT_RESPONSE = CharProperty.WRITE_WITHOUT_RESPONSE
    SUBSCRIBE = CharProperty.NOTIFY | CharProperty.INDICATE

    @property
    def needs(self) -> CharProperty:
        """Any one of these properties allows the operation."""
        return CharProperty(self.value)


class Permission(enum.Enum):
    """``ServicesSnapshot.permits``'s answer."""

    ALLOWED = "allowed"
    """The characteristic exists and has a property the operation needs."""
    NOT_FOUND = "not_found"
    """No characteristic with this UUID."""
    NOT_SUPPORTED = "not_supported"
    """It exists, without any property the operation needs."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CharacteristicInfo:
    """One characteristic as discovered on the device."""

    uuid: str
    """Normalized 128-bit UUID, lower case."""
    handle: int
    """The handle bleak reports for it (backend convention)."""
    properties: CharProperty
    """What it supports, as one flag (``CharProperty.READ in info.properties``)."""
    max_write_without_response: int
    """Largest payload for a write without response on this link (ATT MTU - 3)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServiceInfo:
    """One primary service and its characteristics."""

    uuid: str
    """Normalized 128-bit UUID, lower case."""
    handle: int
    """The service's handle."""
    characteristics: tuple[CharacteristicInfo, ...]
    """Its characteristics, in handle order."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServicesSnapshot:
    """The GATT database of one connection, frozen; blerun's own type, never bleak's."""

    services: tuple[ServiceInfo, ...]
    """Primary services, in handle order."""
    mtu: int
    """The negotiated ATT MTU of the connection it was read on."""

    def characteristic(self, uuid: str) -> CharacteristicInfo | None:
        """The first characteristic with this normalized UUID (handle order), or ``None``."""
        for service in self.services:
            for char in service.characteristics:
                if char.uuid == uuid:
                    return char
        return None

    def permits(self, op: GattOp, uuid: str) -> Permission:
        """Whether ``op`` may be done on the characteristic ``uuid`` of this connection."""
        info = self.characteristic(uuid)
        if info is None:
            return Permission.NOT_FOUND
        if not op.needs & info.properties:
            return Permission.NOT_SUPPORTED
        return Permission.ALLOWED
