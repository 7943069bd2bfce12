"""ReconnectActor: owns the attempt counter, the next-attempt timer and the reset criteria.

It learns the device's state from ``StateChanged`` events (each version once: a resync
or a duplicate changes nothing) and never sleeps: each delay is a Clock timer whose firing
tells the RadioActor ``ReconnectDue``. When the policy is spent it tells ``GiveUp``
instead. Counting rules are in ``_policy``'s docstring. Policy hooks are user code: they
run on the device's callback lane, never here.
"""

from __future__ import annotations

import logging
import random
import typing
from typing import assert_never

from blerun.actors._actor_base import DeviceActor, GroupContext
from blerun.actors._clock import Timer
from blerun.actors._policy import AttemptInfo, Hook, ReconnectPolicy
from blerun.actors._values import ReconnectStats
from blerun.messages import (
    ConnectionState,
    GetStats,
    GiveUp,
    IoSucceeded,
    Poison,
    Reason,
    ReconnectCommand,
    ReconnectDue,
    Role,
    StableWindowElapsed,
    StateChanged,
)

log = logging.getLogger(__name__)

S = ConnectionState


class ReconnectActor(DeviceActor):
    """One device's backoff; see the module docstring."""

    role = Role.RECONNECT
    accepts = typing.get_args(ReconnectCommand)

    def __init__(
        self, *, ctx: GroupContext, generation: int, policy: ReconnectPolicy, rng: random.Random
    ) -> None:
        super().__init__(ctx=ctx, generation=generation)
        self._policy = policy
        self._rng = rng
        self._radio = ctx.slot(Role.RADIO)
        self._me = ctx.slot(Role.RECONNECT)
        self._attempt = 0
        self._seen_version = 0
        self._connected_version: int | None = None
        self._deadline_at: float | None = None
        self._retry_timer: Timer | None = None
        self._stable_timer: Timer | None = None
        self._counts = {"scheduled": 0, "resets": 0, "give_ups": 0}

    def handle(self, msg: ReconnectCommand) -> None:
        match msg:
            case StateChanged():
                if msg.version > self._seen_version:  # duplicates and resyncs are seen once
                    self._seen_version = msg.version
                    self._on_state(msg)
            case StableWindowElapsed():
                if msg.version == self._connected_version:
                    self._reset("stable window elapsed")
            case IoSucceeded():
                if self._policy.reset_on_io and msg.version == self._connected_version:
                    self._reset("successful I/O")
            case GetStats() | Poison():
                pass  # answered by the prologue (DeviceActor.on_receive)
            case _:
                assert_never(msg)

    def _on_state(self, event: StateChanged) -> None:
        _cancel(self._retry_timer)
        self._retry_timer = None
        match event.new:
            case S.CONNECTING:
                if event.reason is Reason.USER_CONNECT:
                    self._attempt = 0
                    deadline = self._policy.deadline
                    now = self.ctx.clock.now()
                    self._deadline_at = None if deadline is None else now + deadline
            case S.CONNECTED:
                self._connected_version = event.version
                self._deadline_at = None
                self._hook(self._policy.on_success, event.attempt, 0.0, None)
                elapsed, me = StableWindowElapsed(version=event.version), self._me
                self._stable_timer = self.ctx.clock.call_later(
                    self._policy.stable_window,
                    lambda: me.tell(elapsed),
                    label="StableWindowElapsed",
                )
            case S.RECONNECTING:
                self._leave_connected()
                self._schedule(event)
            case S.DISCONNECTED | S.DISCONNECTING | S.FAILED | S.CLOSED:
                self._leave_connected()
                self._deadline_at = None
            case _:
                assert_never(event.new)

    def _leave_connected(self) -> None:
        self._connected_version = None
        _cancel(self._stable_timer)
        self._stable_timer = None

    def _schedule(self, event: StateChanged) -> None:
        self._attempt += 1
        attempt = self._attempt
        delay = self._policy.delay_after(attempt, self._rng, event.error)
        now = self.ctx.clock.now()
        past_deadline = self._deadline_at is not None and now + delay > self._deadline_at
        if self._policy.exhausted(attempt) or past_deadline:
            made = attempt - 1
            self._counts["give_ups"] += 1
            self.ctx.metrics.increment("connect.give_ups", tags=self.tags)
            log.warning(
                "%s: giving up after %d reconnection attempts%s",
                self.address,
                made,
                " (deadline)" if past_deadline else "",
                extra={"device": self.address, "attempt": made, "state_version": event.version},
            )
            self._hook(self._policy.on_give_up, made, 0.0, event.error)
            self._radio.tell(GiveUp(version=event.version, attempt=made, error=event.error))
            return
        self._counts["scheduled"] += 1
        self.ctx.metrics.observe("reconnect.delay", delay, tags=self.tags)
        log.info(
            "%s: reconnection attempt %d in %.3f s",
            self.address,
            attempt,
            delay,
            extra={
                "device": self.address,
                "attempt": attempt,
                "delay": delay,
                "state_version": event.version,
                "reason": event.reason.value,
            },
        )
        self._hook(self._policy.on_attempt, attempt, delay, event.error)
        due, radio = ReconnectDue(version=event.version, attempt=attempt, delay=delay), self._radio
        self._retry_timer = self.ctx.clock.call_later(
            delay, lambda: radio.tell(due), label="ReconnectDue"
        )

    def _reset(self, why: str) -> None:
        if self._attempt:
            self._counts["resets"] += 1
            log.debug(
                "%s: attempt counter reset (%s)", self.address, why, extra={"device": self.address}
            )
        self._attempt = 0

    def _hook(
        self, hook: Hook | None, attempt: int, delay: float, error: BaseException | None
    ) -> None:
        if hook is not None:
            info = AttemptInfo(address=self.address, attempt=attempt, delay=delay, error=error)
            self.ctx.lane.call(hook, info)

    def release(self, error: BaseException) -> None:
        _cancel(self._retry_timer)
        _cancel(self._stable_timer)

    def statistics(self) -> ReconnectStats:
        return ReconnectStats(
            reconnect_attempt=self._attempt,
            retries_scheduled=self._counts["scheduled"],
            counter_resets=self._counts["resets"],
            give_ups=self._counts["give_ups"],
        )


def _cancel(timer: Timer | None) -> None:
    if timer is not None:
        timer.cancel()
