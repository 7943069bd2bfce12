"""One chaos run, as data: drawn from a seed, printed so that it can be replayed.

A scenario is made of the peripherals (heart-rate monitors streaming at some rate), the
runtime's options and reconnect policy, the message fault rules of its ``FaultPlan``,
and a list of steps: user calls, radio faults on the emulated peripherals, actor
crashes, and (in process mode) radio host faults. The same seed and radio mode always
give the same scenario; ``describe()`` prints it.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Literal

Radio = Literal["inprocess", "process"]

# (kind, message type): the message faults a run draws from. Drops are limited to what the
# runtime is built to survive losing (notification batches; one lost disconnect callback,
# healed by the next operation); a lost command or reply would only turn into its
# caller's timeout.
MESSAGE_FAULTS: tuple[tuple[str, str], ...] = (
    ("drop", "NotificationBatch"),
    ("delay", "NotificationBatch"),
    ("duplicate", "NotificationBatch"),
    ("reorder", "NotificationBatch"),
    ("drop", "LinkLost"),
    ("delay", "LinkLost"),
    ("duplicate", "LinkLost"),
    ("delay", "AttemptDone"),
    ("duplicate", "AttemptDone"),
    ("delay", "OpDone"),
    ("duplicate", "OpDone"),
    ("delay", "StartNotify"),
    ("duplicate", "StartNotify"),
    ("delay", "NotifyStarted"),
    ("duplicate", "NotifyStarted"),
    ("duplicate", "Subscribe"),
    ("delay", "StateChanged"),
    ("duplicate", "StateChanged"),
    ("reorder", "StateChanged"),
    ("delay", "ReconnectDue"),
    ("duplicate", "ReconnectDue"),
    ("delay", "DisconnectDone"),
    ("duplicate", "DisconnectDone"),
    ("delay", "IoSucceeded"),
)

USER_ACTIONS = (
    "connect",
    "disconnect",
    "read",
    "write",
    "subscribe",
    "cancel",
    "statistics",
    "wait_delivered",
)
RADIO_ACTIONS = (
    "drop_link",
    "refuse_connects",
    "stall",
    "att_error",
    "pause",
    "burst",
    "op_delay",
    "silence",
    "zombie",
)
ACTOR_ACTIONS = ("crash_radio", "crash_notify", "crash_reconnect")
HOST_ACTIONS = ("kill_host", "freeze_host", "wedge_host")

HEALED_BY_A_FRESH_LINK = frozenset({"stall", "att_error", "zombie"})
"""Faults that may leave a session without one of its subscriptions (a refused or
unanswered subscribe): the final heal ends each link once, so a fresh session must
re-apply every subscription."""


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    """One message fault rule of the run's ``FaultPlan``."""

    kind: str
    message: str
    probability: float
    seconds: float = 0.0
    limit: int | None = None

    def __str__(self) -> str:
        extra = f" {self.seconds * 1000:.0f} ms" if self.kind == "delay" else ""
        limit = f" (at most {self.limit})" if self.limit is not None else ""
        return f"{self.kind} {self.message} p={self.probability:.2f}{extra}{limit}"


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """One thing done during the run, after ``pause`` seconds."""

    pause: float
    action: str
    device: int
    args: tuple[tuple[str, object], ...] = ()

    def arg(self, name: str) -> object:
        return dict(self.args)[name]

    def __str__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.args)
        return f"+{self.pause * 1000:.0f} ms  {self.action}(dev{self.device}{args})"


@dataclasses.dataclass(frozen=True, slots=True)
class Scenario:
    """Everything one run does; see the module docstring."""

    seed: int
    radio: Radio
    rates: tuple[float, ...]
    """Notification rate of each heart-rate monitor (one device each)."""
    policy: tuple[tuple[str, object], ...]
    """``ReconnectPolicy`` keyword arguments."""
    runtime: tuple[tuple[str, object], ...]
    """``Runtime`` keyword arguments (strategy, intensity, callback threads...)."""
    rules: tuple[Rule, ...]
    steps: tuple[Step, ...]
    close_timeout: float
    fresh_links: bool
    """Whether the final heal ends every link once (see ``HEALED_BY_A_FRESH_LINK``)."""

    def describe(self) -> str:
        """The scenario in words: what to read when a run fails."""
        lines = [
            f"seed {self.seed}, radio={self.radio}, {len(self.rates)} peripheral(s) at "
            + ", ".join(f"{r:g} Hz" for r in self.rates),
            "policy: " + ", ".join(f"{k}={v!r}" for k, v in self.policy),
            "runtime: " + ", ".join(f"{k}={v!r}" for k, v in self.runtime),
            "plan: " + ("; ".join(str(r) for r in self.rules) or "no message faults"),
            "steps:",
            *(f"  {step}" for step in self.steps),
            f"then: heal{' (fresh links)' if self.fresh_links else ''}, restate wishes, "
            f"settle, close({self.close_timeout:g})",
        ]
        return "\n".join(lines)


def generate(seed: int, radio: Radio) -> Scenario:
    """The scenario of ``seed`` in radio mode ``radio`` (always the same)."""
    rng = random.Random(f"blerun-chaos:{seed}:{radio}")
    devices = rng.randint(1, 3)
    rates = tuple(float(rng.choice((10, 20, 50, 100, 200))) for _ in range(devices))
    policy = (
        ("initial", rng.choice((0.0, 0.005, 0.02))),
        ("multiplier", rng.choice((1.0, 1.5, 2.0))),
        ("cap", rng.choice((0.02, 0.05, 0.1))),
        ("jitter", rng.choice((0.0, 0.2, 0.5))),
        ("max_attempts", rng.choice((None, None, None, 20))),
        ("attempt_timeout", rng.choice((1.0, 2.0))),
    )
    runtime = (
        ("strategy", rng.choice(("one_for_one", "one_for_one", "one_for_all"))),
        ("restart_intensity", rng.choice((3, 5, 10))),
        ("callback_threads", rng.randint(1, 4)),
        ("disconnect_timeout", rng.choice((0.2, 0.5, 1.0))),
    )
    rules = tuple(_rule(rng, kind, message) for kind, message in _pick_faults(rng))
    steps = tuple(_step(rng, radio, devices, index, 14) for index in range(rng.randint(5, 14)))
    return Scenario(
        seed=seed,
        radio=radio,
        rates=rates,
        policy=policy,
        runtime=runtime,
        rules=rules,
        steps=steps,
        close_timeout=rng.choice((0.5, 1.0, 2.0)),
        fresh_links=any(step.action in HEALED_BY_A_FRESH_LINK for step in steps),
    )


def _pick_faults(rng: random.Random) -> list[tuple[str, str]]:
    count = rng.choice((0, 1, 2, 3, 4, 5))
    return rng.sample(MESSAGE_FAULTS, count)


def _rule(rng: random.Random, kind: str, message: str) -> Rule:
    probability = rng.choice((0.05, 0.1, 0.2, 0.4))
    if kind == "delay":
        return Rule(kind, message, probability, seconds=rng.choice((0.005, 0.02, 0.05, 0.1)))
    if kind == "drop" and message == "LinkLost":
        return Rule(kind, message, 1.0, limit=1)
    return Rule(kind, message, probability)


def _step(rng: random.Random, radio: Radio, devices: int, index: int, of: int) -> Step:
    pause = rng.choice((0.0, 0.005, 0.02, 0.05, 0.1))
    device = rng.randrange(devices)
    groups: list[tuple[tuple[str, ...], int]] = [
        (USER_ACTIONS, 5),
        (RADIO_ACTIONS, 5),
        (ACTOR_ACTIONS, 2),
    ]
    if radio == "process":
        groups.append((HOST_ACTIONS, 1))
    actions, _ = rng.choices(groups, weights=[w for _, w in groups])[0]
    action = rng.choice(actions)
    if action == "connect" and index > of // 2 and rng.random() < 0.15:
        action = "remove"  # late in a run: take the device away for good
    return Step(pause, action, device, _args(rng, action))


def _args(rng: random.Random, action: str) -> tuple[tuple[str, object], ...]:
    timeout = ("timeout", rng.choice((0.2, 0.5, 1.0)))
    match action:
        case "connect" | "disconnect" | "statistics" | "wait_delivered" | "remove":
            return (timeout,)
        case "read" | "write":
            return (timeout, ("retry", rng.random() < 0.5))
        case "subscribe" | "cancel":
            return (timeout,)
        case "refuse_connects":
            return (("count", rng.randint(1, 3)),)
        case "stall":
            return (("op", rng.choice(("connect", "read", "write", "subscribe"))),)
        case "att_error":
            return (
                ("op", rng.choice(("read", "write", "subscribe"))),
                ("code", rng.choice((0x05, 0x0E, 0x80))),
            )
        case "pause":
            return (("seconds", rng.choice((0.02, 0.1, 0.3))),)
        case "burst":
            return (("count", rng.choice((10, 50, 200))),)
        case "op_delay":
            return (
                ("op", rng.choice(("connect", "read", "write", "subscribe", "disconnect"))),
                ("seconds", rng.choice((0.05, 0.2, 0.6))),
            )
        case "silence":
            return (("seconds", rng.choice((0.05, 0.2, 0.5))),)
        case "zombie":
            return (("seconds", rng.choice((0.05, 0.2))),)
        case _:
            return ()
