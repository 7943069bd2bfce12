"""The bench's outputs: ``results.json``, ``results.md`` (the table) and ``results.png``."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure as Canvas

from bench.common import Figure


def _number(value: float, unit: str) -> str:
    if unit == "notifications/s":
        return f"{value / 1000:,.1f}k/s" if value >= 1000 else f"{value:,.0f}/s"
    if unit == "ratio":
        return f"{value:.2f}"
    if unit.startswith("%"):
        return f"{value:.1f}%"
    if unit == "threads":
        return f"{value:,.0f}"
    if unit == "KiB":
        return f"{value:,.1f} KiB"
    if unit == "us":
        return f"{value:,.1f} us"
    if unit == "ms":
        return f"{value:,.2f} ms"
    if unit == "s":
        return f"{value:,.3f} s"
    return f"{value:,.3g} {unit}"


def _baselines(figure: Figure) -> str:
    return "; ".join(f"{name} {_number(v, figure.unit)}" for name, v in figure.baselines.items())


def _ratio(figure: Figure) -> str:
    if figure.ratio is None:
        return "-"
    return f"{figure.ratio:.2f} (vs {figure.ratio_to})"


def _blerun(figure: Figure) -> str:
    text = _number(figure.blerun, figure.unit)
    return f"{text} ({figure.note})" if figure.note else text


def table(figures: Sequence[Figure]) -> str:
    """The Markdown table: figure, blerun, baselines, ratio, goal, met/missed."""
    several = len({f.radio for f in figures}) > 1
    rows = [
        "| figure | blerun | baseline(s), same run | ratio | goal | status |",
        "|---|---|---|---|---|---|",
    ]
    for f in figures:
        title = f"{f.title} [{f.radio}]" if several else f.title
        verdict = "met" if f.met else "**missed**"
        rows.append(
            f"| {title} | {_blerun(f)} | {_baselines(f)} | {_ratio(f)} | {f.goal} | {verdict} |"
        )
    return "\n".join(rows)


def _modes_table(figures: Sequence[Figure]) -> str:
    """blerun's number in each radio mode, side by side (only with several modes)."""
    radios = sorted({f.radio for f in figures})
    by_name: dict[str, dict[str, Figure]] = {}
    for f in figures:
        by_name.setdefault(f.name, {})[f.radio] = f
    rows = [
        "| figure | " + " | ".join(radios) + f" | {radios[-1]} / {radios[0]} |",
        "|---" * (len(radios) + 2) + "|",
    ]
    for modes in by_name.values():
        if len(modes) < len(radios):
            continue
        first, last = modes[radios[0]], modes[radios[-1]]
        ratio = f"{last.blerun / first.blerun:.2f}" if first.blerun else "-"
        cells = " | ".join(_number(modes[r].blerun, first.unit) for r in radios)
        rows.append(f"| {first.title} | {cells} | {ratio} |")
    return "\n".join(rows)


def _machine_lines(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    load = results["load_average"]
    return [
        f"- CPU: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), "
        f"{m['memory_mib']:,} MiB",
        f"- {m['python']} on {m['os']}; GIL switch interval {m['gil_switch_interval_s']} s",
        f"- {versions}",
        f"- load average (1/5/15 min): {load['start']} at the start, {load['end']} at the end",
        f"- `{results['command']}` at commit {results['commit']} "
        f"({'quick' if results['quick'] else 'full'} run, "
        f"{results['duration_s']:.0f} s, started {results['started']})",
    ]


def markdown(results: dict[str, Any], figures: Sequence[Figure]) -> str:
    parts = ["# blerun bench", "", *_machine_lines(results), "", table(figures)]
    if len({f.radio for f in figures}) > 1:
        parts += ["", "## blerun by radio mode", "", _modes_table(figures)]
    if results["errors"]:
        parts += ["", "## Errors", ""]
        parts += [f"- {e['name']} [{e['radio']}]: {e['error']}" for e in results["errors"]]
    return "\n".join(parts) + "\n"


def _finite(value: Any) -> Any:
    """JSON has no infinity or NaN: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def write_json(path: Path, results: dict[str, Any], figures: Sequence[Figure]) -> None:
    document = results | {"figures": [dataclasses.asdict(f) for f in figures]}
    path.write_text(json.dumps(_finite(document), indent=1) + "\n")


def _cdf(ax: Any, series: dict[str, list[float]], xlabel: str, title: str, log: bool) -> None:
    for label, values in series.items():
        if not values:
            continue
        n = len(values)
        ax.step(values, [(i + 1) / n for i in range(n)], where="post", label=label)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of samples <= x")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")


def _series(figures: Sequence[Figure], name: str, key: str) -> dict[str, list[float]]:
    chosen = [f for f in figures if f.name == name]
    several = len(chosen) > 1
    series: dict[str, list[float]] = {}
    for f in chosen:
        for label, values in f.details.get(key, {}).items():
            series[f"{label} [{f.radio}]" if several else label] = values
    return series


def write_png(path: Path, figures: Sequence[Figure]) -> bool:
    """Latency CDFs (10k/s) and recovery-time CDFs; False when no figure has them."""
    panels = [
        (
            _series(figures, "latency_p99_10k", "cdf_us"),
            "latency, us (log)",
            "notification latency at 10k/s, scripted backend",
            True,
        ),
        (
            _series(figures, "drop_to_first_notification", "cdf_ms"),
            "drop -> first notification, ms",
            "recovery after a link drop, sim",
            False,
        ),
    ]
    panels = [p for p in panels if p[0]]
    if not panels:
        return False
    canvas = Canvas(figsize=(6 * len(panels), 4.5), layout="constrained")
    axes = canvas.subplots(1, len(panels), squeeze=False)[0]
    for ax, (series, xlabel, title, log) in zip(axes, panels, strict=True):
        _cdf(ax, series, xlabel, title, log)
    canvas.savefig(path, dpi=110)
    return True
