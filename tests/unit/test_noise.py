"""The noise guard: the floor at the start and at the end of a run, built the way production builds
measurements (tests/factories.py); the summary warns when they are more than 10 % apart and names the
verdicts a move that large could explain, and stays silent when they are not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.analysis.noise import floor_change
from bench.analysis.summary import summarize
from bench.report import render
from bench.results import Measurement, RunResult, load_run, save_run
from tests.factories import measured, run_of

WARNING = "WARNING: the machine changed speed during this run"


def floor(rps: float, role: str = "floor", avg_ms: float = 0.5, seconds: float = 2.0) -> Measurement:
    """A floor of `rps` req/s whose every request took `avg_ms`."""
    return measured("floor", latencies_ms=[avg_ms] * int(rps * seconds), seconds=seconds, role=role)  # type: ignore[arg-type]


def rows(label: str, scale: float, spread: float) -> list[Measurement]:
    """Three closed-model repeats of 10 s at 2 ms times `scale`, repeat r `spread * r` slower again, each answering
    1000 requests divided by the same factor (one user: throughput falls as latency grows, Little's law)."""
    factors = [scale * (1 + spread * r) for r in (1, 2, 3)]
    return [measured(label, r, [2.0 * f] * round(1000 / f)) for r, f in zip((1, 2, 3), factors, strict=True)]


def _run(start: Measurement, end: Measurement | None) -> RunResult:
    # requests: base 990, 980, 971; near 891, 874, 858; far 327, 321, 314. Pair ratios: near 0.900, 0.892, 0.884
    # (1.12x lower), far 0.330, 0.328, 0.323 (3.06x lower): each significant (interval beyond 3 %)
    ms = [start, *rows("base", 1.0, 0.01), *rows("near", 1.10, 0.02), *rows("far", 3.0, 0.02), *([end] if end else [])]
    return run_of(*ms)


def _summary(run: RunResult) -> str:
    return render(run, summarize(run), Path("runs/x"))


def test_a_floor_that_fell_from_1000_to_800_req_s_warns_and_names_the_verdicts_it_could_explain() -> None:
    run = _run(floor(1000), floor(800, "floor_end"))
    change = floor_change(run)
    assert change is not None and change.changed
    assert (change.rps_change, change.avg_change, change.factor) == pytest.approx((-0.20, 0.0, 1.25))
    text = _summary(run)
    warning = text.split(f"## {WARNING}\n\n")[1].split("\n## ")[0]
    # the base is the start's: 800 is 20 % below 1000 (1000 is 25 % above 800, the 1.25x of the ratios)
    assert "req/s 1000 -> 800 (-20 % of the start's)" in warning
    assert "avg 0.50 -> 0.50 ms (+0 %)" in warning and "ran slower by the end" in warning
    could, stand = warning.split("could be the machine's, not the stacks': ")[1].split("Larger than the move")
    assert "`near` throughput 1.12x lower" in could and "`far`" not in could  # 1.12x <= 1.25x
    assert "`far` throughput 3.06x lower" in stand  # 3.06x > 1.25x
    assert text.index(WARNING) < text.index("## Response times and throughput")  # read first
    assert "Measured again at the end: avg 0.50 ms at 800 req/s (-20 % req/s, +0 % avg of the start's: more " \
           "than 10 %" in text  # fmt: skip


def test_a_floor_that_moved_4_percent_says_nothing() -> None:
    run = _run(floor(1000), floor(960, "floor_end"))
    change = floor_change(run)
    assert change is not None and not change.changed and change.rps_change == pytest.approx(-0.04)
    text = _summary(run)
    assert WARNING not in text
    assert "(-4 % req/s, +0 % avg of the start's: within 10 %, the machine held its speed)" in text


def test_the_average_alone_moving_warns_too() -> None:
    run = _run(floor(1000), floor(1000, "floor_end", avg_ms=0.6))  # same req/s, 20 % slower answers
    change = floor_change(run)
    assert change is not None and change.changed and change.avg_change == pytest.approx(0.2)
    assert "avg 0.50 -> 0.60 ms (+20 %)" in _summary(run)


def test_both_floors_are_kept_in_run_json(tmp_path: Path) -> None:
    run = _run(floor(1000), floor(800, "floor_end"))
    save_run(tmp_path, run)
    stored = json.loads((tmp_path / "run.json").read_text())
    assert [m["figures"]["rps"] for m in stored["measurements"] if m["role"] in ("floor", "floor_end")] == [1000, 800]
    assert stored["noise"] == {"start_rps": 1000.0, "end_rps": 800.0, "start_avg_ms": 0.5, "end_avg_ms": 0.5,
                               "rps_change_pct": -20.0, "avg_change_pct": 0.0, "changed": True,
                               "threshold_pct": 10.0}  # fmt: skip
    assert load_run(tmp_path).rows("floor_end")[0].figures.rps == 800.0  # type: ignore[union-attr]


def test_no_guard_without_both_floors(tmp_path: Path) -> None:
    run = _run(floor(1000), None)
    assert floor_change(run) is None and WARNING not in _summary(run)
    save_run(tmp_path, run)
    assert json.loads((tmp_path / "run.json").read_text())["noise"] is None
