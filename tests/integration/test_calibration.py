"""The calibration's short form (benchmarks/calibration.py has the K-repeat figures): a known delay injected
through the apps' fault switch (`--inject delay=20ms`) is recovered by the lab's ok-only difference.

Why these bounds, on a machine twice as slow and shared:
- d = 20 ms on every request of a mix without /health (the switch never delays /health), in the open model
  at 40 req/s against four sync workers: under one request in flight on average, far below the stack's
  peak, so queueing barely amplifies d (a slot due while all four workers sleep is rare). 20 ms is large
  against this machine's run-to-run noise of the average (hundredths of a ms here; even 1 ms, fifty times
  more, keeps the bounds below).
- The lab's figure is the one its open-model verdict reads (successful answers, timed from when each was
  due), with the delay minus without, with its Welch 95 % interval on the raw per-repeat values
  (bench/analysis/stats.py `difference`, 2 repeats a side). Required: the interval's lower
  end above d/2 (the delay was seen, not only a shift within noise) and the estimate within
  [0.7 d, 1.5 d + time.sleep's overshoot]: an ignored switch (difference 0) fails, and so does a delay
  applied twice (2 d), while a slow machine's overshoot and scheduling delays stay far inside.
- The control applies the same detection to the run without the delay against itself (`@b` against `@a`,
  measured side by side): it must not "find" d/2 there. A switch leaking into the baseline, or a
  comparison that reads one run twice, fails one of the two.
No absolute time is asserted: every bound is relative to d and to the overshoot measured here and now.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.analysis import stats
from benchmarks.calibration import MIX, sleep_overshoot_ms
from tests.integration.conftest import measurements, only_run, run_bench

DELAY_MS = 20.0
LOAD = ["--rate", "40", "-t", "3s", "--warmup", "1s", "--repeat", "2", "--no-floor",
        "--backend", "local"]  # fmt: skip


def ok_avg(run: dict[str, Any], label: str) -> dict[int, float]:
    """Repeat -> the ok-only average from due time of `label`'s measurements (every one must be ok)."""
    found = {}
    for m in measurements(run):
        if m["label"] == label:
            assert m["status"] == "ok", m["error"]
            assert m["figures"]["failures"] == 0, m["figures"]["status_codes"]
            found[m["repeat"]] = m["figures"]["ok_corrected"]["avg_ms"]
    return found


def lab(tmp_path: Path, name: str, *args: str) -> dict[str, Any]:
    results = tmp_path / name
    done = run_bench("stack", *args, *LOAD, "--requests", str(tmp_path / "mix.toml"), "--results", str(results))
    assert done.returncode == 0, done.stderr
    return only_run(results)[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    tmp_path = tmp_path_factory.mktemp("calibration")
    (tmp_path / "mix.toml").write_text(MIX)
    base = lab(tmp_path, "base", "flask_gunicorn@a", "flask_gunicorn@b")
    delayed = lab(tmp_path, "delayed", "flask_gunicorn", "--inject", f"delay={DELAY_MS:g}ms")
    return base, delayed


def test_an_injected_delay_is_recovered_by_the_ok_only_difference(runs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    base, delayed = runs
    assert delayed["settings"]["inject"] == {"BENCH_FAULT_DELAY_MS": "20"} and "inject" not in base["settings"]
    found = stats.difference(ok_avg(base, "flask_gunicorn@a"), ok_avg(delayed, "flask_gunicorn"), False)
    assert found is not None and found.low is not None and found.high is not None
    overshoot = max(0.0, sleep_overshoot_ms(DELAY_MS, times=20))
    assert found.low > DELAY_MS / 2, found
    assert 0.7 * DELAY_MS <= found.mean <= 1.5 * DELAY_MS + overshoot, (found, overshoot)
    assert found.low <= found.mean <= found.high


def test_the_same_detection_finds_nothing_without_the_delay(runs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    base, _ = runs
    found = stats.difference(ok_avg(base, "flask_gunicorn@a"), ok_avg(base, "flask_gunicorn@b"), False)
    assert found is not None and found.low is not None
    assert not found.low > DELAY_MS / 2, found
    assert abs(found.mean) < DELAY_MS / 4, found
