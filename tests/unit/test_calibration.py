"""benchmarks/calibration.py's arithmetic on run.json values built by hand: what it reads, the difference it
judges coverage on, the A/A verdicts it counts, the Wilson interval it prints."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.calibration import Run, aa_verdicts, read_run, recovered, rule_table, wilson


def run_json(avgs: dict[str, list[float]], failed: int | None = None) -> dict[str, Any]:
    """run.json's measurements: label -> its ok-only averages from due time by repeat (p99 = 2 x avg, 100 req/s)."""
    ms = [{"role": "floor", "status": "ok", "label": "floor", "repeat": 1, "figures": {}}]
    for label, values in avgs.items():
        for i, v in enumerate(values, 1):
            status = "failed" if failed == i and label.endswith("@b") else "ok"
            ms.append({"role": "stack", "status": status, "label": label, "repeat": i,
                       "figures": {"rps": 100.0, "ok_corrected": {"avg_ms": v, "p99_ms": 2 * v}}})  # fmt: skip
    return {"measurements": ms}


def test_a_run_is_read_by_label_and_repeat_and_averaged_over_its_labels() -> None:
    run = Run(0.0, 1)
    read_run(run_json({"s@a": [2.0, 2.2, 2.4], "s@b": [2.2, 2.4, 2.0]}, failed=3), run)
    assert run.figure("s@a", "due avg") == {1: 2.0, 2: 2.2, 3: 2.4}
    assert run.figure("s@b", "due p99") == {1: 4.4, 2: 4.8}  # repeat 3 failed: left out
    assert run.avg_by_repeat() == pytest.approx({1: 2.1, 2: 2.3})  # only repeats both labels have
    assert run.rps == 100.0


def test_coverage_is_judged_on_the_welch_interval_of_the_difference() -> None:
    base, delayed = Run(0.0, 1), Run(1.0, 1)
    read_run(run_json({"s@a": [2.0, 2.1, 2.2], "s@b": [2.0, 2.1, 2.2]}), base)
    read_run(run_json({"s@a": [3.0, 3.2, 3.4], "s@b": [3.0, 3.2, 3.4]}), delayed)
    (found,) = recovered([base, delayed], 1.0)
    # means 2.1 and 3.2; variances 0.01 and 0.04, /3 each: se = sqrt(0.05/3) = 0.1291; Welch df =
    # (0.05/3)^2 / ((0.01/3)^2/2 + (0.04/3)^2/2) = 2.941, t(2.941) = 3.2188 (tables: 3.182 at df 3,
    # 4.303 at 2): half-width 0.4155
    assert found.difference is not None and found.difference.mean == pytest.approx(1.1)
    assert found.difference.low == pytest.approx(0.6845, abs=0.0005)
    assert found.difference.high == pytest.approx(1.5155, abs=0.0005)
    assert found.covers(1.06) is True and found.covers(1.6) is False and found.covers(0.6) is False


def test_an_aa_run_is_significant_only_when_the_whole_paired_interval_is_beyond_three_percent() -> None:
    same, apart = Run(0.0, 1), Run(0.0, 2)
    read_run(run_json({"s@a": [2.0, 2.2, 2.4], "s@b": [2.02, 2.18, 2.41]}), same)
    read_run(run_json({"s@a": [2.0, 2.2, 2.4], "s@b": [2.4, 2.64, 2.88]}), apart)  # 1.2x in every repeat, no spread
    assert aa_verdicts([same], "due avg") == [False]
    assert aa_verdicts([apart], "due avg") == [False]  # no spread in 3 repeats: not significant by itself
    apart.values["s@b"]["due avg"] = {1: 2.4, 2: 2.66, 3: 2.86}  # ratios 1.2, 1.209, 1.192
    assert aa_verdicts([same, apart], "due avg") == [False, True]


def test_wilson_intervals_as_printed() -> None:
    assert wilson(0, 24) == "0/24 = 0% (Wilson 95 % 0%-14%)"
    assert wilson(9, 10) == "9/10 = 90% (Wilson 95 % 60%-98%)"
    assert wilson(0, 0) == "— (nothing measured)"


def test_the_rule_table_has_every_rule_fired_and_silent() -> None:
    rows = rule_table()
    assert [r[0] for r in rows][:2] == ["`app_errors`", "`breaker`"] and len(rows) == 14
    assert {(r[2], r[3]) for r in rows} == {("yes", "yes")}
