"""`bench history`: each label's figure over the indexed runs, its change points (bench/analysis/changes.py)
confirmed and named the stack's or the machine's (the generator floor's own history beside), as a
Markdown table and one PNG chart per label. Reads the index only (bench/history/store.py); runs nothing.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure as Chart

from bench.analysis import changes
from bench.analysis.summary import Figure, figure
from bench.history import store
from bench.report import tables
from bench.report.charts import _save_atomic  # the one atomic PNG writer of the lab's charts
from bench.results import folder_of, load_run

FLOOR_LABEL = "floor"


@dataclass(frozen=True)
class History:
    """One label's figure over runs, and its confirmed changes."""

    label: str
    figure: Figure
    points: list[store.Point]
    changes: list[changes.Change]
    floor: list[store.Point]


def histories(db: sqlite3.Connection, labels: Sequence[str], key: str, since: str | None = None) -> list[History]:
    """Each label's history (every label of the index when none given), its changes attributed against the floor's."""
    floor_points = store.series(db, FLOOR_LABEL, key, role="floor", since=since)
    floor_changes = changes.detect([p.median for p in floor_points])
    floor_runs = [p.run_id for p in floor_points]
    found = []
    for label in labels or store.labels(db):
        points = store.series(db, label, key, since=since)
        found_changes = changes.detect([p.median for p in points])
        # the floor's changes, moved to this label's run positions (the same run ids), then compared
        at = {p.run_id: i for i, p in enumerate(points)}
        moved = [c for c in (_moved(c, floor_runs, at) for c in floor_changes) if c is not None]
        found.append(History(label, figure(key), points, changes.attribute(found_changes, moved), floor_points))
    return found


def _moved(c: changes.Change, floor_runs: list[str], at: dict[str, int]) -> changes.Change | None:
    index = at.get(floor_runs[c.index])
    return None if index is None else changes.Change(index, c.before, c.after, c.ratio_low, c.ratio_high, c.p_value)


def markdown(found: Sequence[History], charts: Sequence[Path] = ()) -> str:
    """The history tables and the changes found, as Markdown."""
    lines = ["# History", "", f"Change points: {changes.METHOD} (docs/scenarios/history.md).", ""]
    for h in found:
        fmt, floor = h.figure.fmt, {p.run_id: p for p in h.floor}
        rows = [[p.run_id, p.started, p.lab_commit or "-", p.app_commit or "-", _cell(p, fmt),
                 _cell(floor[p.run_id], fmt) if p.run_id in floor else "-"] for p in h.points]  # fmt: skip
        heads = ["run", "started", "lab commit", "app commit", "median [min-max]", "floor"]
        lines += [f"## {h.label}: {h.figure.heading}", "", tables.markdown(rows, heads), "", change_table(h), ""]
    lines += [f"![{c.stem}]({c.name})" for c in charts]
    return "\n".join(lines).rstrip() + "\n"


def _cell(p: store.Point, fmt: str) -> str:
    return fmt.format(p.median) if p.n == 1 else f"{fmt.format(p.median)} [{fmt.format(p.low)}-{fmt.format(p.high)}]"


def change_table(h: History) -> str:
    """The confirmed changes of one label: at which run, from what to what, the ratio's 95 % interval, whose."""
    if not h.changes:
        return f"No change found in {len(h.points)} runs."
    fmt = h.figure.fmt
    rows = [[h.points[c.index].run_id, h.points[c.index].started, fmt.format(c.before), fmt.format(c.after),
             f"{c.ratio:.2f}x [{c.ratio_low:.2f}-{c.ratio_high:.2f}]", f"{c.p_value:.3f}", c.cause]
            for c in h.changes]  # fmt: skip
    return tables.markdown(rows, ["from run", "started", "before", "after", "ratio [95 % interval]", "p", "cause"])


def chart(h: History, out_dir: Path) -> Path | None:
    """`history-<label>.png`: the figure's median per run with min-max whiskers, the floor beside, changes marked."""
    if len(h.points) < 2:
        return None
    fig = Chart(figsize=(8, 3.5), layout="constrained")
    ax = fig.add_subplot()
    xs = list(range(len(h.points)))
    mids = [p.median for p in h.points]
    ax.errorbar(xs, mids, yerr=[[p.median - p.low for p in h.points], [p.high - p.median for p in h.points]],
                fmt="o-", color="#1f77b4", label=h.label, capsize=3)  # fmt: skip
    floor = {p.run_id: p.median for p in h.floor}
    if any(p.run_id in floor for p in h.points):
        ax.plot(
            [x for x, p in zip(xs, h.points, strict=True) if p.run_id in floor],
            [floor[p.run_id] for p in h.points if p.run_id in floor],
            "s--",
            color="#7f7f7f",
            label="floor",
        )
    for c in h.changes:
        ax.axvline(c.index - 0.5, color="#d62728" if c.cause == "stack" else "#ff7f0e", linestyle=":")
        ax.annotate(f"{c.ratio:.2f}x ({c.cause})", (c.index - 0.5, max(mids)), fontsize=8, rotation=90, va="top")
    ax.set_xticks(xs, [p.run_id[-6:] for p in h.points], rotation=45, fontsize=7)
    ax.set_ylabel(f"{h.figure.heading}")
    ax.set_title(f"{h.label}: {h.figure.heading} over runs")
    ax.legend(fontsize=8)
    path = out_dir / f"history-{folder_of(h.label)}.png"
    _save_atomic(fig, path)
    return path


def after_run(results_dir: Path, run_dir: Path) -> list[Path]:
    """Index an ended run and draw its labels' p99 history (history-<label>.png, shown by report.html) beside
    its report when the index holds more than one run of them. The index is a cache: a failure here is a
    warning, never a lost run (`bench report --reindex` rebuilds it)."""
    try:
        store.index_run(results_dir, run_dir)
        run = load_run(run_dir)
        with store.open_index(results_dir) as db:
            found = histories(db, list(dict.fromkeys(m.label for m in run.rows("stack"))), "latency.p99_ms")
        return [c for folder in dict.fromkeys((run_dir, results_dir)) for h in found
                if (c := chart(h, folder)) is not None]  # fmt: skip
    except Exception as exc:
        print(f"WARNING: the history index could not be updated ({exc!r})\nTIP: python -m bench report --reindex",
              file=sys.stderr)  # fmt: skip
        return []
