"""`python -m bench stack` on every stack as real local processes, with a short real load, twice."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.stacks.catalog import discover
from tests.integration.conftest import measurements, only_run, run_bench, table_rows

SHORT = ["-u", "8", "-r", "8", "-t", "1s", "--warmup", "0.5s", "--repeat", "1", "--backend", "local"]


@dataclass(frozen=True)
class Measured:
    results: Path
    run_dir: Path
    run: dict[str, Any]
    stderr: str


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Measured:
    results = tmp_path_factory.mktemp("results")
    done = run_bench("stack", *discover(), *SHORT, "--results", str(results))
    assert done.returncode == 0, done.stderr
    run_dir, run = only_run(results)
    return Measured(results, run_dir, run, done.stderr)


def test_every_stack_measured_with_real_figures(measured: Measured) -> None:
    run = measured.run
    assert run["schema_version"] == 5 and run["scenario"] == "measure"
    assert [s["label"] for s in run["summary"] if s["role"] == "stack"] == list(discover())  # one per label
    assert run["status"] == "complete"
    stacks = measurements(run)
    assert [m["label"] for m in stacks] == list(discover())  # repeats, in order: test_controls.py
    for m in stacks:
        f, lat = m["figures"], m["figures"]["latency"]
        assert m["status"] == "ok", m
        assert m["backend"] == "local"
        assert f["requests"] > 100
        assert f["failures"] == 0
        assert f["rps"] > 0
        assert 0 < lat["p50_ms"] <= lat["p90_ms"] <= lat["p99_ms"] <= lat["max_ms"]
        assert f["status_codes"] == {"200": f["requests"]}
        assert m["usage"]["cpu_percent"] > 0
        assert m["usage"]["peak_rss_mb"] > 0
    assert measurements(run, "floor")[0]["status"] == "ok"


def test_figures_agree_with_locusts_own_json(measured: Measured) -> None:
    for m in measurements(measured.run):
        rows = json.loads((measured.run_dir / m["folder"] / "load" / "locust.json").read_text())
        counted = sum(r["num_requests"] for r in rows)
        load = measured.run_dir / m["folder"] / "load"
        reports = [json.loads(p.read_text()) for p in load.glob("samples-*.json") if "-w" not in p.name]
        warmup = sum(r["warmup_requests"] for r in reports)
        # locust counts the warmup too; ours leaves it out and counts it apart: together they are
        # locust's count, less at most the requests in flight when locust's own stats stopped
        assert 0 < warmup < counted
        assert 0 <= counted - (m["figures"]["requests"] + warmup) <= m["load"]["users"], (counted, warmup)


def test_results_csv_has_a_row_per_measurement_with_every_figure(measured: Measured) -> None:
    import pandas as pd

    frame = pd.read_csv(measured.run_dir / "results.csv")
    assert list(frame["label"]) == [m["label"] for m in measured.run["measurements"]]
    stacks = frame[frame["role"] == "stack"]
    run_rows = measurements(measured.run)
    assert list(stacks["figures.requests"]) == [m["figures"]["requests"] for m in run_rows]
    assert list(stacks["latency.p99_ms"]) == [m["figures"]["latency"]["p99_ms"] for m in run_rows]
    assert {"usage.cpu_percent", "usage.requests_per_cpu_s", "status_codes.200", "load.users"} <= set(frame)


def test_summary_shows_every_stack_and_the_seed_reference(measured: Measured) -> None:
    summary = (measured.results / "summary.md").read_text()
    assert summary == (measured.run_dir / "summary.md").read_text()
    for name in discover():
        repeats = [m for m in measurements(measured.run) if m["label"] == name]
        flag = " **generator-bound**" if any(m["figures"]["generator_bound"] for m in repeats) else ""
        head = table_rows(summary, "stack")[0]  # the headline table comes first: cells by their heading
        assert head == ["stack", "limited by", "avg (ms)", "p99 (ms)", "req/s", "errors", "req per CPU-s"]
        row = dict(zip(head, table_rows(summary, f"`{name}`")[0], strict=True))
        detail = summary.split("## Every other figure")[1]  # the second table: status and counts
        other = dict(zip(table_rows(detail, "stack")[0], table_rows(detail, f"`{name}`")[0], strict=True))
        assert (other["status"], other["requests"]) == (f"ok{flag}", str(sum(m["figures"]["requests"]
                                                                             for m in repeats)))  # fmt: skip
        # one repeat: the cell is its first limit (its headline) exactly, "none" when none fired; never a risk
        (m,) = repeats
        head = m["limited_by"][0]["rule"] if m["limited_by"] else "none" if m["limited_by"] == [] else "-"
        parts = [head, *([flag.strip()] if flag else [])]  # "-" (not judged) gives way to the generator flag
        expected = "; ".join(p for p in parts if p != "-" or len(parts) == 1)
        assert row["limited by"] == expected, (row, m["limited_by"], m["risks"])
    assert "## Compared with `flask`" in summary
    assert table_rows(summary.split("published figures")[1], "`flask_gunicorn`")[0][:1] == ["`flask_gunicorn`"]
    assert "47.30" in summary  # seed 002's published average
    assert "summary:" in measured.stderr


def test_report_rebuilds_the_same_summary(measured: Measured) -> None:
    results = measured.results
    before = (results / "summary.md").read_text()
    (results / "summary.md").unlink()
    done = run_bench("report", "--results", str(results))
    assert done.returncode == 0, done.stderr
    assert (results / "summary.md").read_text() == before
