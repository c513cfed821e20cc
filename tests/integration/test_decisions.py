"""From numbers to decisions, for real: an --slo the stacks miss (exit 99) and one they meet (exit 0) on
the same short load, those two runs compared (`bench compare`: verdicts with intervals), a sweep climbing
to its sustainable load and one that misses at the first step, and report.html opened in a real headless
Chromium. Short loads: about 90 s together."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests import browser
from tests.integration.conftest import measurements, only_run, run_bench, table_rows

LOAD = ["-u", "8", "-r", "8", "-t", "1s", "--warmup", "0.5s", "--repeat", "2", "--backend", "local", "--no-floor"]
STACKS = ["flask_gunicorn", "floor"]  # floor: nginx answering from memory, quick to start
IMPOSSIBLE = "p99<0.01ms,errors<50%"  # no HTTP round trip takes 10 µs; nothing fails half its requests
MET = "errors<50%,rps>1"
VERDICT = re.compile(r"^\d+\.\d\dx (faster|slower|higher|lower)$|^1\.00x \(no change\)$")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("decisions")


@pytest.fixture(scope="module")
def missed(results: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    done = run_bench("stack", *STACKS, *LOAD, "--slo", IMPOSSIBLE, "--results", str(results))
    return done, _latest(results)


@pytest.fixture(scope="module")
def met(results: Path, missed: Any) -> tuple[subprocess.CompletedProcess[str], Path]:
    done = run_bench("stack", *STACKS, *LOAD, "--results", str(results), env={"BENCH_SLO": MET})
    return done, _latest(results)


def _latest(results: Path) -> Path:
    return sorted((results / "runs").iterdir())[-1]


def _run(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
    return data


def test_a_missed_slo_exits_99_and_is_recorded(missed: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, run_dir = missed
    assert done.returncode == 99, done.stderr
    run = _run(run_dir)
    assert run["status"] == "complete" and all(m["status"] == "ok" for m in run["measurements"])
    assert run["settings"]["slo"] == IMPOSSIBLE and run["slo"]["text"] == IMPOSSIBLE
    verdicts = {v["label"]: v for v in run["slo"]["verdicts"]}
    assert list(verdicts) == STACKS
    for label, v in verdicts.items():
        p99s = [m["figures"]["latency"]["p99_ms"] for m in measurements(run) if m["label"] == label]
        p99, errors = v["objectives"]
        assert not v["passed"] and v["repeats"] == 2
        assert (p99["objective"], p99["met"], p99["missed_in"]) == ("p99<0.01ms", False, [1, 2])
        assert p99["value"] == pytest.approx(sum(p99s) / 2)  # the median of two repeats
        assert (errors["objective"], errors["met"], errors["missed_in"]) == ("errors<50%", True, [])
    assert f"ERROR: 2 of 2 missed the SLO {IMPOSSIBLE}:\n  flask_gunicorn: FAILED (p99 " in done.stderr
    summary = (run_dir / "summary.md").read_text()
    assert f"## SLO `{IMPOSSIBLE}`\n\n**Failed**: `flask_gunicorn`, `floor`." in summary
    assert [row[1] for row in table_rows(summary.split("## SLO")[1]) if row[0] != "stack"][:2] == ["**FAIL**"] * 2


def test_a_met_slo_from_the_environment_exits_0(met: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, run_dir = met
    assert done.returncode == 0, done.stderr
    run = _run(run_dir)
    assert [(v["label"], v["passed"]) for v in run["slo"]["verdicts"]] == [(s, True) for s in STACKS]
    assert f"SLO met by every stack {MET}:\n  flask_gunicorn: passed\n  floor: passed" in done.stderr


def test_the_two_runs_compared_give_verdicts_with_intervals(results: Path, missed: Any, met: Any) -> None:
    a, b = missed[1].name, met[1].name
    done = run_bench("compare", a, b, "--results", str(results))
    assert done.returncode == 0, done.stderr
    written = results / f"compare-{a}-vs-{b}.md"
    assert written.read_text() == done.stdout and f"comparison: {written}" in done.stderr
    rows = [r for r in table_rows(done.stdout.split("## Each stack in B against A")[1]) if r[0] != "stack"]
    figures = ["average response time", "p50", "p90", "p95", "p99", "p99.9", "throughput", "requests per CPU-second"]
    assert [(r[0], r[2]) for r in rows] == [(f"`{s}`", f) for s in STACKS for f in figures]
    for row in rows:
        assert row[1] == "2 / 2"
        assert VERDICT.match(row[5]), row
        low, high = (float(x) for x in row[6].split("-"))  # every figure has its 95 % interval
        assert 0 <= low <= high  # two repeats a side: ~1 degree of freedom, so wide (0.00 when rounded)
        assert row[7] in ("faster", "slower", "higher", "lower", "not significant")
    assert "Only in" not in done.stdout and "Not compared" not in done.stdout


def test_a_sweep_climbs_to_its_sustainable_load_and_one_that_misses_exits_99(tmp_path: Path) -> None:
    sweep = ["sweep", "flask_gunicorn", "--step", "2s", "--max-users", "8", "--backend", "local"]
    done = run_bench(*sweep, "--slo", "errors<50%", "--results", str(tmp_path / "met"))
    assert done.returncode == 0, done.stderr
    run_dir, run = only_run(tmp_path / "met")
    steps = measurements(run, "step")
    assert [s["load"]["users"] for s in steps] == [4, 8]  # on to --max-users: the SLO never broke
    assert [s["step"]["slo_missed"] for s in steps] == [[], []]
    assert [s["step"]["sustainable"] for s in steps] == [False, True]
    (verdict,) = run["slo"]["verdicts"]
    assert verdict["passed"] and verdict["sustainable"] == 8 and "p99_target_ms" not in run["settings"]["sweep"]
    assert table_rows((run_dir / "summary.md").read_text(), "`flask_gunicorn`")[-1][:3] == [
        "`flask_gunicorn`", "pass", "8"]  # fmt: skip
    _opens_in_a_browser(run_dir, ["flask_gunicorn"], ["Throughput and p99 against load, knee marked"])
    done = run_bench(*sweep, "--slo", IMPOSSIBLE, "--results", str(tmp_path / "missed"))
    assert done.returncode == 99, done.stderr
    _, run = only_run(tmp_path / "missed")
    assert [s["load"]["users"] for s in measurements(run, "step")] == [4]  # an upper bound broke: no climb
    assert run["slo"]["verdicts"][0]["passed"] is False and run["slo"]["verdicts"][0]["sustainable"] is None


CHARTS = ["Latency percentiles", "Requests per second over the run", "CPU and memory per stack"]


def test_report_html_shows_every_stack_and_chart_in_a_real_browser(missed: Any) -> None:
    _opens_in_a_browser(missed[1], STACKS, CHARTS)


def _opens_in_a_browser(run_dir: Path, labels: list[str], charts: list[str]) -> None:
    why = browser.missing()
    if why:
        pytest.skip(why)
    seen = browser.open_page(run_dir / "report.html", run_dir.parent.parent / f"profile-{run_dir.name}")
    summary = (run_dir / "summary.md").read_text()
    assert seen.title == summary.splitlines()[0].removeprefix("# ")
    assert seen.console == []  # no error, no warning, nothing failed to load
    assert seen.fetched == []  # nothing but the file itself: it opens without a network
    assert [i["alt"] for i in seen.images] == charts
    for image in seen.images:
        assert image["scheme"] == "data" and image["complete"] and image["width"] > 400 and image["shown"] > 0
    assert seen.tables == len(re.findall(r"^\|[-:|]*-[-:|]*\|$", summary, re.MULTILINE))  # every table of the summary
    for label in labels:
        assert label in seen.text
    if "## SLO" in summary:
        assert "FAIL" in seen.text or "pass" in seen.text
