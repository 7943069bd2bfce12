"""The one error guard around user code (callbacks, decoders, policy hooks).

User code runs inside actors; an exception escaping it would kill the actor and, through
the supervisor, restart the device. The guard logs it with the traceback, counts it, and
lets delivery continue with the next message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from blerun.actors._metrics import Metrics

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


def guarded(
    fn: Callable[[T], R],
    arg: T,
    *,
    what: str,
    counter: str,
    device: str,
    metrics: Metrics,
) -> tuple[bool, R | None]:
    """Call ``fn(arg)``; on an exception log and count it. Returns (ok, result)."""
    try:
        return True, fn(arg)
    except Exception:
        metrics.increment(counter, tags={"device": device})
        log.exception("%s raised; delivery continues", what, extra={"device": device})
        return False, None
