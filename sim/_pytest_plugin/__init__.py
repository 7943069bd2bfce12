"""pytest fixtures for testing bleak code on blerun.sim: ``pip install "blerun[sim]"``.

Registered through the ``pytest11`` entry point, so a test suite gets them by installing
the package; nothing to import or configure. Bumble is imported only when a fixture is
used, so an environment without the ``sim`` extra still runs pytest.

Fixtures (each test gets its own, closed after it, threads joined):

* ``sim_air``: a running :class:`~blerun.sim.VirtualAir` in the sync world (its own loop
  thread), inside :func:`~blerun.sim.use_air`: code that builds ``BleakClient(address)``
  or ``BleakScanner()`` without ``backend=`` reaches it. Run coroutines with
  ``sim_air.run(coro)`` (bleak's calls must run on the air's loop). Options through the
  marker ``@pytest.mark.sim_air(realism="bluez")``.
* ``sim_heart_rate_monitor``, ``sim_uart_device``, ``sim_sensor``: a ready (advertising)
  peripheral of :mod:`blerun.sim.profiles` on ``sim_air``.

Example::

    def test_reads_the_sensor(sim_air, sim_sensor):
        async def main() -> bytes:
            async with BleakClient(sim_sensor.address) as client:  # no backend=
                return await client.read_gatt_char(TEMPERATURE)

        assert sim_air.run(main()) == temperature_value(21.5)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from blerun.sim import Peripheral, VirtualAir

__all__ = [
    "pytest_configure",
    "sim_air",
    "sim_heart_rate_monitor",
    "sim_sensor",
    "sim_uart_device",
]

_CLOSE_TIMEOUT = 5.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sim_air(realism='default', quiet=True): options for the sim_air fixture "
        "(blerun.sim's virtual air)",
    )


@pytest.fixture
def sim_air(request: pytest.FixtureRequest) -> Iterator[VirtualAir]:
    """A running virtual air that plain ``BleakClient``/``BleakScanner`` reach."""
    from blerun.sim import VirtualAir, use_air  # noqa: PLC0415  # only when used

    marker = request.node.get_closest_marker("sim_air")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    air = VirtualAir.start(**options)
    try:
        with use_air(air):
            yield air
    finally:
        air.close(timeout=_CLOSE_TIMEOUT)


@pytest.fixture
def sim_heart_rate_monitor(sim_air: VirtualAir) -> Peripheral:
    """A heart-rate monitor ("HR-1", 10 Hz) advertising on ``sim_air``."""
    from blerun.sim import heart_rate_monitor  # noqa: PLC0415

    return sim_air.add_peripheral(heart_rate_monitor())


@pytest.fixture
def sim_uart_device(sim_air: VirtualAir) -> Peripheral:
    """A Nordic-UART echo device ("UART-1") advertising on ``sim_air``."""
    from blerun.sim import uart_device  # noqa: PLC0415

    return sim_air.add_peripheral(uart_device())


@pytest.fixture
def sim_sensor(sim_air: VirtualAir) -> Peripheral:
    """A read-only temperature sensor ("Sensor-1", 21.5 degC) advertising on ``sim_air``."""
    from blerun.sim import sensor  # noqa: PLC0415

    return sim_air.add_peripheral(sensor())
