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
