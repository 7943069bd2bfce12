"""The one capability check: may this operation run on that characteristic, with this payload?

Asked twice with the same function: at the call, against the services last seen (so bad
input fails before anything is sent), and by the RadioActor against the services of the
session the operation actually runs on.
"""

from __future__ import annotations

from blerun.actors.errors import CharacteristicNotFound, NotSupported, PayloadTooLong
from blerun.messages import GattOp, Permission, ServicesSnapshot

MAX_ATTRIBUTE_LENGTH = 512
"""ATT caps an attribute value at 512 bytes (Core spec Vol 3, Part F, 3.2.9): the most a
write with response can carry, whatever the MTU."""


def check_op(
    services: ServicesSnapshot | None,
    op: GattOp,
    uuid: str,
    *,
    address: str,
    payload: bytes | None = None,
) -> None:
    """Raise if ``op`` on ``uuid`` cannot work; without services only the ATT cap applies.

    Raises:
        CharacteristicNotFound: no such characteristic on the device.
        NotSupported: it lacks every property ``op`` needs.
        PayloadTooLong: a write longer than the link (or ATT) allows.
    """
    limit = MAX_ATTRIBUTE_LENGTH
    if services is not None:
        match services.permits(op, uuid):
            case Permission.NOT_FOUND:
                raise CharacteristicNotFound(uuid, address=address)
            case Permission.NOT_SUPPORTED:
                needed = " or ".join(sorted(op.needs.names()))
                raise NotSupported(uuid, needed=needed, address=address)
            case Permission.ALLOWED:
                info = services.characteristic(uuid)
                if info is not None and op is GattOp.WRITE_WITHOUT_RESPONSE:
                    limit = info.max_write_without_response
    if payload is not None and len(payload) > limit:
        raise PayloadTooLong(
            length=len(payload),
            limit=limit,
            uuid=uuid,
            response=op is not GattOp.WRITE_WITHOUT_RESPONSE,
            address=address,
        )


def write_op(response: bool) -> GattOp:
    """The GATT operation a write with or without response is."""
    return GattOp.WRITE if response else GattOp.WRITE_WITHOUT_RESPONSE
