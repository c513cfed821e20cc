"""The run as a tidy table (pandas), repeats aggregated, and Markdown tables (tabulate).

`tidy(run)` has one row per measurement and one column per figure, flattened with dots
(`latency.p99_ms`, `usage.cpu_percent`, `status_codes.503`); it is what results.csv holds, so
a person can load a run in a notebook. `spread(frame, column)` gives each label's median,
min and max over its repeats. `markdown(rows, headers)` renders every table of the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from tabulate import tabulate

from bench import envoy
from bench.record import Latency
from bench.results import Measurement, RunResult


def row_of(m: Measurement) -> dict[str, Any]:
    """One measurement as one flat row: every figure it has, dotted names for nested ones."""
    row: dict[str, Any] = {"label": m.label, "stack": m.stack, "role": m.role, "repeat": m.repeat,
                           "status": m.status, "error": m.error, "backend": m.backend, "folder": m.folder,
                           "params": ",".join(f"{k}={v}" for k, v in m.params.items()),
                           "time_wait": m.time_wait}  # fmt: skip
    if m.load is not None:
        row |= _flat("load", {k: getattr(m.load, k) for k in m.load.__dataclass_fields__})
    if m.figures is not None:
        f = m.figures.to_json()
        row |= _flat("figures", {k: v for k, v in f.items() if not isinstance(v, (dict, list))})
        for name in ("latency", "ok_latency", "corrected", "lateness", "status_codes", "versions",
                     "warmup_status_codes"):  # nested: latency.p99_ms  # fmt: skip
            row |= _flat(name, f[name])
        for version, latency in f["version_latency"].items():  # version_latency.v1.p99_ms
            row |= _flat(f"version_latency.{version}", latency)
        if m.figures.slots:
            row["figures.ok_of_slots_pct"] = round(100 * (m.figures.requests - m.figures.failures) / m.figures.slots, 2)
    if m.usage is not None:
        row |= _flat("usage", {k: v for k, v in m.usage.__dict__.items() if not isinstance(v, list)})
        cpu = m.usage.cpu_seconds
        requests = m.figures.requests if m.figures else 0
        row["usage.requests_per_cpu_s"] = round(requests / cpu, 1) if cpu > 0 else None
    # each Envoy counter summed over its clusters (or listeners): one column per counter, however many there are
    counters = {split[1] for name in m.envoy if (split := envoy.split(name)) is not None}
    row |= _flat("envoy", {counter: envoy.change(m.envoy, counter) for counter in sorted(counters)})
    if m.step is not None:
        row |= _flat("step", m.step.__dict__)
    row |= _flat("counts", m.counts)
    return row


def _flat(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}.{k}": v for k, v in values.items()}


def tidy(run: RunResult) -> pd.DataFrame:
    """Every measurement of the run, one row each, in the order they were taken."""
    return pd.DataFrame([row_of(m) for m in run.measurements])


@dataclass(frozen=True)
class Spread:
    """The median of some repeats and their min-max range."""

    mid: float
    low: float
    high: float
    n: int

    def cell(self, fmt: str) -> str:
        middle = fmt.format(self.mid)
        return middle if self.n == 1 else f"{middle} [{fmt.format(self.low)}-{fmt.format(self.high)}]"


def spreads(frame: pd.DataFrame, column: str) -> dict[str, Spread]:
    """label -> median, min and max of `column` over that label's rows that have a value."""
    if column not in frame or frame.empty:
        return {}
    present = frame[["label", column]].dropna()
    if present.empty:
        return {}
    stats = present.groupby("label", sort=False)[column].agg(["median", "min", "max", "count"])
    return {str(label): Spread(float(r["median"]), float(r["min"]), float(r["max"]), int(r["count"]))
            for label, r in stats.iterrows()}  # fmt: skip


@dataclass(frozen=True)
class Column:
    """One figure of a table: its heading, its tidy column and how to print it."""

    heading: str
    column: str
    fmt: str


def latency_columns(prefix: str = "latency") -> list[Column]:
    """avg, every percentile Latency has (a new percentile field appears here by itself), max."""
    shown = ["avg_ms", *Latency.percentile_fields(), "max_ms"]
    return [Column(_heading(name), f"{prefix}.{name}", "{:.1f}" if name == "max_ms" else "{:.2f}") for name in shown]


def _heading(field_name: str) -> str:
    """`p99_9_ms` -> `p99.9 ms`."""
    return field_name.removesuffix("_ms").replace("_", ".") + " ms"


def cells(frame: pd.DataFrame, labels: Iterable[str], columns: Sequence[Column]) -> dict[str, list[str]]:
    """label -> one `median [min-max]` cell per column ("-" where there is no value)."""
    by_column = {c.column: spreads(frame, c.column) for c in columns}
    return {label: [_cell(by_column[c.column].get(label), c.fmt) for c in columns] for label in labels}


def _cell(spread: Spread | None, fmt: str) -> str:
    return "-" if spread is None else spread.cell(fmt)


def number(value: float | None, fmt: str) -> str:
    """A single value, or "-" when there is none (NaN counts as none)."""
    if value is None or value != value:
        return "-"
    return fmt.format(value)


def markdown(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    """A Markdown (GitHub pipe) table; cells are printed as given, never re-parsed as numbers."""
    return tabulate([list(r) for r in rows], headers=list(headers), tablefmt="github", disable_numparse=True)


def section(title: str, *parts: str) -> str:
    """A `## title` section of the summary from its non-empty parts."""
    return "\n\n".join([f"## {title}", *(p.strip("\n") for p in parts if p)]) + "\n"


def labels_of(run: RunResult, keep: Callable[[Measurement], bool]) -> list[str]:
    """The labels of the measurements `keep` selects, in the order they first appear."""
    return list(dict.fromkeys(m.label for m in run.measurements if keep(m)))
