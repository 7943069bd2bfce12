"""The supervisor's radio hosts: one per radio (adapter), started, replaced, reaped."""

from __future__ import annotations

import threading
from typing import Any

from blerun.actors._clock import LoopClock, monotonic
from blerun.actors._host_policy import HostInfo, HostPolicy
from blerun.actors._hosts import HostParts, RadioHost
from blerun.actors._metrics import Metrics
from blerun.actors._router import Router
from blerun.actors.errors import InvalidPolicy, RuntimeClosed
from blerun.messages import HostDown, HostRecycle, Role


class HostTable:
    """The supervisor's radio hosts, one per key (a radio, or adapter)."""

    def __init__(self, *, policy: HostPolicy, parts: HostParts) -> None:
        self.policy = policy
        self._parts = parts
        self._hosts: dict[str, RadioHost] = {}
        self._incarnations: dict[str, int] = {}
        self.retired: list[RadioHost] = []
        """Replaced hosts not reaped yet (joined at close)."""

    def host(self, key: str) -> RadioHost:
        """The host serving ``key``, started if there is none.

        Raises:
            RuntimeClosed: the interpreter is exiting (its main thread has ended): no new
                process is started then.
        """
        host = self._hosts.get(key)
        if host is None:
            if not threading.main_thread().is_alive():
                raise RuntimeClosed("the process is exiting; no radio host is started")
            incarnation = self._incarnations.get(key, 0) + 1
            self._incarnations[key] = incarnation
            host = RadioHost(
                key=key, incarnation=incarnation, policy=self.policy, parts=self._parts
            )
            self._hosts[key] = host
            self._parts.router.on_forget.append(host.forget)
        return host

    def current(self, key: str, incarnation: int) -> RadioHost | None:
        host = self._hosts.get(key)
        return host if host is not None and host.incarnation == incarnation else None

    def drop(self, key: str) -> RadioHost | None:
        """Forget the current host of ``key`` (it is gone or being killed)."""
        host = self._hosts.pop(key, None)
        if host is not None:
            if host.forget in self._parts.router.on_forget:
                self._parts.router.on_forget.remove(host.forget)
            self.retired.append(host)
        return host

    def recycle(self, key: str) -> RadioHost | None:
        """Retire the current host of ``key`` and start its successor now (it imports while
        the old one tears its links down). Returns the retiring one."""
        old = self.drop(key)
        if old is not None:
            old.retire(self.policy.shutdown_timeout)
            self.host(key)
        return old

    def info(self) -> tuple[HostInfo, ...]:
        """What each current host looks like now."""
        return tuple(host.info() for host in list(self._hosts.values()))

    def fault(self, how: str, key: str | None) -> int | None:
        """Make the host of ``key`` (default: the first) fail as ``how`` says; its pid."""
        if how not in ("kill", "freeze", "wedge"):
            raise InvalidPolicy("how", "'kill', 'freeze' or 'wedge'", how)
        host = self._hosts.get(key) if key is not None else next(iter(self._hosts.values()), None)
        if host is None:
            return None
        host.signal(how)
        return host.process.pid

    def close(self, deadline: float) -> list[str]:
        """Retire every host, and reap every process by ``deadline``; returns the ones
        that would not go."""
        hosts = [*self._hosts.values(), *self.retired]
        for host in self._hosts.values():
            host.retire(max(0.0, 0.5 * (deadline - monotonic())))
        stuck = [f"host:{h.key}#{h.incarnation}" for h in hosts if not h.join(deadline)]
        self._hosts.clear()
        self.retired.clear()
        return stuck


def host_table(
    policy: HostPolicy | None, router: Router, loop: Any, metrics: Metrics
) -> HostTable | None:
    """The host table of a runtime in process mode (``None`` in-process)."""
    if policy is None:
        return None
    supervisor = router.slot_for(None, Role.SUPERVISOR)

    def down(host: str, incarnation: int, reason: str) -> None:
        supervisor.tell(HostDown(host=host, incarnation=incarnation, reason=reason))

    def recycle(host: str, incarnation: int, why: str) -> None:
        supervisor.tell(HostRecycle(host=host, incarnation=incarnation, why=why))

    parts = HostParts(
        router=router,
        clock=LoopClock(loop),  # liveness is real time, whatever clock the devices use
        metrics=metrics,
        loop=loop,
        on_down=down,
        on_recycle=recycle,
    )
    return HostTable(policy=policy, parts=parts)
