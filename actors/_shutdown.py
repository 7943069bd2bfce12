"""Bounded shutdown: stop children against one deadline, report what did not finish.

pykka's ``stop(block=True, timeout)`` waits per actor and leaves the stop queued when it
times out; ``ActorRegistry.stop_all`` stops one at a time and gives up at the first
timeout. So the runtime sends every stop first, without blocking, then waits for all of
them against one deadline, and reports what did not stop instead of waiting longer.
"""

from __future__ import annotations

import contextlib

import pykka

from blerun.actors._clock import monotonic
from blerun.actors._router import Router
from blerun.actors._supervisor import Stopping
from blerun.messages import Close, Role


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
