"""The breaker experiment's section: each preset at the same offered rate, Envoy's counters beside locust's."""

from __future__ import annotations

import statistics
from pathlib import Path

import pandas as pd

from bench.report import charts as chart_files
from bench.report.common import codes
from bench.report.measure import groups
from bench.report.tables import Column, cells, markdown, number, section
from bench.results import Measurement, RunResult

COLUMNS = [
    Column("offered req/s", "figures.offered_rps", "{:.0f}"),
    Column("achieved req/s", "figures.rps", "{:.0f}"),
    Column("success %", "success_pct", "{:.2f}"),
    Column("503 by breaker", "figures.overloaded", "{:.0f}"),
    Column("Envoy pending overflow", "envoy.upstream_rq_pending_overflow", "{:.0f}"),
    Column("Envoy cx overflow", "envoy.upstream_cx_overflow", "{:.0f}"),
    Column("ejections", "envoy.ejections_enforced_total", "{:.0f}"),
    Column("app 5xx", "app_5xx", "{:.0f}"),
    Column("ok p50 ms", "ok_latency.p50_ms", "{:.1f}"),
    Column("ok p99 ms", "ok_latency.p99_ms", "{:.1f}"),
    Column("all p50 ms", "latency.p50_ms", "{:.1f}"),
    Column("all p99 ms", "latency.p99_ms", "{:.1f}"),
]


def sections(run: RunResult, frame: pd.DataFrame) -> list[str]:
    return [breaker_section(run, frame)]


def charts(run: RunResult, out_dir: Path) -> list[Path]:
    return chart_files.write_charts(run, out_dir, groups(run, "overload"))


def breaker_section(run: RunResult, frame: pd.DataFrame) -> str:
    """Breaker off vs on at the same arrival rate: one row per preset, repeats as median [min-max]."""
    grouped = groups(run, "overload")
    if not grouped:
        return ""
    ok = _with_derived(frame[(frame["role"] == "overload") & (frame["status"] == "ok")])
    figures = cells(ok, grouped, COLUMNS)
    rows = [[f"`{_preset(ms[0])}`", *figures[label], codes([m for m in ms if m.ok])] for label, ms in grouped.items()]
    head = ["breaker", *(c.heading for c in COLUMNS), "status codes"]
    ref = run.stacks.get(next(iter(grouped.values()))[0].stack)
    published = ref.reference.get("breaker") if ref else None
    if published:
        rows.append(["seed 001 (`seed000`, published)", str(published["offered_rps"]), "-",
                     f"{published['success_pct']:.2f}", "-", "-", "-", "-", "-", "-", "-",
                     number(published.get("p50_ms"), "{:.1f}"), number(published.get("p99_ms"), "{:.1f}"),
                     f"503: {published['code_503']}"])  # fmt: skip
    notes = [_capacity_note(run), *(_reading(_preset(ms[0]), [m for m in ms if m.ok]) for ms in grouped.values())]
    if published:
        notes.append(f"The seed 001 row is {published['source']}: compare the shape, not the values.")
    return section("Circuit breaker under overload", markdown(rows, head), "\n".join(f"- {n}" for n in notes if n))


def _with_derived(frame: pd.DataFrame) -> pd.DataFrame:
    """Success % and the app's own 5xx (every 5xx the breaker did not make), per measurement."""
    frame = frame.copy()
    if frame.empty:
        return frame
    frame["success_pct"] = 100 * (frame["figures.requests"] - frame["figures.failures"]) / frame["figures.requests"]
    fives = [c for c in frame.columns if c.startswith("status_codes.5")]
    frame["app_5xx"] = frame[fives].fillna(0).sum(axis=1) - frame["figures.overloaded"]
    return frame


def _preset(m: Measurement) -> str:
    return m.params.get("breaker", "?")


def _reading(preset: str, ms: list[Measurement]) -> str:
    """One plain sentence on what this preset's repeats show."""
    measured = [m for m in ms if m.figures and m.figures.requests]
    if not measured:
        return f"`{preset}`: not measured."
    rps = statistics.median(m.figures.rps for m in measured if m.figures)
    offered = statistics.median(m.figures.offered_rps or 0 for m in measured if m.figures)
    requests = sum(m.figures.requests for m in measured if m.figures)
    ok = requests - sum(m.figures.failures for m in measured if m.figures)
    overloaded = sum(m.figures.overloaded for m in measured if m.figures)
    overflow = sum(_counter(m, "upstream_rq_pending_overflow") for m in measured)
    p99 = [m.figures.ok_latency.p99_ms for m in measured if m.figures and m.figures.ok_latency.p99_ms is not None]
    rate = ("the offered rate was kept" if not offered or rps >= 0.95 * offered else
            f"the offered rate was NOT reached ({rps:.0f} of {offered:.0f} req/s): every user was waiting on a "
            "response, so the stack's slowness throttled the load itself")  # fmt: skip
    text = (f"`{preset}`: {rate}; {ok} of {requests} requests succeeded ({100 * ok / requests:.2f} %), "
            f"successful ones at p99 {number(statistics.median(p99) if p99 else None, '{:.0f}')} ms.")  # fmt: skip
    if overloaded:
        same = ", exactly the pending-overflow count Envoy reports" if overloaded == overflow else ""
        text += f" Envoy refused {overloaded} requests with a fast 503 (x-envoy-overloaded){same}."
    return text


def _capacity_note(run: RunResult) -> str:
    cap = next((m for m in run.rows("capacity") if m.ok and m.figures), None)
    if cap is None or cap.figures is None:
        return ""
    return (f"Capacity measured first (closed loop, {cap.figures.requests} requests, breaker off): "
            f"{cap.figures.rps:.0f} req/s at p99 {number(cap.latency.p99_ms, '{:.0f}')} ms.")  # fmt: skip


def _counter(m: Measurement, name: str) -> int:
    pair = next((v for k, v in m.envoy.items() if k.endswith("." + name)), None)
    return pair[1] - pair[0] if pair else 0
