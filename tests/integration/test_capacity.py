"""`bench capacity`, measured for real: a short search of flask_gunicorn on the local backend. What is asserted
holds on any machine: the capacity is the highest passing rate, between it and the first failing rate, the bracket
within the precision or the search saying why not, and each step's verdict what its own figures in run.json say."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import measurements, only_run, run_bench, table_rows

SLO_MS, PRECISION = 50.0, 0.10


def test_a_short_capacity_search(tmp_path: Path) -> None:
    done = run_bench("capacity", "flask_gunicorn", "--slo", f"p99<{SLO_MS:g}ms,errors<1%", "--step", "2s",
                     "--start-rate", "400", "--max-rate", "3200", "--precision", f"{100 * PRECISION:g}%",
                     "--min-answers", "200",
                     "--target-rps", "2000", "--backend", "local", "--results", str(tmp_path))  # fmt: skip
    # 99: no rate met the SLO on this machine today; 1: a step past the capacity could not be measured
    assert done.returncode in (0, 1, 99), done.stderr
    _, run = only_run(tmp_path)
    steps = [m for m in measurements(run, "step") if m["status"] == "ok"]
    broken = [m["step"]["load"] for m in measurements(run, "step") if m["status"] != "ok"]
    assert steps and (done.returncode == 1) == bool(broken), done.stderr
    for m in steps:  # each verdict is what the step's own figures say (p99 from due, errors of every slot due)
        f = m["figures"]
        p99 = f["ok_corrected"]["p99_ms"]
        errors = 100 * (f["slots"] - (f["requests"] - f["failures"])) / f["slots"]
        answers = f["requests"] - f["failures"]
        met = p99 is not None and p99 < SLO_MS and errors < 1 and answers >= 200
        assert (m["step"]["slo_missed"] == []) == met, (m["step"], p99, errors, answers)
    passed = [m["step"]["load"] for m in steps if m["step"]["slo_missed"] == []]
    failed = [m["step"]["load"] for m in steps if m["step"]["slo_missed"]]
    summary = (tmp_path / "summary.md").read_text()
    row = table_rows(summary.split("## Each search")[1].split("## ")[0])[1]  # stack, search, capacity, bracket, ...
    if not passed:
        assert row[2] == "-" and done.returncode == 99
        return
    capacity = max(passed)
    assert all(load > capacity for load in broken), broken  # only overload broke a step
    above = [load for load in failed if load > capacity]
    assert row[2].split()[0] == f"{capacity:g}"  # the highest passing rate
    if above:  # the capacity lies between the last passing and the first failing rate
        first_failing = min(above)
        assert row[5] == f"{first_failing:g}"
        within = first_failing <= capacity * (1 + PRECISION)
        assert within or "not within" in row[3] or row[8].startswith("no whole load"), row
    assert "## The answer: 2,000 req/s" in (tmp_path / "summary.md").read_text()
