"""The runtime's scanning methods: a device heard is a ``ScanResult`` ``device()`` takes."""

from __future__ import annotations

import asyncio
from typing import Unpack

from blerun.actors import _scan
from blerun.actors._scan import ScanCriteria, ScanResult


class Scanning:
    """``scan``/``find`` and their async twins, on the runtime's loop (``self.loop``)."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        raise NotImplementedError

    def scan(
        self, timeout: float = 5.0, **criteria: Unpack[ScanCriteria]
    ) -> tuple[ScanResult, ...]:
        """Scan for ``timeout`` seconds; every matching device heard, strongest first.

        Args:
            timeout: The scan window in seconds.
            **criteria: ``name=`` (exact advertised name), ``address=``, ``service=`` (a
                service UUID it advertises) keep only matching devices; ``adapter=``
                ("hci1"; default: the OS's) and ``backend=`` (a bleak scanner backend
                class, e.g. ``air.scanner_backend``) say how to scan.

        Returns:
            One ``ScanResult`` per device (its latest advertisement); pass one to
            ``device()`` to connect to it.

        Raises:
            BluetoothUnavailable: no Bluetooth stack or adapter, adapter off, permission
                denied (``.fix`` says what to do).
            LinkError: the scan failed otherwise.
            WrongThread: called on the runtime's event loop (use ``scan_async``).
            UsageError: a malformed address or service UUID.
            RuntimeClosed: the runtime is closed.
        """
        return _scan.scan(self.loop, timeout, **criteria)

    async def scan_async(
        self, timeout: float = 5.0, **criteria: Unpack[ScanCriteria]
    ) -> tuple[ScanResult, ...]:
        """``scan()`` without blocking the caller's loop; same arguments and errors."""
        return await _scan.scan_async(self.loop, timeout, **criteria)

    def find(self, timeout: float = 10.0, **criteria: Unpack[ScanCriteria]) -> ScanResult:
        """Scan until a device matching every criterion given is heard, and return it.

        Args:
            timeout: Give up after this many seconds.
            **criteria: As ``scan()``; at least one of ``name=``, ``address=``,
                ``service=``.

        Returns:
            The first match heard; ``rt.device(result)`` connects to it.

        Raises:
            DeviceNotFound: nothing matching was heard within ``timeout``.
            UsageError: no criterion given, or a malformed one.
            BluetoothUnavailable, LinkError, WrongThread, RuntimeClosed: as ``scan()``.
        """
        return _scan.find(self.loop, timeout, **criteria)

    async def find_async(
        self, timeout: float = 10.0, **criteria: Unpack[ScanCriteria]
    ) -> ScanResult:
        """``find()`` without blocking the caller's loop; same arguments and errors."""
        return await _scan.find_async(self.loop, timeout, **criteria)
