"""Shared fixtures: every test must leave no thread and no actor behind."""

from __future__ import annotations

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
    assert not leftover_actors, f"test left actors running: {leftover_actors}"
    assert not leaked, f"test left threads running: {leaked}"
