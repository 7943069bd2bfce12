"""Assigned numbers people meet on real devices, and a name lookup for display.

Values from the Bluetooth SIG's Assigned Numbers document (services 0x18xx,
characteristics 0x2Axx-0x2Bxx, descriptors 0x29xx) plus the Nordic UART Service, the
de-facto serial port of BLE. Each constant is the lower-case 128-bit text bleak reports.
"""

from __future__ import annotations

from blerun.gatt._uuid import InvalidUUIDValue, from_short, normalize_uuid

_NAMES: dict[str, str] = {}


def _named(uuid: int | str, name: str) -> str:
    full = from_short(uuid) if isinstance(uuid, int) else uuid
    _NAMES[full] = name
    return full


def uuid_name(uuid: object, default: str | None = None) -> str | None:
    """The human name of a UUID (``"Heart Rate Measurement"``), or ``default``.

    Accepts every form ``normalize_uuid`` accepts; a value that is no UUID at all also
    gives ``default`` (this is for display, it never raises).
    """
    try:
        return _NAMES.get(normalize_uuid(uuid), default)
    except InvalidUUIDValue:
        return default


# --- services -----------------------------------------------------------------------------
GENERIC_ACCESS_SERVICE = _named(0x1800, "Generic Access")
GENERIC_ATTRIBUTE_SERVICE = _named(0x1801, "Generic Attribute")
_named(0x1802, "Immediate Alert")
_named(0x1803, "Link Loss")
_named(0x1804, "Tx Power")
CURRENT_TIME_SERVICE = _named(0x1805, "Current Time")
_named(0x1808, "Glucose")
HEALTH_THERMOMETER_SERVICE = _named(0x1809, "Health Thermometer")
DEVICE_INFORMATION_SERVICE = _named(0x180A, "Device Information")
HEART_RATE_SERVICE = _named(0x180D, "Heart Rate")
BATTERY_SERVICE = _named(0x180F, "Battery")
_named(0x1810, "Blood Pressure")
_named(0x1812, "Human Interface Device")
_named(0x1813, "Scan Parameters")
_named(0x1814, "Running Speed and Cadence")
_named(0x1815, "Automation IO")
CYCLING_SPEED_AND_CADENCE_SERVICE = _named(0x1816, "Cycling Speed and Cadence")
_named(0x1818, "Cycling Power")
_named(0x1819, "Location and Navigation")
ENVIRONMENTAL_SENSING_SERVICE = _named(0x181A, "Environmental Sensing")
_named(0x181B, "Body Composition")
_named(0x181C, "User Data")
_named(0x181D, "Weight Scale")
_named(0x181E, "Bond Management")
_named(0x181F, "Continuous Glucose Monitoring")
_named(0x1822, "Pulse Oximeter")
_named(0x1826, "Fitness Machine")
_named(0x1827, "Mesh Provisioning")
_named(0x1828, "Mesh Proxy")

# --- characteristics ----------------------------------------------------------------------
DEVICE_NAME = _named(0x2A00, "Device Name")
_named(0x2A01, "Appearance")
_named(0x2A04, "Peripheral Preferred Connection Parameters")
SERVICE_CHANGED = _named(0x2A05, "Service Changed")
_named(0x2A06, "Alert Level")
_named(0x2A07, "Tx Power Level")
_named(0x2A18, "Glucose Measurement")
BATTERY_LEVEL = _named(0x2A19, "Battery Level")
TEMPERATURE_MEASUREMENT = _named(0x2A1C, "Temperature Measurement")
_named(0x2A1D, "Temperature Type")
_named(0x2A1E, "Intermediate Temperature")
_named(0x2A23, "System ID")
MODEL_NUMBER = _named(0x2A24, "Model Number String")
SERIAL_NUMBER = _named(0x2A25, "Serial Number String")
FIRMWARE_REVISION = _named(0x2A26, "Firmware Revision String")
HARDWARE_REVISION = _named(0x2A27, "Hardware Revision String")
SOFTWARE_REVISION = _named(0x2A28, "Software Revision String")
MANUFACTURER_NAME = _named(0x2A29, "Manufacturer Name String")
CURRENT_TIME = _named(0x2A2B, "Current Time")
_named(0x2A35, "Blood Pressure Measurement")
HEART_RATE_MEASUREMENT = _named(0x2A37, "Heart Rate Measurement")
BODY_SENSOR_LOCATION = _named(0x2A38, "Body Sensor Location")
HEART_RATE_CONTROL_POINT = _named(0x2A39, "Heart Rate Control Point")
_named(0x2A50, "PnP ID")
_named(0x2A53, "RSC Measurement")
CSC_MEASUREMENT = _named(0x2A5B, "CSC Measurement")
_named(0x2A5E, "PLX Spot-Check Measurement")
_named(0x2A5F, "PLX Continuous Measurement")
_named(0x2A63, "Cycling Power Measurement")
_named(0x2A6C, "Elevation")
PRESSURE = _named(0x2A6D, "Pressure")
TEMPERATURE = _named(0x2A6E, "Temperature")
HUMIDITY = _named(0x2A6F, "Humidity")
_named(0x2A9D, "Weight Measurement")
_named(0x2AA6, "Central Address Resolution")
_named(0x2B29, "Client Supported Features")
_named(0x2B2A, "Database Hash")

# --- descriptors --------------------------------------------------------------------------
_named(0x2900, "Characteristic Extended Properties")
_named(0x2901, "Characteristic User Description")
CCCD = _named(0x2902, "Client Characteristic Configuration")
_named(0x2903, "Server Characteristic Configuration")
_named(0x2904, "Characteristic Presentation Format")

# --- Nordic UART Service (vendor UUIDs, not SIG-assigned) ---------------------------------
NUS_SERVICE = _named("6e400001-b5a3-f393-e0a9-e50e24dcca9e", "Nordic UART Service")
NUS_RX = _named("6e400002-b5a3-f393-e0a9-e50e24dcca9e", "Nordic UART RX")
"""The central writes here (the peripheral receives)."""
NUS_TX = _named("6e400003-b5a3-f393-e0a9-e50e24dcca9e", "Nordic UART TX")
"""The peripheral notifies here (the peripheral transmits)."""
