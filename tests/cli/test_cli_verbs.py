"""scan, services, read and write through --sim: emulated devices at the given address."""

from __future__ import annotations

import pytest

from blerun.gatt import (
    BODY_SENSOR_LOCATION,
    HEART_RATE_CONTROL_POINT,
    HEART_RATE_MEASUREMENT,
    HEART_RATE_SERVICE,
    NUS_RX,
    NUS_SERVICE,
    TEMPERATURE,
)

from clikit import run

pytestmark = pytest.mark.e2e

ADDRESS = "F0:12:34:56:78:9A"


def test_scan_json_lists_the_emulated_devices(capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, "scan", "--sim", "--timeout", "0.5", "--json")

    assert ran.code == 0, ran.err
    devices = {d["name"]: d for d in ran.json()}
    assert set(devices) == {"HR-1", "UART-1", "Sensor-1"}
    assert devices["HR-1"]["service_uuids"] == [HEART_RATE_SERVICE]
    assert devices["UART-1"]["service_uuids"] == [NUS_SERVICE]
    assert devices["HR-1"]["address"] == "F0:00:00:00:00:01"
    assert isinstance(devices["HR-1"]["rssi"], int)


def test_scan_filters_and_says_not_found(capsys: pytest.CaptureFixture[str]) -> None:
    found = run(capsys, "scan", "--sim", "--timeout", "0.5", "--service", "180d", "--json")
    missing = run(capsys, "scan", "--sim", "--timeout", "0.3", "--name", "HR-9", "--json")

    assert [d["name"] for d in found.json()] == ["HR-1"]
    assert (missing.code, missing.json()) == (3, [])


def test_scan_table_names_services(capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, "scan", "--sim", "--timeout", "0.5", "--name", "HR-1")

    assert ran.code == 0
    assert "HR-1" in ran.out
    assert "180d (Heart Rate)" in ran.out


def test_services_json_is_the_gatt_table(capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, "services", ADDRESS, "--sim", "--json")

    assert ran.code == 0, ran.err
    table = ran.json()
    assert table["address"] == ADDRESS
    (heart_rate,) = [s for s in table["services"] if s["uuid"] == HEART_RATE_SERVICE]
    chars = {c["uuid"]: c for c in heart_rate["characteristics"]}
    assert chars[HEART_RATE_MEASUREMENT]["properties"] == ["notify"]
    assert chars[HEART_RATE_MEASUREMENT]["name"] == "Heart Rate Measurement"
    assert chars[BODY_SENSOR_LOCATION]["properties"] == ["read"]


def test_services_table_of_a_uart_device(capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, "services", ADDRESS, "--sim", "--sim-profile", "uart")

    assert ran.code == 0, ran.err
    assert "Nordic UART RX" in ran.out
    assert "write, write-without-response" in ran.out


def test_read_json_and_hex(capsys: pytest.CaptureFixture[str]) -> None:
    as_json = run(capsys, "read", ADDRESS, "2a38", "--sim", "--json")
    as_hex = run(
        capsys, "read", ADDRESS, TEMPERATURE, "--sim", "--sim-profile", "sensor", "--timeout", "5"
    )

    assert as_json.code == 0, as_json.err
    assert as_json.json() == {
        "address": ADDRESS,
        "uuid": BODY_SENSOR_LOCATION,
        "data": "01",  # chest
        "text": None,
    }
    assert (as_hex.code, as_hex.out) == (0, "66 08\n")  # 21.50 degC as sint16 0.01 units


def test_write_with_and_without_response(capsys: pytest.CaptureFixture[str]) -> None:
    acked = run(capsys, "write", ADDRESS, "2a39", "01", "--sim", "--json")
    unacked = run(
        capsys, "write", ADDRESS, NUS_RX, "68:69", "--no-response", "--sim", "--sim-profile", "uart"
    )

    assert acked.code == 0, acked.err
    assert acked.json() == {
        "address": ADDRESS,
        "uuid": HEART_RATE_CONTROL_POINT,
        "bytes": 1,
        "response": True,
    }
    assert unacked.code == 0, unacked.err
    assert unacked.out == f"wrote 2 bytes to {NUS_RX} (Nordic UART RX) (without response)\n"


def test_an_att_error_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, "write", ADDRESS, "2a39", "02", "--sim")  # the control point refuses 02

    assert ran.code == 1
    assert ran.err.startswith("blerun: GattError: ATT error ")
    assert "(0x80)" in ran.err
    assert ran.err.count("\n") == 1


def test_a_missing_characteristic_is_not_found(capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, "read", ADDRESS, "2a19", "--sim")

    assert ran.code == 3
    assert ran.err.startswith("blerun: CharacteristicNotFound:")


def test_sim_refuses_an_address_it_cannot_emulate(capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, "read", "AA:BB:CC:DD:EE:FF", "2a38", "--sim")

    assert ran.code == 2
    assert "random static" in ran.err
    assert ran.err.count("\n") == 1
