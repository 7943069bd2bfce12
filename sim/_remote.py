"""The air across a process boundary: controllers served over a socket, hosts elsewhere.

An air's backends pickle (:mod:`._binding`). Unpickled in another process they cannot
share the air's loop or its Bumble objects, so that process gets a central of its own,
split at the HCI boundary as a real adapter is:

* **In the air's process**, :class:`ControllerServer` listens on a local socket (a Unix
  socket in a private temporary directory; TCP on 127.0.0.1 where there is none) and
  gives each connection a fresh :class:`~._hci.CentralController` on the air's link,
  with the air's fault policy and slots. Peripherals, faults and counters stay where
  they are, so fault controls called in this process act on the other process's links
  and the counters stay exact.
* **In the other process**, :class:`RemotePort` opens that socket with Bumble's own
  transport (``bumble.transport.open_transport``) the first time a backend needs it, on
  whichever loop bleak runs there, and builds a Bumble host and
  :class:`~._central.Central` over it: the same central code as in the air's process.

HCI packets cross as bytes (H4 framing). When the other process goes away its
controller's links end as a supervision timeout would; when the air closes, the other
process's links end (power off) and then its socket closes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from bleak.exc import BleakError
from bumble import core, hci
from bumble.transport import open_transport
from bumble.transport.common import StreamPacketSink, StreamPacketSource, Transport

from ._bridge import LoopBridge
from ._central import Central
from ._hci import CentralController
from ._port import Peer
from ._quiet_host import QuietHost
from ._realism import Realism

if TYPE_CHECKING:
    from ._world import World

__all__ = ["ControllerServer", "RemotePort"]

logger = logging.getLogger(__name__)

_BACKLOG = 16
# HCI reason for links of a host whose controller vanished: they timed out.
_CONNECTION_TIMEOUT = 0x08


class _ServedHost(StreamPacketSource):
    """One connected process: the HCI packets of its host, to its own controller."""

    def __init__(self, world: World, connections: set[_ServedHost]) -> None:
        super().__init__()
        self._world = world
        self._connections = connections
        self._controller: CentralController | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self._world.closed:
            transport.close()
            return
        self._connections.add(self)
        self._controller = self._world.serve_controller(self, StreamPacketSink(transport))

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        controller, self._controller = self._controller, None
        if controller is not None:
            self._world.unserve_controller(controller)
        self.on_transport_lost()


class ControllerServer:
    """Serves the air's controllers to other processes (the air's side).

    :meth:`endpoint` may be called from any thread (pickling happens wherever the user
    pickles); the socket is bound and listening when it returns, and the loop starts
    accepting on it soon after (connections wait in the backlog meanwhile).
    """

    def __init__(self, world: World, bridge: LoopBridge) -> None:
        self._world = world
        self._bridge = bridge
        self._lock = threading.Lock()
        self._endpoint: str | None = None
        self._directory: str | None = None
        self._server: asyncio.Server | None = None
        self._socket: socket.socket | None = None
        self._connections: set[_ServedHost] = set()

    def endpoint(self) -> str:
        """The transport spec other processes open; binds the socket on first use."""
        with self._lock:
            if self._endpoint is None:
                if self._world.closed:
                    raise RuntimeError("the air is closed")
                sock, self._endpoint, self._directory = _listen()
                self._socket = sock
                self._schedule(sock)
            return self._endpoint

    def _schedule(self, sock: socket.socket) -> None:
        def start() -> None:
            self._world.spawn(self._serve(sock))

        if self._bridge.on_loop_thread():
            start()
        else:
            self._bridge.loop.call_soon_threadsafe(start)

    async def _serve(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()

        def factory() -> _ServedHost:
            return _ServedHost(self._world, self._connections)

        if sock.family == getattr(socket, "AF_UNIX", None):
            self._server = await loop.create_unix_server(factory, sock=sock)
        else:
            self._server = await loop.create_server(factory, sock=sock)

    async def aclose(self) -> None:
        """Stop accepting, end every served process's session, remove the socket."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        with self._lock:
            sock, self._socket = self._socket, None
        if sock is not None and server is None:
            sock.close()  # bound and listening, but the loop never started serving it
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.close()
        if server is not None:
            await server.wait_closed()
        with self._lock:
            directory, self._directory = self._directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


def _listen() -> tuple[socket.socket, str, str | None]:
    unix = getattr(socket, "AF_UNIX", None)
    if unix is not None:
        directory = tempfile.mkdtemp(prefix="blerun-sim-")  # mode 0700: ours alone
        path = os.path.join(directory, "hci")
        sock = socket.socket(unix, socket.SOCK_STREAM)
        sock.bind(path)
        spec, owned = f"unix:{path}", directory
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        spec, owned = f"tcp-client:127.0.0.1:{sock.getsockname()[1]}", None
    sock.listen(_BACKLOG)
    sock.setblocking(False)
    return sock, spec, owned


class RemotePort:
    """The :class:`~._port.AirPort` of backends unpickled in another process.

    One per endpoint and profile in a process, so every backend class unpickled there
    shares one central. The central is built on the loop bleak first runs on and stays
    on it (Bumble is single-loop); it closes when that loop's tasks are cancelled (as
    ``asyncio.run`` does at its end) or the air closes.
    """

    _ports: dict[tuple[str, Realism], RemotePort] = {}  # noqa: RUF012  # process-wide
    _ports_lock = threading.Lock()

    def __init__(self, endpoint: str, realism: Realism) -> None:
        self._endpoint = endpoint
        self._realism = realism
        self._loop: asyncio.AbstractEventLoop | None = None
        self._central: asyncio.Future[Central] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @classmethod
    def for_endpoint(cls, endpoint: str, realism: Realism) -> RemotePort:
        """The port of this process for ``endpoint``."""
        with cls._ports_lock:
            port = cls._ports.get((endpoint, realism))
            if port is None:
                port = cls._ports[(endpoint, realism)] = cls(endpoint, realism)
            return port

    @property
    def realism(self) -> Realism:
        return self._realism

    @property
    def closed(self) -> bool:
        return self._closed

    def check_loop(self) -> None:
        running = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not running and not self._loop.is_closed():
            raise BleakError(
                "blerun.sim: this process reaches the air from one loop; run every bleak "
                "call on the loop of the first one (Bumble is single-loop)"
            )
        if self._closed:
            raise BleakError("the air is closed")

    async def central(self, adapter: str | None) -> Central:
        # This process is one central of the air, whatever adapter it names.
        self.check_loop()
        loop = asyncio.get_running_loop()
        if self._central is None or self._loop is not loop:
            self._loop = loop
            self._closed = False
            self._central = loop.create_future()
            self.spawn(self._open(self._central))
        return await asyncio.shield(self._central)

    async def _open(self, result: asyncio.Future[Central]) -> None:
        transport: Transport | None = None
        try:
            transport = await open_transport(self._endpoint)
            central = Central(
                name="remote",
                host=QuietHost.over(transport.source, transport.sink),
                address=hci.Address.generate_static_address(),
                spawn=self.spawn,
            )
            await central.start()
        except asyncio.CancelledError:
            await self._abandon(transport, result, "cancelled")
            raise
        except (OSError, hci.HCI_Error, core.BaseBumbleError) as exc:
            await self._abandon(transport, result, repr(exc))
            return
        result.set_result(central)
        terminated = getattr(transport.source, "terminated", None)
        if isinstance(terminated, asyncio.Future):  # absent on a snooping wrapper
            terminated.add_done_callback(lambda _: self._lost(central))
        try:
            await asyncio.Event().wait()  # held open until this loop's tasks are cancelled
        finally:
            self._central = None
            await transport.close()

    async def _abandon(
        self, transport: Transport | None, result: asyncio.Future[Central], why: str
    ) -> None:
        self._central = None
        if not result.done():
            result.set_exception(BleakError(f"blerun.sim: cannot reach the air: {why}"))
            result.exception()  # retrieved here; callers see it through the future
        if transport is not None:
            await transport.close()

    def _lost(self, central: Central) -> None:
        # The air closed or its process died: links that were up end as timed out.
        self._closed = True
        central.lose_links(_CONNECTION_TIMEOUT)

    def peer(self, address: str) -> Peer:
        # This process cannot see the air's registry; the air's devices all have random
        # static addresses, and an unknown one simply never answers (bleak's timeout).
        try:
            typed = hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS)
        except (ValueError, TypeError) as exc:
            raise BleakError(f"{address!r} is not a Bluetooth address") from exc
        return Peer(typed, None)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("blerun.sim background task failed", exc_info=task.exception())
