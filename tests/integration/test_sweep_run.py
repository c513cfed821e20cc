"""`python -m bench sweep`: real steps of load until the knee, each with a verdict, and a chart."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import measurements, only_run, run_bench, table_rows


def test_sweep_steps_up_and_marks_the_knee(tmp_path: Path) -> None:
    done = run_bench("sweep", "flask_gunicorn", "--step", "2s", "--max-users", "16", "--backend", "local",
                     "--results", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_dir, run = only_run(tmp_path)
    assert run["scenario"] == "sweep"
    steps = measurements(run, "step")
    users = [s["load"]["users"] for s in steps]
    assert users[:2] == [4, 8]  # doubling from 4
    assert all(s["status"] == "ok" and s["figures"]["requests"] > 0 and s["step"]["verdict"] for s in steps)
    knees = [s for s in steps if s["step"]["knee"]]
    assert len(knees) <= 1
    for knee in knees:
        assert knee["step"]["verdict"] == "ok"
        assert knee["load"]["users"] == max(s["load"]["users"] for s in steps if s["step"]["verdict"] == "ok")
    summary = (tmp_path / "summary.md").read_text()
    assert "## Capacity: each stack's knee" in summary
    assert "## Response times and throughput" not in summary  # steps are not mixed into one row
    assert (run_dir / "sweep.png").stat().st_size > 10_000


def test_open_model_sweep_steps_the_arrival_rate(tmp_path: Path) -> None:
    done = run_bench("sweep", "flask_gunicorn", "--model", "open", "--start-rate", "100", "--max-rate", "400",
                     "--step", "3s", "--backend", "local", "--results", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    _, run = only_run(tmp_path)
    steps = measurements(run, "step")
    assert [s["figures"]["offered_rps"] for s in steps][:3] == [100, 200, 400][: len(steps)]
    for m in steps:
        step = m["figures"]
        assert m["status"] == "ok" and step["requests"] > 0
        assert step["rps"] <= step["offered_rps"] * 1.1  # paced: never much above what was offered
        kept = step["rps"] >= 0.95 * step["offered_rps"]
        met = kept and step["latency"]["p99_ms"] <= 100 and step["failures"] == 0
        assert (m["step"]["verdict"] == "ok") == met
    assert table_rows((tmp_path / "summary.md").read_text(), "stack")[0][:2] == ["stack", "knee (req/s offered)"]
