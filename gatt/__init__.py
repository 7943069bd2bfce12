"""GATT values every part of blerun shares: UUIDs, assigned numbers, properties, ATT codes.

The bottom layer: it imports nothing of blerun's, so the runtime (``blerun.actors``),
the protocol (``blerun.messages``), the emulator (``blerun.sim``) and hardware code all
use the same names without pulling in each other::

    from blerun.gatt import HEART_RATE_MEASUREMENT, uuid_name

    uuid_name(HEART_RATE_MEASUREMENT)        # "Heart Rate Measurement"
    uuid_name("2a19")                        # "Battery Level"
    normalize_uuid(0x180D)                   # "0000180d-0000-1000-8000-00805f9b34fb"
"""

from blerun.gatt._assigned import (
    BATTERY_LEVEL,
    BATTERY_SERVICE,
    BODY_SENSOR_LOCATION,
    CCCD,
    CSC_MEASUREMENT,
    CURRENT_TIME,
    CURRENT_TIME_SERVICE,
    CYCLING_SPEED_AND_CADENCE_SERVICE,
    DEVICE_INFORMATION_SERVICE,
    DEVICE_NAME,
    ENVIRONMENTAL_SENSING_SERVICE,
    FIRMWARE_REVISION,
    GENERIC_ACCESS_SERVICE,
    GENERIC_ATTRIBUTE_SERVICE,
    HARDWARE_REVISION,
    HEALTH_THERMOMETER_SERVICE,
    HEART_RATE_CONTROL_POINT,
    HEART_RATE_MEASUREMENT,
    HEART_RATE_SERVICE,
    HUMIDITY,
    MANUFACTURER_NAME,
    MODEL_NUMBER,
    NUS_RX,
    NUS_SERVICE,
    NUS_TX,
    PRESSURE,
    SERIAL_NUMBER,
    SERVICE_CHANGED,
    SOFTWARE_REVISION,
    TEMPERATURE,
    TEMPERATURE_MEASUREMENT,
    uuid_name,
)
from blerun.gatt._att import AttErrorCode
from blerun.gatt._properties import CharProperty
from blerun.gatt._uuid import InvalidUUIDValue, normalize_uuid, short_uuid

__all__ = [
    "BATTERY_LEVEL",
    "BATTERY_SERVICE",
    "BODY_SENSOR_LOCATION",
    "CCCD",
    "CSC_MEASUREMENT",
    "CURRENT_TIME",
    "CURRENT_TIME_SERVICE",
    "CYCLING_SPEED_AND_CADENCE_SERVICE",
    "DEVICE_INFORMATION_SERVICE",
    "DEVICE_NAME",
    "ENVIRONMENTAL_SENSING_SERVICE",
    "FIRMWARE_REVISION",
    "GENERIC_ACCESS_SERVICE",
    "GENERIC_ATTRIBUTE_SERVICE",
    "HARDWARE_REVISION",
    "HEALTH_THERMOMETER_SERVICE",
    "HEART_RATE_CONTROL_POINT",
    "HEART_RATE_MEASUREMENT",
    "HEART_RATE_SERVICE",
    "HUMIDITY",
    "MANUFACTURER_NAME",
    "MODEL_NUMBER",
    "NUS_RX",
    "NUS_SERVICE",
    "NUS_TX",
    "PRESSURE",
    "SERIAL_NUMBER",
    "SERVICE_CHANGED",
    "SOFTWARE_REVISION",
    "TEMPERATURE",
    "TEMPERATURE_MEASUREMENT",
    "AttErrorCode",
    "CharProperty",
    "InvalidUUIDValue",
    "normalize_uuid",
    "short_uuid",
    "uuid_name",
]
