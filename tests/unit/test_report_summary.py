"""One owner per figure: bench/analysis/summary.py's registry and each label's summary feed run.json, results.csv,
summary.md / report.html and `bench compare`; a derived figure is one registry entry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from bench import report
from bench.analysis.summary import FIGURES, Figure, register, summarize
from bench.report.compare import compare_runs, markdown
from bench.results import SCHEMA_VERSION, Measurement, RunResult, load_run, save_run
from tests.factories import failed, measured, run_of
from tests.integration.conftest import table_rows

KEY = "derived.tail_ratio"


def _tail_ratio(m: Measurement) -> float | None:
    """p99 / avg: a throwaway figure, computed from two others."""
    lat = m.latency
    return None if lat.p99_ms is None or not lat.avg_ms else lat.p99_ms / lat.avg_ms


@pytest.fixture
def tail_ratio() -> Iterator[Figure]:
    figure = register(Figure(KEY, "p99 / avg", "{:.3f}", _tail_ratio, name="tail ratio", words="tail ratio",
                             unit="x", lower_is_better=True, derived=True, compared=True))  # fmt: skip
    yield figure
    FIGURES.pop(KEY)


def _repeats(label: str, tails: list[float]) -> list[Measurement]:
    """Repeats whose latencies are 99 requests at 1 ms and one slow one: avg (99 + t) / 100, p99 t."""
    return [measured(label, r, [1.0] * 98 + [t, t]) for r, t in enumerate(tails, 1)]


def _save(tmp_path: Path, run: RunResult) -> Path:
    run_dir = tmp_path / "runs" / run.run_id
    run_dir.mkdir(parents=True)
    save_run(run_dir, run)
    return run_dir


def test_a_derived_figure_registered_once_appears_everywhere(tail_ratio: Figure, tmp_path: Path) -> None:
    # 98 requests at 1 ms and two at t: avg (98 + 2t) / 100, p99 t. t = 11: avg 1.2, ratio 9.1667; t = 21: avg 1.4,
    # 15; t = 31: avg 1.6, 19.375 -> median 15.000 [9.167-19.375]
    run = replace(run_of(*_repeats("flask", [11.0, 21.0, 31.0]), failed("nginx")), status="complete")
    run_dir = _save(tmp_path, run)
    stored = json.loads((run_dir / "run.json").read_text())
    assert stored["schema_version"] == SCHEMA_VERSION == 5
    flask = next(s for s in stored["summary"] if s["label"] == "flask")
    assert flask["figures"][KEY] == pytest.approx({"median": 15.0, "min": 9.1667, "max": 19.375, "n": 3}, abs=1e-4)
    assert (flask["repeats"], flask["ok_repeats"]) == ([1, 2, 3], [1, 2, 3])
    report.write_summaries(tmp_path, run_dir)
    csv = pd.read_csv(run_dir / "results.csv")
    assert list(csv[KEY][:3]) == pytest.approx([9.1667, 15.0, 19.375], abs=1e-4) and pd.isna(csv[KEY][3])
    summary = (run_dir / "summary.md").read_text()
    row = table_rows(summary, "`flask`")[1]  # the second table: every other figure
    head = table_rows(summary.split("## Every other figure")[1])[0]
    assert row[head.index("p99 / avg")] == "15.000 [9.167-19.375]"
    assert "<th>p99 / avg</th>" in (run_dir / "report.html").read_text()
    # bench compare: B's tails t = 21, 41, 61: avg 1.4, 1.8, 2.2 ms, ratios 15, 22.78, 27.73 (median 22.78)
    # against A's 9.17, 15, 19.38 (median 15): the last figure compared, medians shown as the summaries have them
    other = replace(run_of(*_repeats("flask", [21.0, 41.0, 61.0])), run_id="20261124-100000", status="complete")
    text = markdown(compare_runs(load_run(run_dir), other))
    last = table_rows(text, "`flask`")[-1]
    assert (last[2], last[3], last[4]) == ("tail ratio", "15 x", "23 x")


def test_the_headline_reads_the_same_summary_as_the_verdicts(tmp_path: Path) -> None:
    # flask: averages 2.0, 2.2, 2.4 ms (median 2.2); flask_gunicorn 1.0, 1.1, 1.2 ms (median 1.1)
    fast = [measured("flask_gunicorn", r, [a] * 100) for r, a in enumerate((1.0, 1.1, 1.2), 1)]
    slow = [measured("flask", r, [a] * 100) for r, a in enumerate((2.0, 2.2, 2.4), 1)]
    run = run_of(*(m for pair in zip(slow, fast, strict=True) for m in pair))
    run_dir = _save(tmp_path, run)
    report.write_summaries(tmp_path, run_dir)
    summary = (run_dir / "summary.md").read_text()
    assert table_rows(summary)[0] == ["stack", "limited by", "avg (ms)", "p99 (ms)", "req/s", "errors",
                                      "req per CPU-s"]  # fmt: skip
    # 100 requests in 10 s = 10 req/s; on 90 % of a core for 10 s (9 CPU-s): 11 req per CPU-s
    assert table_rows(summary, "`flask`")[0] == ["`flask`", "-", "2.20 [2.00-2.40]", "2.20 [2.00-2.40]", "10",
                                                 "0.00%", "11"]  # fmt: skip
    # closed model: throughput has the verdict, the latency beside it is the same medians (1.10 vs 2.20), not judged
    assert ("- `flask_gunicorn`: throughput not significant (1.00x (no change), no spread in 3 repeats; median 10 vs "
            "10 req/s); latency at these users, not judged apart: avg 1.10 vs 2.20 ms, p99 1.10 vs 2.20 ms\n"
            ) in summary  # fmt: skip
    assert summary.count("Little's law") == 1
    # at one offered rate (the open model) latency is judged instead: tests/unit/test_rate.py


def test_a_failed_repeat_on_one_side_compares_every_ok_repeat_unpaired() -> None:
    base = [measured("a", r, [float(v)] * 10) for r, v in ((1, 10), (2, 11), (3, 12))]
    other = [measured("b", 1, [20.0] * 10), failed("b", 2), measured("b", 3, [24.0] * 10)]
    summary = summarize(run_of(*base, *other)).of("stack")
    from bench.report.verdicts import verdict

    v = verdict("avg", summary["a"], summary["b"], interleaved=True)
    # repeats 1 and 3 of b against 1, 2, 3 of a: no subset beside all; Welch over every ok repeat,
    # shown beside the medians of those repeats (11 and 22 ms)
    assert v is not None and v.ratio.method == "welch" and (v.base, v.other) == (11.0, 22.0)


def test_a_version_3_run_without_a_summary_is_read_and_reported(tmp_path: Path) -> None:
    run = run_of(*_repeats("flask", [11.0, 21.0, 31.0]))
    data = run.to_json()
    del data["summary"]  # as the lab wrote it at version 3
    data["schema_version"] = 3
    run_dir = tmp_path / "runs" / run.run_id
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps(data))
    assert load_run(run_dir) == replace(run, schema_version=3)  # read as the version it is
    summary = report.write_summaries(tmp_path, run_dir).read_text()
    # averages 1.2, 1.4, 1.6 ms: the summary is computed from the measurements when it is reported
    assert table_rows(summary, "`flask`")[0][2] == "1.40 [1.20-1.60]"
