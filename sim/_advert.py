"""Advertising data as bleak wants it: parsed once per report, from raw AD structures."""

from __future__ import annotations

import dataclasses
import uuid

from blerun.gatt import normalize_uuid

__all__ = ["Advert", "parse_advertising_data"]

# Core Specification Supplement, Part A, 1: AD types.
_UUID16 = (0x02, 0x03)
_UUID32 = (0x04, 0x05)
_UUID128 = (0x06, 0x07)
_SHORT_NAME = 0x08
_COMPLETE_NAME = 0x09
_TX_POWER = 0x0A
_SERVICE_DATA16 = 0x16
_SERVICE_DATA32 = 0x20
_SERVICE_DATA128 = 0x21
_MANUFACTURER = 0xFF


def _uuid128(raw: bytes) -> str:
    return str(uuid.UUID(bytes=raw[::-1]))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Advert:
    """The fields of one advertising report."""

    local_name: str | None
    service_uuids: tuple[str, ...]
    """Normalised 128-bit strings, each once, in order of appearance."""
    manufacturer_data: dict[int, bytes]
    service_data: dict[str, bytes]
    tx_power: int | None


def parse_advertising_data(data: bytes) -> Advert:
    """Parse AD structures; malformed trailing bytes are ignored, as controllers do."""
    name: str | None = None
    short_name: str | None = None
    uuids: dict[str, None] = {}
    manufacturer: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    tx_power: int | None = None
    offset = 0
    while offset < len(data):
        length = data[offset]
        if length == 0 or offset + 1 + length > len(data):
            break
        ad_type = data[offset + 1]
        body = data[offset + 2 : offset + 1 + length]
        offset += 1 + length
        if ad_type in _UUID16:
            for i in range(0, len(body) - 1, 2):
                uuids[normalize_uuid(int.from_bytes(body[i : i + 2], "little"))] = None
        elif ad_type in _UUID32:
            for i in range(0, len(body) - 3, 4):
                uuids[normalize_uuid(int.from_bytes(body[i : i + 4], "little"))] = None
        elif ad_type in _UUID128:
            for i in range(0, len(body) - 15, 16):
                uuids[_uuid128(body[i : i + 16])] = None
        elif ad_type == _COMPLETE_NAME:
            name = body.decode("utf-8", errors="replace")
        elif ad_type == _SHORT_NAME:
            short_name = body.decode("utf-8", errors="replace")
        elif ad_type == _TX_POWER and body:
            tx_power = int.from_bytes(body[:1], "little", signed=True)
        elif ad_type == _MANUFACTURER and len(body) >= 2:
            manufacturer[int.from_bytes(body[:2], "little")] = bytes(body[2:])
        elif ad_type == _SERVICE_DATA16 and len(body) >= 2:
            key = normalize_uuid(int.from_bytes(body[:2], "little"))
            service_data[key] = bytes(body[2:])
        elif ad_type == _SERVICE_DATA32 and len(body) >= 4:
            key = normalize_uuid(int.from_bytes(body[:4], "little"))
            service_data[key] = bytes(body[4:])
        elif ad_type == _SERVICE_DATA128 and len(body) >= 16:
            service_data[_uuid128(body[:16])] = bytes(body[16:])
    return Advert(
        local_name=name if name is not None else short_name,
        service_uuids=tuple(uuids),
        manufacturer_data=manufacturer,
        service_data=service_data,
        tx_power=tx_power,
    )
