"""The breaker experiment's section: each preset at the same offered rate, Envoy's counters beside locust's."""

from __future__ import annotations

from pathlib import Path

from bench.analysis.summary import LabelSummary, RunSummary, ok_latency, ok_rps
from bench.report import charts as chart_files
from bench.report.common import codes
from bench.report.tables import Column, cells, markdown, number, section
from bench.results import Measurement, RunResult

COLUMNS = [
    Column("figures.offered_rps"),
    Column("figures.rps", "answered req/s"),
    Column("figures.slots"),
    Column("figures.success_pct", "ok % of slots"),
    Column("figures.unfinished"),
    Column("figures.overloaded"),
    Column("envoy.upstream_rq_pending_overflow", "Envoy pending overflow"),
    Column("envoy.upstream_cx_overflow", "Envoy cx overflow"),
    Column("envoy.outlier_detection.ejections_enforced_total", "ejections"),
    Column("figures.app_5xx"),
    Column("latency.p50_ms", "p50 ms from send", "{:.1f}"),
    Column("latency.p99_ms", "p99 ms from send", "{:.1f}"),
    Column("corrected.p50_ms"),
    Column("corrected.p99_ms"),
    Column("figures.late"),
    Column("figures.peak_in_flight"),
]
EXPLAINED = (
    "Each phase offers its rate as an open model (like `vegeta attack -rate`): every request is sent when it is "
    "due, however slow the answers, with as many in flight as needed (up to `--max-in-flight`). *from send* "
    "times a request from when it left, as a client library would; *from due* times it from when it was due, "
    "so the waiting a slow service imposes is counted (wrk2's correction of coordinated omission), and a slot "
    "still unanswered when the phase ended counts as late by all the time it waited. *ok % of slots* is the "
    "share of due requests that got a successful answer within the phase. *late slots* left more than 10 ms "
    "after they were due (the generator or the in-flight bound held them), or never left. *unanswered at end*: "
    "sent, no answer when the phase ended; slots never sent are counted apart in each preset's reading below."
)


def sections(run: RunResult, summary: RunSummary) -> list[str]:
    return [breaker_section(run, summary.of("overload"))]


def charts(run: RunResult, summary: RunSummary, out_dir: Path) -> list[Path]:
    return chart_files.write_charts(run, out_dir, summary.of("overload"))


def breaker_section(run: RunResult, grouped: dict[str, LabelSummary]) -> str:
    """Breaker off vs on at the same arrival rate: one row per preset, repeats as median [min-max]."""
    if not grouped:
        return ""
    figures = cells(grouped, COLUMNS)
    rows = [[f"`{_preset(s.repeats[0])}`", *figures[label], codes(s.ok)] for label, s in grouped.items()]
    head = ["breaker", *(c.title for c in COLUMNS), "status codes"]
    ref = run.stacks.get(next(iter(grouped.values())).repeats[0].stack)
    published = ref.reference.get("breaker") if ref else None
    if published:
        shown = {"offered req/s": str(published["offered_rps"]), "ok % of slots": f"{published['success_pct']:.2f}",
                 "p50 ms from send": number(published.get("p50_ms"), "{:.1f}"),
                 "p99 ms from send": number(published.get("p99_ms"), "{:.1f}")}  # fmt: skip
        rows.append(["seed 001 (`seed000`, published)", *(shown.get(c.title, "-") for c in COLUMNS),
                     f"503: {published['code_503']}"])  # fmt: skip
    notes = [_capacity_note(run), *(_reading(_preset(s.repeats[0]), s) for s in grouped.values())]
    if published:
        notes.append(f"The seed 001 row is {published['source']}: compare the shape, not the values.")
    return section("Circuit breaker under overload", EXPLAINED, markdown(rows, head),
                   "\n".join(f"- {n}" for n in notes if n))


def _preset(m: Measurement) -> str:
    return m.params.get("breaker", "?")


def _reading(preset: str, s: LabelSummary) -> str:
    """One plain sentence on what this preset's repeats show, as a client would put it (medians from the
    summary, counts summed over the ok repeats)."""
    ms = s.ok
    measured = [m.figures for m in ms if m.figures and m.figures.slots]
    rps, offered, due = s.spread("figures.rps"), s.spread("figures.offered_rps"), s.spread("corrected.p99_ms")
    if not measured or rps is None:
        return f"`{preset}`: not measured."
    slots = sum(f.slots for f in measured)
    ok = sum(f.requests - f.failures for f in measured)
    unfinished, unsent = sum(f.unfinished for f in measured), sum(f.unsent for f in measured)
    overloaded = sum(f.overloaded for f in measured)
    overflow = sum(s.values("envoy.upstream_rq_pending_overflow").values())
    text = (f"`{preset}`: {slots} requests were due at {offered.mid if offered else 0:.0f} req/s; {ok} got a "
            f"successful answer ({100 * ok / slots:.2f} %), answers came at {rps.mid:.0f} req/s, and timed from when "
            f"they were due, p99 was {due.mid if due else 0:.0f} ms.")  # fmt: skip
    if unfinished:
        text += f" {unfinished} were sent but still unanswered when the phase ended (counted late by all they waited)."
    if overloaded:
        same = ", exactly the pending-overflow count Envoy reports" if overloaded == overflow else ""
        text += f" Envoy refused {overloaded} requests with a fast 503 (x-envoy-overloaded){same}."
    held = sum(f.held for f in measured)
    if held:
        text += (f" {held} waited for a free sender, --max-in-flight requests being in flight already, and left "
                 "late.")  # fmt: skip
    if unsent:
        text += (f" {unsent} fell due in the phase but were never sent: still queued when it ended (behind the "
                 "in-flight bound, or a generator that fell behind) or due in its last moment.")  # fmt: skip
    return text


def _capacity_note(run: RunResult) -> str:
    cap = next((m for m in run.rows("capacity") if m.ok and m.figures), None)
    if cap is None or cap.figures is None:
        return ""
    p99 = number(ok_latency(cap.figures).p99_ms, "{:.0f}")
    return (f"Capacity measured first (closed loop, {cap.figures.requests} requests, breaker off): "
            f"{ok_rps(cap.figures):.0f} successful answers per second at p99 {p99} ms.")
