"""The report reads runs of both schema versions and writes summary.md, results.csv and charts from them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bench import report
from bench.analysis.summary import FIGURES, summarize
from bench.load.record import Latency
from bench.report.common import limited_by
from bench.results import Finding, RunResult, load_run, save_run
from tests.factories import failed, measured, run_of

ROOT = Path(__file__).resolve().parents[2]
V1 = ROOT / "tests" / "data" / "v1"  # run.json files written by the lab at schema version 1 (commit 9c4ba68)


def _v1_run(tmp_path: Path, scenario: str) -> Path:
    run_dir = tmp_path / "runs" / "20261125-233020"
    run_dir.mkdir(parents=True)
    shutil.copy(V1 / f"{scenario}-run.json", run_dir / "run.json")
    return run_dir


def test_version_1_stack_comparisons_are_read_and_reported(tmp_path: Path) -> None:
    raw = json.loads((V1 / "compare-run.json").read_text())
    run_dir = _v1_run(tmp_path, "compare")
    run = load_run(run_dir)
    assert run.schema_version == 2 and run.scenario == "measure"  # upgraded to 2, not claimed as the newest
    assert [m.label for m in run.rows("stack")] == [s["name"] for s in raw["stacks"]]
    first, old = run.rows("stack")[0], raw["stacks"][0]
    assert first.figures is not None and first.usage is not None
    assert (first.figures.requests, first.latency.p99_ms, first.usage.cpu_percent) == (
        old["requests"], old["p99_ms"], old["cpu_percent"])  # fmt: skip
    assert run.floor is not None and run.floor.figures and run.floor.figures.rps == raw["floor"]["rps"]
    summary = report.write_summaries(tmp_path, run_dir).read_text()
    assert "## Response times and throughput" in summary and "## Compared with `flask`" in summary
    assert f"| {old['requests'] + raw['stacks'][2]['requests']}" in re.sub(" +", " ", summary)


def test_version_1_sweeps_and_breaker_runs_are_read_and_reported(tmp_path: Path) -> None:
    sweep = load_run(_v1_run(tmp_path / "s", "sweep"))
    steps = sweep.rows("step")
    assert [m.step.verdict for m in steps if m.step] and sum(1 for m in steps if m.step and m.step.knee) == 1
    breaker = load_run(_v1_run(tmp_path / "b", "breaker"))
    assert [m.label for m in breaker.rows("overload")] == ["fastapi_istio@breaker=off", "fastapi_istio@breaker=seed"]
    for folder in (tmp_path / "s", tmp_path / "b"):
        run_dir = next((folder / "runs").iterdir())
        report.write_summaries(folder, run_dir)
    assert "## Capacity: each stack's knee" in (tmp_path / "s" / "summary.md").read_text()
    assert "## Circuit breaker under overload" in (tmp_path / "b" / "summary.md").read_text()


def test_an_unknown_schema_version_is_refused_by_name(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "x"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"schema_version": 99, "run_id": "x"}))
    with pytest.raises(ValueError, match="schema version 99 is not one this lab reads"):
        load_run(run_dir)


def test_results_csv_has_one_row_per_measurement_and_every_figure(tmp_path: Path) -> None:
    run = run_of(measured("flask", 1), measured("flask", 2), failed("flask_gunicorn"), measured("flask_gunicorn", 2))
    run_dir = tmp_path / "runs" / run.run_id
    run_dir.mkdir(parents=True)
    save_run(run_dir, run)
    report.write_summaries(tmp_path, run_dir)
    frame = pd.read_csv(run_dir / "results.csv")
    expected = [("flask", 1, "ok"), ("flask", 2, "ok"), ("flask_gunicorn", 1, "failed"), ("flask_gunicorn", 2, "ok")]
    assert list(zip(frame["label"], frame["repeat"], frame["status"], strict=True)) == expected
    for name in ("avg_ms", *Latency.percentile_fields(), "max_ms"):
        assert f"latency.{name}" in frame
    assert frame["latency.p99_ms"][0] == run.measurements[0].latency.p99_ms
    assert (tmp_path / "results.csv").read_text() == (run_dir / "results.csv").read_text()


def test_every_percentile_of_the_record_is_a_column() -> None:
    headings = [f.heading for key, f in FIGURES.items() if key.startswith("ok_latency.")]
    assert headings == ["avg ms", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms"]
    every = [f.heading for key, f in FIGURES.items() if key.startswith("latency.")]
    assert every == [f"{h} (all answers)" for h in headings]


def test_no_markdown_table_is_written_by_hand() -> None:
    """Every table goes through tabulate (bench/report/tables.py's `markdown`)."""
    hand_made = re.compile(r"""["']\| ["']|" \| "\.join|\|---|["']---["']""")
    for path in [*ROOT.glob("bench/**/*.py"), *ROOT.glob("benchmarks/*.py")]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not hand_made.search(line), f"{path.relative_to(ROOT)}:{number}: {line.strip()}"


def test_run_json_reads_back_as_written(tmp_path: Path) -> None:
    run = run_of(measured("flask"), failed("nginx"))
    save_run(tmp_path, run)
    assert load_run(tmp_path) == RunResult.from_json(json.loads((tmp_path / "run.json").read_text())) == run


def test_what_limited_a_stack_names_what_the_other_repeats_said() -> None:
    cpu = Finding(rule="cpu", headline="stack CPU saturated", evidence={"stack.cpu_pct": 98.0}, tip="add CPUs")
    ms = [measured("flask", repeat=i) for i in (1, 2, 3)]
    for m, verdicts in zip(ms, ([], [cpu], []), strict=True):
        m.limited_by = verdicts
    assert "- `flask`: none found (2 of 3 repeats; cpu in 1)" in limited_by(summarize(run_of(*ms)))
