"""The guarded state machine, as a hypothesis stateful test."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from blerun.actors import ConnectionState
from blerun.actors._state import ALLOWED, StateMachine, allowed
from blerun.messages import Reason
from blerun.testing import InMemoryMetrics

STATES = list(ConnectionState)


class MachineRules(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.metrics = InMemoryMetrics()
        self.machine = StateMachine("AA:BB:CC:DD:EE:FF", self.metrics)
        self.last_version = 0
        self.refused = 0
        self.old_versions: list[int] = []

    @rule(new=st.sampled_from(STATES), reason=st.sampled_from(list(Reason)))
    def transition(self, new: ConnectionState, reason: Reason) -> None:
        old, version = self.machine.state, self.machine.version
        event = self.machine.transition(new, reason)
        if new is old:
            assert event is None and self.machine.version == version
        elif allowed(old, new):
            assert event is not None
            assert (event.old, event.new, event.version) == (old, new, version + 1)
            self.old_versions.append(version)
        else:
            self.refused += 1
            assert event is None
            assert (self.machine.state, self.machine.version) == (old, version)

    @rule(data=st.data())
    def stale_completion_is_fenced(self, data: st.DataObject) -> None:
        if not self.old_versions:
            return
        stale = data.draw(st.sampled_from(self.old_versions))
        state, version = self.machine.state, self.machine.version
        assert not self.machine.is_current(stale)
        assert (self.machine.state, self.machine.version) == (state, version)

    @invariant()
    def versions_only_grow(self) -> None:
        assert self.machine.version >= self.last_version
        self.last_version = self.machine.version

    @invariant()
    def refusals_are_counted(self) -> None:
        assert self.machine.refused == self.refused
        assert self.metrics.count("state.refused_transitions") == self.refused

    @invariant()
    def closed_is_terminal(self) -> None:
        if self.machine.state is ConnectionState.CLOSED:
            assert not ALLOWED[ConnectionState.CLOSED]


TestStateMachine = MachineRules.TestCase


def test_every_state_can_close_and_closed_is_terminal() -> None:
    for state in STATES:
        if state is not ConnectionState.CLOSED:
            assert allowed(state, ConnectionState.CLOSED)
    assert not any(allowed(ConnectionState.CLOSED, s) for s in STATES)
