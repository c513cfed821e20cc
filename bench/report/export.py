"""What a run hands to other tools, written beside its report from the results folder only: each load's latency
as an HdrHistogram log (bench/report/hdr.py) and the label summary as Prometheus text (bench/report/openmetrics.py).
"""

from __future__ import annotations

from pathlib import Path

from bench.analysis.summary import RunSummary
from bench.report import hdr, openmetrics
from bench.results import RunResult, write_text_atomic


def write_exports(run: RunResult, summary: RunSummary, run_dir: Path) -> list[Path]:
    """`metrics.prom` in the run folder and `<load folder>.latency.hlog` beside each load folder; the paths written."""
    write_text_atomic(run_dir / openmetrics.METRICS, openmetrics.text(run, summary))
    return [run_dir / openmetrics.METRICS, *hdr.write_logs(run, run_dir)]
