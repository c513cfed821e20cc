"""`python -m bench sweep`: real steps of load until the knee, each with a verdict, and a chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    # 4 users against 4 sync workers keep p99 far under 100 ms with no error: the first step is ok, so there is
    # exactly one knee, the highest load whose step was ok
    assert steps[0]["step"]["verdict"] == "ok"
    knees = [s["load"]["users"] for s in steps if s["step"]["knee"]]
    assert knees == [max(s["load"]["users"] for s in steps if s["step"]["verdict"] == "ok")]
    for i, s in enumerate(steps):  # a step that broke on throughput says the gain its figures show
        if s["step"]["verdict"].startswith("throughput stopped growing"):
            best = max((p for p in steps[:i] if p["step"]["verdict"] == "ok"), key=_ok_rps)
            gain = 100 * (_ok_rps(s) / _ok_rps(best) - 1)
            assert s["step"]["verdict"] == (f"throughput stopped growing ({gain:+.0f} % for {s['load']['users']} "
                                            f"vs {best['load']['users']} users)")  # fmt: skip
    summary = (tmp_path / "summary.md").read_text()
    assert "## Capacity: each stack's knee" in summary
    assert "## Response times and throughput" not in summary  # steps are not mixed into one row
    assert (run_dir / "sweep.png").stat().st_size > 10_000


def _ok_rps(m: dict[str, Any]) -> float:
    """Successful answers per second: what a step is judged on."""
    f = m["figures"]
    return float(f["rps"] * (f["requests"] - f["failures"]) / f["requests"])


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
        # judged on successful answers, errors counting the slots never answered (of every slot due)
        kept = _ok_rps(m) >= 0.95 * step["offered_rps"]
        errors = 100 * (step["slots"] - (step["requests"] - step["failures"])) / step["slots"]
        met = kept and step["ok_latency"]["p99_ms"] <= 100 and errors <= 1
        assert (m["step"]["verdict"] == "ok") == met, (m["step"]["verdict"], errors, _ok_rps(m))
    assert table_rows((tmp_path / "summary.md").read_text(), "stack")[0][:2] == ["stack", "knee (req/s offered)"]
