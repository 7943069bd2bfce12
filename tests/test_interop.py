"""A user's own pykka actor drives a device with the command messages and hears events."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

import pykka

from blerun.actors import ConnectionState, Device, Runtime, StateChanged
from blerun.messages import Connect, Read, Reply, Role

from scripted import SENSOR, ScriptedWorld, heart_rate


class Dashboard(pykka.ThreadingActor):
    """Connects the device, then reads the sensor once it hears CONNECTED."""

    use_daemon_thread = True

    def __init__(self, device: Device, done: concurrent.futures.Future[bytes]) -> None:
        super().__init__()
        self.device = device
        self.done = done
        self.seen: list[ConnectionState] = []

    def on_start(self) -> None:
        self.device.on_state_change(self.actor_ref.tell)  # events arrive as messages
        request_id, _ = self.device.new_request()
        self.device.tell(Role.RADIO, Connect(request_id=request_id))

    def on_receive(self, message: Any) -> None:
        match message:
            case StateChanged(new=ConnectionState.CONNECTED):
                self.seen.append(message.new)
                request_id, future = self.device.new_request()
                # Replies complete a future; bring them back as messages of ours.
                future.add_done_callback(self._as_reply(request_id))
                self.device.tell(
                    Role.RADIO, Read(request_id=request_id, uuid=SENSOR, retry=False, timeout=5.0)
                )
            case StateChanged():
                self.seen.append(message.new)
            case Reply(value=bytes() as value):
                self.done.set_result(value)

    def _as_reply(self, request_id: int) -> Callable[[concurrent.futures.Future[object]], None]:
        def tell(future: concurrent.futures.Future[object]) -> None:
            self.actor_ref.tell(Reply(request_id=request_id, value=future.result()))

        return tell


def test_a_users_actor_speaks_the_protocol(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime()
    dev = rt.device(peripheral.address)
    done: concurrent.futures.Future[bytes] = concurrent.futures.Future()
    ref = Dashboard.start(dev, done)
    try:
        assert done.result(5) == b"\x2a\x00"
        assert dev.state is ConnectionState.CONNECTED
    finally:
        ref.stop()
