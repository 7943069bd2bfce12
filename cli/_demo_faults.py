"""The demo's hostile radio: a seeded schedule of link drops, refused connects and a crash."""

from __future__ import annotations

import dataclasses
import enum
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from blerun.actors import Device, Runtime
from blerun.cli._demo_model import Kind, Model
from blerun.messages import Role

if TYPE_CHECKING:
    from blerun.sim import Peripheral

REFUSED = 3
"""Connects refused in a row by the "refuse" fault."""

_SETTLE_S = 5.0
"""Bound on each wait inside the crash procedure."""


class FaultKind(enum.Enum):
    """What one scheduled fault does."""

    DROP = "drop"
    """The link is lost (a supervision timeout)."""
    REFUSE = "refuse"
    """The next ``REFUSED`` connects are refused, then the link is lost."""
    CRASH = "crash"
    """The device's NotificationActor crashes, as a bug would crash it."""


@dataclasses.dataclass(frozen=True, slots=True)
class Fault:
    """One fault, at a time since the demo's faults started."""

    at: float
    kind: FaultKind
    target: int
    """Index of the device it hits."""


def schedule(duration: float, kinds: Sequence[Kind], rng: random.Random) -> list[Fault]:
    """Faults over the first 80% of ``duration``: the rest shows the devices recovered.

    About one drop per device every three seconds, at jittered, evenly spread times; one
    run of refused connects at a quarter of the way; one actor crash halfway, on the
    first heart-rate device (its sequence numbers make the no-loss claim exact).
    """
    count = max(3, round(duration * len(kinds) / 3.0))
    spacing = 0.75 * duration / count
    faults = [
        Fault(
            at=0.05 * duration + spacing * (i + rng.uniform(0.1, 0.9)),
            kind=FaultKind.DROP,
            target=rng.randrange(len(kinds)),
        )
        for i in range(count)
    ]
    faults.append(Fault(0.25 * duration, FaultKind.REFUSE, rng.randrange(len(kinds))))
    if Kind.HEART_RATE in kinds:
        faults.append(Fault(0.5 * duration, FaultKind.CRASH, kinds.index(Kind.HEART_RATE)))
    return sorted(faults, key=lambda f: f.at)


def inject(
    fault: Fault,
    *,
    runtime: Runtime,
    devices: Sequence[Device],
    peripherals: Sequence[Peripheral],
    names: Sequence[str],
    model: Model,
) -> None:
    """Do ``fault`` now, announcing it to the views."""
    peripheral, name = peripherals[fault.target], names[fault.target]
    match fault.kind:
        case FaultKind.DROP:
            model.announce(f"drop the link of {name}")
            if not peripheral.drop_link():
                model.announce(f"{name} had no link to drop")
        case FaultKind.REFUSE:
            model.announce(f"{name} refuses its next {REFUSED} connects; drop its link")
            peripheral.refuse_connects(REFUSED)
            peripheral.drop_link()
        case FaultKind.CRASH:
            _crash(runtime, devices[fault.target], peripheral, name, model)


def _crash(
    runtime: Runtime, device: Device, peripheral: Peripheral, name: str, model: Model
) -> None:
    # Mid-stream, on purpose: the mail a crashed actor leaves in its inbox goes to its
    # successor, so the final count shows whether a crash cost a notification.
    model.announce(f"crash the NotificationActor of {name}, mid-stream")
    restarts = model.restarts
    runtime.crash(device, Role.NOTIFY, note="blerun demo")
    if model.wait(lambda m: m.restarts > restarts, _SETTLE_S):
        model.announce(f"{name}'s NotificationActor restarted by its supervisor")
    else:
        model.announce(f"{name}'s NotificationActor was not restarted within {_SETTLE_S:g} s")
