"""What bleak's backends need from an air: the one interface between them.

The client and scanner backends (:mod:`._client`, :mod:`._scanner`) reach an air only
through an :class:`AirPort`. Two implement it: the :class:`~blerun.sim.VirtualAir` itself
(backends in the air's own process) and :class:`~._remote.RemotePort` (backends unpickled
in another process, whose central reaches the air through a socket).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from bumble import hci

if TYPE_CHECKING:
    from ._central import Central
    from ._realism import Realism

__all__ = ["AirPort", "BackendRef", "Peer"]


@dataclasses.dataclass(frozen=True, slots=True)
class Peer:
    """A device a backend may connect to."""

    address: hci.Address
    """The typed address (bleak's address strings drop the type)."""
    name: str | None
    """Its advertised name, when the port knows it."""


class AirPort(Protocol):
    """An air as its backends see it. Every method runs on the loop bleak runs on."""

    @property
    def realism(self) -> Realism:
        """Which errors the backends raise, and the adapters' limits."""

    @property
    def closed(self) -> bool:
        """Whether the air is gone; every backend call then raises ``BleakError``."""

    def check_loop(self) -> None:
        """Raise ``BleakError`` when called off the air's loop, or after it closed."""

    async def central(self, adapter: str | None) -> Central:
        """The central named ``adapter`` ("hci1"), or the port's default one."""

    def peer(self, address: str) -> Peer:
        """The device at ``address``.

        Raises:
            BleakDeviceNotFoundError: The port knows every device, and not this one.
        """

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run background work that closing the air cancels."""


@dataclasses.dataclass(frozen=True, slots=True)
class BackendRef:
    """What a pickled backend class carries: enough to reach its air from anywhere."""

    kind: str
    """``"client"`` or ``"scanner"``."""
    air_id: str
    """The air's identity, to find it again in its own process."""
    pid: int
    """The air's process: anywhere else, the backend reaches it through ``endpoint``."""
    endpoint: str
    """A Bumble transport spec (``"unix:/path"``, ``"tcp-client:127.0.0.1:port"``)
    where the air serves a fresh central controller to each process that connects."""
    adapter: str | None
    """The adapter the class was bound to in the air's process (another process is
    its own central and ignores it)."""
    realism: Realism
    """The air's profile, for the backends in the other process."""
