"""A pykka app: an actor of yours receives blerun's events and sends it commands.

    python examples/pykka_app.py

``Coach`` is an ordinary pykka actor. Its mailbox gets the device's ``StateChanged``
events and ``Notification`` values as messages (blerun's callbacks are its
``actor_ref.tell``); it sends a ``Write`` command to the device's RadioActor, and the
``Reply`` comes back as a message too. No locks, no threads of its own.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import pykka

from blerun.actors import ConnectionState, Device, Notification, Runtime, StateChanged
from blerun.gatt import HEART_RATE_CONTROL_POINT, HEART_RATE_MEASUREMENT
from blerun.messages import Connect, Reply, Role, Write
from blerun.sim import VirtualAir, heart_rate_monitor

ADDRESS = "F3:4A:7B:21:9C:05"
RESET_ENERGY_EXPENDED = b"\x01"  # Heart Rate Control Point, Heart Rate Service 1.0


class Coach(pykka.ThreadingActor):
    """Counts beats; after ten, resets the strap's energy counter; then reports done."""

    use_daemon_thread = True

    def __init__(self, device: Device, done: concurrent.futures.Future[int]) -> None:
        super().__init__()
        self.device = device
        self.done = done
        self.beats = 0
        self.reset_sent = False

    def on_start(self) -> None:
        self.stop_listening = self.device.on_state_change(self.actor_ref.tell)
        self.subscription = self.device.subscribe(HEART_RATE_MEASUREMENT, self.actor_ref.tell)
        request_id, _ = self.device.new_request()
        self.device.tell(Role.RADIO, Connect(request_id=request_id))

    def on_stop(self) -> None:
        # A stopped actor takes no more messages: stop the runtime sending them.
        self.subscription.cancel()
        self.stop_listening()

    def on_receive(self, message: Any) -> None:
        match message:
            case StateChanged(new=ConnectionState.CONNECTED):
                print("coach: strap connected")
            case StateChanged():
                print(f"coach: strap {message.new.value}")
            case Notification() if not self.done.done():
                self.beats += 1
                print(f"coach: beat {self.beats}, {message.data[1]} bpm")
                if self.beats == 10 and not self.reset_sent:
                    self.reset_energy()
            case Reply(error=None):
                print("coach: the strap acknowledged the reset")
                self.done.set_result(self.beats)
            case Reply():
                self.done.set_exception(message.error or RuntimeError("no error given"))

    def reset_energy(self) -> None:
        self.reset_sent = True
        request_id, reply = self.device.new_request()
        # The reply completes a future; bring it back into this mailbox as a message.
        reply.add_done_callback(
            lambda f: self.actor_ref.tell(
                Reply(request_id=request_id, value=None, error=f.exception())
            )
        )
        self.device.tell(
            Role.RADIO,
            Write(
                request_id=request_id,
                uuid=HEART_RATE_CONTROL_POINT,
                data=RESET_ENERGY_EXPENDED,
                response=True,
                retry=True,
                timeout=5.0,
            ),
        )


def main(rt: Runtime, address: str) -> None:
    done: concurrent.futures.Future[int] = concurrent.futures.Future()
    coach = Coach.start(rt.device(address), done)
    try:
        print(f"done after {done.result(timeout=20.0)} beats")
    finally:
        coach.stop()


if __name__ == "__main__":
    # Real hardware, one line instead of the four below:
    #     with Runtime() as rt: main(rt, ADDRESS)
    with VirtualAir.start() as air:
        air.add_peripheral(heart_rate_monitor(address=ADDRESS, rate_hz=20))
        with Runtime(loop=air.loop, backend=air.client_backend) as rt:
            main(rt, ADDRESS)
