"""`bench compare RUN_A RUN_B`: Welch verdicts with intervals per label and figure, labels in one run listed,
incomparable runs refused with every difference named, what only differs in machine or commit warned about,
version-1 runs read, and the comparison written beside the runs without replacing an earlier one."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.cli import main
from bench.errors import ConfigError
from bench.load.record import Figures, ProcessReport, Tally
from bench.report.compare import compare_runs, markdown
from bench.report.verdicts import verdict
from bench.results import LoadShape, Measurement, RunResult, load_run, save_run
from tests.factories import START, failed, measured, run_of
from tests.integration.conftest import table_rows

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {"users": 8, "spawn_rate": 8.0, "duration_s": 3.0, "warmup_s": 1.0, "processes": 1,
            "user_class": "FastHttpUser", "stack_cpus": [0], "load_cpus": [1], "repeat": 3}  # fmt: skip
MACHINE = {"cpu_model": "Xeon", "cpu_count": 2, "kernel": "6.1", "python": "3.11.7", "git_commit": "11f9b6e",
           "packages": {"locust": "2.47.0"}}  # fmt: skip


def _stack(label: str, scale: float, repeats: int = 3, **kwargs: Any) -> list[Measurement]:
    """Repeats of `label` whose every latency is `scale` times a base shape, a little apart from each other."""
    return [measured(label, r, [scale * (1 + 0.02 * r) * k for k in (1.0, 1.5, 2.0, 3.0) for _ in range(30)],
                     **kwargs) for r in range(1, repeats + 1)]  # fmt: skip


def _run(run_id: str, *ms: Measurement, **changes: Any) -> RunResult:
    kept = {"settings": dict(SETTINGS), "machine": dict(MACHINE)} | changes
    return replace(run_of(*ms), run_id=run_id, status="complete", **kept)


@pytest.fixture
def runs() -> tuple[RunResult, RunResult]:
    a = _run("20261126-100000", *_stack("flask", 5.0), *_stack("flask_gunicorn", 2.0), *_stack("nginx_only", 1.0),
             failed("fastapi_istio"))  # fmt: skip
    b = _run("20261126-110000", *_stack("flask", 7.5), *_stack("flask_gunicorn", 2.0), *_stack("granian", 1.0),
             *_stack("fastapi_istio", 3.0))  # fmt: skip
    return a, b


def test_each_figure_of_each_label_gets_a_welch_verdict_with_its_interval(runs: tuple[RunResult, RunResult]) -> None:
    a, b = runs
    c = compare_runs(a, b)
    assert [lc.label for lc in c.labels] == ["flask", "flask_gunicorn"]
    assert (c.only_base, c.only_other) == (["nginx_only"], ["granian"])
    assert c.not_compared == [("fastapi_istio", "no successful measurement in A")]
    flask = {v.figure: v for v in c.labels[0].verdicts}
    # the closed model: latency is throughput seen from the other side (Little's law), shown, never judged
    assert list(flask) == ["throughput", "requests per CPU-second"] and not c.labels[0].open_model
    # by hand: the mean of the latency shape (1, 1.5, 2, 3) is 1.875, so A's averages are 5 * 1.875 * (1.02, 1.04,
    # 1.06) = 9.562, 9.75, 9.938 ms (recorded to 3 decimals) and B's 1.5 times those: 14.344, 14.625, 14.906 ms
    # (medians 9.75 and 14.625). Ratio of geometric means 14.6232 / 9.7488 = 1.5. Each side's log values vary as
    # ln(1.02, 1.04, 1.06):
    # variance 0.000370, so se = sqrt(2 * 0.000370 / 3) = 0.015718 on Welch-Satterthwaite df 4 (3 + 3 repeats,
    # equal spreads); t(4) = 2.7764 -> half width 0.043640 -> 1.5 * exp(-+0.043640) = 1.4360 to 1.5669.
    avg = verdict("avg", c.labels[0].base, c.labels[0].other, interleaved=False)  # as the open model judges it
    assert avg is not None and avg.ratio.method == "welch" and avg.ratio.n == 3
    assert (avg.ratio.ratio, avg.ratio.low, avg.ratio.high) == pytest.approx((1.5, 1.4360, 1.5669), abs=1e-4)
    assert (avg.base, avg.other) == (9.75, 14.625)  # the medians beside it, as the summaries' tables show
    assert (avg.change(), avg.word()) == ("1.50x slower", "slower")
    assert flask["throughput"].word() == "not significant"  # same request counts in the same window
    same = {v.figure: v.word() for v in c.labels[1].verdicts}
    assert set(same.values()) == {"not significant"}


def test_the_comparison_prints_as_a_table_with_what_was_left_out(runs: tuple[RunResult, RunResult]) -> None:
    a, b = runs
    text = markdown(compare_runs(a, b))
    assert text.startswith("# Comparison: run 20261126-110000 (B) against 20261126-100000 (A, the baseline)\n")
    # at a glance first: medians A -> B; p99 is 3 * 5 * 1.04 = 15.60 -> 23.40 ms; 120 requests in 10 s = 12 req/s,
    # on 90 % of a core for 10 s = 9 CPU-s: 13.3 req per CPU-s on both sides
    assert table_rows(text, "`flask`")[0] == ["`flask`", "3 / 3", "9.75 -> 14.62 (not judged)",
                                              "15.60 -> 23.40 (not judged)", "12 -> 12 (not significant)",
                                              "0.00% -> 0.00%", "13 -> 13 (not significant)"]  # fmt: skip
    assert text.index("## At a glance") < text.index("## Each stack in B against A")
    assert "Little's law" in text and "*Not judged*" in text
    row = table_rows(text, "`flask`")[1]  # the verdicts: throughput first, the same requests in the same window
    assert row == ["`flask`", "3 / 3", "throughput", "12 req/s", "12 req/s", "1.00x (no change)",
                   "no spread in 3 repeats", "not significant"]  # fmt: skip
    assert "- Only in A: `nginx_only`.\n- Only in B: `granian`.\n- Not compared: `fastapi_istio`: no successful " \
           "measurement in A." in text  # fmt: skip
    assert "Welch t interval" in text and "**Warnings**" not in text


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"settings": SETTINGS | {"duration_s": 15.0, "users": 50}}, "users 8 vs 50; measured time (s) 3 vs 15"),
        ({"settings": SETTINGS | {"warmup_s": 2.0}}, "warmup (s) 1 vs 2"),
        ({"settings": SETTINGS | {"processes": 2}}, "locust processes 1 vs 2"),
        ({"settings": SETTINGS | {"spawn_rate": 4.0}}, "spawn rate 8 vs 4"),
        ({"settings": SETTINGS | {"rate": 500.0}}, "arrival rate (open model; none: closed) none vs 500"),
        ({"settings": SETTINGS | {"load_cpus": "all"}}, "load CPUs (--pin) [1] vs all"),
        ({"backend": "compose"}, "backend local vs compose"),
        ({"scenario": "breaker"}, "scenario measure vs breaker"),
    ],
)
def test_runs_measured_under_another_load_are_refused_with_every_difference(
    runs: tuple[RunResult, RunResult], changes: dict[str, Any], reason: str
) -> None:
    a, b = runs
    with pytest.raises(ConfigError) as refused:
        compare_runs(a, replace(b, **changes))
    assert str(refused.value) == f"runs {a.run_id} and {b.run_id} cannot be compared: {reason}"
    assert refused.value.tip and "another machine or commit is only a warning" in refused.value.tip


def test_sweeps_are_refused_because_a_step_has_no_spread() -> None:
    a, b = (_run(i, *_stack("flask", 5.0, repeats=1, role="step"), scenario="sweep") for i in ("a", "b"))
    with pytest.raises(ConfigError, match="a sweep measures each step once, so there is no spread"):
        compare_runs(a, b)


def test_another_commit_machine_day_or_floor_is_a_warning_with_both_values(runs: tuple[RunResult, RunResult]) -> None:
    a, b = runs
    floor_a = measured("floor", role="floor", latencies_ms=[0.5] * 400)
    floor_b = measured("floor", role="floor", latencies_ms=[0.5] * 200)
    a = replace(a, measurements=[floor_a, *a.measurements])
    other = MACHINE | {"git_commit": "5ce1ccb", "cpu_count": 4, "packages": {"locust": "2.48.0"}}
    b = replace(b, measurements=[floor_b, *b.measurements], started_at="2026-11-25T09:04:44+0000",
                status="interrupted", machine=other)  # fmt: skip
    c = compare_runs(a, b)
    assert c.warnings == [
        "run B is interrupted: only what it measured is compared",
        "commit 11f9b6e (A) vs 5ce1ccb (B)",
        "machine cpu_count: 2 (A) vs 4 (B)",
        "locust 2.47.0 (A) vs 2.48.0 (B)",
        "started 24 h apart (2026-11-24T09:04:44+0000 vs 2026-11-25T09:04:44+0000): this machine's speed drifts "
        "from day to day, so a change may be the machine's; the floor row above shows how much",
        "the load generator floor (locust against nginx answering from memory, a few seconds at each run's start) "
        "moved from 40 to 20 req/s (0.50x): the machine itself changed speed, so part of any change below may be "
        "the machine's",
    ]  # fmt: skip
    assert "**Warnings** (these differ, but the figures are comparable):" in markdown(c)


def test_a_label_under_other_stack_parameters_is_not_compared(runs: tuple[RunResult, RunResult]) -> None:
    a, b = runs
    tight = [replace(m, params={"breaker": "tight"}) if m.label == "flask" else m for m in b.measurements]
    c = compare_runs(replace(a, measurements=[replace(m, params={"breaker": "seed000"}) if m.label == "flask" else m
                                              for m in a.measurements]), replace(b, measurements=tight))  # fmt: skip
    assert ("flask", "stack parameters breaker=seed000 in A, breaker=tight in B") in c.not_compared


def test_a_version_1_run_is_compared_with_a_version_2_run(tmp_path: Path) -> None:
    v1_dir = tmp_path / "runs" / "v1"
    v1_dir.mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "data" / "v1" / "compare-run.json", v1_dir / "run.json")
    old = load_run(v1_dir)
    settings = {"users": 4, "spawn_rate": 4.0, "duration_s": 2.0, "warmup_s": 1.0, "user_class": "FastHttpUser",
                "stack_cpus": [0], "load_cpus": [1]}  # fmt: skip
    new = _run("20261126-120000", *_stack("flask", 1.0, repeats=2), *_stack("flask_gunicorn", 1.0, repeats=2),
               settings=settings, machine=old.machine)  # fmt: skip
    c = compare_runs(old, new)
    assert [(lc.label, lc.repeats) for lc in c.labels] == [("flask", (2, 2)), ("flask_gunicorn", (2, 2))]
    assert all(v.interval() for lc in c.labels for v in lc.verdicts)


def _saved(results: Path, run: RunResult) -> Path:
    folder = results / "runs" / run.run_id
    folder.mkdir(parents=True)
    save_run(folder, run)
    return folder


def test_the_command_prints_it_and_writes_it_beside_the_runs_never_over_another(
    runs: tuple[RunResult, RunResult], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = runs
    _saved(tmp_path, a)
    b_dir = _saved(tmp_path, b)
    assert main(["compare", a.run_id, str(b_dir), "--results", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    first = tmp_path / f"compare-{a.run_id}-vs-{b.run_id}.md"
    assert first.read_text() == out and f"comparison: {first}" in err
    assert main(["compare", a.run_id, b.run_id, "--results", str(tmp_path)]) == 0
    second = tmp_path / f"compare-{a.run_id}-vs-{b.run_id}-2.md"
    assert second.read_text() == first.read_text() and f"comparison: {second}" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["runs", first.name, second.name])  # no temp files


def test_bad_input_to_compare_is_one_line_and_a_tip(runs: tuple[RunResult, RunResult], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    a, b = runs
    _saved(tmp_path, a)
    _saved(tmp_path, replace(b, settings=SETTINGS | {"duration_s": 15.0}))
    cases = [
        ([a.run_id, "20990101-000000"], "ERROR: run '20990101-000000' not found: no run.json in 20990101-000000 nor "
         f"in {tmp_path}/runs/20990101-000000", f"TIP: latest run ids in {tmp_path}/runs: {a.run_id}, {b.run_id}"),
        ([a.run_id, a.run_id], f"ERROR: RUN_A and RUN_B are the same run ({tmp_path}/runs/{a.run_id})",
         "TIP: give the baseline, then another run"),
        ([a.run_id, b.run_id], f"ERROR: runs {a.run_id} and {b.run_id} cannot be compared: measured time (s) 3 vs 15",
         "TIP: compare runs of one scenario"),
    ]  # fmt: skip
    for argv, error, tip in cases:
        assert main(["compare", *argv, "--results", str(tmp_path)]) == 2
        err = capsys.readouterr().err.splitlines()
        assert err[0] == error and err[1].startswith(tip) and len(err) == 2
    (tmp_path / "runs" / a.run_id / "run.json").write_text("{")
    assert main(["compare", a.run_id, b.run_id, "--results", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"ERROR: cannot read {tmp_path}/runs/{a.run_id}/run.json: ")
    assert not list(tmp_path.glob("compare-*"))


def _open_repeats(label: str, sent_ms: float, late_ms: float) -> list[Measurement]:
    """Three open-model repeats: 100 requests at 100 req/s for 1 s, each answered `sent_ms` (times 1.00, 1.01,
    1.02) after its send, sent `late_ms` after it fell due (counted as the locustfile counts them)."""
    found = []
    for r in (1, 2, 3):
        tally = Tally(window=0, start=START, end=START + 1.0)
        ms = sent_ms * (1 + 0.01 * (r - 1))
        for _ in range(100):
            tally.send(late_ms, held=False, in_flight=1)
            tally.add(0, ms, 200, False, False, corrected_ms=ms + late_ms)
        report = ProcessReport(process="host-1", measured_from=START, stopped=START + 1.0, offered_rps=100.0)
        found.append(Measurement(label=label, stack=label, repeat=r, status="ok", backend="local", folder=label,
                                 load=LoadShape.open(100.0, 1.0), figures=Figures.of([tally], [report])))  # fmt: skip
    return found


def test_under_the_open_model_latency_is_judged_at_the_equal_offered_load() -> None:
    settings = SETTINGS | {"rate": 100.0, "users": None, "spawn_rate": None}
    a = _run("20261126-100000", *_open_repeats("s", 2.0, 1.0), settings=settings)
    b = _run("20261126-110000", *_open_repeats("s", 4.0, 2.0), settings=settings)
    c = compare_runs(a, b)
    (s,) = c.labels
    assert s.open_model
    names = [v.figure for v in s.verdicts]
    assert names[:2] == ["average response time", "p50"] and "avg from due" in names and "p99 from due" in names
    # from due: A 3.00, 3.02, 3.04 ms (2 x 1.00/1.01/1.02 + 1), B twice that: 2.00x slower, every repeat alike
    due = s.on("due avg")
    assert due is not None and (due.base, due.other) == pytest.approx((3.02, 6.04)) and due.change() == "2.00x slower"
    text = markdown(c)
    assert table_rows(text, "`s`")[0][2] == "2.02 -> 4.04 (2.00x slower)"  # avg from send, judged at equal load
    assert "Little's law" not in text
