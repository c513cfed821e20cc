"""--slo: parsed strictly (one-line errors that list what is valid), passed when a majority of the repeats each
met every objective (two: both), each objective shown as its median over the repeats,
kept in run.json, shown in the summary, and exit code 99 when a stack misses it. The sweep climbs past
its knee until the SLO breaks and marks the sustainable load."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.analysis import slo
from bench.cli import EXIT_FAILED, EXIT_OK, EXIT_SLO, main
from bench.errors import ConfigError
from bench.load.record import Figures, Latency, ProcessReport, Tally
from bench.report import write_summaries
from bench.results import LoadShape, Measurement, RunResult, SloResult, load_run, save_run
from bench.scenarios import sweep as sweep_scenario
from bench.scenarios.measure import judge as judge_measure
from bench.stacks.catalog import discover, select
from bench.stacks.variants import Variant, variants
from tests.factories import START, failed, measured, run_of
from tests.integration.conftest import table_rows


def test_an_slo_reads_every_figure_in_its_unit() -> None:
    parsed = slo.parse(" p99 < 100ms, errors<1%,rps>=500, p99.9<=0.25s, avg>1.5ms")
    assert [(o.figure, o.op, o.threshold, o.unit) for o in parsed.objectives] == [
        ("p99", "<", 100.0, "ms"), ("errors", "<", 1.0, "%"), ("rps", ">=", 500.0, "req/s"),
        ("p99.9", "<=", 250.0, "ms"), ("avg", ">", 1.5, "ms")]  # fmt: skip
    assert parsed.text == "p99<100ms,errors<1%,rps>=500,p99.9<=0.25s,avg>1.5ms"
    every = ",".join(f"{name}<1s" for name in ("avg", *(f.removesuffix("_ms").replace("_", ".")
                                                        for f in Latency.percentile_fields()), "max"))  # fmt: skip
    assert [o.figure for o in slo.parse(every).objectives] == ["avg", "p50", "p90", "p95", "p99", "p99.9", "max"]


FIGURES = "figures: avg, p50, p90, p95, p99, p99.9, max, errors, rps"
MALFORMED = [
    ("p98<100ms", f"--slo: unknown figure 'p98' in 'p98<100ms'; {FIGURES}"),
    ("p99=100ms", "--slo: unknown operator '=' in 'p99=100ms'; operators: <, <=, >, >="),
    ("p99=>100ms", "--slo: unknown operator '=>' in 'p99=>100ms'; operators: <, <=, >, >="),
    ("p99<100us", "--slo: p99 does not take the unit 'us' in 'p99<100us'; p99 takes ms or s"),
    ("p99<100", "--slo: p99 needs a unit in 'p99<100'; p99 takes ms or s"),
    ("errors<1", "--slo: errors needs a unit in 'errors<1'; errors takes %"),
    ("rps>500/s", "--slo: rps does not take the unit '/s' in 'rps>500/s'; rps takes a plain number (req/s)"),
    ("p99<fast", "--slo: cannot read 'fast' as a number in 'p99<fast'"),
    ("p99 100ms", f"--slo: cannot read 'p99 100ms' as FIGURE OP VALUE; {FIGURES}; operators: <, <=, >, >="),
    ("p99<100ms,,rps>1", "--slo: an empty objective in 'p99<100ms,,rps>1'"),
    ("p99<100ms,p99<50ms", "--slo: p99 is given twice ('p99<100ms' and 'p99<50ms')"),
    ("errors<150%", "--slo: errors is a share of the requests, 0 to 100 %, got 'errors<150%'"),
    ("", "--slo: no objective given"),
]


@pytest.mark.parametrize(("text", "message"), MALFORMED, ids=[m[0] or "empty" for m in MALFORMED])
@pytest.mark.parametrize("command", [["stack", "flask"], ["all"], ["sweep"]])
def test_a_malformed_slo_is_one_line_before_anything_starts(
    text: str, message: str, command: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main([*command, "--slo", text, "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"ERROR: {message}"
    assert err[1].startswith("TIP: ") and len(err) == 2
    assert not (tmp_path / "runs").exists()


def test_bench_slo_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:  # fmt: skip
    monkeypatch.setenv("BENCH_SLO", "p99<1parsec")
    assert main(["stack", "flask", "--results", str(tmp_path)]) == 2
    assert "ERROR: --slo: p99 does not take the unit 'parsec'" in capsys.readouterr().err


def test_the_breaker_refuses_an_slo_with_a_reason(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["breaker", "--slo", "p99<100ms", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "ERROR: breaker does not take --slo\nTIP: the breaker experiment overloads the stack on purpose" in err


def test_the_sweep_takes_the_slo_or_the_p99_target_not_both(capsys: pytest.CaptureFixture[str],
                                                            tmp_path: Path) -> None:  # fmt: skip
    assert main(["sweep", "--slo", "p99<50ms", "--p99-target", "80", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "ERROR: --slo replaces --p99-target: give one of them\n" in err
    assert 'TIP: put the p99 in the SLO, e.g. --slo "p99<80ms,errors<1%"' in err


def _repeats(label: str, p99s: list[float], failures: int = 0) -> list[Measurement]:
    """Repeats whose p99 is exactly each of `p99s` (100 requests: 98 fast, 2 at the p99)."""
    return [measured(label, r, [1.0] * (98 - failures) + [p99] * 2, failed=[1.0] * failures)
            for r, p99 in enumerate(p99s, 1)]  # fmt: skip


def test_a_majority_of_the_repeats_meeting_every_objective_decides_and_the_misses_are_listed() -> None:
    objectives = slo.parse("p99<100ms,errors<1%,rps>=9")
    close = slo.judge(objectives, "flask", _repeats("flask", [90.0, 150.0, 95.0]))
    assert (close.passed, close.repeats, close.met_by, close.needed) == (True, 3, [1, 3], 2)
    p99, errors, rps = close.objectives
    assert (p99.value, p99.met, p99.missed_in, p99.missed_values) == (95.0, True, [2], [150.0])
    assert (errors.value, errors.met, rps.value, rps.met) == (0.0, True, 10.0, True)
    assert slo.line(close) == "flask: passed: 2 of 3 repeats met every objective; repeat 2 missed p99<100ms (150.00 ms)"
    over = slo.judge(objectives, "flask", _repeats("flask", [120.0, 150.0, 95.0], failures=3))
    assert not over.passed and over.met_by == []
    assert [(o.value, o.met, o.missed_in) for o in over.objectives] == [
        (120.0, False, [1, 2]), (3.0, False, [1, 2, 3]), (9.7, True, [])]  # fmt: skip
    # 97 successful answers of 100 in 10 s: rps counts successful answers only, 9.7 (not 10)
    assert slo.line(over) == ("flask: FAILED: 0 of 3 repeats met every objective (needs 2); "
                              "repeat 1 missed p99<100ms (120.00 ms), errors<1% (3.00 %); "
                              "repeat 2 missed p99<100ms (150.00 ms), errors<1% (3.00 %); "
                              "repeat 3 missed errors<1% (3.00 %)")  # fmt: skip
    nothing = slo.judge(objectives, "flask", [failed("flask", 1), failed("flask", 2)])
    assert not nothing.passed and nothing.not_measured == [1, 2] and all(o.value is None for o in nothing.objectives)
    assert slo.line(nothing) == "flask: FAILED: no successful measurement"


def test_two_repeats_pass_only_when_both_met_every_objective() -> None:
    # the median of two is their mean: (40 + 150) / 2 = 95 would meet p99<100ms, yet repeat 2 missed it
    two = slo.judge(slo.parse("p99<100ms"), "flask", _repeats("flask", [40.0, 150.0]))
    (p99,) = two.objectives
    assert (two.passed, two.met_by, two.needed) == (False, [1], 2)
    assert (p99.value, p99.met, p99.missed_in, p99.missed_values) == (95.0, False, [2], [150.0])
    assert slo.line(two) == ("flask: FAILED: 1 of 2 repeats met every objective (needs both); "
                             "repeat 2 missed p99<100ms (150.00 ms)")  # fmt: skip
    both = slo.judge(slo.parse("p99<100ms"), "flask", _repeats("flask", [40.0, 90.0]))
    assert both.passed and slo.line(both) == "flask: passed: 2 of 2 repeats met every objective"


def test_medians_that_each_meet_their_objective_do_not_pass_a_label_no_repeat_met_whole() -> None:
    objectives = slo.parse("p99<100ms,errors<1%,avg<10ms")
    repeats = [
        measured("flask", 1, [1.0] * 98 + [150.0] * 2),  # p99 150 ms: missed; avg 3.98 ms, no errors
        measured("flask", 2, [1.0] * 97, failed=[1.0] * 3),  # 3 % errors: missed; p99 1 ms, avg 1 ms
        measured("flask", 3, [20.0] * 100),  # avg 20 ms: missed; p99 20 ms, no errors
    ]
    verdict = slo.judge(objectives, "flask", repeats)
    # each objective's median meets it (p99 20 ms, errors 0 %, avg 3.98 ms), met by 2 of the 3 repeats
    assert [(o.value, o.met, o.missed_in, o.missed_values) for o in verdict.objectives] == [
        (20.0, True, [1], [150.0]), (0.0, True, [2], [3.0]), (3.98, True, [3], [20.0])]  # fmt: skip
    assert not verdict.passed and verdict.met_by == []
    assert slo.line(verdict) == ("flask: FAILED: 0 of 3 repeats met every objective (needs 2); "
                                 "repeat 1 missed p99<100ms (150.00 ms); repeat 2 missed errors<1% (3.00 %); "
                                 "repeat 3 missed avg<10ms (20.00 ms)")  # fmt: skip


def _open_figures(answered_ms: list[float], waited_ms: list[float], unanswered: int) -> Figures:
    """An open-model load as the locustfile counts it: each answer timed from its send and from its due time."""
    tally = Tally(window=0, start=START, end=START + 10)
    for i, (ms, due) in enumerate(zip(answered_ms, waited_ms, strict=True)):
        tally.add(i % 10, ms, 200, False, False, corrected_ms=due)
    for _ in range(unanswered):
        tally.cut(5000.0, sent=True)
    return Figures.of([tally], [ProcessReport("h-1", START, START + 10, offered_rps=20.0)])


def test_the_open_model_is_judged_from_when_requests_were_due() -> None:
    figures = _open_figures([5.0] * 98, [5.0] * 90 + [400.0] * 8, unanswered=2)
    m = replace(measured("flask"), figures=figures)
    p99, errors = slo.parse("p99<100ms,errors<1%").objectives
    # the successful answers from their due time: 90 at 5 ms, 8 at 400 ms -> p99 400 ms (5 ms from their send)
    assert figures.latency.p99_ms == 5.0 and p99.value_of(m) == 400.0
    assert errors.value_of(m) == 2.0  # 2 of 100 due requests got no answer: errors, not latency
    assert [o.figure for o in slo.missed(slo.parse("p99<100ms,errors<1%"), m)] == ["p99", "errors"]


def test_a_missed_slo_exits_99_a_met_one_0_and_a_failed_measurement_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    outcome: dict[str, RunResult] = {}
    monkeypatch.setattr("bench.session.execute", lambda *args, **kwargs: outcome["run"])
    argv = ["stack", "flask", "flask_gunicorn", "--slo", "p99<100ms", "--results", str(tmp_path)]
    for p99s, extra, code in (([150.0, 160.0], [], EXIT_SLO), ([20.0, 30.0], [], EXIT_OK),
                              ([150.0, 160.0], [failed("flask", 3)], EXIT_FAILED)):  # fmt: skip
        run = run_of(*_repeats("flask", [20.0, 20.0]), *_repeats("flask_gunicorn", p99s), *extra)
        run.slo = SloResult("p99<100ms", [slo.judge(slo.parse("p99<100ms"), label, [m for m in run.measurements
                                                                                   if m.label == label])
                                          for label in ("flask", "flask_gunicorn")])  # fmt: skip
        outcome["run"] = run
        assert main(argv) == code
    err = capsys.readouterr().err
    missed = ("ERROR: 1 of 2 missed the SLO p99<100ms:\n  flask: passed: 2 of 2 repeats met every objective\n"
              "  flask_gunicorn: FAILED: 0 of 2 repeats met every objective (needs both); "
              "repeat 1 missed p99<100ms (150.00 ms); repeat 2 missed p99<100ms (160.00 ms)")
    assert err.count(missed) == 1  # exit 99
    # beside a failed measurement (exit 1): flask's third repeat failed, counted as meeting nothing; 2 of 3 pass
    assert ("  flask: passed: 2 of 3 repeats met every objective; repeat 3 failed (not measured: counts as missing "
            "every objective)\n") in err  # fmt: skip
    assert ("SLO met by every stack p99<100ms:\n  flask: passed: 2 of 2 repeats met every objective\n"
            "  flask_gunicorn: passed: 2 of 2 repeats met every objective") in err
    assert "ERROR: 1 measurement(s) failed:\n  flask (repeat 3): port 8000 in use" in err


class _Session:
    """What a scenario sees of bench.session.Session, with a load that answers from a formula."""

    def __init__(self, p99_of: Any, rps_of: Any, tmp: Path) -> None:
        self.run = run_of(scenario="sweep")
        self.run_dir, self.p99_of, self.rps_of = tmp, p99_of, rps_of

    def new(self, stack: Any, role: Any, load: LoadShape, **kwargs: Any) -> Measurement:
        return Measurement(label=kwargs.get("label") or stack.name, stack=stack.name, role=role, load=load)

    def load(self, running: object, m: Measurement, out: Path) -> None:
        assert m.load is not None
        users = m.load.users
        m.figures = measured(m.label, latencies_ms=[1.0] * 98 + [self.p99_of(users)] * 2).figures
        m.figures = replace(m.figures, rps=float(self.rps_of(users)))  # type: ignore[arg-type]
        m.status = "ok"

    def record(self, m: Measurement) -> None:
        self.run.measurements.append(m)

    def save(self) -> None:
        pass

    @contextmanager
    def up(self, stack: Any, params: Any, folder: str, replicas: int | None = None) -> Iterator[object]:
        yield object()


def _sweep(tmp_path: Path, slo_text: str | None, max_users: int = 1024) -> RunResult:
    """A sweep of a stack whose throughput stops growing at 8 users while p99 grows by 2 ms a user."""
    settings = sweep_scenario.SweepSettings(slo=slo.parse(slo_text) if slo_text else None, max_users=max_users)
    flask = discover()["flask"]
    config = sweep_scenario.SweepConfig(stacks=(flask,), placement=None, sweep=settings,  # type: ignore[arg-type]
                                        variants=(Variant(flask, "flask", {}),))  # fmt: skip
    session = _Session(lambda users: 2.0 * users, lambda users: 100 * min(users, 8), tmp_path)
    sweep_scenario.Sweep().run(session, config)  # type: ignore[arg-type]
    return session.run


def _loads(run: RunResult, mark: str) -> list[float]:
    return [m.step.load for m in run.rows("step") if m.step and getattr(m.step, mark)]


def test_without_an_slo_the_sweep_stops_at_the_knee(tmp_path: Path) -> None:
    run = _sweep(tmp_path, None)
    assert [m.step.load for m in run.rows("step") if m.step] == [4, 8, 16, 12, 10]
    assert _loads(run, "knee") == [8] and run.slo is None


def test_with_an_slo_the_sweep_climbs_past_the_knee_until_it_breaks(tmp_path: Path) -> None:
    run = _sweep(tmp_path, "p99<50ms,rps>=700")
    steps = {m.step.load: m.step for m in run.rows("step") if m.step}
    assert list(steps) == [4, 8, 16, 32, 24, 28]  # doubling past the knee (8), then bisecting 16..32
    assert steps[4].slo_missed == ["rps 400.00 req/s, not >=700"]  # a lower bound missed: the climb goes on
    assert steps[32].slo_missed == ["p99 64.00 ms, not <50ms"] and steps[28].slo_missed == ["p99 56.00 ms, not <50ms"]
    assert steps[24].slo_missed == [] and _loads(run, "sustainable") == [24] and _loads(run, "knee") == [8]
    assert run.slo is not None and run.slo.text == "p99<50ms,rps>=700"
    (verdict,) = run.slo.verdicts
    assert verdict.passed and verdict.sustainable == 24 and [o.value for o in verdict.objectives] == [48.0, 800.0]


def test_a_stack_that_meets_the_slo_at_no_load_fails_it(tmp_path: Path) -> None:
    run = _sweep(tmp_path, "p99<5ms")
    assert [m.step.load for m in run.rows("step") if m.step] == [4]
    assert run.slo is not None and not run.slo.verdicts[0].passed and run.slo.verdicts[0].sustainable is None
    unbroken = _sweep(tmp_path, "p99<1s", max_users=16)
    assert unbroken.slo is not None and unbroken.slo.verdicts[0].sustainable == 16  # never broke up to --max-users


def test_verdicts_are_kept_in_run_json_and_shown_in_the_summary(tmp_path: Path) -> None:
    run = run_of(*_repeats("flask", [20.0, 150.0, 160.0]), *_repeats("flask_gunicorn", [20.0, 30.0, 120.0]))

    class Kept:
        def __init__(self) -> None:
            self.run = run

        def save(self) -> None:
            save_run(run_dir, run)

    run_dir = tmp_path / "runs" / run.run_id
    run_dir.mkdir(parents=True)
    rows = tuple(variants([(s, s.name) for s in select(["flask", "flask_gunicorn"])]))
    judge_measure(Kept(), slo.parse("p99<100ms,rps>5"), rows)  # type: ignore[arg-type]
    again = load_run(run_dir)
    assert again == run and again.slo is not None
    assert [(v.label, v.passed) for v in again.slo.verdicts] == [("flask", False), ("flask_gunicorn", True)]
    summary = write_summaries(tmp_path, run_dir).read_text()
    assert "## SLO `p99<100ms,rps>5`\n\n**Failed**: `flask`." in summary
    rows = table_rows(summary.split("## SLO")[1])
    assert ("- `flask`: **failed**: 1 of 3 repeats met every objective (needs 2); repeat 2 missed p99<100ms "
            "(150.00 ms); repeat 3 missed p99<100ms (160.00 ms)\n- `flask_gunicorn`: passed: 2 of 3 repeats met every "
            "objective; repeat 3 missed p99<100ms (120.00 ms)\n") in summary
    assert rows[0] == ["stack", "SLO", "repeats that met every objective", "`p99<100ms`", "`rps>5`"]
    assert rows[1] == ["`flask`", "**FAIL**", "1 of 3 (needs 2)",
                       "**150.00 ms missed** (missed by repeats 2 (150.00 ms), 3 (160.00 ms))", "10.0 req/s met"]
    assert rows[2] == ["`flask_gunicorn`", "pass", "2 of 3", "30.00 ms met (missed by repeat 3 (120.00 ms))",
                       "10.0 req/s met"]  # fmt: skip


def test_a_sweep_summary_shows_the_sustainable_load_beside_the_peak(tmp_path: Path) -> None:
    run = _sweep(tmp_path, "p99<50ms")
    run_dir = tmp_path / "runs" / run.run_id
    run_dir.mkdir(parents=True)
    run.settings = {"sweep": {"model": "closed", "max_error_pct": 1.0, "slo": "p99<50ms"}}
    save_run(run_dir, run)
    summary = write_summaries(tmp_path, run_dir).read_text()
    section = summary.split("## SLO `p99<50ms`: sustainable load")[1]
    assert table_rows(section, "`flask`")[0] == ["`flask`", "pass", "24", "800", "48.00 ms met", "800 at 8", "28",
                                                  "p99 56.00 ms, not <50ms"]  # fmt: skip
    steps = table_rows(summary.split("Every step:")[1].split("\n## ")[0], "`flask`")
    assert [(row[1], row[-1]) for row in steps][-4:] == [
        ("16", "met"), ("24", "met (sustainable)"), ("28", "missed: p99 56.00 ms, not <50ms"),
        ("32", "missed: p99 64.00 ms, not <50ms")]  # fmt: skip


def test_an_slo_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        slo.parse("p99")


def test_a_verdict_judged_before_version_5_is_said_as_it_was_judged() -> None:
    # run.json before 5: each objective judged on its median, no repeat-by-repeat record (met_by None, no values)
    from bench.results import ObjectiveVerdict, SloVerdict

    old = SloVerdict("flask", True, [ObjectiveVerdict("p99<100ms", "ms", 95.0, True, [2])], repeats=3)
    assert slo.repeats_said(old) == "judged on each objective's median over 3 repeats"
    new = replace(old, met_by=[1, 3], needed=2)
    assert slo.repeats_said(new) == "2 of 3 repeats met every objective; repeat 2 missed p99<100ms"  # no value kept


def test_a_repeat_that_failed_counts_against_the_majority() -> None:
    # 3 repeats, 2 failed to measure (a stack whose requests mostly failed is not ok): the one ok repeat meets
    # `errors<1%` on its own, but 1 of 3 is no majority (needs 2)
    ms = [*_repeats("flask", [20.0]), failed("flask", 2), failed("flask", 3)]
    v = slo.judge(slo.parse("p99<100ms,errors<1%"), "flask", ms)
    assert (v.passed, v.repeats, v.met_by, v.needed, v.not_measured) == (False, 3, [1], 2, [2, 3])
    assert [o.met for o in v.objectives] == [False, False]  # 1 ok repeat met each, of 3
    assert slo.line(v).startswith("flask: FAILED: 1 of 3 repeats met every objective (needs 2); repeat 2 failed")
