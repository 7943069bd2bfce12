"""Make plain ``BleakClient(address)`` and ``BleakScanner()`` reach an air, reversibly.

bleak picks a platform backend when it is given none: ``BleakClient.__init__`` and
``BleakScanner.__init__`` call ``get_platform_client_backend_type()`` /
``get_platform_scanner_backend_type()``, looked up in the ``bleak`` package's namespace
when the object is built. :func:`use_air` replaces those two names (in ``bleak`` and in
the ``bleak.backends`` modules that define them) for as long as it is entered, so code
that does not forward a ``backend=`` (third-party libraries, examples, an application
under test) runs on the air unchanged. ``tests/sim/test_sim_canary.py`` pins the names.

The replacement is process-wide (every thread, every loop); the one-loop rule still
holds: bleak's calls must run on the air's loop.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import bleak
import bleak.backends.client
import bleak.backends.scanner

if TYPE_CHECKING:
    from ._air import VirtualAir

__all__ = ["BACKEND_ID", "use_air"]

BACKEND_ID = "blerun.sim"
"""What ``BleakClient(...).backend_id`` reads on an air."""

_CLIENT_LOOKUP = "get_platform_client_backend_type"
_SCANNER_LOOKUP = "get_platform_scanner_backend_type"
_MODULES: dict[str, tuple[Any, ...]] = {
    _CLIENT_LOOKUP: (bleak, bleak.backends.client),
    _SCANNER_LOOKUP: (bleak, bleak.backends.scanner),
}

_lock = threading.Lock()
# Entered airs, innermost last; the names point at the last one's backends.
_stack: list[tuple[object, type[Any], type[Any]]] = []
_originals: dict[tuple[int, str], Any] = {}


@contextlib.contextmanager
def use_air(air: VirtualAir, *, adapter: str | None = None) -> Iterator[VirtualAir]:
    """Within this block, bleak objects built without ``backend=`` reach ``air``.

    Nests (the innermost air wins) and undoes itself on exit, also when the block
    raises. Not a substitute for the one-loop rule: run bleak's calls on ``air.loop``.

    Example::

        with VirtualAir.start() as air, use_air(air):
            hr = air.add_peripheral(heart_rate_monitor())
            air.run(establish_connection(BleakClient, device, "hr"))  # no backend= anywhere

    Args:
        air: The air to reach.
        adapter: Connect and scan through this adapter ("hci1") instead of ``hci0``.

    Yields:
        ``air``.
    """
    if adapter is None:
        client, scanner = air.client_backend, air.scanner_backend
    else:
        found = {a.name: a for a in air.adapters}.get(adapter)
        if found is None:
            raise ValueError(f"no adapter {adapter!r} on this air")
        client, scanner = found.client_backend, found.scanner_backend
    token = object()
    with _lock:
        if not _stack:
            _save_originals()
        _stack.append((token, client, scanner))
        _point_at_top()
    try:
        yield air
    finally:
        with _lock:
            _stack[:] = [entry for entry in _stack if entry[0] is not token]
            if _stack:
                _point_at_top()
            else:
                _restore_originals()


def _save_originals() -> None:
    for name, modules in _MODULES.items():
        for module in modules:
            _originals[(id(module), name)] = getattr(module, name)


def _restore_originals() -> None:
    for name, modules in _MODULES.items():
        for module in modules:
            setattr(module, name, _originals.pop((id(module), name)))


def _point_at_top() -> None:
    _, client, scanner = _stack[-1]

    def client_backend_type() -> tuple[type[Any], str]:
        return client, BACKEND_ID

    def scanner_backend_type() -> tuple[type[Any], str]:
        return scanner, BACKEND_ID

    for module in _MODULES[_CLIENT_LOOKUP]:
        setattr(module, _CLIENT_LOOKUP, client_backend_type)
    for module in _MODULES[_SCANNER_LOOKUP]:
        setattr(module, _SCANNER_LOOKUP, scanner_backend_type)
