"""GATT values carried by messages: blerun's own frozen view of a device's services.

Never bleak's types: these pickle, compare by value, and stay valid after the link drops.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CharacteristicInfo:
    """One characteristic as discovered on the device."""

    uuid: str
    """Normalized 128-bit UUID, lower case."""
    handle: int
    """The handle bleak reports for it (backend convention)."""
    properties: frozenset[str]
    """bleak's property names: "read", "write", "write-without-response", "notify", ..."""
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
        """The first characteristic with this normalized UUID, or ``None``."""
        for service in self.services:
            for char in service.characteristics:
                if char.uuid == uuid:
                    return char
        return None
