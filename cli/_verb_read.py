"""``blerun read ADDRESS UUID``: read a characteristic once."""

from __future__ import annotations

import argparse

from blerun.cli._exit import ExitCode
from blerun.cli._output import Output, render_payload, text_or_none
from blerun.cli._session import open_session, profile_spec


def run(args: argparse.Namespace, output: Output) -> ExitCode:
    """Print the value: hex (or text with ``--format utf8``), or a JSON object."""
    specs = [profile_spec(args.sim_profile, args.address)] if args.sim else []
    with open_session(sim=args.sim, timeout=args.timeout, specs=specs) as session:
        device = session.connect(args.address, output, args.timeout)
        data = device.read(args.uuid, timeout=args.timeout)
        address = device.address
    if output.json_mode:
        output.document(
            {"address": address, "uuid": args.uuid, "data": data.hex(), "text": text_or_none(data)}
        )
    else:
        output.line(render_payload(data, args.format))
    return ExitCode.OK
