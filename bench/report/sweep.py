"""The sweep's section: each stack's knee, then every step with its verdict, and sweep.png."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.report import charts as chart_files
from bench.report.tables import markdown, number, section
from bench.results import Measurement, RunResult


def sections(run: RunResult, frame: pd.DataFrame) -> list[str]:
    return [sweep_section(run)]


def charts(run: RunResult, out_dir: Path) -> list[Path]:
    return chart_files.sweep_chart(run, out_dir)


def sweep_section(run: RunResult) -> str:
    steps = [m for m in run.rows("step") if m.step is not None]
    if not steps:
        return ""
    sweep = run.settings.get("sweep", {})
    unit = "req/s offered" if sweep.get("model") == "open" else "users"
    names = list(dict.fromkeys(m.label for m in steps))
    knees = []
    for name in names:
        mine = [m for m in steps if m.label == name]
        knee = next((m for m in mine if m.step and m.step.knee), None)
        broke = min((m for m in mine if m.step and m.step.verdict != "ok"), key=_load, default=None)
        cells = ["none", "-", "-", "-", "-"] if knee is None else [
            f"{_load(knee):g}", f"{_rps(knee):.0f}", number(knee.latency.p50_ms, "{:.2f}"),
            number(knee.latency.p99_ms, "{:.2f}"), number(knee.usage.cpu_percent if knee.usage else None, "{:.0f}")]
        cells += [f"{_load(broke):g}", broke.step.verdict if broke.step else ""] if broke else ["-", "not reached"]
        knees.append([f"`{name}`", *cells])
    head = ["stack", f"knee ({unit})", "req/s", "p50 ms", "p99 ms", "stack CPU %", f"broke at ({unit})", "why"]
    every = [[f"`{m.label}`", f"{_load(m):g}", str(m.load.users if m.load else "-"), f"{_rps(m):.0f}",
              number(m.latency.p50_ms, "{:.2f}"), number(m.latency.p99_ms, "{:.2f}"),
              str(m.figures.failures if m.figures else "-"), number(m.usage.cpu_percent if m.usage else None, "{:.0f}"),
              number(m.figures.generator_cpu_percent if m.figures else None, "{:.0f}"), _step_verdict(m)]
             for m in sorted(steps, key=lambda m: (names.index(m.label), _load(m)))]  # fmt: skip
    every_head = ["stack", f"load ({unit})", "users", "req/s", "p50 ms", "p99 ms", "failures", "stack CPU %",
                  "locust CPU %", "verdict"]  # fmt: skip
    intro = (f"The highest load that kept p99 under {sweep.get('p99_target_ms', '?')} ms and errors under "
             f"{sweep.get('max_error_pct', '?')} % while throughput still followed the load "
             f"({sweep.get('model', 'closed')} model).")  # fmt: skip
    return section("Capacity: each stack's knee", intro, markdown(knees, head), "Every step:",
                   markdown(every, every_head))


def _load(m: Measurement) -> float:
    return m.step.load if m.step else 0.0


def _rps(m: Measurement) -> float:
    return m.figures.rps if m.figures else 0.0


def _step_verdict(m: Measurement) -> str:
    if m.step is None:
        return m.error or ""
    return m.step.verdict + (" (knee)" if m.step.knee else "")
