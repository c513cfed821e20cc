"""Figures from locust's raw samples: exact percentiles, warmup left out, processes merged."""

from __future__ import annotations

import json
from pathlib import Path

from bench.load import LoadSettings, figures_from_samples, locust_args, locust_env, percentile, read_samples

ONE = {
    "measured_from": 100.0,
    "stopped": 102.0,
    "requests": 5,
    "failures": 1,
    "overloaded": 1,
    "status_codes": {"200": 4, "503": 1},
    "per_second": [[0, 3, 0], [1, 2, 1]],
    "ok_latencies_ms": [1.25, 3.5, 2.0, 10.125],
    "failed_latencies_ms": [0.05],
    "generator_cpu_seconds": 1.9,
    "generator_cpu_warnings": [],
}


def test_percentiles_are_nearest_rank_not_bucketed() -> None:
    values = sorted([0.31, 0.42, 0.57, 0.88, 1.3])
    assert percentile(values, 50) == 0.57
    assert percentile(values, 99) == 1.3
    assert percentile([], 50) is None


def test_figures_from_one_process() -> None:
    figures = figures_from_samples(ONE)
    assert figures.requests == 5 and figures.failures == 1 and figures.overloaded == 1
    assert figures.avg_ms == round((1.25 + 3.5 + 2.0 + 10.125 + 0.05) / 5, 3)
    assert (figures.min_ms, figures.p50_ms, figures.max_ms) == (0.05, 2.0, 10.125)
    assert figures.rps == 2.5  # 5 requests in the 2 s window
    assert figures.ok_latency["p50_ms"] == 2.0  # the failed 0.05 ms request is not in it
    assert figures.generator_cpu_percent == 95.0
    assert figures.generator_bound


def test_processes_are_merged(tmp_path: Path) -> None:
    second = dict(ONE, measured_from=100.5, stopped=102.5, generator_cpu_seconds=0.5,
                  per_second=[[0, 1, 0]], ok_latencies_ms=[4.0], failed_latencies_ms=[], requests=1,
                  failures=0, overloaded=0, status_codes={"200": 1})  # fmt: skip
    master = {"requests": 0, "measured_from": None, "stopped": 103.0}
    for name, data in (("samples-1.json", ONE), ("samples-2.json", second), ("samples-3.json", master)):
        (tmp_path / name).write_text(json.dumps(data))
    figures = read_samples(tmp_path)
    assert figures is not None
    assert figures.requests == 6
    assert figures.status_codes == {"200": 5, "503": 1}
    assert figures.per_second == [[0, 4, 0], [1, 2, 1]]
    assert figures.measured_s == 2.5  # from the earliest start to the latest stop
    assert figures.generator_cpu_percent == 76.0  # the busiest process: 1.9 s of 2.5 s


def test_no_samples_means_no_figures(tmp_path: Path) -> None:
    assert read_samples(tmp_path) is None


def test_locust_command_line_and_environment() -> None:
    settings = LoadSettings(users=20, spawn_rate=5, duration_s=10, warmup_s=2.5, rate=300, processes=2)
    args = locust_args("http://127.0.0.1:8000", settings, "/out", "/bench/locustfile.py")
    assert args[args.index("-t") + 1] == "13s"  # warmup + window, rounded up
    assert args[args.index("--processes") + 1] == "2"
    assert "--json-file" in args and "--csv" in args
    env = locust_env(settings, "/out")
    assert env["BENCH_RATE"] == "150"  # each of the 2 processes paces half the rate
    assert env["BENCH_SAMPLES"] == "/out/samples"
