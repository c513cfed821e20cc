"""`python -m bench sweep`: real steps of load until the knee, each with a verdict, and a chart."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import only_run, run_bench


def test_sweep_steps_up_and_marks_the_knee(tmp_path: Path) -> None:
    done = run_bench("sweep", "flask_gunicorn", "--step", "2s", "--max-users", "16", "--backend", "local",
                     "--results", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_dir, run = only_run(tmp_path)
    assert run["settings"]["scenario"] == "sweep"
    steps = [s for s in run["stacks"] if s["phase"] == "sweep"]
    users = [s["users"] for s in steps]
    assert users[:2] == [4, 8]  # doubling from 4
    assert all(s["status"] == "ok" and s["requests"] > 0 and s["details"]["verdict"] for s in steps)
    knees = [s for s in steps if s["details"].get("knee")]
    assert len(knees) <= 1
    for knee in knees:
        assert knee["details"]["verdict"] == "ok"
        assert knee["users"] == max(s["users"] for s in steps if s["details"]["verdict"] == "ok")
    summary = (tmp_path / "summary.md").read_text()
    assert "## Capacity: each stack's knee" in summary
    assert "## Response times and throughput" not in summary  # steps are not mixed into one row
    assert (run_dir / "sweep.png").stat().st_size > 10_000


def test_open_model_sweep_steps_the_arrival_rate(tmp_path: Path) -> None:
    done = run_bench("sweep", "flask_gunicorn", "--model", "open", "--start-rate", "100", "--max-rate", "400",
                     "--step", "3s", "--backend", "local", "--no-floor", "--results", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    _, run = only_run(tmp_path)
    steps = [s for s in run["stacks"] if s["phase"] == "sweep"]
    assert [s["offered_rps"] for s in steps][:3] == [100, 200, 400][: len(steps)]
    for step in steps:
        assert step["status"] == "ok" and step["requests"] > 0
        assert step["rps"] <= step["offered_rps"] * 1.1  # paced: never much above what was offered
        kept = step["rps"] >= 0.95 * step["offered_rps"]
        assert (step["details"]["verdict"] == "ok") == (kept and step["p99_ms"] <= 100 and step["failures"] == 0)
    assert "| stack | knee (req/s offered) |" in (tmp_path / "summary.md").read_text()
