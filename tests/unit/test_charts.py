"""bench.charts draws real PNGs from a RunResult built in code: ok stacks only, nothing run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import matplotlib.image
import pytest

from bench.analysis.summary import Spread, summarize
from bench.report.charts import whole_seconds, write_charts
from bench.report.common import chart_links
from bench.results import Measurement, RunResult
from tests.factories import failed, measured, run_of

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NAMES = ["latency.png", "throughput.png", "resources.png"]


def _ok(name: str, repeat: int, p50: float, cpu: float, rss: float) -> Measurement:
    """One measured repeat; repeats differ by a few percent so the whiskers have something to show."""
    f = 1 + 0.04 * (repeat - 2)
    latencies = [p50 * f * k for k in (0.5, 0.8, 1.0, 1.0, 1.2, 1.6, 2.2, 4.0, 9.0) for _ in range(40)]
    return measured(name, repeat, latencies, cpu_percent=cpu * f, rss_mb=rss * f)


@pytest.fixture
def run() -> RunResult:
    """4 stacks x 3 repeats; fastapi_istio failed every time, flask_gunicorn_nginx once."""
    found = []
    for r in (1, 2, 3):
        found += [
            _ok("flask", r, 7.4, 88, 40),
            _ok("flask_gunicorn", r, 4.1, 170, 120),
            _ok("flask_gunicorn_nginx", r, 5.0, 190, 135) if r != 2 else failed("flask_gunicorn_nginx", r),
            failed("fastapi_istio", r),
        ]
    return run_of(*found)


def write(run: RunResult, folder: Path) -> list[Path]:
    return write_charts(run, folder, summarize(run).of("stack"))


def test_the_three_charts_are_real_pngs(run: RunResult, tmp_path: Path) -> None:
    paths = write(run, tmp_path / "charts")
    assert paths == [tmp_path / "charts" / name for name in NAMES]
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC)
        assert len(data) > 10_000  # axes, bars and text, not an empty canvas
        height, width, channels = matplotlib.image.imread(path).shape
        assert height >= 400 and width >= 500 and channels in (3, 4)
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == sorted(NAMES)  # no temp files left


def test_writing_again_replaces_the_charts(run: RunResult, tmp_path: Path) -> None:
    first = [p.read_bytes() for p in write(run, tmp_path / "charts")]
    later = replace(run, run_id="20261124-100000")  # another caption, so other pixels
    second = [p.read_bytes() for p in write(later, tmp_path / "charts")]
    fresh = [p.read_bytes() for p in write(later, tmp_path / "fresh")]
    assert second == fresh  # what is there now is the later run's charts, byte for byte
    assert all(a != b for a, b in zip(first, second, strict=True))  # and each chart did change
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == sorted(NAMES)


def test_a_run_where_everything_failed_draws_nothing(tmp_path: Path) -> None:
    run = run_of(failed("flask", 1), failed("flask", 2))
    assert write(run, tmp_path / "charts") == []
    assert not (tmp_path / "charts").exists()


def test_ok_stacks_without_figures_draw_nothing(tmp_path: Path) -> None:
    empty = Measurement(label="flask", stack="flask", status="ok", backend="local")
    assert write(run_of(empty), tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_labels_are_charted_in_run_order(run: RunResult) -> None:
    found = summarize(run).of("stack")
    assert list(found) == ["flask", "flask_gunicorn", "flask_gunicorn_nginx", "fastapi_istio"]
    assert [m.repeat for m in found["flask_gunicorn_nginx"].ok] == [1, 3]


def test_spread_is_median_and_min_max_of_what_is_there() -> None:
    cell = Spread.of([3.0, None, 1.0, float("nan"), 2.0])
    assert cell is not None and (cell.mid, cell.low, cell.high, cell.n) == (2.0, 1.0, 3.0, 3)
    assert (cell.cell("{:.1f}"), Spread.of([4.0]).cell("{:.1f}")) == ("2.0 [1.0-3.0]", "4.0")  # type: ignore[union-attr]
    even = Spread.of([1.0, 4.0])  # two repeats: the median is their mean
    assert even is not None and even.mid == 2.5
    assert Spread.of([None, None]) is None


def test_the_partial_last_second_is_not_drawn() -> None:
    m = measured("f", latencies_ms=[1.0] * 20, seconds=2.4)
    assert m.figures is not None
    assert [row[1] for row in m.figures.per_second] == [9, 8, 3]  # 20 requests evenly over 2.4 s
    assert whole_seconds(m) == [(0, 9), (1, 8)]
    m.figures = replace(m.figures, measured_s=0.0)  # unknown window: keep every second
    assert whole_seconds(m) == [(0, 9), (1, 8), (2, 3)]


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
