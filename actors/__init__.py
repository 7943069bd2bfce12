"""blerun's runtime: keep BLE links alive and correct under faults.

::

    from blerun.actors import Runtime, ReconnectPolicy
    from blerun.gatt import HEART_RATE_MEASUREMENT

    with Runtime() as rt:
        dev = rt.device("AA:BB:CC:DD:EE:FF", policy=ReconnectPolicy(initial=0.5, cap=30.0))
        dev.on_state_change(lambda ev: print(ev.new, ev.reason))
        sub = dev.subscribe(HEART_RATE_MEASUREMENT, lambda n: print(n.data))  # survives reconnects
        dev.connect(timeout=10.0)
        sub.cancel()

Implementation modules are private; everything public is re-exported here, except the
exceptions, which live in ``blerun.actors.errors`` (as bleak keeps its own in
``bleak.exc``). The message protocol is ``blerun.messages``; tools for tests (fault plans,
a fake clock, in-memory metrics) are ``blerun.testing``.
"""

from blerun.actors import errors
from blerun.actors._clock import Clock, Timer
from blerun.actors._device import AsyncDevice, Device
from blerun.actors._host_policy import HostInfo, HostPolicy
from blerun.actors._metrics import Metrics
from blerun.actors._policy import AttemptInfo, Jitter, ReconnectPolicy
from blerun.actors._runtime import Runtime
from blerun.actors._scan import ScanResult
from blerun.actors._subscription import AsyncSubscription, NotificationStream, Subscription
from blerun.actors._values import UNDECODABLE, CloseReport, DeviceStatistics, Notification

# The values a runtime user meets on every call are re-exported from the protocol package,
# so that code using the runtime needs no import of blerun.messages.
from blerun.messages import ConnectionState, Reason, ServicesSnapshot, StateChanged, Strategy

# Names the README once imported from here, kept as deprecated aliases (PEP 562).
_MOVED = {
    "FaultPlan": ("blerun.testing", "FaultPlan"),
    "InMemoryMetrics": ("blerun.testing", "InMemoryMetrics"),
    "FakeClock": ("blerun.testing", "FakeClock"),
    "Role": ("blerun.messages", "Role"),
    "ALLOWED": ("blerun.actors._state", "ALLOWED"),
}


def __getattr__(name: str) -> object:
    moved = _MOVED.get(name)
    if moved is None:
        raise AttributeError(f"module 'blerun.actors' has no attribute {name!r}")
    import importlib  # noqa: PLC0415 -- only on the deprecated path
    import warnings  # noqa: PLC0415

    module, attr = moved
    warnings.warn(
        f"blerun.actors.{name} is deprecated; import it from {module}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(module), attr)


__all__ = [
    "UNDECODABLE",
    "AsyncDevice",
    "AsyncSubscription",
    "AttemptInfo",
    "Clock",
    "CloseReport",
    "ConnectionState",
    "Device",
    "DeviceStatistics",
    "HostInfo",
    "HostPolicy",
    "Jitter",
    "Metrics",
    "Notification",
    "NotificationStream",
    "Reason",
    "ReconnectPolicy",
    "Runtime",
    "ScanResult",
    "ServicesSnapshot",
    "StateChanged",
    "Strategy",
    "Subscription",
    "Timer",
    "errors",
]
