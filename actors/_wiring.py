"""How a device group is made: its options, its actors' factories, its child specs.

Started in order NOTIFY, RECONNECT, RADIO and stopped in reverse, so the radio goes first
at shutdown and its peers can still take its last events. A radio factory tells the
device's hub which generation may publish before the actor starts, so a replaced radio
can never publish again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import Any

from blerun.actors._actor_base import GroupContext
from blerun.actors._clock import Clock
from blerun.actors._host_table import HostTable
from blerun.actors._hub import DeviceHub
from blerun.actors._lanes import Lanes
from blerun.actors._link import LinkOptions
from blerun.actors._loop import LoopBridge
from blerun.actors._metrics import Metrics
from blerun.actors._notify import NotificationActor, NotifyCheckpoint
from blerun.actors._policy import ReconnectPolicy
from blerun.actors._radio import RadioActor
from blerun.actors._radio_state import RadioWish
from blerun.actors._reconnect import ReconnectActor
from blerun.actors._router import Router
from blerun.messages import ChildSpec, DeviceId, Escalating, GroupSpec, Role, Strategy


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DeviceOptions:
    """What one device group is made of; fixed for the group's life."""

    device: DeviceId
    """The group's identity."""
    link: LinkOptions
    """What bleak needs to reach it."""
    policy: ReconnectPolicy
    """Connect, reconnect and retry behaviour."""
    rng_seed: int | None
    """Seed for the reconnect jitter; ``None`` draws one from the OS."""
    reorder_window: float
    """Seconds the NotificationActor waits for a delayed batch before skipping it."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeParts:
    """The runtime-wide pieces every group is wired to."""

    router: Router
    clock: Clock
    metrics: Metrics
    bridge: LoopBridge
    lanes: Lanes
    loop: asyncio.AbstractEventLoop
    hosts: HostTable | None = None
    """The radio host processes (``Runtime(radio="process")``), or ``None``."""


def host_key(link: LinkOptions) -> str:
    """Which radio host a device's radio runs in: one per adapter."""
    adapter = link.bluez.get("adapter")
    return str(adapter) if adapter else "default"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Supervision:
    """The restart rules of every group."""

    strategy: Strategy
    intensity: int
    period: float


def group_spec(
    options: DeviceOptions, hub: DeviceHub, parts: RuntimeParts, rules: Supervision
) -> GroupSpec:
    """The child specs of one device group."""
    device = options.device
    ctx = GroupContext(
        device=device,
        router=parts.router,
        clock=parts.clock,
        metrics=parts.metrics,
        loop=parts.loop,
        lane=parts.lanes.lane(str(device), device.address),
        hub=hub,
    )
    seed = options.rng_seed

    def notify(checkpoint: object | None, generation: int) -> Any:
        return NotificationActor.start(
            ctx=ctx,
            generation=generation,
            reorder_window=options.reorder_window,
            checkpoint=checkpoint if isinstance(checkpoint, NotifyCheckpoint) else None,
        )

    def reconnect(_checkpoint: object | None, generation: int) -> Any:
        rng = random.Random(f"{seed}:{device.address}:{generation}") if seed is not None else None
        return ReconnectActor.start(
            ctx=ctx, generation=generation, policy=options.policy, rng=rng or random.Random()
        )

    hosts = parts.hosts

    def radio(checkpoint: object | None, generation: int) -> Any:
        if isinstance(checkpoint, Escalating):
            last = checkpoint.checkpoint
            base = last if isinstance(last, RadioWish) else RadioWish(False)
            wish: RadioWish | None = dataclasses.replace(base, escalated=checkpoint.error)
        else:
            wish = checkpoint if isinstance(checkpoint, RadioWish) else None
        hub.publisher = generation
        if hosts is not None and (wish is None or wish.escalated is None):
            # In a radio host process; a radio that only ends its group (escalation) runs
            # here, since its host may be the very thing that failed.
            return hosts.host(host_key(options.link)).start_radio(
                device=device,
                generation=generation,
                link=options.link,
                attempt_timeout=options.policy.attempt_timeout,
                wish=wish,
                snapshot=hub.snapshot,
            )
        return RadioActor.start(
            ctx=ctx,
            generation=generation,
            link=options.link,
            attempt_timeout=options.policy.attempt_timeout,
            bridge=parts.bridge,
            wish=wish,
        )

    return GroupSpec(
        device=device,
        children=(
            ChildSpec(role=Role.NOTIFY, factory=notify),
            ChildSpec(role=Role.RECONNECT, factory=reconnect),
            ChildSpec(role=Role.RADIO, factory=radio),
        ),
        strategy=rules.strategy,
        intensity=rules.intensity,
        period=rules.period,
        host=host_key(options.link) if hosts is not None else None,
    )
