"""Conformance canary: the Bumble (and bleak) internals blerun.sim relies on, by name.

The rest of the suite proves the sim works on the installed Bumble; it does not say *what*
it leans on. blerun.sim subclasses Bumble's controller, host, link and device, overrides
their packet paths and calls methods that are not Bumble's public API. An upgrade that
renames or reshapes one of them would show up as a hang or a silent misbehaviour far from
its cause. Each test here names one coupling point and fails with that name.

The ``sim`` extra's upper bound on bumble (pyproject.toml) is the set of versions this
canary (and the suite) passed on: to move it, install the new version, run this file and
the suite, fix what they name, then add the version to ``CHECKED_BUMBLE`` and widen the
bound together.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from collections.abc import Callable
from typing import Any

import bleak
import bleak.backends.client
import bleak.backends.scanner
import pytest
from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import BaseBleakScanner
from bumble import att, controller, core, device, gatt, gatt_client, hci, host, link, ll, transport
from bumble.transport import common as transport_common

from simkit import arun

CHECKED_BUMBLE = {"0.0.236"}
"""Bumble versions this canary and the suite passed on (the extra's upper bound)."""


def _params(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(inspect.unwrap(function)).parameters)


# (owner, method, the parameters our override or our call site relies on, in order)
_METHODS: list[tuple[type[Any], str, list[str]]] = [
    # sim/_hci.py: controllers on the link, with our fault hooks and quiet paths.
    (controller.Controller, "__init__", ["self", "name", "host_source", "host_sink", "link"]),
    (controller.Controller, "on_hci_le_create_connection_command", ["self", "command"]),
    (controller.Controller, "on_hci_le_create_connection_cancel_command", ["self", "_command"]),
    (controller.Controller, "on_hci_disconnect_command", ["self", "command"]),
    (controller.Controller, "_send_hci_command_status", ["self", "status", "op_code"]),
    (controller.Controller, "create_le_connection", ["self", "peer_address"]),
    (controller.Controller, "on_advertising_pdu", ["self", "pdu"]),
    (controller.Controller, "on_ll_advertising_pdu", ["self", "packet"]),
    (controller.Controller, "on_le_disconnected", ["self", "connection", "reason"]),
    (controller.Controller, "find_connection_by_handle", ["self", "handle"]),
    (controller.Controller, "find_le_connection_by_handle", ["self", "handle"]),
    (controller.Controller, "on_hci_acl_data_packet", ["self", "packet"]),
    (controller.Controller, "on_link_acl_data", ["self", "sender_address", "transport", "data"]),
    (controller.Controller, "on_hci_packet", ["self", "packet"]),
    (controller.Controller, "on_hci_command_packet", ["self", "command"]),
    (controller.Controller, "send_hci_packet", ["self", "packet"]),
    (controller.Controller, "send_advertising_pdu", ["self", "packet"]),
    (controller.Controller, "on_packet", ["self", "packet"]),
    (link.LocalLink, "add_controller", ["self", "controller"]),
    (link.LocalLink, "remove_controller", ["self", "controller"]),
    (link.LocalLink, "on_address_changed", ["self", "controller"]),
    (link.LocalLink, "find_le_controller", ["self", "address"]),
    (link.LocalLink, "send_advertising_pdu", ["self", "sender_controller", "packet"]),
    (host.Host, "__init__", ["self", "controller_source", "controller_sink"]),
    (host.Host, "send_hci_packet", ["self", "packet"]),
    (host.Host, "on_hci_packet", ["self", "packet"]),
    (host.Host, "on_hci_event_packet", ["self", "event"]),
    (host.Host, "on_hci_acl_data_packet", ["self", "packet"]),
    (host.Host, "send_acl_sdu", ["self", "connection_handle", "sdu"]),
    # sim/_central.py, _gate.py, _node.py: the device side.
    (device.Device, "on_gatt_pdu", ["self", "connection", "pdu"]),
    (device.Device, "send_l2cap_pdu", ["self", "connection_handle", "cid", "pdu"]),
    (device.Device, "lookup_connection", ["self", "connection_handle"]),
    (device.Device, "send_async_command", ["self", "command"]),
    (device.Device, "send_sync_command", ["self", "command"]),
    (device.Device, "start_advertising", ["self", "advertising_type", "target"]),
    # sim/_node.py re-advertises after a disconnection itself (Bumble's auto_restart
    # leaves an unowned task behind at close).
    (device.AdvertisingSet, "start", ["self"]),
    (device.LegacyAdvertiser, "start", ["self"]),
    (gatt_client.Client, "write_value", ["self", "attribute", "value", "with_response"]),
    (gatt_client.Client, "read_value", ["self", "attribute"]),
    (gatt_client.Client, "discover_descriptors", ["self", "characteristic"]),
    # sim/_remote.py: the socket between a host and its controller.
    (transport_common.StreamPacketSource, "data_received", ["self", "data"]),
    (transport_common.StreamPacketSource, "connection_lost", ["self", "exc"]),
]


def test_bumble_is_a_version_the_canary_passed_on() -> None:
    version = importlib.metadata.version("bumble")
    assert version in CHECKED_BUMBLE, (
        f"bumble {version} is not in CHECKED_BUMBLE: run this canary and the suite on it, "
        "then widen the sim extra's bound in pyproject.toml and CHECKED_BUMBLE together"
    )


@pytest.mark.parametrize(
    ("owner", "name", "expected"),
    _METHODS,
    ids=[f"{owner.__name__}.{name}" for owner, name, _ in _METHODS],
)
def test_bumble_method_keeps_its_shape(owner: type[Any], name: str, expected: list[str]) -> None:
    method = getattr(owner, name, None)
    assert callable(method), f"{owner.__module__}.{owner.__name__}.{name} is gone"
    assert _params(method)[: len(expected)] == expected


def test_device_att_handler_is_on_gatt_pdu_called_with_a_handle() -> None:
    # sim/_gate.py and _central.py override on_gatt_pdu and get a connection *handle*:
    # Bumble registers the bound method for the ATT channel and converts the handle to
    # a connection in a decorator around its own implementation.
    async def build() -> None:
        built = device.Device(name="canary", address=hci.Address("F0:00:00:00:00:AA"))
        handler = built.l2cap_channel_manager.fixed_channels[att.ATT_CID]
        assert handler == built.on_gatt_pdu
        assert hasattr(device.Device.on_gatt_pdu, "__wrapped__")

    arun(build())


def test_device_keeps_the_legacy_advertiser_it_started() -> None:
    source = inspect.getsource(device.Device.start_advertising)
    assert "self.legacy_advertising_set = await self.create_advertising_set(" in source
    assert "self.legacy_advertiser = LegacyAdvertiser(" in source


def test_transport_specs_the_remote_side_opens() -> None:
    # sim/_remote.py hands other processes "unix:<path>" or "tcp-client:<host>:<port>".
    source = inspect.getsource(transport._open_transport)
    assert "scheme in ('unix', 'unix-client')" in source
    assert "scheme == 'tcp-client'" in source


def test_controller_reports_address_changes_to_its_link() -> None:
    # SimLink indexes controllers by address through this hook.
    seen: list[object] = []

    class Recording(link.LocalLink):
        def on_address_changed(self, controller: object) -> None:
            seen.append(controller)

    async def build() -> None:
        built = controller.Controller("canary", link=Recording())  # type: ignore[no-untyped-call]
        seen.clear()
        built.random_address = hci.Address("F0:00:00:00:00:AB")
        assert seen == [built]
        for name in ("pending_le_connection", "le_connections", "le_scan_enable", "host"):
            assert hasattr(built, name), f"Controller.{name} is gone"

    arun(build())


def test_host_state_the_sim_reads() -> None:
    async def build() -> None:
        built = host.Host()
        for name in ("connections", "le_acl_packet_queue", "ready", "hci_sink"):
            assert hasattr(built, name), f"Host.{name} is gone"
        # The transmitter paces notifications by the ACL queue's room.
        queue = host.DataPacketQueue(max_packet_size=251, max_in_flight=4, send=lambda _: None)
        assert (queue.pending, queue.max_in_flight, queue.max_packet_size) == (0, 4, 251)
        assert callable(queue.enqueue)

    arun(build())


def test_gatt_client_state_the_sim_reads_and_sets() -> None:
    # sim/_client.py sets descriptors_discovered (Bumble never does) and
    # sim/_central.py reads the client's pending request to drop late answers.
    source = inspect.getsource(gatt_client)
    assert "self.descriptors_discovered = False" in source
    assert "if not characteristic.descriptors_discovered" in source
    init = inspect.getsource(gatt_client.Client.__init__)
    assert "self.pending_request = None" in init and "self.pending_response = None" in init


def test_protocol_values_the_sim_uses() -> None:
    assert att.ATT_CID == 0x0004
    assert att.ATT_DEFAULT_MTU == 23
    assert att.Opcode.ATT_READ_RESPONSE in att.ATT_RESPONSES
    assert {"READABLE", "WRITEABLE"} <= set(dir(att.Attribute))
    assert int(hci.HCI_ErrorCode.CONNECTION_LIMIT_EXCEEDED_ERROR) == 0x09
    for name in ("TerminateInd", "ConnectInd", "AdvInd"):
        assert hasattr(ll, name), f"bumble.ll.{name} is gone"
    for name in ("Characteristic", "CharacteristicValue", "Descriptor", "Service"):
        assert callable(getattr(gatt, name, None)), f"bumble.gatt.{name} is gone"
    assert issubclass(core.TimeoutError, core.BaseBumbleError)
    assert callable(hci.Address.generate_static_address)


def test_bleak_looks_its_default_backends_up_by_these_names() -> None:
    # sim/_install.py (use_air) replaces them; BleakClient/BleakScanner read them from
    # the bleak package's namespace each time one is built.
    for module, name in (
        (bleak, "get_platform_client_backend_type"),
        (bleak, "get_platform_scanner_backend_type"),
        (bleak.backends.client, "get_platform_client_backend_type"),
        (bleak.backends.scanner, "get_platform_scanner_backend_type"),
    ):
        assert callable(getattr(module, name, None)), f"{module.__name__}.{name} is gone"
    assert "get_platform_client_backend_type()" in inspect.getsource(bleak.BleakClient.__init__)
    assert "get_platform_scanner_backend_type()" in inspect.getsource(bleak.BleakScanner.__init__)


def test_bleak_backend_contract_the_sim_implements() -> None:
    for name in ("connect", "disconnect", "start_notify", "stop_notify", "write_gatt_char"):
        assert callable(getattr(BaseBleakClient, name, None)), f"BaseBleakClient.{name}"
    assert _params(BaseBleakClient.__init__)[:2] == ["self", "address_or_ble_device"]
    for name in ("create_or_update_device", "call_detection_callbacks", "is_allowed_uuid"):
        assert callable(getattr(BaseBleakScanner, name, None)), f"BaseBleakScanner.{name}"
