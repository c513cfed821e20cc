"""report.html is summary.md converted, charts embedded: self-contained, the same tables, nothing injected.
(tests/integration/test_decisions.py opens real runs' pages in a headless Chromium.)"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from bench.report import write_summaries
from bench.report.html import page
from bench.results import save_run
from tests.factories import failed, measured, run_of


def test_the_page_is_the_summary_with_its_charts_inside(tmp_path: Path) -> None:
    broken = failed("fastapi_istio")
    broken.log_tail = '<script>alert("x")</script><img src="http://example.com/x.png">'
    run = run_of(*(measured(label, r) for r in (1, 2) for label in ("flask", "flask_gunicorn")), broken)
    run_dir = tmp_path / "runs" / run.run_id
    run_dir.mkdir(parents=True)
    save_run(run_dir, run)
    write_summaries(tmp_path, run_dir)
    for folder in (run_dir, tmp_path):  # the run's own, and results/ (the latest run)
        html = (folder / "report.html").read_text()
        summary = (folder / "summary.md").read_text()
        assert "<script" not in html and "&lt;script&gt;" in html  # a log tail is text, never markup
        assert re.findall(r'(?:src|href)="(?!data:)', html) == []  # no file or network reference at all
        embedded = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)"', html)
        charts = re.findall(r"!\[([^]]+)\]\(([^)]+)\)", summary)
        assert [alt for _, alt in embedded] == [alt for alt, _ in charts] and len(charts) == 3
        for (data, _), (_, png) in zip(embedded, charts, strict=True):
            assert base64.b64decode(data) == (folder / png).read_bytes()
        assert html.count("<table>") == len(re.findall(r"^\|[-:|]*-[-:|]*\|$", summary, re.MULTILINE))
        assert "<title>Deployment stacks compared: run 20261124-090444</title>" in html
        for label in ("flask", "flask_gunicorn", "fastapi_istio"):
            assert f"<code>{label}</code>" in html


def test_a_chart_that_is_not_there_keeps_its_alt_text_and_loads_nothing(tmp_path: Path) -> None:
    html = page("# t\n\n![Latency percentiles](latency.png)\n\n![remote](https://example.com/a.png)\n", tmp_path)
    assert '<img src="data:," alt="Latency percentiles" />' in html and '<img src="data:," alt="remote" />' in html
