"""blerun.sim: emulated BLE peripherals on Bumble, reached through a real bleak backend.

A :class:`VirtualAir` is an in-process Bluetooth LE world: one central and any number of
emulated peripherals on Bumble's virtual controllers, running a real host stack (HCI,
L2CAP, ATT, GATT). bleak reaches it through two backends, so code written for hardware
runs unchanged::

    air = VirtualAir.start()                 # or: async with await VirtualAir.create()
    hr = air.add_peripheral(heart_rate_monitor(name="HR-1", rate_hz=50))
    # on air.loop (bleak and Bumble share it):
    async with BleakClient(hr.address, backend=air.client_backend) as client:
        await client.start_notify(HEART_RATE_MEASUREMENT, on_measurement)
    hr.drop_link()                           # from any thread: a supervision timeout
    air.close()

Peripherals are declared with frozen specs (:class:`PeripheralSpec`,
:class:`ServiceSpec`, :class:`CharacteristicSpec`) or taken ready-made from
:mod:`blerun.sim.profiles`; each running :class:`Peripheral` has thread-safe fault
controls and :class:`PeripheralCounters`.

Handle convention (BlueZ's): a characteristic's ``handle`` is its declaration handle and
its value handle is ``handle + 1``; services and descriptors carry their own handles.

The package depends on nothing of blerun but :mod:`blerun.gatt` (shared UUIDs and ATT
codes): plain bleak users can test with it. It needs the ``sim`` extra (Bumble):
``pip install "blerun[sim]"``.

Code that builds ``BleakClient(address)`` without a ``backend=`` reaches an air inside
``with use_air(air):``; the pytest plugin (installed with the extra) gives tests a ready
air and peripherals. See docs/sim.md for both, the one-loop rule and the ``_async`` twins.
"""

# First, so that without the sim extra the error says how to get it.
from . import _requirements  # noqa: F401
from ._adapter import Adapter
from ._air import VirtualAir
from ._faults import Operation, PeripheralCounters
from ._install import use_air
from ._peripheral import Peripheral
from ._realism import Realism, RealismName
from ._spec import (
    AttError,
    CharacteristicSpec,
    NotifySource,
    PeripheralSpec,
    Property,
    ServiceSpec,
    ValueSource,
    WriteHandler,
)
from .profiles import (
    BODY_SENSOR_LOCATION,
    ENVIRONMENTAL_SENSING_SERVICE,
    HEART_RATE_CONTROL_POINT,
    HEART_RATE_MEASUREMENT,
    HEART_RATE_SERVICE,
    NUS_RX,
    NUS_SERVICE,
    NUS_TX,
    TEMPERATURE,
    heart_rate_measurement,
    heart_rate_monitor,
    parse_heart_rate_measurement,
    sensor,
    temperature_value,
    uart_device,
)

__all__ = [
    "BODY_SENSOR_LOCATION",
    "ENVIRONMENTAL_SENSING_SERVICE",
    "HEART_RATE_CONTROL_POINT",
    "HEART_RATE_MEASUREMENT",
    "HEART_RATE_SERVICE",
    "NUS_RX",
    "NUS_SERVICE",
    "NUS_TX",
    "TEMPERATURE",
    "Adapter",
    "AttError",
    "CharacteristicSpec",
    "NotifySource",
    "Operation",
    "Peripheral",
    "PeripheralCounters",
    "PeripheralSpec",
    "Property",
    "Realism",
    "RealismName",
    "ServiceSpec",
    "ValueSource",
    "VirtualAir",
    "WriteHandler",
    "heart_rate_measurement",
    "heart_rate_monitor",
    "parse_heart_rate_measurement",
    "sensor",
    "temperature_value",
    "uart_device",
    "use_air",
]
