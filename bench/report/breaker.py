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
    Column("answered req/s", "figures.rps", "{:.0f}"),
    Column("slots due", "figures.slots", "{:.0f}"),
    Column("ok % of slots", "figures.ok_of_slots_pct", "{:.2f}"),
    Column("unanswered at end", "figures.unfinished", "{:.0f}"),
    Column("503 by breaker", "figures.overloaded", "{:.0f}"),
    Column("Envoy pending overflow", "envoy.upstream_rq_pending_overflow", "{:.0f}"),
    Column("Envoy cx overflow", "envoy.upstream_cx_overflow", "{:.0f}"),
    Column("ejections", "envoy.outlier_detection.ejections_enforced_total", "{:.0f}"),
    Column("app 5xx", "app_5xx", "{:.0f}"),
    Column("p50 ms from send", "latency.p50_ms", "{:.1f}"),
    Column("p99 ms from send", "latency.p99_ms", "{:.1f}"),
    Column("p50 ms from due", "corrected.p50_ms", "{:.1f}"),
    Column("p99 ms from due", "corrected.p99_ms", "{:.1f}"),
    Column("late slots", "figures.late", "{:.0f}"),
    Column("peak in flight", "figures.peak_in_flight", "{:.0f}"),
]
EXPLAINED = (
    "Each phase offers its rate as an open model (like `vegeta attack -rate`): every request is sent when it is "
    "due, however slow the answers, with as many in flight as needed (up to `--max-in-flight`). *from send* "
    "times a request from when it left, as a client library would; *from due* times it from when it was due, "
    "so the waiting a slow service imposes is counted (wrk2's correction of coordinated omission), and a slot "
    "still unanswered when the phase ended counts as late by all the time it waited. *ok % of slots* is the "
    "share of due requests that got a successful answer within the phase. *late slots* left more than 10 ms "
    "after they were due (the generator or the in-flight bound held them)."
)


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
        shown = {"offered req/s": str(published["offered_rps"]), "ok % of slots": f"{published['success_pct']:.2f}",
                 "p50 ms from send": number(published.get("p50_ms"), "{:.1f}"),
                 "p99 ms from send": number(published.get("p99_ms"), "{:.1f}")}  # fmt: skip
        rows.append(["seed 001 (`seed000`, published)", *(shown.get(c.heading, "-") for c in COLUMNS),
                     f"503: {published['code_503']}"])  # fmt: skip
    notes = [_capacity_note(run), *(_reading(_preset(ms[0]), [m for m in ms if m.ok]) for ms in grouped.values())]
    if published:
        notes.append(f"The seed 001 row is {published['source']}: compare the shape, not the values.")
    return section("Circuit breaker under overload", EXPLAINED, markdown(rows, head),
                   "\n".join(f"- {n}" for n in notes if n))


def _with_derived(frame: pd.DataFrame) -> pd.DataFrame:
    """The app's own 5xx (every 5xx the breaker did not make), per measurement."""
    frame = frame.copy()
    if frame.empty:
        return frame
    fives = [c for c in frame.columns if c.startswith("status_codes.5")]
    frame["app_5xx"] = frame[fives].fillna(0).sum(axis=1) - frame["figures.overloaded"]
    return frame


def _preset(m: Measurement) -> str:
    return m.params.get("breaker", "?")


def _reading(preset: str, ms: list[Measurement]) -> str:
    """One plain sentence on what this preset's repeats show, as a client would put it."""
    measured = [m.figures for m in ms if m.figures and m.figures.slots]
    if not measured:
        return f"`{preset}`: not measured."
    rps = statistics.median(f.rps for f in measured)
    offered = statistics.median(f.offered_rps or 0 for f in measured)
    slots = sum(f.slots for f in measured)
    ok = sum(f.requests - f.failures for f in measured)
    unanswered = sum(f.unfinished + f.unsent for f in measured)
    overloaded = sum(f.overloaded for f in measured)
    overflow = sum(_counter(m, "upstream_rq_pending_overflow") for m in ms if m.figures)
    due_p99 = statistics.median(f.corrected.p99_ms or 0 for f in measured)
    text = (f"`{preset}`: {slots} requests were due at {offered:.0f} req/s; {ok} got a successful answer "
            f"({100 * ok / slots:.2f} %), answers came at {rps:.0f} req/s, and timed from when they were due, "
            f"p99 was {due_p99:.0f} ms.")  # fmt: skip
    if unanswered:
        text += f" {unanswered} were still unanswered when the phase ended (counted late by all they waited)."
    if overloaded:
        same = ", exactly the pending-overflow count Envoy reports" if overloaded == overflow else ""
        text += f" Envoy refused {overloaded} requests with a fast 503 (x-envoy-overloaded){same}."
    held = sum(f.held + f.unsent for f in measured)
    if held:
        text += f" The in-flight bound (--max-in-flight) held {held} slots: the offered rate was not fully sent."
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
