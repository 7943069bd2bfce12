"""Tools for testing code that uses blerun: fault plans, a fake clock, in-memory metrics.

::

    from blerun.testing import FakeClock, FaultPlan, InMemoryMetrics

    plan = FaultPlan(seed=7).drop(NotificationBatch, probability=0.1)
    with Runtime(faults=plan, clock=FakeClock(), metrics=InMemoryMetrics()) as rt: ...
"""

from blerun.actors._clock import FakeClock, FakeTimer
from blerun.actors._faults import FaultKind, FaultPlan
from blerun.actors._metrics import InMemoryMetrics, NoopMetrics

__all__ = [
    "FakeClock",
    "FakeTimer",
    "FaultKind",
    "FaultPlan",
    "InMemoryMetrics",
    "NoopMetrics",
]
