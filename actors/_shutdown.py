"""Bounded shutdown: stop children against one deadline, report what did not finish.

pykka's ``stop(block=True, timeout)`` waits per actor and leaves the stop queued when it
times out; ``ActorRegistry.stop_all`` stops one at a time and gives up at the first
timeout. So the runtime sends every stop first, without blocking, then waits for all of
them against one deadline, and reports what did not stop instead of waiting longer.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from typing import Any

import pykka

from blerun.actors._clock import monotonic
from blerun.actors._loop import LoopBridge
from blerun.actors._loop_actor import abandon_actors_of
from blerun.actors._router import Router
from blerun.actors._supervisor import Stopping
from blerun.actors._values import CloseReport
from blerun.actors._wiring import RuntimeParts
from blerun.actors.errors import RuntimeClosed
from blerun.messages import Close, DeviceId, Role, Shutdown, StopGroup


def shut_down(
    *,
    parts: RuntimeParts | None,
    supervisor: pykka.ActorRef[Any] | None,
    bridge: LoopBridge,
    started_at: float,
    deadline: float,
) -> CloseReport:
    """Close a runtime by ``deadline``: actors, callbacks, link teardowns, the loop.

    On the runtime's own loop thread nothing can be waited for (the actors need that
    thread): everything is asked to stop, and what has not is reported.
    """
    failed_before = bridge.teardowns_failed
    unjoined: list[str] = []
    pending_teardowns = 0
    on_loop = bridge.in_loop_thread()
    if parts is not None and supervisor is not None:
        router = parts.router
        router.closed = True
        # Waiting on the actors may take the whole bound (a radio in a frozen host never
        # answers): a slice is kept for what follows, so killing the hosts and joining our
        # own callback threads is not starved by something outside this process.
        reserve = min(0.1, 0.2 * max(0.0, deadline - monotonic()))
        unjoined = _stop_actors(router, supervisor, deadline - reserve, wait=not on_loop)
        if parts.hosts is not None:  # no radio host process outlives close()
            unjoined += parts.hosts.close(deadline - reserve / 2)
        router.fail_pending(RuntimeClosed("the runtime is closed"))
        unjoined += parts.lanes.close(deadline - reserve / 4)
        if not on_loop:  # the teardowns get what is left up to the slice the loop needs
            pending_teardowns = _drain(bridge, deadline - reserve, failed_before)
    if not bridge.close(max(0.0, deadline - monotonic())):
        unjoined.append("loop")
    # The owned loop is stopped: an actor that did not get to its stop never will.
    if bridge.owns_loop and parts is not None and abandon_actors_of(parts.loop) and not unjoined:
        unjoined.append("loop")
    return CloseReport(
        clean=not unjoined and not pending_teardowns,
        unjoined=tuple(unjoined),
        pending_teardowns=pending_teardowns,
        elapsed=monotonic() - started_at,
    )


def _stop_actors(
    router: Router, supervisor: pykka.ActorRef[Any], deadline: float, *, wait: bool
) -> list[str]:
    request_id, future = router.request()
    router.slot_for(None, Role.SUPERVISOR).tell(Shutdown(request_id=request_id))
    stoppings: list[Stopping] = []
    unjoined: list[str] = []
    try:
        result = future.result(max(0.0, deadline - monotonic()))
        assert isinstance(result, list)
        stoppings = result
    except concurrent.futures.TimeoutError:
        unjoined.append("supervisor")
    unjoined += stop_children(stoppings, router, deadline, wait=wait)
    for device in {s.device for s in stoppings}:
        router.forget_group(device, RuntimeClosed("the runtime is closed"))
    stop = supervisor.stop(block=False)
    try:
        stop.get(timeout=max(0.0, deadline - monotonic()))
    except pykka.Timeout:
        if "supervisor" not in unjoined:
            unjoined.append("supervisor")
    return unjoined


def _drain(bridge: LoopBridge, deadline: float, failed_before: int) -> int:
    """Give the link teardowns what is left of the bound; returns how many did not end
    cleanly (still running, or gave up since close began)."""
    remaining = max(0.0, deadline - monotonic())
    done: concurrent.futures.Future[int] = concurrent.futures.Future()

    def copy(source: concurrent.futures.Future[int]) -> None:
        if source.cancelled():
            done.cancel()
        elif (error := source.exception()) is not None:
            done.set_exception(error)
        else:
            done.set_result(source.result())

    bridge.submit(lambda: bridge.drain(remaining, failed_before), copy)
    try:
        return done.result(remaining + 0.05)
    except (concurrent.futures.TimeoutError, RuntimeClosed, concurrent.futures.CancelledError):
        return 1


def stop_children(
    stoppings: list[Stopping], router: Router, deadline: float, *, wait: bool = True
) -> list[str]:
    """Close each radio (its CLOSED reaches the listeners), stop every child, join them.

    Returns the children that did not stop by ``deadline`` ("AA:..#1/radio"). With
    ``wait=False`` (called on the loop those actors run on) nothing is joined.
    """
    for stopping in stoppings:
        if stopping.role is Role.RADIO:
            router.slot_for(stopping.device, Role.RADIO).tell(Close(request_id=None))
    pending = []
    for stopping in stoppings:
        router.slot_for(stopping.device, stopping.role).detach(stopping.ref)
        with contextlib.suppress(pykka.ActorDeadError):
            pending.append((stopping, stopping.ref.stop(block=False)))
    unjoined: list[str] = []
    for stopping, future in pending:
        name = f"{stopping.device}/{stopping.role.value}"
        if not wait:
            if stopping.ref.is_alive():
                unjoined.append(name)
            continue
        remaining = min(deadline - monotonic(), stopping.timeout)
        try:
            future.get(timeout=max(0.0, remaining))
        except pykka.Timeout:
            unjoined.append(name)
        except pykka.ActorDeadError:
            pass
    return unjoined


def remove_group(
    device: DeviceId, router: Router, bridge: LoopBridge, deadline: float
) -> list[str]:
    """Stop one device group by ``deadline`` (its listeners hear CLOSED); never raises.

    Returns what did not stop in time.
    """
    request_id, future = router.request()
    router.slot_for(None, Role.SUPERVISOR).tell(StopGroup(request_id=request_id, device=device))
    try:
        stoppings = future.result(max(0.0, deadline - monotonic()))
    except (concurrent.futures.TimeoutError, RuntimeClosed):
        router.forget(request_id)
        return ["supervisor"]
    assert isinstance(stoppings, list)
    unjoined = stop_children(stoppings, router, deadline, wait=not bridge.in_loop_thread())
    router.forget_group(device, RuntimeClosed(f"device {device.address} was removed"))
    return unjoined
