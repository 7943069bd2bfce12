"""The radio host's protocol: the frames between the runtime and a radio host process.

A radio host is a child OS process running the RadioActors of a set of devices, their
event loop and bleak. Everything that crosses is one of these frozen values, pickled in
batches (one write per loop iteration) over one transport; the messages they carry are
the actors' own typed messages (``Tell``), so the actors do not know a process boundary
is there.
"""

from __future__ import annotations

import dataclasses

from blerun.messages.common import DeviceId, Recipient, Reply
from blerun.messages.state import ConnectionState, StateChanged


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Tell:
    """Deliver ``message`` to the actor serving ``recipient`` on the other side."""

    recipient: Recipient
    """Who gets it."""
    message: object
    """One of the actors' typed messages."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StartRadio:
    """To the host: start (or restart) the RadioActor of one device."""

    device: DeviceId
    """The device group."""
    generation: int
    """The radio's generation; only it may publish the device's state."""
    options: object
    """The device's link options (the bleak target, backend and client options)."""
    attempt_timeout: float
    """Seconds one connection attempt may take."""
    wish: object | None
    """The radio's checkpoint: the user's wish and the callers still waiting."""
    state: ConnectionState
    """The state last published for the device, to continue from."""
    version: int
    """Its state_version, so versions keep growing across hosts."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StopRadio:
    """To the host: stop one device's RadioActor (its group is over)."""

    device: DeviceId
    """The device group."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Forget:
    """To the host: the caller of ``request_id`` stopped waiting (it timed out)."""

    request_id: int
    """The request that nobody waits for any more."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    """To the host: answer with ``Pong`` from your event loop (a heartbeat)."""

    seq: int
    """Echoed in the answer."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Wedge:
    """To the host (fault injection): block the event loop, as a native call that never
    returns would; the host stops answering and must be killed."""

    note: str = ""
    """Free text for the log."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Retire:
    """To the host: tear every link down within ``timeout`` and exit (close, recycle)."""

    timeout: float
    """Seconds the host gives its teardowns."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Hello:
    """From the host, once: it runs and takes frames."""

    pid: int
    """The host's process id."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Pong:
    """From the host: the answer to ``Ping``, with what recycling decides on."""

    seq: int
    """The ping's."""
    rss: int
    """Resident memory, bytes."""
    fds: int
    """Open file descriptors (-1 where the platform does not tell)."""
    busy: int
    """Operations and connection attempts in flight."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Publish:
    """From the host: a RadioActor published a transition."""

    device: DeviceId
    """The device group."""
    event: StateChanged
    """The transition."""
    generation: int
    """The publishing radio's generation."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """From the host: the answer to a request made in the runtime's process."""

    reply: Reply
    """The reply."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Metric:
    """From the host: a counter or an observation for the runtime's metrics hook."""

    name: str
    """The metric's name."""
    value: float
    """The increment, or the observed value."""
    tags: tuple[tuple[str, str], ...]
    """Its tags."""
    observation: bool
    """True for ``observe``, False for ``increment``."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LogLine:
    """From the host: a log record, re-emitted by the runtime's process under its name."""

    name: str
    """The logger's name."""
    level: int
    """The record's level."""
    message: str
    """The formatted message (with the traceback, if any)."""
    extra: tuple[tuple[str, object], ...]
    """The structured fields (device, state_version, ...)."""


ToHost = Tell | StartRadio | StopRadio | Forget | Ping | Wedge | Retire
"""Frames the runtime sends to a host."""

FromHost = Tell | Hello | Pong | Publish | Answer | Metric | LogLine
"""Frames a host sends to the runtime."""
