"""How the demo shows itself: a live table on a terminal, plain or JSON lines elsewhere.

Both views take the same calls (``event``, ``summary``) from the demo's main thread.
The live view redraws in place from rich's refresh thread, reading the model's frozen
rows; the line views print each event once, flushed, so a pipe sees the story as it
happens.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from blerun.actors import ConnectionState
from blerun.cli._demo_model import Event, Model, RateMeter, Row, Summary, percentile
from blerun.cli._output import Output

_RECENT_EVENTS = 8
_STATE_STYLES = {
    ConnectionState.CONNECTED: "green",
    ConnectionState.CONNECTING: "yellow",
    ConnectionState.RECONNECTING: "yellow",
    ConnectionState.FAILED: "red",
}


class View(Protocol):
    """What the demo tells whoever watches."""

    def event(self, event: Event) -> None:
        """Something happened."""

    def summary(self, summary: Summary) -> None:
        """The demo is over: the verdict and its figures."""


@contextlib.contextmanager
def open_view(output: Output, model: Model, intro: dict[str, Any]) -> Iterator[View]:
    """The live view on a terminal; plain lines, or JSON lines with ``--json``, elsewhere."""
    if output.interactive:
        live = LiveView(output, model, intro)
        with live.running():
            yield live
    else:
        lines = LineView(output)
        lines.intro(intro)
        yield lines


class LineView:
    """One flushed line per event: text, or JSON records."""

    def __init__(self, output: Output) -> None:
        self._output = output

    def intro(self, intro: dict[str, Any]) -> None:
        """What runs: the devices, the duration, the seed."""
        if self._output.json_mode:
            self._output.record({"type": "start", **intro})
        else:
            self._output.line(_intro_text(intro))

    def event(self, event: Event) -> None:
        if self._output.json_mode:
            self._output.record(_event_json(event))
        else:
            self._output.line(f"{event.at:6.2f} s  {event.device or '--':<10} {event.text}")

    def summary(self, summary: Summary) -> None:
        if self._output.json_mode:
            self._output.record(summary_json(summary))
        else:
            _show_summary(self._output, summary)


class LiveView:
    """A per-device table redrawn in place, with the latest events under it."""

    def __init__(self, output: Output, model: Model, intro: dict[str, Any]) -> None:
        self._output = output
        self._model = model
        self._title = _intro_text(intro)
        self._recent: collections.deque[Event] = collections.deque(maxlen=_RECENT_EVENTS)
        self._rates = RateMeter()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Redraw (four times a second) while the block runs."""
        with Live(
            get_renderable=self._render,
            console=self._output.console,
            refresh_per_second=4,
            redirect_stderr=False,
        ):
            yield

    def event(self, event: Event) -> None:
        self._recent.append(event)

    def summary(self, summary: Summary) -> None:
        _show_summary(self._output, summary)

    def _render(self) -> RenderableType:
        now = self._model.elapsed()
        table = Table(
            "device", "state", "version", "attempt", "next delay", "notif/s",
            "drops survived", "last error",
            title=self._title, title_justify="left", expand=True,
        )  # fmt: skip
        for row in self._model.rows():
            table.add_row(*self._cells(row, now))
        events = Text()
        for event in list(self._recent):
            events.append(f"{event.at:6.2f} s  {event.device or '--':<10} {event.text}\n")
        return Group(table, events)

    def _cells(self, row: Row, now: float) -> list[RenderableType]:
        rate = self._rates.rate(row.address, row.delivered, now)
        return [
            f"{row.name} {row.address}",
            Text(row.state.value, style=_STATE_STYLES.get(row.state, "")),
            str(row.version),
            str(row.attempt),
            "" if row.next_delay is None else f"{row.next_delay * 1000:.0f} ms",
            f"{rate:.0f}" if row.delivered else "",
            str(row.survived),
            Text(row.last_error, overflow="ellipsis", no_wrap=True),
        ]


def _intro_text(intro: dict[str, Any]) -> str:
    devices = ", ".join(f"{d['name']} ({d['kind']})" for d in intro["devices"])
    return (
        f"blerun demo: {devices}; {intro['duration']:g} s of faults; seed {intro['seed']} "
        "(Ctrl-C stops it)"
    )


def _event_json(event: Event) -> dict[str, Any]:
    change = event.change
    if change is None:
        return {"type": "fault", "at": round(event.at, 3), "text": event.text}
    return {
        "type": "state",
        "at": round(event.at, 3),
        "device": event.device,
        "old": change.old.value,
        "new": change.new.value,
        "reason": change.reason.value,
        "version": change.version,
        "attempt": change.attempt,
        "error": None if change.error is None else f"{type(change.error).__name__}: {change.error}",
    }


def summary_json(summary: Summary) -> dict[str, Any]:
    """The summary as one JSON record."""
    return {
        "type": "summary",
        "passed": summary.passed,
        "problems": summary.problems(),
        "devices": [
            {
                "name": d.name,
                "address": d.address,
                "kind": d.kind.value,
                "sent": d.sent,
                "delivered": d.delivered,
                "lost": d.lost,
                "duplicates": d.duplicates,
                "drops_survived": d.survived,
                "refused_connects": d.refused,
                "reads_ok": d.reads_ok,
                "reads_failed": d.reads_failed,
                "writes_ok": d.writes_ok,
                "writes_refused": d.writes_refused,
                "writes_failed": d.writes_failed,
                "connected": d.connected,
            }
            for d in summary.devices
        ],
        "reconnect_ms": {
            "count": len(summary.reconnect_times),
            "p50": _ms(percentile(summary.reconnect_times, 0.5)),
            "p99": _ms(percentile(summary.reconnect_times, 0.99)),
        },
        "actor_restarts": summary.restarts,
        "repeated_state_events": summary.repeated_events,
        "close_seconds": round(summary.close_seconds, 3),
        "close_clean": summary.close_clean,
        "seed": summary.seed,
        "seconds": round(summary.elapsed, 1),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _show_summary(output: Output, summary: Summary) -> None:
    table = Table(
        "device", "sent", "delivered", "lost", "duplicates", "drops survived",
        "connects refused", "reads ok/failed", "writes ok/refused",
        title="summary (writes are refused while the link is down; reads retry)",
    )  # fmt: skip
    for d in summary.devices:
        table.add_row(
            d.name,
            _count(d.sent),
            _count(d.delivered),
            _count(None if d.sent is None else d.lost),
            str(d.duplicates),
            str(d.survived),
            str(d.refused),
            f"{d.reads_ok}/{d.reads_failed}" if d.reads_ok or d.reads_failed else "",
            f"{d.writes_ok}/{d.writes_refused}" if d.writes_ok or d.writes_refused else "",
        )
    output.show(table)
    for line in _figures(summary):
        output.line(line)


def _figures(summary: Summary) -> Sequence[str]:
    times = summary.reconnect_times
    p50, p99 = percentile(times, 0.5), percentile(times, 0.99)
    reconnect = (
        f"reconnect after a drop: p50 {_ms(p50)} ms, p99 {_ms(p99)} ms ({len(times)} reconnects)"
        if p50 is not None and p99 is not None
        else "reconnect after a drop: no drops happened"
    )
    verdict = (
        f"demo passed in {summary.elapsed:.1f} s: nothing lost, nothing duplicated"
        if summary.passed
        else f"demo FAILED in {summary.elapsed:.1f} s: " + "; ".join(summary.problems())
    )
    repeats = (
        f" (listeners were told {summary.repeated_events} state change(s) twice)"
        if summary.repeated_events
        else ""
    )
    return [
        reconnect,
        f"actors restarted by the supervisor: {summary.restarts}{repeats}",
        f"runtime closed in {summary.close_seconds:.3f} s "
        f"({'clean' if summary.close_clean else 'NOT clean'}); seed {summary.seed}",
        verdict,
    ]


def _count(value: int | None) -> str:
    return "" if value is None else str(value)
