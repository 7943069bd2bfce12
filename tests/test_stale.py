"""A stale completion never changes state: fuzz the RadioActor with late messages."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blerun.actors import ConnectionState, ReconnectPolicy, Runtime
from blerun.actors.errors import ConnectFailed
from blerun.messages import (
    AttemptDeadline,
    AttemptDone,
    DisconnectDone,
    GiveUp,
    LinkLost,
    OpDone,
    ReconnectDue,
    Role,
    StartNotify,
    StopNotify,
)

from helpers import Collector, settle
from scripted import HR_MEASUREMENT, ScriptedWorld, heart_rate


def stale_messages(version: int, link: int) -> st.SearchStrategy[object]:
    old = st.integers(0, version + 50).filter(lambda v: v != version)
    other_link = st.integers(0, version + 50).filter(lambda v: v != link)
    error = st.sampled_from([None, ConnectFailed("late", address=None)])
    return st.one_of(
        st.builds(
            AttemptDone, version=old, attempt=st.integers(0, 9), services=st.none(), error=error
        ),
        st.builds(AttemptDeadline, version=old),
        st.builds(LinkLost, link=other_link),
        st.builds(DisconnectDone, version=old),
        st.builds(ReconnectDue, version=old, attempt=st.integers(1, 9), delay=st.floats(0, 9)),
        st.builds(GiveUp, version=old, attempt=st.integers(0, 9), error=st.none()),
        st.builds(
            OpDone, op_id=st.integers(10_000, 20_000), version=old, value=st.none(), error=error
        ),
        st.builds(StartNotify, uuid=st.just(HR_MEASUREMENT), session=old),
        st.builds(StopNotify, uuid=st.just(HR_MEASUREMENT), session=old, request_id=st.none()),
    )


def test_stale_completions_change_nothing(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime(policy=ReconnectPolicy(initial=0.0, cap=0.01, jitter=0.0))
    dev = rt.device(peripheral.address)
    got = Collector()
    dev.subscribe(HR_MEASUREMENT, got)
    dev.connect(timeout=5)
    peripheral.wait_until(lambda p: HR_MEASUREMENT in p.handlers)
    version = dev.state_version
    link = version - 1  # the CONNECTING version whose attempt made the link
    before = dev.statistics()

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(stale_messages(version, link), max_size=25))
    def check(batch: list[object]) -> None:
        for message in batch:
            dev.tell(Role.RADIO, message)
        settle(dev)
        assert (dev.state, dev.state_version) == (ConnectionState.CONNECTED, version)
        assert world.run(lambda: list(peripheral.handlers)) == [HR_MEASUREMENT]

    check()
    after = dev.statistics()
    assert after.stale_completions > before.stale_completions
    assert after.refused_transitions == 0
    assert peripheral.start_notify_calls[HR_MEASUREMENT] == 1
    assert peripheral.connects == 1
    count = len(got.items)
    assert world.run(lambda: peripheral.notify(HR_MEASUREMENT, b"\x01"))
    assert got.wait_count(count + 1)[-1].data == b"\x01"
