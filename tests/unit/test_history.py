"""The history index and change detection, on runs written by the production writer (save_run) from
measurements built the production way (tests/factories.py)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bench.analysis import changes
from bench.cli import main
from bench.history import baseline, report, store
from bench.results import LoadShape, RunResult, save_run
from tests.factories import measured, run_of

BASE_MS = [float(v) for v in np.linspace(5.0, 50.0, 100)]  # one run's requests: p99 ~ 50 ms
P99 = "latency.p99_ms"


def write_series(results: Path, stack_factors: list[float], floor_factors: list[float] | None = None,
                 seed: int = 7, noise: float = 0.12) -> list[RunResult]:  # fmt: skip
    """One run per factor, its latencies scaled by factor * (1 + N(0, noise)): a realistic 12 % spread."""
    rng = np.random.default_rng(seed)
    floor_factors = floor_factors or [1.0] * len(stack_factors)
    written = []
    for i, (f, g) in enumerate(zip(stack_factors, floor_factors, strict=True)):
        s, fl = f * (1 + rng.normal(0, noise)), g * (1 + rng.normal(0, noise))
        run = replace(run_of(measured("flask", latencies_ms=[v * s for v in BASE_MS]),
                             measured("floor", role="floor", latencies_ms=[v * fl / 10 for v in BASE_MS])),
                      run_id=f"20261201-{i:06d}", started_at=f"2026-12-01T{i:02d}:00:00+0000", status="complete")
        folder = results / "runs" / run.run_id
        folder.mkdir(parents=True)
        save_run(folder, run)
        written.append(run)
    return written


def history_of(results: Path) -> report.History:
    with store.open_index(results) as db:
        (h,) = report.histories(db, ["flask"], P99)
    return h


def test_one_change_is_found_at_the_first_slowed_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = write_series(tmp_path, [1.0] * 6 + [1.5] * 4)
    assert main(["history", "flask", "--figure", "p99", "--results", str(tmp_path)]) == 0
    h = history_of(tmp_path)
    assert [p.run_id for p in h.points] == [r.run_id for r in runs]
    (change,) = h.changes
    assert change.index == 6 and change.cause == "stack"
    assert 1.3 < change.ratio < 1.7 and change.ratio_low < change.ratio < change.ratio_high
    out = capsys.readouterr().out
    assert f"| {runs[6].run_id} | 2026-12-01T06:00:00+0000 |" in out  # the change table names the first slowed run
    (folder,) = (tmp_path / "history" / "runs").iterdir()
    assert (folder / "history.md").read_text() == out and (folder / "history-flask.png").stat().st_size > 0


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_an_unchanged_series_has_no_change(tmp_path: Path, seed: int) -> None:
    write_series(tmp_path, [1.0] * 10, seed=seed)
    assert history_of(tmp_path).changes == []


def test_a_change_the_floor_shares_is_the_machines(tmp_path: Path) -> None:
    write_series(tmp_path, [1.0] * 6 + [1.5] * 4, floor_factors=[1.0] * 6 + [1.5] * 4)
    (change,) = history_of(tmp_path).changes
    assert (change.index, change.cause) == (6, "machine")


def test_a_slow_drift_is_not_a_change() -> None:
    # 2 % slower each run, 10 runs: no step; PELT may cut it, the test between segments must then confirm
    rng = np.random.default_rng(3)
    drift = [10 * (1.02**i) * (1 + rng.normal(0, 0.12)) for i in range(10)]
    assert changes.detect(drift) == []


def test_the_index_holds_every_figure_of_the_label_summary(tmp_path: Path) -> None:
    (run,) = write_series(tmp_path, [1.0])
    with store.open_index(tmp_path) as db:
        rows = dict(db.execute("SELECT figure, median FROM figures WHERE label = 'flask'").fetchall())
        (scenario, status, load) = db.execute("SELECT scenario, status, load FROM runs").fetchone()
    summary = {k: v["median"] for k, v in run.to_json()["summary"][0]["figures"].items()}
    assert rows == summary and (scenario, status) == ("measure", "complete")
    assert '"duration_s": 10.0' in load and '"users": 10' in load


def test_a_deleted_index_is_rebuilt(tmp_path: Path) -> None:
    write_series(tmp_path, [1.0] * 3)
    assert len(history_of(tmp_path).points) == 3
    store.index_path(tmp_path).unlink()
    assert len(history_of(tmp_path).points) == 3


def test_a_corrupt_index_is_rebuilt_never_trusted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_series(tmp_path, [1.0] * 3)
    path = store.index_path(tmp_path)
    history_of(tmp_path)
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)  # a header, then garbage
    assert len(history_of(tmp_path).points) == 3
    assert "damaged" in capsys.readouterr().err
    with sqlite3.connect(path) as db:  # a valid database of the wrong shape is not trusted either
        db.execute("UPDATE meta SET value = '0'")
    assert len(history_of(tmp_path).points) == 3


def test_reindex_rebuilds_from_the_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_series(tmp_path, [1.0] * 4)
    with store.open_index(tmp_path) as db:
        db.execute("DELETE FROM figures")
        db.commit()
    assert main(["report", "--reindex", "--results", str(tmp_path)]) == 0
    assert "4 runs indexed" in capsys.readouterr().out
    assert len(history_of(tmp_path).points) == 4


def test_the_baseline_is_picked_from_the_history(tmp_path: Path) -> None:
    runs = write_series(tmp_path, [1.0] * 6 + [1.5] * 4)
    newest = runs[-1]
    assert baseline.pick(tmp_path, newest, "last") == runs[-2].run_id
    assert baseline.pick(tmp_path, newest, "stable") == runs[6].run_id  # the first run of the slowed segment
    assert main(["compare", newest.run_id, "--baseline", "last", "--results", str(tmp_path)]) == 0


def test_fail_on_regression_exits_98(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    load = LoadShape(users=10, spawn_rate=10, duration_s=10)
    # the same 100 requests over 10 s (A) and over 20 s (B): B serves half the requests per second
    runs = [replace(run_of(*(replace(measured("flask", repeat=r, latencies_ms=BASE_MS, seconds=s + r / 10), load=load)
                             for r in (1, 2, 3))), run_id=f"20261201-00000{i}", status="complete")
            for i, s in enumerate((10.0, 20.0))]  # fmt: skip
    for run in runs:
        (tmp_path / "runs" / run.run_id).mkdir(parents=True)
        save_run(tmp_path / "runs" / run.run_id, run)
    a, b = (r.run_id for r in runs)
    assert main(["compare", a, b, "--results", str(tmp_path)]) == 0
    assert main(["compare", a, b, "--fail-on-regression", "--results", str(tmp_path)]) == 98
    assert "significantly worse than 20261201-000000: flask rps" in capsys.readouterr().err
    assert main(["compare", b, "--baseline", "last", "--fail-on-regression", "--results", str(tmp_path)]) == 98
