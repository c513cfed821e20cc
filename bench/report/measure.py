"""The stack comparison's sections: the main table, each stack against the first, the seed's figures."""

from __future__ import annotations

import statistics
from pathlib import Path

import pandas as pd

from bench import stats
from bench.report import charts as chart_files
from bench.report.common import codes, limited_by, workers_note
from bench.report.objectives import slo_section
from bench.report.tables import Column, cells, latency_columns, markdown, section
from bench.report.verdicts import verdict
from bench.results import Measurement, RunResult

COLUMNS = [
    *latency_columns(),
    Column("req/s", "figures.rps", "{:.0f}"),
    Column("locust CPU %", "figures.generator_cpu_percent", "{:.0f}"),
    Column("stack CPU %", "usage.cpu_percent", "{:.0f}"),
    Column("req per CPU-s", "usage.requests_per_cpu_s", "{:.0f}"),
    Column("peak RSS MB", "usage.peak_rss_mb", "{:.0f}"),
    Column("TIME_WAIT", "time_wait", "{:.0f}"),
]
NOTE = (
    "Figures cover the measured window only (warmup excluded). Percentiles are read from 0.01 ms buckets "
    "below 100 ms (0.1 ms to 1 s, 1 ms above), so within half a bucket of the true value; averages, min "
    "and max are exact. With repeats, a cell is the median and [min-max] the spread. CPU % is of one "
    "core, summed over the stack's processes.\n"
    "**generator-bound**: locust's own CPU reached 90 % of its core (or its CPU warning fired), so the load "
    "generator, not the stack, may have set the pace: read that row as a lower bound."
)


def sections(run: RunResult, frame: pd.DataFrame) -> list[str]:
    return [main_table(run, frame, "stack"), limited_by(run), slo_section(run), comparison(run), reference(run)]


def charts(run: RunResult, out_dir: Path) -> list[Path]:
    return chart_files.write_charts(run, out_dir, groups(run, "stack"))


def groups(run: RunResult, role: str) -> dict[str, list[Measurement]]:
    """label -> its measurements of `role`, labels in the order they first appear."""
    found: dict[str, list[Measurement]] = {}
    for m in run.rows(role):  # type: ignore[arg-type]
        found.setdefault(m.label, []).append(m)
    return found


def main_table(run: RunResult, frame: pd.DataFrame, role: str, title: str = "Response times and throughput") -> str:
    """One row per label: status, summed counts, every figure as median [min-max] over the ok repeats."""
    grouped = groups(run, role)
    if not grouped:
        return ""
    ok = frame[(frame["role"] == role) & (frame["status"] == "ok")] if not frame.empty else frame
    figures = cells(ok, grouped, COLUMNS)
    rows = []
    for label, ms in grouped.items():
        good = [m for m in ms if m.ok]
        shown = good or ms
        status = "ok" if len(good) == len(ms) else "/".join(sorted({m.status for m in ms}))
        if any(m.figures and m.figures.generator_bound for m in shown):
            status += " **generator-bound**"
        heads = [m.limited_by[0].rule if m.limited_by else "none" for m in shown if m.limited_by is not None]
        requests = sum(m.figures.requests for m in shown if m.figures)
        failures = sum(m.figures.failures for m in shown if m.figures)
        limit = max(dict.fromkeys(heads), key=heads.count) if heads else "-"
        rows.append([f"`{label}`", status, limit, str(requests), str(failures), *figures[label], codes(shown)])
    head = ["stack", "status", "limited by", "requests", "failures", *(c.heading for c in COLUMNS), "status codes"]
    return section(title, markdown(rows, head), NOTE, workers_note(run, run.rows(role)))  # type: ignore[arg-type]


def comparison(run: RunResult) -> str:
    """pyperf-style: each label against the first, each figure with its 95 % interval or "not significant"."""
    grouped = {label: [m for m in ms if m.ok and m.figures] for label, ms in groups(run, "stack").items()}
    grouped = {label: ms for label, ms in grouped.items() if ms}
    if len(grouped) < 2:
        return ""
    (base_label, base), *others = grouped.items()
    lines = []
    for label, ms in others:
        found = [verdict(figure, base, ms, interleaved=True) for figure in ("avg", "p99", "rps")]
        lines.append(f"- `{label}`: " + "; ".join(v.text() for v in found if v))
    notes = [METHOD]
    if any(len(ms) < 2 for ms in grouped.values()):
        notes.append("With one repeat there is no interval; use --repeat 3 or more.")
    return section(f"Compared with `{base_label}`", "\n".join(lines), " ".join(notes))


METHOD = (
    "Repeats are interleaved, so repeat i of each stack was measured side by side: a ratio is the geometric "
    "mean of the per-repeat ratios, its 95 % interval a t interval on their logarithms (bench/stats.py); "
    "the figures beside it are geometric means of the repeats. "
    f"*Not significant*: some of the interval lies within {stats.MIN_EFFECT:.0%} of no change, or the repeats had "
    "no spread at all (no spread in N repeats says nothing about the noise)."
)


def reference(run: RunResult) -> str:
    """This run's averages beside the seed's published ones."""
    rows = []
    for label, ms in groups(run, "stack").items():
        ref = run.stacks.get(ms[0].stack)
        if ref is None or ref.reference.get("avg_ms") is None:
            continue
        ours = [m.latency.avg_ms for m in ms if m.ok and m.latency.avg_ms is not None]
        cell = "-" if not ours else f"{statistics.median(ours):.2f}" + (
            f" [{min(ours):.2f}-{max(ours):.2f}]" if len(ours) > 1 else "")  # fmt: skip
        rows.append([f"`{label}`", cell, f"{ref.reference['avg_ms']:.2f}", str(ref.reference.get("source", ""))])
    if not rows:
        return ""
    table = markdown(rows, ["stack", "avg ms (this run)", "avg ms (published)", "published under"])
    return section("Beside the seed's published figures", table, "The published figures come from another machine "
                   "and load; compare the order of the stacks, not the values.")  # fmt: skip
