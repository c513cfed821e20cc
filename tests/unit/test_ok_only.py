"""Successful answers only in every figure a verdict is judged on (the headline, the verdicts, the SLO, the sweep's
knee): a stack that fails fast must not look faster or higher. Errors are their own figure with one definition,
failed + unanswered of requests + unanswered slots. Every expected value below is computed by hand."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.analysis import slo
from bench.analysis.summary import figure, group, summarize
from bench.load.record import Figures, ProcessReport, Tally
from bench.report.measure import main_table
from bench.report.verdicts import verdict
from bench.results import LoadShape, Measurement
from bench.scenarios.sweep import SweepSettings
from bench.scenarios.sweep import verdict as step_verdict
from tests.factories import START, measured, run_of
from tests.integration.conftest import table_rows

SPREAD = (20.0, 20.4, 19.6)  # each repeat's successful answers take this long (ms)


def _fails_fast(repeat: int, ok_ms: float = 20.0) -> Measurement:
    """100 requests in 10 s: 50 answered successfully in `ok_ms`, 50 failed in 1 ms."""
    return measured("fails_fast", repeat, [ok_ms] * 50, failed=[1.0] * 50)


def test_a_failure_answered_in_1_ms_does_not_lower_the_latency_or_raise_the_throughput() -> None:
    m = _fails_fast(1)
    assert figure("latency.avg_ms").read(m) == 10.5  # every answer: (50 x 20 + 50 x 1) / 100, shown, never judged
    assert figure("ok_latency.avg_ms").read(m) == 20.0  # what is judged
    assert figure("ok_latency.p50_ms").read(m) == 20.0 and figure("latency.p50_ms").read(m) == 1.0
    assert figure("figures.rps").read(m) == 10.0  # 100 answers in 10 s
    assert figure("figures.ok_rps").read(m) == 5.0  # 50 successful answers in 10 s
    assert figure("figures.error_pct").read(m) == 50.0


def test_the_verdict_the_headline_and_the_slo_read_the_successful_answers() -> None:
    base = [measured("ok", r, [ms] * 100) for r, ms in enumerate(SPREAD, 1)]  # 10 req/s, all successful
    other = [_fails_fast(r, ms) for r, ms in enumerate(SPREAD, 1)]
    avg = verdict("avg", group("ok", base), group("fails_fast", other), interleaved=True)
    # the same 20.0 / 20.4 / 19.6 ms on both sides: ratio 1 in every pair (every answer's: 10.5 ms, "1.9x faster")
    assert avg is not None and (avg.base, avg.other) == (20.0, 20.0) and avg.ratio.ratio == pytest.approx(1.0)
    assert not avg.ratio.significant
    rps = verdict("rps", group("ok", base), group("fails_fast", other), interleaved=True)
    assert rps is not None and (rps.base, rps.other) == (10.0, 5.0) and rps.change() == "2.00x lower"
    stacks = summarize(run_of(*base, *other)).of("stack")
    row = table_rows(main_table(run_of(*base, *other), stacks), "`fails_fast`")[0]
    assert row[2:6] == ["20.00 [19.60-20.40]", "20.00 [19.60-20.40]", "5", "50.00%"]
    judged = slo.judge(slo.parse("avg<15ms"), "fails_fast", other)
    assert not judged.passed and judged.objectives[0].value == 20.0


def _open(ok: int, failed: int, unfinished: int, unsent: int, offered: float = 10.0) -> Figures:
    """An open-model window as the locustfile counts it: each answer also timed from its due time (ms + 5)."""
    tally = Tally(window=0, start=START, end=START + 10)
    for i in range(ok + failed):
        tally.add(i % 10, 10.0, 500 if i >= ok else 200, i >= ok, False, corrected_ms=15.0 if i < ok else 1.0)
    for _ in range(unfinished):
        tally.cut(3000.0, sent=True)
    for _ in range(unsent):
        tally.cut(2000.0, sent=False)
    return Figures.of([tally], [ProcessReport("h-1", START, START + 10, offered_rps=offered)])


def test_errors_are_failed_plus_unanswered_of_requests_plus_unanswered_slots() -> None:
    f = _open(ok=90, failed=5, unfinished=3, unsent=2)
    m = replace(measured("open"), figures=f, load=LoadShape.open(10.0, 10.0))
    assert (f.requests, f.failures, f.slots) == (95, 5, 100)
    assert figure("figures.error_pct").read(m) == 10.0  # (5 + 3 + 2) / (95 + 3 + 2)
    # from due: the 90 successful answers only (15 ms); the failed (1 ms) and the cut (2-3 s) are the errors'
    assert figure("ok_corrected.p99_ms").read(m) == 15.0 and figure("ok_corrected.avg_ms").read(m) == 15.0
    assert figure("corrected.max_ms").read(m) == 3000.0  # every slot due, shown beside, never judged


def test_a_sweep_step_is_judged_on_errors_with_the_unanswered_and_on_successful_answers() -> None:
    open_settings = SweepSettings(model="open", p99_target_ms=None)
    unanswered = replace(measured("s"), figures=_open(ok=98, failed=0, unfinished=2, unsent=0))
    # no answer failed, but 2 of the 100 slots due were never answered: 2 % errors, over the 1 % allowed
    assert step_verdict(unanswered, None, open_settings) == "errors 2.0 % > 1 %"
    kept = replace(measured("s"), figures=_open(ok=99, failed=0, unfinished=0, unsent=1, offered=10.0))
    # 99 successful answers in 10 s: 9.9 of the 10 req/s offered (>= 95 %), errors 1.0 % (not over 1 %)
    assert step_verdict(kept, None, open_settings) == "ok"
    closed = SweepSettings(p99_target_ms=15.0, max_error_pct=60.0)
    assert step_verdict(_fails_fast(1), None, closed) == "p99 20.0 ms > 15 ms"  # its successful answers: 20 ms
    timeouts = measured("s", 1, [10.0] * 50, failed=[30.0] * 50)  # every answer's p99: 30 ms; the successful: 10
    assert step_verdict(timeouts, None, closed) == "ok"  # the slow failures are the errors figure's (50 % < 60 %)
    best = measured("s", 1, [5.0] * 60)  # 6 req/s, all successful
    # twice the users, 10 answers/s but only 5 successful ones: throughput fell, not grew
    grown = replace(_fails_fast(1, ok_ms=5.0), load=LoadShape(users=20, spawn_rate=20, duration_s=10))
    assert step_verdict(grown, best, replace(closed, p99_target_ms=100.0)) == (
        "throughput stopped growing (-17 % for 20 vs 10 users)")
