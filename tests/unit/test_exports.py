"""The exports for other tools, from hand-built tallies (written as the locust processes write them, folded as the
runner folds them): the HdrHistogram log holds the lab's buckets (known counts -> known percentiles, read back with
hdrh's own reader), and metrics.prom holds every label's figures, in base units, equal to run.json's summary."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]
from hdrh.log import HistogramLogReader  # type: ignore[import-untyped]
from prometheus_client.parser import text_string_to_metric_families

from bench import report
from bench.analysis.summary import FIGURES, summarize
from bench.load.record import Figures, ProcessReport, Tally
from bench.report import hdr, openmetrics
from bench.results import LoadShape, Measurement, RunResult, save_run, write_json_atomic
from tests.factories import measured, run_of

T0 = 1_700_000_000.7418604  # a start with more than 6 decimals, as wall clocks give

# --- the HdrHistogram log -----------------------------------------------------------------------------------------


def read_log(path: Path) -> dict[str | None, list[Any]]:
    """tag -> its interval histograms, through hdrh's reader (which does not filter tags itself)."""
    reader = HistogramLogReader(str(path), HdrHistogram(1, hdr.HOUR_US, hdr.DIGITS))
    found: dict[str | None, list[Any]] = {}
    try:
        while (h := reader.get_next_interval_histogram()) is not None:
            found.setdefault(h.get_tag(), []).append(h)
    finally:
        reader.close()
    return found


def added(histograms: Iterable[Any]) -> Any:
    total = HdrHistogram(1, hdr.HOUR_US, hdr.DIGITS)
    for h in histograms:
        total.add(h)
    return total


def nearest_rank_us(h: Any, p: float) -> int:
    """The value at percentile p by nearest rank, the lab's rule and Java HdrHistogram's (ceil of p% of the count):
    hdrh 0.10.8's get_value_at_percentile rounds the rank instead (test_hdrh_rounds_the_rank)."""
    rank = max(1, math.ceil(p * h.get_total_count() / 100))
    seen = 0
    for item in h.get_recorded_iterator():
        seen += item.count_at_value_iterated_to
        if seen >= rank:
            return int(h.get_highest_equivalent_value(item.value_iterated_to))
    raise AssertionError("rank beyond the count")


def write_load(folder: Path, process: str, windows: list[Tally], report: ProcessReport) -> None:
    """A locust process's files as the locustfile leaves them: one per window, then its report."""
    folder.mkdir(parents=True, exist_ok=True)
    for w in windows:
        write_json_atomic(folder / f"samples-{process}-w{w.window}.json", w.to_json())
    write_json_atomic(folder / f"samples-{process}.json", report.to_json())


def closed_load(folder: Path, start: float = T0) -> Figures:
    """Two processes, two windows: 50 answers at 1 ms and 40 at 2.5 ms, then 9 at 150 ms (process a); one failure
    answered in 2 s (process b). 100 requests: p50 1 ms (rank 50), p90 2.5 ms (rank 90), p99 150 ms, max 2 s."""
    a0, a1 = Tally(window=0, start=start, end=start + 60), Tally(window=1, start=start + 60, end=start + 70)
    for i in range(90):
        a0.add(i % 60, 1.0 if i < 50 else 2.5, 200, False, False)
    for _ in range(9):
        a1.add(65, 150.0, 200, False, False)
    b0 = Tally(window=0, start=start, end=start + 60)
    b0.add(3, 2000.0, 500, True, False)
    reports = [ProcessReport(process=p, measured_from=start, stopped=start + 70) for p in ("host-1", "host-2")]
    write_load(folder, "host-1", [a0, a1], reports[0])
    write_load(folder, "host-2", [b0], reports[1])
    return Figures.of([a0, a1, b0], reports)


def run_with(run_dir: Path, *measurements: Measurement) -> RunResult:
    run = RunResult(run_id=run_dir.name, scenario="measure", started_at="2026-12-06T00:10:00+0000", backend="local",
                    machine={"git_commit": "abc1234"}, measurements=list(measurements))  # fmt: skip
    save_run(run_dir, run)
    return run


def row(label: str, figures: Figures, folder: str, repeat: int = 1) -> Measurement:
    load = LoadShape(users=10, spawn_rate=10, duration_s=70)
    return Measurement(label=label, stack=label, role="stack", repeat=repeat, status="ok", backend="local",
                       folder=folder, load=load, figures=figures)  # fmt: skip


def test_known_buckets_give_known_percentiles(tmp_path: Path) -> None:
    figures = closed_load(tmp_path / "flask" / "load")
    run = run_with(tmp_path, row("flask", figures, "flask"))
    assert hdr.write_logs(run, tmp_path) == [tmp_path / "flask" / f"load{hdr.HLOG}"]
    found = read_log(tmp_path / "flask" / f"load{hdr.HLOG}")
    assert set(found) == {None, "ok"}  # closed model: no due tags
    every, ok = added(found[None]), added(found["ok"])
    assert [h.get_total_count() for h in found[None]] == [91, 9]  # one interval per window, processes added
    assert every.get_total_count() == figures.requests == 100
    assert ok.get_total_count() == 99
    # the lab's own percentiles, by hand above; the log holds the same buckets in microseconds
    assert (figures.latency.p50_ms, figures.latency.p90_ms, figures.latency.p99_ms) == (1.0, 2.5, 150.0)
    assert [nearest_rank_us(every, p) for p in (50, 90, 99)] == [1000, 2500, 150_000]  # exact below 262 ms
    assert 2_000_000 <= every.get_max_value() <= 2_000_000 + 15  # 2 s: HDR's equivalent range there is 16 us
    assert nearest_rank_us(ok, 100) == 150_000  # the failure is not an ok answer


def test_header_states_what_and_the_resolution(tmp_path: Path) -> None:
    figures = closed_load(tmp_path / "flask" / "load")
    hdr.write_logs(run_with(tmp_path, row("flask", figures, "flask")), tmp_path)
    text = (tmp_path / "flask" / f"load{hdr.HLOG}").read_text()
    lines = text.splitlines()
    assert lines[0] == "#[Histogram log format version 1.2]"
    assert lines[1].startswith(f"#[StartTime: {T0:.6f} (seconds since epoch), ")
    assert lines[2] == f"#[BaseTime: {T0:.6f} (seconds since epoch)]"
    assert "label flask, role stack, repeat 1" in text and "lab commit abc1234" in text
    assert "100 requests in all" in text and "2 processes" in text
    assert "values in microseconds" in text and "the lab's buckets limit the precision" in text
    intervals = [line for line in lines if not line.startswith(("#", '"'))]
    # start relative to the base time, length, max in ms, payload; the ok tag beside each window
    assert [line.split(",")[:4] for line in intervals] == [
        ["0.000000", "60.000000", "2000.000000", intervals[0].split(",")[3]],
        ["Tag=ok", "0.000000", "60.000000", "2.000000"],
        ["60.000000", "10.000000", "150.000000", intervals[2].split(",")[3]],
        ["Tag=ok", "60.000000", "10.000000", "150.000000"],
    ]


def test_hdrh_rounds_the_rank() -> None:
    """Why the tests read percentiles by nearest rank: hdrh 0.10.8 takes rank int(p% of n + 0.5), the lab and Java
    HdrHistogram ceil(p% of n). 1..10 ms, p51: rank 6 (6 ms) by nearest rank, rank 5 (5 ms) by hdrh."""
    h = HdrHistogram(1, hdr.HOUR_US, hdr.DIGITS)
    for ms in range(1, 11):
        h.record_value(ms * 1000)
    assert nearest_rank_us(h, 51) == 6000
    assert h.get_value_at_percentile(51) == 5000


def test_open_model_due_tags(tmp_path: Path) -> None:
    """Five slots due: three answered ok in 1, 2 and 3 ms but 2, 6 and 33 ms after they were due (sent late), one
    failed, one unanswered when the window ended 500 ms after it was due."""
    w = Tally(window=0, start=T0, end=T0 + 10)
    for ms, due, bad in ((1.0, 2.0, False), (2.0, 6.0, False), (3.0, 33.0, False), (4.0, 5.0, True)):
        w.add(1, ms, 500 if bad else 200, bad, False, corrected_ms=due)
    w.cut(500.0, sent=True)
    report = ProcessReport(process="host-1", measured_from=T0, stopped=T0 + 10, offered_rps=100.0)
    write_load(tmp_path / "flask" / "load", "host-1", [w], report)
    figures = Figures.of([w], [report])
    hdr.write_logs(run_with(tmp_path, row("flask", figures, "flask")), tmp_path)
    found = read_log(tmp_path / "flask" / f"load{hdr.HLOG}")
    due, ok_due = added(found["due"]), added(found["ok-due"])
    assert due.get_total_count() == figures.slots == 5  # every slot due, the unanswered one too
    assert figures.corrected.max_ms == 500.0
    assert 500_000 <= nearest_rank_us(due, 100) <= 500_001  # above 262 ms HDR's equivalent range is 2 us
    assert ok_due.get_total_count() == 3 and nearest_rank_us(ok_due, 100) == 33_000
    assert added(found[None]).get_total_count() == figures.requests == 4


def test_each_measurement_finds_its_own_load(tmp_path: Path) -> None:
    """A sweep's steps share one measurement folder: each step's log is written from the load with its window."""
    first = closed_load(tmp_path / "flask-sweep" / "rps-100")
    second = closed_load(tmp_path / "flask-sweep" / "rps-200", start=T0 + 100)
    never = Measurement(label="flask", stack="flask", role="step", repeat=1, status="failed", backend="local",
                        folder="flask-sweep", error="no answer")  # fmt: skip
    run = run_with(tmp_path, row("flask", second, "flask-sweep"), row("flask", first, "flask-sweep"), never)
    assert sorted(hdr.write_logs(run, tmp_path)) == [tmp_path / "flask-sweep" / f"{d}{hdr.HLOG}"
                                                     for d in ("rps-100", "rps-200")]  # fmt: skip
    for folder, start in (("rps-100", T0), ("rps-200", T0 + 100)):
        log = tmp_path / "flask-sweep" / f"{folder}{hdr.HLOG}"
        assert f"#[BaseTime: {start:.6f}" in log.read_text()


def test_report_writes_both_exports(tmp_path: Path) -> None:
    """`write_summaries` (the end of a run and `./lab report RUN`) writes metrics.prom and each load's log."""
    run_dir = tmp_path / "runs" / "20261206-001000"
    figures = closed_load(run_dir / "flask" / "load")
    run_with(run_dir, row("flask", figures, "flask"))
    report.write_summaries(tmp_path, run_dir)
    assert (run_dir / "flask" / f"load{hdr.HLOG}").is_file()
    assert "bench_requests{" in (run_dir / openmetrics.METRICS).read_text()
    assert not (tmp_path / openmetrics.METRICS).exists()  # the run's own, not results/'s copy


# --- metrics.prom --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "name", "divisor"), [
    ("ok_latency.p99_ms", "bench_ok_latency_p99_seconds", 1000.0),
    ("latency.p99_9_ms", "bench_latency_p99_9_seconds", 1000.0),
    ("ok_corrected.avg_ms", "bench_ok_corrected_avg_seconds", 1000.0),
    ("figures.ok_rps", "bench_ok_requests_per_second", 1.0),
    ("figures.rps", "bench_requests_per_second", 1.0),
    ("figures.requests", "bench_requests", 1.0),
    ("figures.error_pct", "bench_error_ratio", 100.0),
    ("usage.cpu_percent", "bench_usage_cpu_ratio", 100.0),
    ("usage.peak_rss_mb", "bench_usage_peak_rss_bytes", 1 / 1048576),
    ("usage.requests_per_cpu_s", "bench_usage_requests_per_cpu_second", 1.0),
    ("whole.401", "bench_whole_401", 1.0),
])  # fmt: skip
def test_metric_names(key: str, name: str, divisor: float) -> None:
    assert openmetrics.metric_name(key) == (name, divisor)


def test_every_figure_has_its_own_valid_name() -> None:
    names = [openmetrics.metric_name(key)[0] for key in FIGURES]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", n) for n in names)


def samples(text: str) -> dict[tuple[str, str, str, str], float]:
    """(metric, stack, role, stat) -> value, parsed by prometheus-client's own parser."""
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if "stat" in s.labels:
                found[(s.name, s.labels["stack"], s.labels["role"], s.labels["stat"])] = s.value
    return found


def metrics_run(tmp_path: Path) -> RunResult:
    """flask: three repeats whose p99 is 5, 7 and 9 ms (98 answers at 1 ms, two slow); granian: one repeat."""
    flask = [measured("flask", r, [1.0] * 98 + [t, t], cpu_percent=c) for r, t, c in ((1, 5.0, 80), (2, 7.0, 90),
                                                                                    (3, 9.0, 70))]  # fmt: skip
    run = run_of(*flask, measured("granian", 1, [2.0] * 100, role="stack"))
    run.machine["git_commit"] = "abc1234"
    save_run(tmp_path, run)
    return run


def test_metrics_hold_hand_checked_values(tmp_path: Path) -> None:
    run = metrics_run(tmp_path)
    text = openmetrics.text(run, summarize(run))
    found = samples(text)
    assert found[("bench_ok_latency_p99_seconds", "flask", "stack", "median")] == 0.007
    assert found[("bench_ok_latency_p99_seconds", "flask", "stack", "min")] == 0.005
    assert found[("bench_ok_latency_p99_seconds", "flask", "stack", "max")] == 0.009
    assert found[("bench_usage_cpu_ratio", "flask", "stack", "median")] == 0.8
    assert found[("bench_requests", "granian", "stack", "median")] == 100
    assert found[("bench_ok_latency_avg_seconds", "granian", "stack", "max")] == 0.002
    assert found[("bench_error_ratio", "granian", "stack", "median")] == 0
    # 100 answers in 10 s
    assert found[("bench_ok_requests_per_second", "granian", "stack", "median")] == 10.0
    info = next(f for f in text_string_to_metric_families(text) if f.name == "bench_run_info").samples[0]
    assert info.labels == {"run_id": "20261124-090444", "scenario": "measure", "backend": "local",
                           "lab_commit": "abc1234", "app": "users-api", "status": "running"}  # fmt: skip
    started = next(f for f in text_string_to_metric_families(text) if f.name == "bench_run_started_timestamp_seconds")
    assert started.samples[0].value == 1795511084.0  # 2026-11-24T09:04:44+0000


def test_metrics_hold_every_figure_of_run_json(tmp_path: Path) -> None:
    """Every figure of every label in run.json's summary, each stat, in base units; nothing else."""
    run = metrics_run(tmp_path)
    found = samples(openmetrics.text(run, summarize(run)))
    expected = {}
    for entry in json.loads((tmp_path / "run.json").read_text())["summary"]:
        for key, spread in entry["figures"].items():
            name, divisor = openmetrics.metric_name(key)
            for stat in openmetrics.STATS:
                expected[(name, entry["label"], entry["role"], stat)] = spread[stat] / divisor
    assert found.keys() == expected.keys()
    assert found == expected  # the same numbers: run.json's median, min and max, divided into base units
    assert len({k[1] for k in found}) == 2


def test_app_label_names_your_own_app(tmp_path: Path) -> None:
    run = metrics_run(tmp_path)
    run.settings["app"] = {"target": "myapp:app", "interface": "wsgi"}
    assert openmetrics.run_labels(run)["app"] == "myapp:app"
