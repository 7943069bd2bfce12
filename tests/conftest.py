"""Shared fixtures: every test must leave no thread, no actor and no process behind."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator

import pykka
import pytest

# A thread that is already finishing gets this long to be joined; nothing sleeps.
_JOIN_GRACE_S = 2.0


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leftover_actors = pykka.ActorRegistry.get_all()
    if leftover_actors:
        pykka.ActorRegistry.stop_all(block=True, timeout=_JOIN_GRACE_S)
    leaked = []
    for thread in threading.enumerate():
        if thread in before or thread is threading.current_thread():
            continue
        thread.join(_JOIN_GRACE_S)
        if thread.is_alive():
            leaked.append(thread.name)
    children = multiprocessing.active_children()  # also reaps the ones that ended
    for child in children:
        child.kill()
        child.join(_JOIN_GRACE_S)
    assert not leftover_actors, f"test left actors running: {leftover_actors}"
    assert not leaked, f"test left threads running: {leaked}"
    assert not children, f"test left processes running: {children}"


# --- runtimes over the scripted bleak backend ------------------------------------------

from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from blerun.actors import Runtime  # noqa: E402

from helpers import Collector, Connected, StateRecorder  # noqa: E402
from scripted import HR_MEASUREMENT, ScriptedWorld, heart_rate  # noqa: E402


@pytest.fixture
def world() -> ScriptedWorld:
    return ScriptedWorld()


@pytest.fixture
def make_runtime(world: ScriptedWorld) -> Iterator[Callable[..., Runtime]]:
    """Start runtimes over ``world``'s backend; each is closed (bounded) after the test."""
    runtimes: list[Runtime] = []

    def make(**options: Any) -> Runtime:
        options.setdefault("backend", world.backend)
        runtime = Runtime(**options).start()
        world.loop = runtime.loop
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        report = runtime.close(timeout=5.0)
        assert report.clean, report


@pytest.fixture
def connected_device(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> Callable[..., Connected]:
    """Make a runtime (options as ``Runtime``'s), a scripted heart-rate monitor, its device
    with a state recorder and a subscription, connected; the runtime is closed after the
    test (its report must be clean)."""

    def make(*, address: str = "AA:BB:CC:DD:EE:01", **options: Any) -> Connected:
        peripheral = heart_rate(world, address)
        runtime = make_runtime(**options)
        device = runtime.device(peripheral.address)
        events, notes = StateRecorder(device), Collector()
        device.subscribe(HR_MEASUREMENT, notes)
        device.connect(timeout=5)
        peripheral.wait_until(lambda p: HR_MEASUREMENT in p.handlers)
        return Connected(runtime, device, peripheral, events, notes)

    return make
