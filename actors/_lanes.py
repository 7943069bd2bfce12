"""Callback lanes: where user code runs, one device at a time, never on the loop.

Every callback a user hands blerun (subscriber callbacks, decoders, state listeners,
policy hooks) runs on its device's lane. A lane is a queue of jobs run one at a time, in
order, by a small shared pool of worker threads: so a device's callbacks never overlap
and see its events in order, a slow callback holds one worker (the other devices keep
being served by the others), and devices cost no threads of their own.

A lane's backlog of notifications is bounded: past ``backlog`` waiting notifications the
oldest is dropped and counted (``notifications_overflow``), so a callback slower than the
stream costs a bounded amount of memory. State events and hooks are never dropped.

Jobs are small tuples, and the error guard formats nothing unless a callback raised: this
is the hot path of every notification.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from blerun.actors._clock import monotonic
from blerun.actors._metrics import Metrics
from blerun.actors._values import UNDECODABLE, DeliveryStats, Notification
from blerun.messages import RawNotification, StateChanged, Subscribe

log = logging.getLogger(__name__)

_NOTE, _EVENT, _CALL = 0, 1, 2
_RUN_BUDGET = 256
"""Jobs a worker runs from one lane before it lets other lanes go first."""

Job = tuple[int, Any, Any]
_local = threading.local()


def running_lane() -> str | None:
    """The key of the lane the calling thread is running a callback for, if any."""
    return getattr(_local, "lane", None)


class Lane:
    """One device's queue of user-code jobs; see the module docstring."""

    __slots__ = (
        "_backlog",
        "_jobs",
        "_lock",
        "_notes",
        "_pool",
        "_scheduled",
        "address",
        "callback_errors",
        "decode_errors",
        "delivered",
        "key",
        "overflow",
        "streamed",
    )

    def __init__(self, pool: Lanes, key: str, address: str, backlog: int) -> None:
        self._pool = pool
        self.key = key
        self.address = address
        self._backlog = backlog
        self._jobs: collections.deque[Job] = collections.deque()
        self._notes = 0  # notification jobs in _jobs
        self._scheduled = False
        # The loop thread adds jobs while a worker takes them; the lock makes "append, and
        # schedule unless scheduled" atomic against "take, and unschedule when empty".
        self._lock = threading.Lock()
        self.delivered = 0
        self.callback_errors = 0
        self.decode_errors = 0
        self.overflow = 0
        self.streamed = 0  # handed to async streams by the NotificationActor (loop thread)

    # --- producers (any thread) --------------------------------------------------------

    def notifications(self, pairs: Sequence[tuple[Subscribe, RawNotification]]) -> None:
        """Deliver each raw notification to its subscriber's callback, in order."""
        jobs = [(_NOTE, sub, raw) for sub, raw in pairs]
        with self._lock:
            self._jobs.extend(jobs)
            self._notes += len(jobs)
            if self._notes > self._backlog:
                self._shed()
            schedule = not self._scheduled
            self._scheduled = True
        if schedule:
            self._pool.ready(self)

    def count_streamed(self, n: int) -> None:
        """Notifications delivered to async streams (they do not run on the lane)."""
        self.streamed += n

    def events(
        self, listeners: Iterable[Callable[[StateChanged], None]], event: StateChanged
    ) -> None:
        """Call each listener with ``event``; never dropped."""
        self._add([(_EVENT, listener, event) for listener in listeners])

    def call(self, fn: Callable[[Any], None], arg: object) -> None:
        """Call ``fn(arg)`` (a policy hook); never dropped."""
        self._add([(_CALL, fn, arg)])

    def _add(self, jobs: list[Job]) -> None:
        with self._lock:
            self._jobs.extend(jobs)
            schedule = not self._scheduled
            self._scheduled = True
        if schedule:
            self._pool.ready(self)

    def _shed(self) -> None:
        # Drop the oldest notifications until the backlog fits; events stay.
        keep: collections.deque[Job] = collections.deque()
        excess = self._notes - self._backlog
        while excess and self._jobs:
            job = self._jobs.popleft()
            if job[0] == _NOTE:
                excess -= 1
                self._notes -= 1
                self.overflow += 1
            else:
                keep.append(job)
        keep.extend(self._jobs)
        self._jobs = keep

    # --- the worker side ----------------------------------------------------------------

    def run(self) -> None:
        """On a worker: run up to a budget of jobs; reschedule if more are left."""
        with self._lock:
            count = min(len(self._jobs), _RUN_BUDGET)
            jobs = [self._jobs.popleft() for _ in range(count)]
            self._notes -= sum(1 for job in jobs if job[0] == _NOTE)
        _local.lane = self.key
        delivered = 0
        try:
            for kind, fn, arg in jobs:
                if kind == _NOTE:
                    delivered += self._deliver(fn, arg)
                else:
                    self._call(fn, arg, "on_state_change callback" if kind == _EVENT else "hook")
        finally:
            _local.lane = None
            self.delivered += delivered
        if delivered:
            self._pool.metrics.increment(
                "notifications.delivered", delivered, tags={"device": self.address}
            )
        with self._lock:
            if self._jobs:
                again = True
            else:
                self._scheduled = again = False
        if again:
            self._pool.ready(self)
        else:
            self._pool.went_idle()

    def _deliver(self, sub: Subscribe, raw: RawNotification) -> int:
        if sub.cancelled.is_set():
            return 0
        value: Any = raw.data
        if sub.decode is not None:
            try:
                value = sub.decode(raw.data)
            except Exception:  # noqa: BLE001 -- the guard around user code: log, count, go on
                self.decode_errors += 1
                self._report("decoder for %s", raw.uuid, "notifications.decode_errors")
                if sub.skip_undecodable:
                    return 0
                value = UNDECODABLE
        note = Notification(
            self.address, raw.uuid, raw.data, value, raw.seq, raw.received_at, raw.session
        )
        try:
            sub.callback(note)
        except Exception:  # noqa: BLE001 -- the guard around user code: log, count, go on
            self.callback_errors += 1
            self._report("notification callback for %s", raw.uuid, "callbacks.errors")
        return 1

    def _call(self, fn: Callable[[Any], None], arg: object, what: str) -> None:
        try:
            fn(arg)
        except Exception:  # noqa: BLE001 -- the guard around user code: log, count, go on
            self.callback_errors += 1
            self._report("%s", what, "callbacks.errors")

    def _report(self, what: str, detail: str, counter: str) -> None:
        self._pool.metrics.increment(counter, tags={"device": self.address})
        log.exception(what + " raised; delivery continues", detail, extra={"device": self.address})

    def statistics(self) -> DeliveryStats:
        return DeliveryStats(
            notifications_delivered=self.delivered + self.streamed,
            callback_errors=self.callback_errors,
            decode_errors=self.decode_errors,
            notifications_overflow=self.overflow,
            callback_backlog=len(self._jobs),
        )

    def idle(self) -> bool:
        return not self._scheduled


class Lanes:
    """The lanes of one runtime and the worker threads that run them."""

    def __init__(self, *, workers: int, backlog: int, metrics: Metrics) -> None:
        self._max_workers = workers
        self._backlog = backlog
        self.metrics = metrics
        self._lanes: dict[str, Lane] = {}
        self._ready: queue.SimpleQueue[Lane | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._lock = threading.Lock()  # guards lane creation, worker start and the counts
        self._idle = threading.Condition(self._lock)  # close() waits on it for lanes to empty
        self._closing = False
        self._closed = False

    def lane(self, key: str, address: str | None = None) -> Lane:
        lane = self._lanes.get(key)
        if lane is None:
            with self._lock:
                lane = self._lanes.setdefault(
                    key, Lane(self, key, address or key.split("#", maxsplit=1)[0], self._backlog)
                )
        return lane

    def drop(self, key: str) -> None:
        """Forget a lane once its device is gone (jobs already queued still run)."""
        self._lanes.pop(key, None)

    def ready(self, lane: Lane) -> None:
        if self._closed:
            return
        if self._busy >= len(self._threads) and len(self._threads) < self._max_workers:
            self._start_worker()  # every worker is running a lane: add one (up to the max)
        self._ready.put(lane)

    def _start_worker(self) -> None:
        with self._lock:
            if self._closed or len(self._threads) >= self._max_workers:
                return
            worker = threading.Thread(
                target=self._work, name=f"blerun-callbacks-{len(self._threads)}", daemon=True
            )
            self._threads.append(worker)
        worker.start()

    def _work(self) -> None:
        while True:
            lane = self._ready.get()
            if lane is None:
                return
            # Only read to decide whether to start another worker: an off-by-one there
            # costs nothing, a lock per run costs every notification.
            self._busy += 1
            try:
                lane.run()
            finally:
                self._busy -= 1

    def went_idle(self) -> None:
        if self._closing:  # only close() waits for lanes to go idle
            with self._idle:
                self._idle.notify_all()

    def busy_lanes(self) -> list[str]:
        """Lanes with callbacks queued or running."""
        return [key for key, lane in list(self._lanes.items()) if not lane.idle()]

    def close(self, deadline: float) -> list[str]:
        """Let queued callbacks finish until ``deadline``, then stop the workers.

        Returns the lanes still busy (a callback that did not return in time: its worker
        is a daemon and is left behind, not waited for). Called from a callback itself,
        the caller's own lane is not waited for.
        """
        mine = running_lane()
        self._closing = True

        def others_busy() -> list[str]:
            return [key for key in self.busy_lanes() if key != mine]

        with self._idle:
            self._idle.wait_for(lambda: not others_busy(), max(0.0, deadline - monotonic()))
            busy = others_busy()
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._ready.put(None)
        current = threading.current_thread()
        for thread in threads:
            if thread is not current:
                thread.join(max(0.0, deadline - monotonic()))
        stuck = [t.name for t in threads if t.is_alive() and t is not current]
        return busy if busy else (["callbacks"] if stuck else [])
