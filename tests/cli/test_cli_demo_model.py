"""The demo's bookkeeping: what it counts from the runtime's events, and its verdict."""

from __future__ import annotations

from blerun.actors import ConnectionState, Reason, StateChanged
from blerun.cli._demo_model import DeviceResult, Kind, Model, Summary, percentile

S = ConnectionState
ADDRESS = "F0:00:00:00:00:01"


def changed(old: S, new: S, reason: Reason, version: int) -> StateChanged:
    # The one place this test builds the runtime's event.
    return StateChanged(
        address=ADDRESS, old=old, new=new, reason=reason, version=version, attempt=0
    )


def test_a_loss_and_its_recovery_count_once_even_when_announced_twice() -> None:
    model = Model()
    model.add("HR-1", ADDRESS, Kind.HEART_RATE)
    listener = model.state_listener(ADDRESS)

    listener(changed(S.DISCONNECTED, S.CONNECTING, Reason.USER_CONNECT, 1))
    listener(changed(S.CONNECTING, S.CONNECTED, Reason.CONNECTED, 2))
    listener(changed(S.CONNECTED, S.RECONNECTING, Reason.LINK_LOST, 3))
    listener(changed(S.CONNECTED, S.RECONNECTING, Reason.LINK_LOST, 3))  # a repeat
    listener(changed(S.RECONNECTING, S.CONNECTING, Reason.RETRY_DUE, 4))
    listener(changed(S.CONNECTING, S.CONNECTED, Reason.CONNECTED, 5))

    (row,) = model.rows()
    assert (row.state, row.version, row.drops, row.survived) == (S.CONNECTED, 5, 1, 1)
    assert len(model.reconnect_times) == 1
    assert model.repeated_events == 1
    texts = [model.events.get_nowait().text for _ in range(6)]
    assert texts[3].endswith("[repeated: version 3 was announced before]")


def _result(**changes: object) -> DeviceResult:
    fields: dict[str, object] = {
        "name": "HR-1", "address": ADDRESS, "kind": Kind.HEART_RATE, "sent": 10,
        "delivered": 10, "duplicates": 0, "survived": 1, "refused": 0, "reads_ok": 0,
        "reads_failed": 0, "writes_ok": 0, "writes_refused": 0, "writes_failed": 0,
        "connected": True,
    }  # fmt: skip
    fields.update(changes)
    return DeviceResult(**fields)  # type: ignore[arg-type]


def _summary(*devices: DeviceResult, clean: bool = True) -> Summary:
    return Summary(
        devices=devices,
        reconnect_times=(),
        restarts=0,
        repeated_events=0,
        close_seconds=0.01,
        close_clean=clean,
        seed=1,
        elapsed=1.0,
    )


def test_the_verdict_fails_on_each_kind_of_trouble() -> None:
    assert _summary(_result()).passed
    assert _summary(_result(delivered=9)).problems() == ["HR-1 lost 1 notifications"]
    assert _summary(_result(duplicates=2)).problems() == ["HR-1 delivered 2 duplicates"]
    assert not _summary(_result(reads_failed=1)).passed
    assert not _summary(_result(writes_failed=1)).passed
    assert not _summary(_result(connected=False)).passed
    assert not _summary(_result(), clean=False).passed
    # Writes refused while the link was down are not a loss: nothing was sent.
    assert _summary(_result(writes_refused=5)).passed


def test_percentile_is_nearest_rank() -> None:
    values = [0.05, 0.01, 0.04, 0.02, 0.03]
    assert percentile(values, 0.5) == 0.03
    assert percentile(values, 0.99) == 0.05
    assert percentile([], 0.5) is None
