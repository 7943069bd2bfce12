"""The metrics hook: a small protocol (counters and observations with tags).

The runtime counts at least: connection attempts, successes, give-ups, stale
completions, refused transitions, callback errors, decode errors, notifications
(delivered, stale, out of order). Plug any backend (Prometheus, StatsD, OpenTelemetry)
by implementing the two methods; they are called from actor threads and must not block.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import Protocol

Tags = Mapping[str, str]


class Metrics(Protocol):
    """Where the runtime reports what it counts and measures."""

    def increment(self, name: str, value: int = 1, *, tags: Tags | None = None) -> None:
        """Add ``value`` to counter ``name``."""

    def observe(self, name: str, value: float, *, tags: Tags | None = None) -> None:
        """Record one observation (a delay, a latency) of ``name``."""


class NoopMetrics:
    """The default: counts nothing, costs one call."""

    def increment(self, name: str, value: int = 1, *, tags: Tags | None = None) -> None:
        pass

    def observe(self, name: str, value: float, *, tags: Tags | None = None) -> None:
        pass


def _key(name: str, tags: Tags | None) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted((tags or {}).items()))


class InMemoryMetrics:
    """Keeps every counter and observation in memory; for tests and small dashboards."""

    def __init__(self) -> None:
        self._counters: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self._observations: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}
        # Every actor thread reports here; this sink is shared, not actor state. A
        # condition (not a bare lock) lets tests wait for a count instead of sleeping.
        self._lock = threading.Condition()

    def increment(self, name: str, value: int = 1, *, tags: Tags | None = None) -> None:
        with self._lock:
            self._counters[_key(name, tags)] += value
            self._lock.notify_all()

    def observe(self, name: str, value: float, *, tags: Tags | None = None) -> None:
        with self._lock:
            self._observations.setdefault(_key(name, tags), []).append(value)

    def count(self, name: str, **tags: str) -> int:
        """The counter's total over every tag set that includes ``tags``."""
        with self._lock:
            return self._total(name, tags)

    def _total(self, name: str, tags: dict[str, str]) -> int:
        return sum(
            v for (n, t), v in self._counters.items() if n == name and set(tags.items()) <= set(t)
        )

    def wait_count(self, name: str, at_least: int, *, timeout: float = 5.0, **tags: str) -> int:
        """Block until counter ``name`` reaches ``at_least``; returns it.

        Raises:
            TimeoutError: it did not within ``timeout`` seconds.
        """
        with self._lock:
            if not self._lock.wait_for(lambda: self._total(name, tags) >= at_least, timeout):
                raise TimeoutError(f"{name}{tags} stayed at {self._total(name, tags)} < {at_least}")
            return self._total(name, tags)

    def observations(self, name: str, **tags: str) -> list[float]:
        """Every value observed for ``name`` under tag sets that include ``tags``."""
        with self._lock:
            return [
                v
                for (n, t), values in self._observations.items()
                if n == name and set(tags.items()) <= set(t)
                for v in values
            ]
