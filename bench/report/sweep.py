"""The sweep's sections: each stack's knee, with --slo its sustainable load beside the peak, every step
with its verdicts, and sweep.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.analysis.summary import RunSummary, ok_due_latency, ok_latency, ok_rps
from bench.load.record import Latency
from bench.report import charts as chart_files
from bench.report.objectives import cell, step_cell, verdict_word
from bench.report.tables import markdown, number, section
from bench.results import Measurement, RunResult


def sections(run: RunResult, summary: RunSummary) -> list[str]:
    return [sweep_section(run, summary), sustainable_section(run, summary)]


def charts(run: RunResult, summary: RunSummary, out_dir: Path) -> list[Path]:
    return chart_files.sweep_chart(run, out_dir)


def sweep_section(run: RunResult, summary: RunSummary) -> str:
    by_label = {label: [m for m in s.repeats if m.step is not None] for label, s in summary.of("step").items()}
    by_label = {label: mine for label, mine in by_label.items() if mine}
    if not by_label:
        return ""
    sweep = run.settings.get("sweep", {})
    unit = "req/s offered" if sweep.get("model") == "open" else "users"
    knees = []
    for name, mine in by_label.items():
        knee = next((m for m in mine if m.step and m.step.knee), None)
        broke = min((m for m in mine if m.step and m.step.verdict != "ok"), key=_load, default=None)
        cells = ["none", "-", "-", "-", "-"] if knee is None else [
            f"{_load(knee):g}", f"{_rps(knee):.0f}", number(_ok(knee).p50_ms, "{:.2f}"),
            number(_ok(knee).p99_ms, "{:.2f}"), number(knee.usage.cpu_percent if knee.usage else None, "{:.0f}")]
        cells += [f"{_load(broke):g}", broke.step.verdict if broke.step else ""] if broke else ["-", "not reached"]
        knees.append([f"`{name}`", *cells])
    head = ["stack", f"knee ({unit})", "req/s", "p50 ms", "p99 ms", "stack CPU %", f"broke at ({unit})", "why"]
    ordered = [m for mine in by_label.values() for m in sorted(mine, key=_load)]
    return section("Capacity: each stack's knee", _intro(sweep, run.slo is not None), markdown(knees, head),
                   "Every step:", _every_step(ordered, unit, run.slo.text if run.slo else None))  # fmt: skip


def _intro(sweep: dict[str, Any], slo: bool) -> str:
    model, errors = sweep.get("model", "closed"), sweep.get("max_error_pct", "?")
    ok_only = (" Latency and req/s count successful answers only; errors are failed + unanswered of requests + "
               "unanswered slots.")  # fmt: skip
    return _knee_said(sweep, slo, model, errors) + ok_only


def _knee_said(sweep: dict[str, Any], slo: bool, model: str, errors: Any) -> str:
    if slo:
        return (f"The knee: the highest load at which throughput still followed the load and errors stayed under "
                f"{errors} % ({model} model). --slo replaces the p99 target: the sweep went on past the knee until "
                f"a step broke the SLO.")  # fmt: skip
    return (f"The highest load that kept p99 under {sweep.get('p99_target_ms', '?')} ms and errors under {errors} % "
            f"while throughput still followed the load ({model} model).")  # fmt: skip


def _every_step(steps: list[Measurement], unit: str, slo: str | None) -> str:
    """One row per step, in load order per stack; with --slo, whether it met it."""
    rows = [[f"`{m.label}`", f"{_load(m):g}", str(m.load.users if m.load else "-"), f"{_rps(m):.0f}",
             number(_ok(m).p50_ms, "{:.2f}"), number(_ok(m).p99_ms, "{:.2f}"),
             str(m.figures.failures if m.figures else "-"), number(m.usage.cpu_percent if m.usage else None, "{:.0f}"),
             number(m.figures.generator_cpu_percent if m.figures else None, "{:.0f}"), _step_verdict(m)]
            + ([step_cell(m, "sustainable")] if slo else []) for m in steps]  # fmt: skip
    head = ["stack", f"load ({unit})", "users", "req/s", "p50 ms", "p99 ms", "failures", "stack CPU %",
            "locust CPU %", "verdict"] + ([f"SLO `{slo}`"] if slo else [])  # fmt: skip
    return markdown(rows, head)


def sustainable_section(run: RunResult, summary: RunSummary) -> str:
    """With --slo: each stack's sustainable load (the highest that met it) beside its peak throughput."""
    if run.slo is None or not run.slo.verdicts:
        return ""
    unit = "req/s offered" if run.settings.get("sweep", {}).get("model") == "open" else "users"
    rows, steps = [], summary.of("step")
    for v in run.slo.verdicts:
        mine = [m for m in (steps[v.label].repeats if v.label in steps else []) if m.step]
        good = next((m for m in mine if m.step and m.step.sustainable), None)
        peak = max((m for m in mine if m.ok and m.figures), key=_rps, default=None)
        above = [m for m in mine if m.step and m.step.slo_missed and _load(m) > (_load(good) if good else 0)]
        broke = min(above, key=_load, default=None)
        rows.append([f"`{v.label}`", verdict_word(v), f"{_load(good):g}" if good else "none",
                     f"{_rps(good):.0f}" if good else "-", *(cell(o) for o in v.objectives),
                     f"{_rps(peak):.0f} at {_load(peak):g}" if peak else "-",
                     f"{_load(broke):g}" if broke else "not broken",
                     "; ".join(broke.step.slo_missed or []) if broke and broke.step else "-"])  # fmt: skip
    objectives = [f"`{o.objective}`" for o in run.slo.verdicts[0].objectives]
    head = ["stack", "SLO", f"sustainable ({unit})", "req/s there", *objectives, f"peak req/s (at {unit})",
            f"SLO broke at ({unit})", "what broke"]  # fmt: skip
    note = ("*Sustainable*: the highest load whose step met every objective (values shown at that step, or at the "
            "lowest load when none met it); *peak*: the most requests per second any step achieved. A stack with "
            "no sustainable load fails the SLO, and the command exited with 99.")  # fmt: skip
    return section(f"SLO `{run.slo.text}`: sustainable load", markdown(rows, head), note)


def _load(m: Measurement) -> float:
    return m.step.load if m.step else 0.0


def _rps(m: Measurement) -> float:
    """Successful answers per second: what the knee was judged on (bench/analysis/summary.py)."""
    return ok_rps(m.figures) if m.figures else 0.0


def _ok(m: Measurement) -> Latency:
    """The successful answers' latency, from due time under the open model: what the step's verdict judged."""
    return (ok_due_latency(m.figures) or ok_latency(m.figures)) if m.figures else Latency()


def _step_verdict(m: Measurement) -> str:
    if m.step is None:
        return m.error or ""
    return m.step.verdict + (" (knee)" if m.step.knee else "")
