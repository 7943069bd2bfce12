"""How the runtime supervises its radio host processes, and what it reports of them."""

from __future__ import annotations

import dataclasses

from blerun.actors.errors import InvalidPolicy
from blerun.messages.host import Pong


def _finite_seconds(value: object) -> bool:
    """Whether ``value`` is a finite number of seconds > 0 (an infinite bound never fires)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return 0 < value < float("inf")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HostPolicy:
    """How the runtime supervises its radio host processes (``Runtime(radio="process")``).

    Args:
        heartbeat: Seconds between two pings to each host.
        hang_timeout: A host that has not answered for this long is wedged: killed and
            started again (its devices reconnect from their wishes).
        shutdown_timeout: After ``terminate()``, seconds before ``kill()``.
        recycle_after: Restart a host after this many seconds of uptime (``None``: never).
        max_rss: Restart a host whose resident memory passes this many bytes.
        max_fds: Restart a host with more open file descriptors than this.

    Recycling waits for a moment with nothing in flight on the host.
    """

    heartbeat: float = 0.5
    hang_timeout: float = 3.0
    shutdown_timeout: float = 1.0
    recycle_after: float | None = None
    max_rss: int | None = None
    max_fds: int | None = None

    def __post_init__(self) -> None:
        for name in ("heartbeat", "hang_timeout", "shutdown_timeout"):
            if not _finite_seconds(getattr(self, name)):
                raise InvalidPolicy(
                    f"HostPolicy.{name}", "a finite number of seconds > 0", getattr(self, name)
                )
        if self.hang_timeout <= self.heartbeat:
            raise InvalidPolicy(
                "HostPolicy.hang_timeout", f"> heartbeat ({self.heartbeat:g})", self.hang_timeout
            )
        if self.recycle_after is not None and not _finite_seconds(self.recycle_after):
            raise InvalidPolicy(
                "HostPolicy.recycle_after", "None or seconds > 0", self.recycle_after
            )
        for name in ("max_rss", "max_fds"):
            value = getattr(self, name)
            # Counted limits are ints; a bool is an int to Python but never meant as one.
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise InvalidPolicy(f"HostPolicy.{name}", "None or an int > 0", value)

    def recycle_reason(self, uptime: float, pong: Pong) -> str | None:
        """Why a host should be recycled now, or ``None``."""
        if self.recycle_after is not None and uptime > self.recycle_after:
            return f"uptime {uptime:.0f} s > {self.recycle_after:g} s"
        if self.max_rss is not None and pong.rss > self.max_rss:
            return f"RSS {pong.rss} B > {self.max_rss} B"
        if self.max_fds is not None and pong.fds > self.max_fds:
            return f"{pong.fds} open descriptors > {self.max_fds}"
        return None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HostInfo:
    """One radio host process, as ``Runtime.hosts()`` reports it."""

    key: str
    """The radio (adapter) it serves."""
    incarnation: int
    """How many times a host was started for this key (restarts and recycles count)."""
    pid: int | None
    """Its process id."""
    uptime: float
    """Seconds since it was started."""
    rss: int
    """Resident memory at its last heartbeat, bytes (-1: not known yet)."""
    fds: int
    """Open file descriptors at its last heartbeat (-1: not known)."""
