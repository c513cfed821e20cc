"""The run as a tidy table (pandas) for results.csv, and Markdown tables (tabulate).

`tidy(run)` has one row per measurement and one column per figure, flattened with dots
(`latency.p99_ms`, `usage.cpu_percent`, `status_codes.503`), the derived figures of
bench/analysis/summary.py's registry included; it is what results.csv holds, so a person can load a run in
a notebook. A `Column` of a table names a figure by its key; its cells are each label's
median [min-max] from bench/analysis/summary.py (never computed here). `markdown(rows, headers)` renders
every table of the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from tabulate import tabulate

from bench.analysis.summary import FIGURES, LabelSummary, figure
from bench.results import Measurement, RunResult
from bench.sampling import envoy


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
        for name in ("latency", "ok_latency", "corrected", "ok_corrected", "lateness", "status_codes", "versions",
                     "warmup_status_codes"):  # nested: latency.p99_ms  # fmt: skip
            row |= _flat(name, f[name])
        for version, latency in f["version_latency"].items():  # version_latency.v1.p99_ms
            row |= _flat(f"version_latency.{version}", latency)
    if m.usage is not None:
        row |= _flat("usage", {k: v for k, v in m.usage.__dict__.items() if not isinstance(v, list)})
    # each Envoy counter summed over its clusters (or listeners): one column per counter, however many there are
    counters = {split[1] for name in m.envoy if (split := envoy.split(name)) is not None}
    row |= _flat("envoy", {counter: envoy.change(m.envoy, counter) for counter in sorted(counters)})
    if m.step is not None:
        row |= _flat("step", m.step.__dict__)
    row |= _flat("counts", m.counts)
    row |= {f.key: f.read(m) for f in FIGURES.values() if f.derived}  # requests per CPU-s, errors %, ...
    return row


def _flat(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}.{k}": v for k, v in values.items()}


def tidy(run: RunResult) -> pd.DataFrame:
    """Every measurement of the run, one row each, in the order they were taken."""
    return pd.DataFrame([row_of(m) for m in run.measurements])


@dataclass(frozen=True)
class Column:
    """One figure of a table: its key in bench/analysis/summary.py's registry; heading and format its own unless
    given."""

    key: str
    heading: str = ""
    fmt: str = ""

    @property
    def title(self) -> str:
        return self.heading or figure(self.key).heading

    def cell(self, s: LabelSummary) -> str:
        """The label's median [min-max] of this figure, "-" where no ok repeat has it."""
        return s.cell(self.key, self.fmt or None)


def cells(summaries: dict[str, LabelSummary], columns: Sequence[Column]) -> dict[str, list[str]]:
    """label -> one `median [min-max]` cell per column."""
    return {label: [c.cell(s) for c in columns] for label, s in summaries.items()}


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
