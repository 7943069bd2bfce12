"""Ready-made emulated peripherals: a heart-rate monitor, a UART device, a sensor.

Each function returns a :class:`~blerun.sim.PeripheralSpec`; add it to an air with
:meth:`~blerun.sim.VirtualAir.add_peripheral`. The UUID constants are bleak's
normalised 128-bit strings of :mod:`blerun.gatt` (re-exported here and from
:mod:`blerun.sim`), usable as ``BleakClient`` characteristic specifiers.
"""

from __future__ import annotations

from collections.abc import Callable

from blerun.gatt import (
    BODY_SENSOR_LOCATION,
    ENVIRONMENTAL_SENSING_SERVICE,
    HEART_RATE_CONTROL_POINT,
    HEART_RATE_MEASUREMENT,
    HEART_RATE_SERVICE,
    NUS_RX,
    NUS_SERVICE,
    NUS_TX,
    TEMPERATURE,
)

from ._peripheral import Peripheral
from ._spec import AttError, CharacteristicSpec, PeripheralSpec, Property, ServiceSpec

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
    "heart_rate_measurement",
    "heart_rate_monitor",
    "parse_heart_rate_measurement",
    "sensor",
    "temperature_value",
    "uart_device",
]

# Heart Rate Service 1.0, 3.1.1: flags bit 3 = Energy Expended present (uint16, kJ).
_HR_FLAGS_ENERGY = 0x08
_HR_FLAG_UINT16 = 0x01
_HRCP_RESET_ENERGY = 0x01
_HRCP_NOT_SUPPORTED = 0x80  # Heart Rate Service 1.0, 1.6: Control Point Not Supported
_CHEST = b"\x01"  # Body Sensor Location: chest


def heart_rate_measurement(bpm: int, sequence: int) -> bytes:
    """A Heart Rate Measurement value that carries a 16-bit sequence number.

    Flags 0x08: heart rate as uint8, Energy Expended present. The Energy Expended field
    holds ``sequence`` modulo 2**16, so a receiver can check order and loss.
    """
    if not 0 <= bpm <= 0xFF:
        raise ValueError(f"bpm must fit in a uint8, got {bpm}")
    return bytes([_HR_FLAGS_ENERGY, bpm]) + (sequence & 0xFFFF).to_bytes(2, "little")


def parse_heart_rate_measurement(data: bytes | bytearray) -> tuple[int, int | None]:
    """Read (heart rate in bpm, energy expended or None) from a measurement value.

    Follows the spec's flags, so it reads any device's measurements, not just ours;
    for :func:`heart_rate_monitor` the second item is the sequence number.

    Raises:
        ValueError: The value is shorter than its flags say.
    """
    if len(data) < 2:
        raise ValueError("heart rate measurement shorter than 2 bytes")
    flags = data[0]
    offset = 1
    if flags & _HR_FLAG_UINT16:
        if len(data) < 3:
            raise ValueError("heart rate measurement: uint16 rate truncated")
        bpm = int.from_bytes(data[1:3], "little")
        offset = 3
    else:
        bpm = data[1]
        offset = 2
    energy: int | None = None
    if flags & _HR_FLAGS_ENERGY:
        if len(data) < offset + 2:
            raise ValueError("heart rate measurement: energy expended truncated")
        energy = int.from_bytes(data[offset : offset + 2], "little")
    return bpm, energy


def heart_rate_monitor(
    name: str = "HR-1",
    *,
    rate_hz: float = 10.0,
    bpm: int = 72,
    advertising_interval: float = 0.02,
    address: str | None = None,
) -> PeripheralSpec:
    """A heart-rate monitor (Heart Rate Service 0x180D).

    * Heart Rate Measurement (0x2A37, notify): ``rate_hz`` measurements per second while
      a central is subscribed, each built by :func:`heart_rate_measurement` with the
      next sequence number (0, 1, 2, ... per peripheral, over every link).
    * Body Sensor Location (0x2A38, read): chest.
    * Heart Rate Control Point (0x2A39, write): 0x01 resets Energy Expended, that is the
      sequence number; any other value is refused with ATT error 0x80.
    """
    heart_rate_measurement(bpm, 0)  # validates bpm here rather than on every tick

    def measurement(sequence: int) -> bytes:
        return heart_rate_measurement(bpm, sequence)

    def control_point(peripheral: Peripheral, data: bytes) -> None:
        if data != bytes([_HRCP_RESET_ENERGY]):
            raise AttError(_HRCP_NOT_SUPPORTED)
        peripheral.reset_notify_sequence(HEART_RATE_MEASUREMENT)

    return PeripheralSpec(
        name=name,
        advertising_interval=advertising_interval,
        address=address,
        services=(
            ServiceSpec(
                uuid=HEART_RATE_SERVICE,
                characteristics=(
                    CharacteristicSpec(
                        uuid=HEART_RATE_MEASUREMENT,
                        properties=Property.NOTIFY,
                        notify_value=measurement,
                        notify_rate_hz=rate_hz,
                    ),
                    CharacteristicSpec(
                        uuid=BODY_SENSOR_LOCATION, properties=Property.READ, value=_CHEST
                    ),
                    CharacteristicSpec(
                        uuid=HEART_RATE_CONTROL_POINT,
                        properties=Property.WRITE,
                        on_write=control_point,
                    ),
                ),
            ),
        ),
    )


def uart_device(
    name: str = "UART-1",
    *,
    echo: bool = True,
    advertising_interval: float = 0.02,
    mtu: int = 247,
    address: str | None = None,
) -> PeripheralSpec:
    """A serial-port device in the Nordic UART Service layout.

    * RX (6E400002, write and write without response): data from the central.
    * TX (6E400003, notify): with ``echo``, everything written to RX comes back on TX,
      in notifications of at most the link's MTU - 3 bytes.
    """

    def received(peripheral: Peripheral, data: bytes) -> None:
        if echo:
            peripheral.notify(NUS_TX, data, split=True)

    return PeripheralSpec(
        name=name,
        advertising_interval=advertising_interval,
        address=address,
        mtu=mtu,
        services=(
            ServiceSpec(
                uuid=NUS_SERVICE,
                characteristics=(
                    CharacteristicSpec(
                        uuid=NUS_RX,
                        properties=Property.WRITE | Property.WRITE_WITHOUT_RESPONSE,
                        on_write=received,
                    ),
                    CharacteristicSpec(uuid=NUS_TX, properties=Property.NOTIFY),
                ),
            ),
        ),
    )


def temperature_value(celsius: float) -> bytes:
    """A Temperature (0x2A6E) value: sint16 in units of 0.01 degrees Celsius."""
    return round(celsius * 100).to_bytes(2, "little", signed=True)


_ROOM_TEMPERATURE = temperature_value(21.5)


def sensor(
    name: str = "Sensor-1",
    *,
    value: bytes | Callable[[], bytes] = _ROOM_TEMPERATURE,
    uuid: str = TEMPERATURE,
    service_uuid: str = ENVIRONMENTAL_SENSING_SERVICE,
    advertising_interval: float = 0.02,
    address: str | None = None,
) -> PeripheralSpec:
    """A sensor with one read-only value (by default a temperature, 21.5 degC).

    A write to the value, with or without response, is refused: ATT Write Not
    Permitted for a write request, silently dropped for a write command.
    """
    return PeripheralSpec(
        name=name,
        advertising_interval=advertising_interval,
        address=address,
        services=(
            ServiceSpec(
                uuid=service_uuid,
                characteristics=(
                    CharacteristicSpec(uuid=uuid, properties=Property.READ, value=value),
                ),
            ),
        ),
    )
