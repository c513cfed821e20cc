"""bench.charts draws real PNGs from a RunResult built in code: ok stacks only, nothing run."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import pytest

from bench.charts import chart_links, ok_groups, spread, whole_seconds, write_charts
from bench.results import RunResult, StackResult

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NAMES = ["latency.png", "throughput.png", "resources.png"]


def _ok(name: str, repeat: int, p50: float, rps: int, cpu: float, rss: float) -> StackResult:
    """One measured repeat; repeats differ by a few percent so the whiskers have something to show."""
    f = 1 + 0.04 * (repeat - 2)
    return StackResult(
        name=name,
        backend="local",
        status="ok",
        repeat=repeat,
        requests=rps * 10,
        avg_ms=p50 * 1.1 * f,
        p50_ms=p50 * f,
        p90_ms=p50 * 1.6 * f,
        p95_ms=p50 * 2.2 * f,
        p99_ms=p50 * 4 * f,
        max_ms=p50 * 9,
        rps=rps * f,
        measured_s=9.6,
        cpu_percent=cpu * f,
        peak_rss_mb=rss * f,
        per_second=[[s, int(rps * f) + 13 * (s % 3), 0] for s in range(10)],
    )


def _failed(name: str, repeat: int) -> StackResult:
    return StackResult(name=name, backend="local", status="failed", repeat=repeat, error="port 8000 in use")


@pytest.fixture
def run() -> RunResult:
    """4 stacks x 3 repeats; fastapi_istio failed every time, flask_gunicorn_nginx once."""
    stacks = []
    for r in (1, 2, 3):
        stacks += [
            _ok("flask", r, 7.4, 1300, 88, 40),
            _ok("flask_gunicorn", r, 4.1, 2400, 170, 120),
            _ok("flask_gunicorn_nginx", r, 5.0, 2100, 190, 135) if r != 2 else _failed("flask_gunicorn_nginx", r),
            _failed("fastapi_istio", r),
        ]
    return RunResult(run_id="20261124-090444", started_at="2026-11-24T09:04:44+0000", backend="local", stacks=stacks)


def test_the_three_charts_are_real_pngs(run: RunResult, tmp_path: Path) -> None:
    paths = write_charts(run, tmp_path / "charts")
    assert paths == [tmp_path / "charts" / name for name in NAMES]
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC)
        assert len(data) > 10_000  # axes, bars and text, not an empty canvas
        height, width, channels = matplotlib.image.imread(path).shape
        assert height >= 400 and width >= 500 and channels in (3, 4)
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == sorted(NAMES)  # no temp files left


def test_writing_again_replaces_the_charts(run: RunResult, tmp_path: Path) -> None:
    first = [p.read_bytes() for p in write_charts(run, tmp_path)]
    second = [p.read_bytes() for p in write_charts(run, tmp_path)]
    assert [len(b) for b in first] == [len(b) for b in second]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(NAMES)


def test_a_run_where_everything_failed_draws_nothing(tmp_path: Path) -> None:
    run = RunResult(run_id="r", started_at="t", backend="local", stacks=[_failed("flask", 1), _failed("flask", 2)])
    assert write_charts(run, tmp_path / "charts") == []
    assert not (tmp_path / "charts").exists()


def test_ok_stacks_without_figures_draw_nothing(tmp_path: Path) -> None:
    empty = StackResult(name="flask", backend="local", status="ok")
    assert write_charts(RunResult(run_id="r", started_at="t", stacks=[empty]), tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_only_ok_repeats_are_charted_in_run_order(run: RunResult) -> None:
    groups = ok_groups(run)
    assert list(groups) == ["flask", "flask_gunicorn", "flask_gunicorn_nginx"]
    assert [r.repeat for r in groups["flask_gunicorn_nginx"]] == [1, 3]


def test_spread_is_median_and_min_max_of_what_is_there() -> None:
    cell = spread([3.0, None, 1.0, 2.0])
    assert cell is not None and (cell.mid, cell.low, cell.high) == (2.0, 1.0, 3.0)
    assert spread([None, None]) is None


def test_the_partial_last_second_is_not_drawn() -> None:
    result = StackResult(
        name="f", backend="local", status="ok", measured_s=2.4, per_second=[[0, 9, 0], [1, 8, 1], [2, 3, 0]]
    )
    assert whole_seconds(result) == [(0, 9), (1, 8)]
    result.measured_s = 0.0  # unknown window: keep every second
    assert whole_seconds(result) == [(0, 9), (1, 8), (2, 3)]


def test_chart_links_are_relative_to_the_markdown_file(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "20261124-090444"
    paths = [run_dir / name for name in NAMES]
    assert chart_links(paths, run_dir) == (
        "## Charts\n\n"
        "![Latency percentiles](latency.png)\n\n"
        "![Requests per second over the run](throughput.png)\n\n"
        "![CPU and memory per stack](resources.png)\n"
    )
    assert "](runs/20261124-090444/latency.png)" in chart_links(paths[:1], tmp_path)
    assert chart_links([], tmp_path) == ""
