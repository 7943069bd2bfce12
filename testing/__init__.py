"""Tools for testing code that uses blerun: fault plans, a fake clock, in-memory metrics,
an invariant checker, and the chaos campaign.

::

    from blerun.testing import FakeClock, FaultPlan, InMemoryMetrics, InvariantChecker

    plan = FaultPlan(seed=7).drop(NotificationBatch, probability=0.1)
    with InvariantChecker(plan=plan) as checker:
        with Runtime(faults=plan, metrics=checker.metrics) as rt: ...
    assert not checker.violations()

``python -m blerun.testing --runs 50`` runs the chaos campaign over ``blerun.sim`` (it
needs the ``sim`` extra); ``chaos_main(argv)`` is the same as a function.
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
