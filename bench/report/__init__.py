"""Turn stored results into summary.md, report.html, results.csv and charts. Reads the results folder only;
runs nothing.

Each scenario owns its sections and charts (bench/report/<scenario>.py: `sections`, `charts`);
this module writes them around what every run has (status, floor, failures, settings, machine).
report.html is summary.md converted, charts embedded (bench/report/html.py): one source of truth.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from bench.analysis.summary import RunSummary, summarize
from bench.report import breaker, capacity, common, export, gateway, html, layers, measure, sweep
from bench.report.tables import tidy
from bench.results import RUN_FILE, RunResult, load_run, write_bytes_atomic, write_text_atomic

SUMMARY = "summary.md"
CSV = "results.csv"


class Renderer(NamedTuple):
    """A scenario's sections and charts, both from the run's one summary (bench/analysis/summary.py)."""

    sections: Callable[[RunResult, RunSummary], list[str]]
    charts: Callable[[RunResult, RunSummary, Path], list[Path]]


RENDERERS = {
    "measure": Renderer(measure.sections, measure.charts),
    "breaker": Renderer(breaker.sections, breaker.charts),
    "sweep": Renderer(sweep.sections, sweep.charts),
    "capacity": Renderer(capacity.sections, capacity.charts),
    "layers": Renderer(layers.sections, layers.charts),
    "gateway": Renderer(gateway.sections, gateway.charts),
}


def find_runs(results_dir: Path) -> list[Path]:
    """Every readable run folder, oldest first; a damaged run.json is skipped with a warning."""
    found = []
    for run_file in sorted((results_dir / "runs").glob(f"*/{RUN_FILE}")):
        try:
            load_run(run_file.parent)
        except (OSError, ValueError, TypeError) as exc:
            print(f"WARNING: skipping {run_file}: damaged ({exc})", file=sys.stderr)
            continue
        found.append(run_file.parent)
    return found


def write_summaries(results_dir: Path, run_dir: Path) -> Path:
    """The run's own summary.md, report.html, results.csv and charts, and the same for results/ (the latest run)."""
    run = load_run(run_dir)
    frame, summary = tidy(run), summarize(run)  # each label's figures, built once for every table and chart
    where = run_dir.relative_to(results_dir) if run_dir.is_relative_to(results_dir) else run_dir
    renderer = RENDERERS.get(run.scenario, RENDERERS["measure"])
    run_dir.mkdir(parents=True, exist_ok=True)
    drawn = renderer.charts(run, summary, run_dir)  # drawn once (most of a report's time), copied to results/
    for folder in dict.fromkeys((run_dir, results_dir)):
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / CSV, frame.to_csv(index=False))
        charts = common.chart_links(drawn if folder == run_dir else [_copy(p, folder) for p in drawn], folder)
        text = render(run, summary, where, charts)
        write_text_atomic(folder / SUMMARY, text)
        write_text_atomic(folder / html.REPORT, html.page(text, folder))
    export.write_exports(run, summary, run_dir)  # HdrHistogram logs and metrics.prom for other tools: docs/exports.md
    return results_dir / SUMMARY


def _copy(chart: Path, folder: Path) -> Path:
    """A chart copied into `folder` under its name, replacing the one there at once."""
    copy = folder / chart.name
    write_bytes_atomic(copy, chart.read_bytes())
    return copy


def render(run: RunResult, summary: RunSummary, where: Path, charts: str = "") -> str:
    """The summary of one run as Markdown: the scenario's sections first, then context."""
    renderer = RENDERERS.get(run.scenario, RENDERERS["measure"])
    parts = [
        common.header(run, where),
        *renderer.sections(run, summary),
        common.deployment(summary),
        common.floor(run),
        common.drift(run),
        charts,
        common.failures(run),
        common.settings(run),
        common.machine(run),
    ]
    return "\n".join(p for p in parts if p)
