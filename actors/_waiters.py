"""One parking lot for every caller waiting on a device's state.

``connect()`` waits for CONNECTED, ``wait_connected()`` for CONNECTED, ``disconnect()``
for the link to be down, ``WaitForState`` for any set of states: each is one ``Parked``
entry, released by ``on_state`` when the device reaches one of its states, failed when the
device goes FAILED or CLOSED instead. Entries are plain values, so the whole lot passes to
a restarted RadioActor (and pickles, for a radio in another process).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from blerun.messages import ConnectionState

S = ConnectionState
_ENDINGS = frozenset({S.FAILED, S.CLOSED})

Answer = Callable[[int, object, BaseException | None], None]
"""How a parked caller is answered: ``(request_id, value, error)``."""


@dataclasses.dataclass(frozen=True, slots=True)
class Parked:
    """One waiting caller."""

    request_id: int
    until: frozenset[ConnectionState]
    """Reaching any of these answers it with the state; FAILED/CLOSED fail it otherwise."""


@dataclasses.dataclass(frozen=True, slots=True)
class LotStats:
    parked: int
    released: int
    failed: int


class ParkingLot:
    """Callers parked until a state; see the module docstring."""

    def __init__(self, answer: Answer, parked: tuple[Parked, ...] = ()) -> None:
        self._answer = answer
        self._parked: list[Parked] = list(parked)
        self._released = 0
        self._failed = 0

    def park(self, request_id: int, until: frozenset[ConnectionState]) -> None:
        self._parked.append(Parked(request_id, until))

    def forget_gone(self, still_waiting: Callable[[int], bool]) -> None:
        """Drop callers that stopped waiting (timed out), so a poller does not grow the lot."""
        self._parked = [p for p in self._parked if still_waiting(p.request_id)]

    def on_state(self, state: ConnectionState, error: Callable[[], BaseException]) -> None:
        """The device reached ``state``: answer who waited for it, fail who never will."""
        keep: list[Parked] = []
        for parked in self._parked:
            if state in parked.until:
                self._released += 1
                self._answer(parked.request_id, state, None)
            elif state in _ENDINGS:
                self._failed += 1
                self._answer(parked.request_id, None, error())
            else:
                keep.append(parked)
        self._parked = keep

    def fail_all(
        self, error: BaseException, *, where: frozenset[ConnectionState] | None = None
    ) -> None:
        """Fail every caller (or those waiting for one of ``where``)."""
        keep: list[Parked] = []
        for parked in self._parked:
            if where is None or parked.until & where:
                self._failed += 1
                self._answer(parked.request_id, None, error)
            else:
                keep.append(parked)
        self._parked = keep

    def snapshot(self) -> tuple[Parked, ...]:
        """Every parked caller, for a successor."""
        return tuple(self._parked)

    def clear(self) -> None:
        self._parked = []

    def __len__(self) -> int:
        return len(self._parked)

    def statistics(self) -> LotStats:
        return LotStats(parked=len(self._parked), released=self._released, failed=self._failed)
