"""The exports of a real run: flask_gunicorn loaded by a locust master and 2 worker processes under the open model
(so the from-due histograms exist too). Each measurement's HdrHistogram log, read back with hdrh's own reader,
holds the measurement's count and its p50/p90/p99/max within the stated resolution of run.json's; metrics.prom,
read with prometheus-client's parser, holds every label's figures equal to run.json's summary; `bench report RUN`
writes both again, the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.load.record import bucket, bucket_value
from bench.report import hdr, openmetrics
from tests.integration.conftest import only_run, run_bench
from tests.unit.test_exports import added, nearest_rank_us, read_log, samples

LOAD = ["--preset", "quick", "-t", "2s", "--processes", "2", "--rate", "100", "--repeat", "1", "--backend", "local"]
CHECKED = {"p50_ms": 50.0, "p90_ms": 90.0, "p99_ms": 99.0}


def half_bucket_ms(ms: float) -> float:
    """The stated resolution: a true sample is within half the lab's bucket of the value kept."""
    index = bucket(ms)
    return (bucket_value(index + 1) - bucket_value(index)) / 2


def check_latency(histogram: Any, latency: dict[str, float], count: int) -> None:
    """The log's count is the lab's; its percentiles are the lab's buckets (HDR adds under its equivalent range)."""
    assert histogram.get_total_count() == count > 0
    for field, p in CHECKED.items():
        value_us, lab_us = nearest_rank_us(histogram, p), round(latency[field] * 1000)
        equivalent = histogram.get_highest_equivalent_value(lab_us) - histogram.get_lowest_equivalent_value(lab_us)
        assert 0 <= value_us - lab_us <= equivalent, (field, value_us, latency[field])
        assert abs(value_us / 1000 - latency[field]) <= half_bucket_ms(latency[field])
    top = histogram.get_max_value()  # the lab's max is exact; the log holds its bucket (+ HDR's equivalent range)
    equivalent_ms = (top - histogram.get_lowest_equivalent_value(top)) / 1000
    assert abs(top / 1000 - latency["max_ms"]) <= half_bucket_ms(latency["max_ms"]) + equivalent_ms, top


def test_exports_of_a_two_process_open_model_run(tmp_path: Path) -> None:
    done = run_bench("stack", "flask_gunicorn", *LOAD, "--results", str(tmp_path), timeout=300)
    assert done.returncode == 0, done.stderr
    run_dir, run = only_run(tmp_path)
    measured = [m for m in run["measurements"] if m["figures"] and m["figures"]["requests"]]
    # beside each load folder, never in it (under compose its files are the container user's)
    assert not list(run_dir.rglob(f"load/*{hdr.HLOG}"))
    assert {m["role"] for m in measured} == {"floor", "stack", "floor_end"}
    logs = {}
    for m in measured:
        f = m["figures"]
        assert f["processes"] == 3 and f["slots"] > 0  # the master and two workers reported; open model
        path = run_dir / m["folder"] / f"load{hdr.HLOG}"
        logs[path] = path.read_bytes()
        found = read_log(path)
        assert set(found) == {None, "ok", "due", "ok-due"}
        check_latency(added(found[None]), f["latency"], f["requests"])
        check_latency(added(found["due"]), f["corrected"], f["slots"])
        assert added(found["ok"]).get_total_count() == f["requests"] - f["failures"]
        text = path.read_text()
        assert f"label {m['label']}, role {m['role']}" in text and f"{f['requests']} requests in all" in text

    metrics = (run_dir / openmetrics.METRICS).read_text()
    expected = {}
    for entry in run["summary"]:
        for key, spread in entry["figures"].items():
            name, divisor = openmetrics.metric_name(key)
            expected |= {(name, entry["label"], entry["role"], s): spread[s] / divisor for s in openmetrics.STATS}
    assert samples(metrics) == expected
    assert {label for _, label, _, _ in expected} == {"flask_gunicorn", "floor"}
    info = next(f for f in text_string_to_metric_families(metrics) if f.name == "bench_run_info").samples[0]
    assert info.labels["run_id"] == run["run_id"] and info.labels["lab_commit"] == run["machine"]["git_commit"]

    for path in [*logs, run_dir / openmetrics.METRICS]:
        path.unlink()
    again = run_bench("report", str(run_dir), "--results", str(tmp_path))
    assert again.returncode == 0, again.stderr
    assert {p: p.read_bytes() for p in logs} == logs
    assert (run_dir / openmetrics.METRICS).read_text() == metrics
    assert json.loads((run_dir / "run.json").read_text())["summary"] == run["summary"]
