"""ReconnectPolicy: bounds, determinism, jitter statistics, validation."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blerun.actors import Jitter, ReconnectPolicy
from blerun.actors.errors import DeviceNotFound, InvalidPolicy

jitters = st.one_of(st.sampled_from(list(Jitter)), st.floats(0.0, 1.0))


@st.composite
def policies(draw: st.DrawFn) -> ReconnectPolicy:
    cap = draw(st.floats(0.001, 3600.0))
    initial = draw(st.floats(0.0, cap))
    return ReconnectPolicy(
        initial=initial,
        multiplier=draw(st.floats(1.0, 10.0)),
        cap=cap,
        jitter=draw(jitters),
        min_delay=draw(st.floats(0.0, cap)),
    )


@given(policies(), st.integers(1, 10_000), st.integers(0, 2**32))
def test_delays_stay_within_min_and_cap(policy: ReconnectPolicy, attempt: int, seed: int) -> None:
    delay = policy.delay(attempt, random.Random(seed))
    assert policy.min_delay <= delay <= policy.cap
    assert math.isfinite(delay)


@given(policies(), st.integers(0, 2**32))
def test_same_seed_same_delays(policy: ReconnectPolicy, seed: int) -> None:
    first = [policy.delay(a, random.Random(seed)) for a in range(1, 30)]
    again = [policy.delay(a, random.Random(seed)) for a in range(1, 30)]
    assert first == again


def test_base_delay_grows_then_caps() -> None:
    policy = ReconnectPolicy(initial=1.0, multiplier=2.0, cap=30.0, jitter=Jitter.NONE)
    rng = random.Random(0)
    assert [policy.delay(a, rng) for a in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert policy.delay(100_000, rng) == 30.0  # no overflow on a week-long outage


@pytest.mark.parametrize("attempt", [1, 3, 10])
def test_full_jitter_mean_is_half_the_capped_delay(attempt: int) -> None:
    policy = ReconnectPolicy(initial=1.0, multiplier=2.0, cap=30.0, jitter=Jitter.FULL)
    rng = random.Random(42)
    samples = [policy.delay(attempt, rng) for _ in range(20_000)]
    expected = policy.base_delay(attempt) / 2
    assert statistics.fmean(samples) == pytest.approx(expected, rel=0.03)
    assert min(samples) >= 0.0 and max(samples) <= policy.base_delay(attempt)


def test_equal_jitter_stays_in_upper_half() -> None:
    policy = ReconnectPolicy(initial=4.0, cap=4.0, jitter=Jitter.EQUAL)
    rng = random.Random(1)
    samples = [policy.delay(1, rng) for _ in range(5_000)]
    assert min(samples) >= 2.0 and max(samples) <= 4.0
    assert statistics.fmean(samples) == pytest.approx(3.0, rel=0.03)


def test_symmetric_fraction_is_clamped_to_the_cap() -> None:
    policy = ReconnectPolicy(initial=10.0, cap=10.0, jitter=0.5)
    rng = random.Random(3)
    samples = [policy.delay(5, rng) for _ in range(5_000)]
    assert max(samples) <= 10.0
    assert min(samples) >= 5.0


def test_floor_per_error_class() -> None:
    policy = ReconnectPolicy(
        initial=0.1, cap=30.0, jitter=Jitter.NONE, min_delay_for={DeviceNotFound: 10.0}
    )
    rng = random.Random(0)
    assert policy.delay_after(1, rng, DeviceNotFound("gone", address=None)) == 10.0
    assert policy.delay_after(1, rng, TimeoutError()) == pytest.approx(0.1)
    assert policy.delay_after(1, rng, None) == pytest.approx(0.1)


def test_max_attempts_counts_reconnections() -> None:
    assert not ReconnectPolicy(max_attempts=3).exhausted(3)
    assert ReconnectPolicy(max_attempts=3).exhausted(4)
    assert ReconnectPolicy(max_attempts=0).exhausted(1)
    assert not ReconnectPolicy(max_attempts=None).exhausted(10**9)


def test_defaults_match_the_documented_ones() -> None:
    policy = ReconnectPolicy()
    assert (policy.initial, policy.multiplier, policy.cap) == (1.0, 2.0, 30.0)
    assert policy.jitter == 0.2 and policy.max_attempts is None
    assert policy.stable_window == 60.0


@pytest.mark.parametrize(
    ("kwargs", "field", "bound"),
    [
        ({"initial": -1.0}, "initial", ">= 0"),
        ({"initial": math.nan}, "initial", ">= 0"),
        ({"multiplier": 0.5}, "multiplier", ">= 1"),
        ({"cap": 0.0}, "cap", "> 0"),
        ({"cap": math.inf}, "cap", "> 0"),
        ({"initial": 5.0, "cap": 1.0}, "cap", ">= initial"),
        ({"jitter": 1.5}, "jitter", "[0, 1]"),
        ({"jitter": True}, "jitter", "Jitter or a fraction"),
        ({"min_delay": 40.0}, "min_delay", "<= cap"),
        ({"max_attempts": -1}, "max_attempts", ">= 0"),
        ({"max_attempts": 2.5}, "max_attempts", "int"),
        ({"stable_window": 0.0}, "stable_window", "> 0"),
        ({"deadline": -3.0}, "deadline", "> 0"),
        ({"attempt_timeout": 0.0}, "attempt_timeout", "> 0"),
        ({"min_delay_for": {DeviceNotFound: 99.0}}, "min_delay_for[DeviceNotFound]", "<= cap"),
        ({"min_delay_for": {"nope": 1.0}}, "min_delay_for", "exception classes"),
    ],
)
def test_invalid_values_name_field_and_bound(
    kwargs: dict[str, object], field: str, bound: str
) -> None:
    with pytest.raises(InvalidPolicy) as info:
        ReconnectPolicy(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == f"ReconnectPolicy.{field}"
    assert bound in str(info.value)
    assert isinstance(info.value, ValueError)


def test_policy_is_frozen_and_copies_its_floor_map() -> None:
    floors: dict[type[BaseException], float] = {DeviceNotFound: 1.0}
    policy = ReconnectPolicy(min_delay_for=floors)
    floors[DeviceNotFound] = 29.0
    assert policy.min_delay_for[DeviceNotFound] == 1.0
    with pytest.raises(AttributeError):
        policy.initial = 3.0  # type: ignore[misc]
