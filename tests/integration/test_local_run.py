"""`python -m bench stack` on every stack as real local processes, with a short real load, twice."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.stacks import discover
from tests.integration.conftest import only_run, run_bench

SHORT = ["-u", "8", "-r", "8", "-t", "4s", "--warmup", "1s", "--repeat", "2", "--backend", "local"]


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
    assert run["schema_version"] == 1
    assert run["status"] == "complete"
    assert [s["name"] for s in run["stacks"]] == list(discover()) * 2  # repeats interleaved: A B C D A B C D
    assert [s["repeat"] for s in run["stacks"]] == [1] * len(discover()) + [2] * len(discover())
    for stack in run["stacks"]:
        assert stack["status"] == "ok", stack
        assert stack["backend"] == "local"
        assert stack["requests"] > 100
        assert stack["failures"] == 0
        assert stack["rps"] > 0
        assert 0 < stack["p50_ms"] <= stack["p90_ms"] <= stack["p99_ms"] <= stack["max_ms"]
        assert stack["status_codes"] == {"200": stack["requests"]}
        assert stack["cpu_percent"] > 0
        assert stack["peak_rss_mb"] > 0


def test_figures_agree_with_locusts_own_json(measured: Measured) -> None:
    for stack in measured.run["stacks"]:
        rows = json.loads((measured.run_dir / stack["folder"] / "load" / "locust.json").read_text())
        counted = sum(r["num_requests"] for r in rows)
        # locust counts the warmup too; ours leaves it out, so ours is a strict subset
        assert 0 < stack["requests"] < counted


def test_summary_shows_every_stack_and_the_seed_reference(measured: Measured) -> None:
    summary = (measured.results / "summary.md").read_text()
    assert summary == (measured.run_dir / "summary.md").read_text()
    for name in discover():
        repeats = [s for s in measured.run["stacks"] if s["name"] == name]
        flag = " **generator-bound**" if any(s["generator_bound"] for s in repeats) else ""
        assert f"| `{name}` | ok{flag} | {sum(s['requests'] for s in repeats)} |" in summary
    assert "] |" in summary  # cells show the median and the [min-max] of the repeats
    assert "## Compared with `flask`" in summary
    assert "| `flask_gunicorn` |" in summary and "47.30" in summary  # seed 002's published average
    assert "summary:" in measured.stderr


def test_report_rebuilds_the_same_summary(measured: Measured) -> None:
    results = measured.results
    before = (results / "summary.md").read_text()
    (results / "summary.md").unlink()
    done = run_bench("report", "--results", str(results))
    assert done.returncode == 0, done.stderr
    assert (results / "summary.md").read_text() == before
