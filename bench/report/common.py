"""The parts of a summary every run has: its header, the floor, drift, failures, settings, machine."""

from __future__ import annotations

import os
from pathlib import Path

from bench.report.charts import TITLES
from bench.report.tables import markdown, number, section
from bench.results import Measurement, RunResult


def header(run: RunResult, where: Path) -> str:
    title = {"measure": "Deployment stacks compared", "breaker": "The circuit breaker under overload",
             "sweep": "Capacity sweep", "gateway": "The API gateway"}.get(run.scenario, run.scenario)  # fmt: skip
    return (f"# {title}: run {run.run_id}\n\nStatus **{run.status}**, backend `{run.backend}`, started "
            f"{run.started_at}, finished {run.finished_at or '-'}. Raw files: `{where}/` (every figure of every "
            f"measurement: `{where}/results.csv`).\n")  # fmt: skip


def codes(measurements: list[Measurement]) -> str:
    """`200: 4310, 503: 12`, summed over the measurements."""
    total: dict[str, int] = {}
    for m in measurements:
        for code, count in (m.figures.status_codes if m.figures else {}).items():
            total[code] = total.get(code, 0) + count
    return ", ".join(f"{code}: {count}" for code, count in sorted(total.items())) or "-"


def floor(run: RunResult) -> str:
    f = run.floor
    if f is None:
        return ""
    if not f.ok or f.figures is None:
        return f"Load generator floor: not measured ({f.error}).\n"
    lat, fig = f.figures.latency, f.figures
    bound = " (generator-bound)" if fig.generator_bound else ""
    return (
        f"**Load generator floor** (the same locust load against nginx answering from memory, same cores): "
        f"avg {number(lat.avg_ms, '{:.2f}')} ms, p50 {number(lat.p50_ms, '{:.2f}')} ms, p99 "
        f"{number(lat.p99_ms, '{:.2f}')} ms at {fig.rps:.0f} req/s, locust CPU {fig.generator_cpu_percent}%{bound}. "
        f"Every figure above includes about this much of locust's own time; a stack's req/s near this one means "
        f"locust set the pace.\n"
    )


def drift(run: RunResult) -> str:
    """Per-minute rows of measurements that lasted more than one minute (endurance runs)."""
    long = [m for m in run.measurements if m.figures and len(m.figures.per_window) > 1]
    if not long:
        return ""
    rows = []
    for m in long:
        assert m.figures is not None
        rss = m.usage.rss_mb_per_window if m.usage else []
        for i, w in enumerate(m.figures.per_window):
            lat = w.latency
            rows.append([f"`{m.label}`", str(w.window + 1), str(w.requests), number(w.rps, "{:.0f}"),
                         number(lat.avg_ms, "{:.2f}"), number(lat.p50_ms, "{:.2f}"), number(lat.p99_ms, "{:.2f}"),
                         str(w.failures), number(rss[i] if i < len(rss) else None, "{:.0f}")])  # fmt: skip
    head = ["stack", "minute", "requests", "req/s", "avg ms", "p50 ms", "p99 ms", "failures", "stack RSS MB"]
    return section("Drift over time", markdown(rows, head), "The last row may cover less than a minute.")


def failures(run: RunResult) -> str:
    bad = [m for m in run.measurements if not m.ok]
    if not bad:
        return ""
    lines = []
    for m in bad:
        lines.append(f"- `{m.label}` (repeat {m.repeat}): **{m.status}**: {m.error}")
        if m.log_tail:
            lines.append("\n  ```\n" + "\n".join("  " + x for x in m.log_tail.splitlines()[-15:]) + "\n  ```")
    return section("What did not go well", "\n".join(lines))


def settings(run: RunResult) -> str:
    rows = [[key, f"`{value}`"] for key, value in run.settings.items()]
    return section("Settings", markdown(rows, ["setting", "value"]))


def machine(run: RunResult) -> str:
    m = run.machine
    flat = {k: v for k, v in m.items() if not isinstance(v, dict)}
    for group in ("packages", "binaries"):
        flat |= dict((m.get(group) or {}).items())
    return section("Machine", markdown([[k, f"`{v}`"] for k, v in flat.items()], ["", ""]))


def chart_links(paths: list[Path], relative_to: Path) -> str:
    """A Markdown section embedding the charts, with links relative to the folder of the .md file."""
    if not paths:
        return ""
    images = [f"![{TITLES.get(p.name, p.stem)}]({Path(os.path.relpath(p, relative_to)).as_posix()})" for p in paths]
    return section("Charts", "\n\n".join(images))
