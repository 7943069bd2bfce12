"""``blerun scan``: the devices advertising nearby, as a table or JSON."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from blerun.actors import ScanResult
from blerun.cli._exit import ExitCode
from blerun.cli._output import Output, uuid_label
from blerun.cli._session import open_session, scan_specs


def run(args: argparse.Namespace, output: Output) -> ExitCode:
    """Scan for ``--timeout`` seconds; exit 3 when nothing (matching) was heard."""
    specs = scan_specs() if args.sim else []
    with (
        open_session(sim=args.sim, timeout=args.timeout, specs=specs) as session,
        output.progress(f"scanning for {args.timeout:g} s"),
    ):
        results = session.runtime.scan(
            args.timeout,
            name=args.name,
            address=args.address,
            service=args.service,
            adapter=args.adapter,
            backend=session.scanner_backend,
        )
    if output.json_mode:
        output.document([as_json(result) for result in results])
    elif results:
        output.show(_table(results))
    else:
        output.line(f"no device heard within {args.timeout:g} s")
    return ExitCode.OK if results else ExitCode.NOT_FOUND


def as_json(result: ScanResult) -> dict[str, Any]:
    """A scan result as a JSON object (bytes in hex)."""
    return {
        "address": result.address,
        "name": result.name,
        "rssi": result.rssi,
        "service_uuids": list(result.service_uuids),
        "manufacturer_data": {str(k): v.hex() for k, v in result.manufacturer_data.items()},
        "service_data": {k: v.hex() for k, v in result.service_data.items()},
        "tx_power": result.tx_power,
        "adapter": result.adapter,
    }


def _table(results: tuple[ScanResult, ...]) -> Table:
    table = Table("address", "name", "RSSI", "services", "adapter", title="devices heard")
    for result in results:
        table.add_row(
            result.address,
            result.name or "",
            f"{result.rssi} dBm",
            ", ".join(uuid_label(u) for u in result.service_uuids),
            result.adapter or "",
        )
    return table
