"""A runtime's options, checked once, and the parts a started runtime is made of."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pykka

from blerun.actors._clock import Clock, LoopClock
from blerun.actors._faults import FaultPlan
from blerun.actors._host_policy import HostPolicy
from blerun.actors._host_table import host_table
from blerun.actors._lanes import Lanes
from blerun.actors._link import Backend
from blerun.actors._loop import LoopBridge
from blerun.actors._metrics import Metrics, NoopMetrics
from blerun.actors._policy import ReconnectPolicy
from blerun.actors._router import Router
from blerun.actors._supervisor import SupervisorActor
from blerun.actors._targets import check_backend
from blerun.actors._validate import check_count, check_timeout
from blerun.actors._wiring import RuntimeParts, Supervision
from blerun.actors.errors import InvalidArgument, InvalidPolicy
from blerun.messages import Role, Strategy


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeOptions:
    """``Runtime(...)``'s arguments, checked (each bad one named) and frozen."""

    policy: ReconnectPolicy
    backend: Backend | None
    clock: Clock | None
    metrics: Metrics
    faults: FaultPlan | None
    seed: int | None
    default_timeout: float
    disconnect_timeout: float
    close_timeout: float
    rules: Supervision
    callback_threads: int
    callback_backlog: int
    hosts: HostPolicy | None
    """The host policy in process mode; ``None`` in-process."""

    @classmethod
    def check(cls, **given: Any) -> RuntimeOptions:
        """Raises ``UsageError`` subclasses naming the argument that is wrong."""
        loop = given["loop"]
        if loop is not None and not isinstance(loop, asyncio.AbstractEventLoop):
            raise InvalidArgument("loop", "an asyncio event loop or None", loop)
        check_backend(given["backend"])
        # Protocols, checked by their methods: a wrong object fails here, not on first use.
        for name, methods in (
            ("clock", ("now", "call_later")),
            ("metrics", ("increment", "observe")),
        ):
            value = given[name]
            if value is not None and not _has_methods(value, *methods):
                expected = f"a {name.capitalize()} ({'() and '.join(methods)}()) or None"
                raise InvalidArgument(name, expected, value)
        seed = given["seed"]
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise InvalidArgument("seed", "an int or None", seed)
        for name, kind, what in (
            ("policy", ReconnectPolicy, "a ReconnectPolicy or None"),
            ("faults", FaultPlan, "a FaultPlan or None"),
            ("hosts", HostPolicy, "a HostPolicy or None"),
        ):
            if given[name] is not None and not isinstance(given[name], kind):
                raise InvalidArgument(name, what, given[name])
        if not isinstance(given["strategy"], Strategy):
            raise InvalidArgument("strategy", "a Strategy", given["strategy"])
        radio = given["radio"]
        if radio not in ("inprocess", "process"):
            raise InvalidPolicy("Runtime.radio", "'inprocess' or 'process'", radio)
        intensity = check_count(given["restart_intensity"], name="Runtime.restart_intensity", low=0)
        rules = Supervision(
            strategy=given["strategy"],
            intensity=intensity,
            period=check_timeout(given["restart_period"], name="restart_period"),
        )
        return cls(
            policy=given["policy"] or ReconnectPolicy(),
            backend=given["backend"],
            clock=given["clock"],
            metrics=given["metrics"] or NoopMetrics(),
            faults=given["faults"],
            seed=given["seed"],
            default_timeout=check_timeout(given["default_timeout"], name="default_timeout"),
            disconnect_timeout=check_timeout(
                given["disconnect_timeout"], name="disconnect_timeout"
            ),
            close_timeout=check_timeout(given["close_timeout"], name="close_timeout"),
            rules=rules,
            callback_threads=check_count(
                given["callback_threads"], name="Runtime.callback_threads"
            ),
            callback_backlog=check_count(
                given["callback_backlog"], name="Runtime.callback_backlog"
            ),
            hosts=(given["hosts"] or HostPolicy()) if radio == "process" else None,
        )


def _has_methods(value: object, *names: str) -> bool:
    return all(callable(getattr(value, name, None)) for name in names)


def _count(given: dict[str, Any], name: str) -> int:
    return check_count(given[name], name=f"Runtime.{name}")


def assemble(
    options: RuntimeOptions, bridge: LoopBridge
) -> tuple[RuntimeParts, pykka.ActorRef[Any]]:
    """The runtime-wide parts (on the bridge's running loop) and its supervisor."""
    loop = bridge.loop
    clock = options.clock or LoopClock(loop)
    lanes = Lanes(
        workers=options.callback_threads, backlog=options.callback_backlog, metrics=options.metrics
    )
    router = Router(clock=clock, metrics=options.metrics, faults=options.faults, lanes=lanes)
    hosts = host_table(options.hosts, router, loop, options.metrics)
    supervisor = SupervisorActor.start(
        router=router,
        clock=clock,
        metrics=options.metrics,
        hosts=hosts,
        host_intensity=options.rules.intensity,
        host_period=options.rules.period,
    )
    router.slot_for(None, Role.SUPERVISOR).attach(supervisor)
    parts = RuntimeParts(
        router=router,
        clock=clock,
        metrics=options.metrics,
        bridge=bridge,
        lanes=lanes,
        loop=loop,
        hosts=hosts,
    )
    return parts, supervisor
