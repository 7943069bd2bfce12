"""``blerun services ADDRESS``: connect and list services and characteristics."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from blerun.actors import ServicesSnapshot
from blerun.cli._exit import ExitCode
from blerun.cli._output import Output, uuid_label
from blerun.cli._session import open_session, profile_spec
from blerun.gatt import uuid_name


def run(args: argparse.Namespace, output: Output) -> ExitCode:
    """Print the device's GATT table."""
    specs = [profile_spec(args.sim_profile, args.address)] if args.sim else []
    with open_session(sim=args.sim, timeout=args.timeout, specs=specs) as session:
        device = session.connect(args.address, output, args.timeout)
        snapshot = device.get_services()
        address = device.address
    if output.json_mode:
        output.document(as_json(address, snapshot))
    else:
        output.show(_table(address, snapshot))
    return ExitCode.OK


def as_json(address: str, snapshot: ServicesSnapshot) -> dict[str, Any]:
    """The services of ``address`` as a JSON object."""
    return {
        "address": address,
        "mtu": snapshot.mtu,
        "services": [
            {
                "uuid": service.uuid,
                "name": uuid_name(service.uuid),
                "handle": service.handle,
                "characteristics": [
                    {
                        "uuid": char.uuid,
                        "name": uuid_name(char.uuid),
                        "handle": char.handle,
                        "properties": sorted(char.properties.names()),
                    }
                    for char in service.characteristics
                ],
            }
            for service in snapshot.services
        ],
    }


def _table(address: str, snapshot: ServicesSnapshot) -> Table:
    table = Table(
        "handle", "service / characteristic", "properties", title=f"{address} (MTU {snapshot.mtu})"
    )
    for service in snapshot.services:
        table.add_row(f"{service.handle:#06x}", uuid_label(service.uuid), "", style="bold")
        for char in service.characteristics:
            table.add_row(
                f"{char.handle:#06x}",
                "  " + uuid_label(char.uuid),
                ", ".join(sorted(char.properties.names())),
            )
    return table
