"""Two real short runs are indexed as they end, and `bench history` shows both (their figures as the runs hold
them); `bench compare --baseline last` picks the first as the second's baseline from the index."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.integration.conftest import run_bench

LOAD = ["--preset", "quick", "-t", "2s", "--warmup", "0s", "--backend", "local"]


def test_two_real_runs_are_indexed_and_shown(tmp_path: Path) -> None:
    for _ in range(2):
        done = run_bench("stack", "floor", *LOAD, "--results", str(tmp_path))
        assert done.returncode == 0, done.stderr
    runs = sorted(p.parent for p in (tmp_path / "runs").glob("*/run.json"))
    assert len(runs) == 2
    with sqlite3.connect(tmp_path / "history.sqlite") as db:
        indexed = db.execute("SELECT run_id, status FROM runs ORDER BY run_id").fetchall()
    assert indexed == [(p.name, "complete") for p in runs]
    # the second run's report.html shows the history of its label (two runs in the index)
    assert (runs[1] / "history-floor.png").is_file() and "<h2>History</h2>" in (runs[1] / "report.html").read_text()
    shown = run_bench("history", "floor", "--figure", "p99", "--results", str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    for run_dir in runs:
        data = json.loads((run_dir / "run.json").read_text())
        (summary,) = [s for s in data["summary"] if s["label"] == "floor" and s["role"] == "stack"]
        p99 = summary["figures"]["latency.p99_ms"]["median"]
        assert f"| {run_dir.name} " in shown.stdout and f"{p99:.2f}" in shown.stdout
    assert "No change found in 2 runs." in shown.stdout
    compared = run_bench("compare", runs[1].name, "--baseline", "last", "--results", str(tmp_path))
    assert compared.returncode == 0, compared.stderr
    assert (tmp_path / f"compare-{runs[0].name}-vs-{runs[1].name}.md").is_file()
