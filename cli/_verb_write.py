"""``blerun write ADDRESS UUID HEX``: write a characteristic once."""

from __future__ import annotations

import argparse

from blerun.cli._exit import ExitCode
from blerun.cli._output import Output, uuid_label
from blerun.cli._session import open_session, profile_spec


def run(args: argparse.Namespace, output: Output) -> ExitCode:
    """Write, with response unless ``--no-response``; report what was written."""
    specs = [profile_spec(args.sim_profile, args.address)] if args.sim else []
    response = not args.no_response
    with open_session(sim=args.sim, timeout=args.timeout, specs=specs) as session:
        device = session.connect(args.address, output, args.timeout)
        device.write(args.uuid, args.data, response=response, timeout=args.timeout)
        address = device.address
    if output.json_mode:
        output.document(
            {"address": address, "uuid": args.uuid, "bytes": len(args.data), "response": response}
        )
    else:
        how = "acknowledged" if response else "without response"
        count = len(args.data)
        noun = "byte" if count == 1 else "bytes"
        output.line(f"wrote {count} {noun} to {uuid_label(args.uuid)} ({how})")
    return ExitCode.OK
