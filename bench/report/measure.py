"""The stack comparison's sections: the headline table, every other figure, each stack against the first,
the seed's figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.analysis import stats
from bench.analysis.summary import FIGURES, LabelSummary, RunSummary
from bench.report import charts as chart_files
from bench.report import noise
from bench.report.common import codes, headline, limited_by, workers_note
from bench.report.objectives import slo_section
from bench.report.tables import Column, cells, markdown, section
from bench.report.verdicts import Verdict, verdict
from bench.results import RunResult

# the headline: what a person reads at a glance (stack and limited by come first)
HEADLINE = [
    Column("ok_latency.avg_ms", "avg (ms)"),
    Column("ok_latency.p99_ms", "p99 (ms)"),
    Column("figures.ok_rps", "req/s"),
    Column("figures.error_pct", "errors", "{:.2f}%"),
    Column("usage.requests_per_cpu_s", "req per CPU-s"),
]
# the open model (`--rate`): every row offered one rate, latency timed from when each request was due
OPEN_HEADLINE = [Column("ok_corrected.avg_ms", "avg from due (ms)", "{:.2f}"),
                 Column("ok_corrected.p99_ms", "p99 from due (ms)", "{:.2f}"), *HEADLINE[2:]]  # fmt: skip
OPEN_DETAIL = [Column("figures.offered_rps"), Column("ok_latency.avg_ms", "avg from send ms"),
               Column("ok_latency.p99_ms", "p99 from send ms"), Column("figures.late"), Column("figures.unfinished")]
VERDICTS = {"closed": ("rps",), "open": ("due avg", "due p99")}  # closed: Little's law; open, at equal load: latency
# every other figure, in a second table below it
DETAIL = [
    Column("ok_latency.p50_ms"), Column("ok_latency.p90_ms"), Column("ok_latency.p95_ms"),
    Column("ok_latency.p99_9_ms"), Column("ok_latency.max_ms"), Column("figures.generator_cpu_percent"),
    Column("usage.cpu_percent"), Column("usage.peak_rss_mb"), Column("time_wait"),
]  # fmt: skip
NOTE = (
    "Figures cover the measured window only (warmup excluded). Percentiles are read from 0.01 ms buckets "
    "below 100 ms (0.1 ms to 1 s, 1 ms above), so within half a bucket of the true value; averages, min "
    "and max are exact. With repeats, a cell is the median and [min-max] the spread over the successful repeats. "
    "Latency and req/s count successful answers only (a failure answered fast must not make a stack look fast). "
    "*errors*: failed + unanswered of requests + unanswered slots, in % (closed model: failed of sent; open model: "
    "of those due). *req per CPU-s*: "
    "successful answers per second of the stack's CPU (all its processes). CPU % is of one core, summed over the "
    "stack's processes.\n"
    "**generator-bound**: locust's own CPU reached 90 % of its core (or its CPU warning fired), so the load "
    "generator, not the stack, may have set the pace: read that row as a lower bound."
)


def sections(run: RunResult, summary: RunSummary) -> list[str]:
    stacks = summary.of("stack")
    return [noise.section(run, compared(stacks)), main_table(run, stacks), detail_table(stacks), limited_by(summary),
            slo_section(run), comparison(stacks, run.settings), reference(run, stacks)]  # fmt: skip


def model(labels: dict[str, LabelSummary]) -> str:
    """`open` when every row was offered an arrival rate (`--rate`), else `closed`."""
    loads = [m.load for s in labels.values() for m in s.repeats]
    return "open" if loads and all(load is not None and load.rate for load in loads) else "closed"


def charts(run: RunResult, summary: RunSummary, out_dir: Path) -> list[Path]:
    return chart_files.write_charts(run, out_dir, summary.of("stack"))


def main_table(run: RunResult, labels: dict[str, LabelSummary], title: str = "Response times and throughput") -> str:
    """The headline: one row per label, what limited it and five figures as median [min-max] over the ok repeats."""
    if not labels:
        return ""
    columns = OPEN_HEADLINE if model(labels) == "open" else HEADLINE
    figures = cells(labels, columns)
    rows = [[f"`{label}`", _limit_cell(s), *figures[label]] for label, s in labels.items()]
    head = ["stack", "limited by", *(c.title for c in columns)]
    measured = [m for s in labels.values() for m in s.repeats]
    return section(title, markdown(rows, head), NOTE, workers_note(run, measured))


def _limit_cell(s: LabelSummary) -> str:
    """What limited the label, with what a reader must know first: failed repeats, a load generator that
    may have set the pace (the stack cell stays the label alone, so a row is found by its name)."""
    parts = [{"": "none", "-": "-"}.get(head := headline(s), head)]
    ok, statuses = s.ok, "/".join(sorted({m.status for m in s.repeats}))
    if not ok:
        parts = [statuses]
    elif len(ok) < len(s.repeats):
        parts.append(f"{len(ok)} of {len(s.repeats)} repeats ok")
    if any(m.figures and m.figures.generator_bound for m in (ok or s.repeats)):
        parts.append("**generator-bound**")
    return "; ".join(p for p in parts if p != "-" or len(parts) == 1)


def detail_table(labels: dict[str, LabelSummary], title: str = "Every other figure") -> str:
    """The figures the headline leaves out: status, counts summed over the ok repeats, the other percentiles,
    CPU and memory, every derived figure of the registry (bench/analysis/summary.py) not shown yet, status codes."""
    if not labels:
        return ""
    detail = [*OPEN_DETAIL, *DETAIL] if model(labels) == "open" else DETAIL
    already = {c.key for c in (*HEADLINE, *OPEN_HEADLINE, *detail)}
    columns = [*detail, *(Column(f.key) for f in FIGURES.values() if f.derived and f.listed and f.key not in already)]
    figures = cells(labels, columns)
    rows = []
    for label, s in labels.items():
        shown = s.ok or s.repeats
        status = "ok" if len(s.ok) == len(s.repeats) else "/".join(sorted({m.status for m in s.repeats}))
        if any(m.figures and m.figures.generator_bound for m in shown):
            status += " **generator-bound**"
        requests = sum(m.figures.requests for m in shown if m.figures)
        failures = sum(m.figures.failures for m in shown if m.figures)
        rows.append([f"`{label}`", status, str(requests), str(failures), *figures[label], codes(shown)])
    head = ["stack", "status", "requests", "failures", *(c.title for c in columns), "status codes"]
    return section(title, markdown(rows, head), "Requests and failures are summed over the successful repeats.")


def compared(labels: dict[str, LabelSummary]) -> dict[str, list[Verdict]]:
    """Each label against the first (`{}` with fewer than two measured). Closed model: throughput only (at fixed
    users the average latency is the same fact, Little's law); open model (every row offered one rate): latency
    from due time, at equal load."""
    ok = {label: s for label, s in labels.items() if any(m.figures for m in s.ok)}
    if len(ok) < 2:
        return {}
    (_, base), *others = ok.items()
    names = VERDICTS[model(ok)]
    return {label: [v for name in names if (v := verdict(name, base, s, interleaved=True))] for label, s in others}


def comparison(labels: dict[str, LabelSummary], settings: dict[str, Any]) -> str:
    """pyperf-style: each label against the first, each figure with its 95 % interval or "not significant".
    Closed model: throughput gets the verdict and latency is shown beside it, not judged a second time."""
    ok = {label: s for label, s in labels.items() if any(m.figures for m in s.ok)}
    found = compared(labels)
    if not found:
        return ""
    base_label, base = next(iter(ok.items()))
    open_model = model(ok) == "open"
    lines = []
    for label, verdicts in found.items():
        texts = [v.text() for v in verdicts] + ([] if open_model else [_latency_shown(base, ok[label])])
        lines.append(f"- `{label}`: " + "; ".join(t for t in texts if t))
    notes = [OPEN_NOTE if open_model else little(settings), METHOD]
    if any(len(s.ok) < 2 for s in ok.values()):
        notes.append("With one repeat there is no interval; use --repeat 3 or more.")
    return section(f"Compared with `{base_label}`", "\n".join(lines), " ".join(notes))


METHOD = (
    "Repeats are interleaved, so repeat i of each stack was measured side by side: a ratio is the geometric "
    "mean of the per-repeat ratios, its 95 % interval a t interval on their logarithms (bench/analysis/stats.py); "
    "the figures beside it are the medians of the same repeats, as in the tables above (successful answers "
    "only). "
    f"*Not significant*: some of the interval lies within {stats.MIN_EFFECT:.0%} of no change, or the repeats had "
    "no spread at all (no spread in N repeats says nothing about the noise)."
)


def _latency_shown(base: LabelSummary, other: LabelSummary) -> str:
    """`latency at these users, not judged apart: avg 5.20 vs 8.90 ms, p99 12.00 vs 20.00 ms` (medians)."""
    shown = []
    for key, name in (("ok_latency.avg_ms", "avg"), ("ok_latency.p99_ms", "p99")):
        a, b = base.spread(key), other.spread(key)
        if a is not None and b is not None:
            shown.append(f"{name} {b.mid:.2f} vs {a.mid:.2f} ms")
    return "latency at these users, not judged apart: " + ", ".join(shown) if shown else ""


def little(settings: dict[str, Any]) -> str:
    """The closed model's note: at fixed users average latency and throughput are one measurement."""
    users = settings.get("users")
    at = f"{users} users" if users else "a fixed number of users"
    return (f"Closed model ({at}, each sending its next request when the last is answered): average response "
            f"time and req/s are one fact, not two (Little's law: avg ~= users / req/s), so only throughput gets "
            "a verdict; the latency beside it is the same finding seen from the other side. A latency verdict needs "
            "equal load: the open model (`--rate`), where every stack is offered the same requests per second.")


OPEN_NOTE = (
    "Every row was offered the same arrival rate (`--rate`, the open model), so these are latencies at equal load, "
    "each timed from when its request was due (corrected for coordinated omission): a stack that fell behind "
    "pays for its queue. Throughput is the rate offered unless a row could not keep up (see errors)."
)


def reference(run: RunResult, labels: dict[str, LabelSummary]) -> str:
    """This run's averages beside the seed's published ones."""
    rows = []
    for label, s in labels.items():
        ref = run.stacks.get(s.repeats[0].stack)
        if ref is None or ref.reference.get("avg_ms") is None:
            continue
        rows.append([f"`{label}`", s.cell("ok_latency.avg_ms"), f"{ref.reference['avg_ms']:.2f}",
                     str(ref.reference.get("source", ""))])  # fmt: skip
    if not rows:
        return ""
    table = markdown(rows, ["stack", "avg ms (this run)", "avg ms (published)", "published under"])
    return section("Beside the seed's published figures", table, "The published figures come from another machine "
                   "and load; compare the order of the stacks, not the values.")  # fmt: skip
