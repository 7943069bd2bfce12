"""Backend classes bound to an air, and how they cross a process boundary.

bleak takes a backend *class*, so each air (and each of its adapters) gets its own
subclasses of :class:`~._client.SimBleakClient` and :class:`~._scanner.SimBleakScanner`
with the air's :class:`~._port.AirPort` in a class attribute. A class built at run time
cannot be pickled by name, so these classes have their own metaclass, registered with
:mod:`copyreg`: ``pickle`` (and multiprocessing's ``ForkingPickler``, which consults the
same table) stores a :class:`~._port.BackendRef` instead, and unpickling it gives

* in the air's own process: the very class that was pickled;
* in any other process: a class bound to a :class:`~._remote.RemotePort`, whose central
  reaches the same air through a socket (see :mod:`._remote`).
"""

from __future__ import annotations

import abc
import copyreg
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, Literal

from ._client import SimBleakClient
from ._port import AirPort, BackendRef
from ._remote import RemotePort
from ._scanner import SimBleakScanner

__all__ = ["BackendKind", "bind", "register_air", "restore"]

BackendKind = Literal["client", "scanner"]

_BASES: dict[str, type[SimBleakClient] | type[SimBleakScanner]] = {
    "client": SimBleakClient,
    "scanner": SimBleakScanner,
}

# The airs of this process, by identity, for unpickling in the process that pickled:
# each air's own lookup of its classes, held weakly (a closed, dropped air is forgotten).
_airs: dict[str, weakref.WeakMethod[Callable[[str, str | None], type[Any]]]] = {}
# Classes unpickled in a process other than their air's: one per reference, so that
# unpickling the same backend twice gives the same class (and the same central).
_remote_classes: dict[BackendRef, type[Any]] = {}
_remote_lock = threading.Lock()


class _BoundBackend(abc.ABCMeta):
    """The metaclass of backend classes bound to an air; they pickle as a reference."""

    _describe: Callable[[], BackendRef]


def _reduce(cls: _BoundBackend) -> tuple[Callable[[BackendRef], Any], tuple[BackendRef]]:
    return restore, (cls._describe(),)


copyreg.pickle(_BoundBackend, _reduce)


def bind(
    kind: BackendKind,
    port: AirPort,
    adapter: str | None,
    describe: Callable[[], BackendRef],
) -> type[Any]:
    """A backend class of ``kind`` on ``port`` (``adapter`` None: the port's default).

    ``describe`` is called when the class is pickled, and gives the reference to store.
    """
    base = _BASES[kind]
    namespace: dict[str, Any] = {
        "__module__": base.__module__,
        "__qualname__": base.__qualname__,
        "_port": port,
        "_adapter": adapter,
        "_describe": staticmethod(describe),
    }
    return _BoundBackend(base.__name__, (base,), namespace)


def register_air(air_id: str, lookup: Callable[[str, str | None], type[Any]]) -> None:
    """Let references to an air unpickle to its own classes in this process.

    ``lookup(kind, adapter)`` (a bound method of the air, held weakly) gives the class.
    """
    with _remote_lock:
        for gone in [key for key, ref in _airs.items() if ref() is None]:
            del _airs[gone]
        _airs[air_id] = weakref.WeakMethod(lookup)


def restore(ref: BackendRef) -> type[Any]:
    """The backend class a pickled :class:`BackendRef` stands for, in this process."""
    if ref.pid == os.getpid():
        held = _airs.get(ref.air_id)
        lookup = held() if held is not None else None
        if lookup is not None:
            return lookup(ref.kind, ref.adapter)
    # Another process (or the air is gone): one class per reference, cached.
    with _remote_lock:
        found = _remote_classes.get(ref)
        if found is None:
            port = RemotePort.for_endpoint(ref.endpoint, ref.realism)
            found = bind(_kind(ref.kind), port, None, lambda: ref)
            _remote_classes[ref] = found
        return found


def _kind(kind: str) -> BackendKind:
    if kind not in _BASES:
        raise ValueError(f"unknown backend kind {kind!r}")
    return "client" if kind == "client" else "scanner"
