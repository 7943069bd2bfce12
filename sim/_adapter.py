"""The public handle of one of an air's adapters (a central of this process)."""

from __future__ import annotations

from typing import Any

__all__ = ["Adapter"]


class Adapter:
    """One adapter (a central with its own controller) of a :class:`~blerun.sim.VirtualAir`.

    Every air has ``hci0``; :meth:`VirtualAir.add_adapter` adds ``hci1``, ``hci2``, ...
    Each reaches every peripheral of the air, so two runtimes (or two radios of one) can
    meet the same device. Built by the air, not constructed directly.
    """

    def __init__(
        self, name: str, address: str, client_backend: type[Any], scanner_backend: type[Any]
    ) -> None:
        self._name = name
        self._address = address
        self._client_backend = client_backend
        self._scanner_backend = scanner_backend

    def __repr__(self) -> str:
        return f"<Adapter {self._name} {self._address}>"

    @property
    def name(self) -> str:
        """BlueZ-style name, "hci0"; ``BleakClient(..., bluez={"adapter": name})`` picks it."""
        return self._name

    @property
    def address(self) -> str:
        """Its own (random static) address, as peripherals see it."""
        return self._address

    @property
    def client_backend(self) -> type[Any]:
        """``BleakClient(address, backend=adapter.client_backend)`` connects through it."""
        return self._client_backend

    @property
    def scanner_backend(self) -> type[Any]:
        """``BleakScanner(backend=adapter.scanner_backend)`` scans through it."""
        return self._scanner_backend
