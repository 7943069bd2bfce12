"""The frozen per-device options every actor of a group is built from."""

from __future__ import annotations

import dataclasses
from typing import Any

from blerun.actors._link import Backend
from blerun.actors._policy import ReconnectPolicy


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DeviceOptions:
    """What one device group is made of; fixed for the group's life."""

    device: str
    """The device id: the normalized address."""
    target: Any
    """What bleak connects to: the address, or the platform's device object."""
    backend: Backend | None
    """The bleak backend class; ``None`` for the platform's."""
    policy: ReconnectPolicy
    """Connect, reconnect and retry behaviour."""
    disconnect_timeout: float
    """Bound on one disconnect (teardown) in seconds."""
    rng_seed: int | None
    """Seed for the reconnect jitter; ``None`` draws one from the OS."""
