"""blerun's runtime: keep BLE links alive and correct under faults.

::

    from blerun.actors import Runtime, ReconnectPolicy

    with Runtime() as rt:
        dev = rt.device("AA:BB:CC:DD:EE:FF", policy=ReconnectPolicy(initial=0.5, cap=30.0))
        dev.on_state_change(lambda ev: print(ev.new, ev.reason))
        sub = dev.subscribe(HEART_RATE, lambda n: print(n.data))   # survives reconnects
        dev.connect(timeout=10.0)
        dev.write(CONTROL, b"\\x01", response=True, timeout=5.0)
        sub.cancel()

Implementation modules are private; everything public is re-exported here.
"""

from blerun.actors._clock import Clock, FakeClock, FakeTimer, LoopClock, Timer
from blerun.actors._device import AsyncDevice, Device
from blerun.actors._device_core import DeviceStatistics
from blerun.actors._errors import (
    BleRuntimeError,
    CharacteristicNotFound,
    ConnectFailed,
    ConnectTimeout,
    DeviceFailed,
    DeviceNotFound,
    Disconnected,
    GattError,
    GaveUp,
    InjectedCrash,
    InternalError,
    InvalidAddress,
    InvalidPayload,
    InvalidPolicy,
    InvalidTimeout,
    InvalidUUID,
    LinkError,
    NotConnected,
    NotSupported,
    OperationTimeout,
    PayloadTooLong,
    RuntimeClosed,
    UsageError,
    WrongThread,
)
from blerun.actors._faults import FaultKind, FaultPlan
from blerun.actors._metrics import InMemoryMetrics, Metrics, NoopMetrics
from blerun.actors._notify import UNDECODABLE, Notification, NotificationActor
from blerun.actors._policy import AttemptInfo, Jitter, ReconnectPolicy
from blerun.actors._radio import RadioActor
from blerun.actors._reconnect import ReconnectActor
from blerun.actors._runtime import CloseReport, Runtime
from blerun.actors._scan import ScanResult
from blerun.actors._state import ALLOWED, StateMachine, allowed
from blerun.actors._subscription import AsyncSubscription, NotificationStream, Subscription
from blerun.actors._supervisor import SupervisorActor
from blerun.messages import (
    CharacteristicInfo,
    ConnectionState,
    Reason,
    Role,
    ServiceInfo,
    ServicesSnapshot,
    StateChanged,
    Strategy,
)

__all__ = [
    "ALLOWED",
    "UNDECODABLE",
    "AsyncDevice",
    "AsyncSubscription",
    "AttemptInfo",
    "BleRuntimeError",
    "CharacteristicInfo",
    "CharacteristicNotFound",
    "Clock",
    "CloseReport",
    "ConnectFailed",
    "ConnectTimeout",
    "ConnectionState",
    "Device",
    "DeviceFailed",
    "DeviceNotFound",
    "DeviceStatistics",
    "Disconnected",
    "FakeClock",
    "FakeTimer",
    "FaultKind",
    "FaultPlan",
    "GattError",
    "GaveUp",
    "InMemoryMetrics",
    "InjectedCrash",
    "InternalError",
    "InvalidAddress",
    "InvalidPayload",
    "InvalidPolicy",
    "InvalidTimeout",
    "InvalidUUID",
    "Jitter",
    "LinkError",
    "LoopClock",
    "Metrics",
    "NoopMetrics",
    "NotConnected",
    "NotSupported",
    "Notification",
    "NotificationActor",
    "NotificationStream",
    "OperationTimeout",
    "PayloadTooLong",
    "RadioActor",
    "Reason",
    "ReconnectActor",
    "ReconnectPolicy",
    "Role",
    "Runtime",
    "RuntimeClosed",
    "ScanResult",
    "ServiceInfo",
    "ServicesSnapshot",
    "StateChanged",
    "StateMachine",
    "Strategy",
    "Subscription",
    "SupervisorActor",
    "Timer",
    "UsageError",
    "WrongThread",
    "allowed",
]
