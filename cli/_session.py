"""A runtime for one command: on the platform's Bluetooth, or on emulated devices (--sim).

Both shapes close within a bound whatever the radio does (``CLOSE_BOUND_S`` for the
runtime, as much again for the emulated air), which is what bounds Ctrl-C.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from blerun.actors import Device, ReconnectPolicy, Runtime, ScanResult
from blerun.cli._exit import ExitCode
from blerun.cli._output import Output

if TYPE_CHECKING:
    from blerun.actors._scan import ScannerBackend
    from blerun.sim import Peripheral, PeripheralSpec

CLOSE_BOUND_S = 2.0
"""Bound on closing the runtime (and, with --sim, on closing the emulated air)."""

POLICY = ReconnectPolicy(initial=0.25, multiplier=2.0, cap=10.0)
"""Reconnect soon after a drop, back off to 10 s while the device stays away."""

SIM_ADDRESSES = ("F0:00:00:00:00:01", "F0:00:00:00:00:02", "F0:00:00:00:00:03")
"""Where ``scan --sim`` puts its heart-rate monitor, UART device and sensor."""


class CommandError(Exception):
    """A failure the command reports in one line, with its own exit code."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code


@dataclasses.dataclass(frozen=True, slots=True)
class Session:
    """What a verb works with."""

    runtime: Runtime
    scanner_backend: ScannerBackend | None
    """``None``: the platform's scanner."""
    peripherals: tuple[Peripheral, ...]
    """The emulated devices, with --sim."""

    def connect(self, target: str | ScanResult, output: Output, timeout: float) -> Device:
        """The device at ``target``, connected (a spinner on a terminal meanwhile)."""
        device = self.runtime.device(target)
        with output.progress(f"connecting to {device.address}"):
            device.connect(timeout=timeout)
        return device


@contextlib.contextmanager
def hardware(timeout: float) -> Iterator[Session]:
    """A runtime on the platform's Bluetooth stack."""
    runtime = Runtime(policy=POLICY, default_timeout=timeout, close_timeout=CLOSE_BOUND_S)
    try:
        yield Session(runtime, None, ())
    finally:
        runtime.close(CLOSE_BOUND_S)


@contextlib.contextmanager
def emulated(specs: Sequence[PeripheralSpec], timeout: float) -> Iterator[Session]:
    """A runtime on a virtual air holding the emulated devices ``specs``."""
    with sim_required():
        from blerun.sim import VirtualAir  # noqa: PLC0415 -- optional: only --sim needs it
    air = VirtualAir.start()
    try:
        try:
            peripherals = tuple(air.add_peripheral(spec) for spec in specs)
        except ValueError as exc:  # an address the emulator cannot take
            hint = "emulated devices take random static addresses, e.g. F0:00:00:00:00:01"
            raise CommandError(f"--sim: {exc}; {hint}", ExitCode.USAGE) from None
        runtime = Runtime(
            loop=air.loop,
            backend=air.client_backend,
            policy=POLICY,
            default_timeout=timeout,
            close_timeout=CLOSE_BOUND_S,
        )
        try:
            yield Session(runtime, air.scanner_backend, peripherals)
        finally:
            runtime.close(CLOSE_BOUND_S)
    finally:
        air.close(timeout=CLOSE_BOUND_S)


def open_session(
    *, sim: bool, timeout: float, specs: Sequence[PeripheralSpec] = ()
) -> contextlib.AbstractContextManager[Session]:
    """``emulated(specs)`` with --sim, else ``hardware()``."""
    return emulated(specs, timeout) if sim else hardware(timeout)


def profile_spec(profile: str, address: str, *, rate_hz: float = 10.0) -> PeripheralSpec:
    """The emulated device ``profile`` (see ``--sim-profile``) at ``address``."""
    with sim_required():
        from blerun.sim import heart_rate_monitor, sensor, uart_device  # noqa: PLC0415
    if profile == "heart-rate":
        return heart_rate_monitor(name="HR-sim", rate_hz=rate_hz, address=address)
    if profile == "uart":
        return uart_device(name="UART-sim", address=address)
    if profile == "sensor":
        return sensor(name="Sensor-sim", address=address)
    raise AssertionError(f"unknown profile {profile!r}: the parser offers only known ones")


def scan_specs() -> list[PeripheralSpec]:
    """What ``scan --sim`` finds: a heart-rate monitor, a UART device and a sensor."""
    with sim_required():
        from blerun.sim import heart_rate_monitor, sensor, uart_device  # noqa: PLC0415
    hr, uart, thermo = SIM_ADDRESSES
    return [
        heart_rate_monitor(name="HR-1", address=hr),
        uart_device(name="UART-1", address=uart),
        sensor(name="Sensor-1", address=thermo),
    ]


@contextlib.contextmanager
def sim_required() -> Iterator[None]:
    """Around an import of ``blerun.sim``: without its extra, a one-line error saying so."""
    try:
        yield
    except ImportError as exc:
        raise CommandError(
            f'emulated devices need the sim extra: pip install "blerun[sim]" ({exc})',
            ExitCode.FAILED,
        ) from None
