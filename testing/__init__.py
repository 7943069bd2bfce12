"""Tools for testing code that uses blerun: fault plans, a fake clock, in-memory metrics,
an invariant checker, and the chaos campaign.

::

    from blerun.testing import FaultPlan, InvariantChecker

    plan = FaultPlan(seed=7).drop(NotificationBatch, probability=0.1)
    with InvariantChecker(plan=plan) as checker:
        rt = Runtime(faults=plan, metrics=checker.metrics).start()
        dev = rt.device(address)
        watch = checker.watch(dev, peripheral=hr)          # hr: a blerun.sim Peripheral
        dev.subscribe(uuid, watch.callback(uuid))
        checker.call(watch, "connect", dev.connect, timeout=5)
        ...                                                 # faults, your app at work
        checker.settle()
        checker.close(rt, timeout=2)
    assert not checker.violations()

``python -m blerun.testing --runs 50`` runs the chaos campaign over ``blerun.sim`` (it
needs the ``sim`` extra); ``chaos_main(argv)`` is the same as a function. docs/testing.md
describes each invariant.
"""

from blerun.actors._faults import FaultKind, FaultPlan
from blerun.actors._metrics import InMemoryMetrics, NoopMetrics

from ._checker import InvariantChecker
from ._cli import chaos_main
from ._clock import FakeClock, FakeTimer
from ._invariants import Invariant, Violation
from ._watch import CountedPeripheral, DeviceWatch

__all__ = [
    "CountedPeripheral",
    "DeviceWatch",
    "FakeClock",
    "FakeTimer",
    "FaultKind",
    "FaultPlan",
    "InMemoryMetrics",
    "Invariant",
    "InvariantChecker",
    "NoopMetrics",
    "Violation",
    "chaos_main",
]
