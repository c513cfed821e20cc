"""The SLO section: each label passed or FAILED, how many of its repeats met every objective, each
objective's median and the repeats that missed it.

Renders run.json's `slo` (judged by bench/analysis/slo.py when the run was measured); computes nothing.
"""

from __future__ import annotations

from bench.analysis.slo import repeats_said
from bench.report.tables import markdown, number, section
from bench.results import Measurement, ObjectiveVerdict, RunResult, SloVerdict

NOTE = (
    "A stack passes when a majority of its repeats each met every objective (one repeat: it; two: both; three: "
    "two); a repeat that failed to measure meets none. An objective's cell is its median over the successful "
    "repeats, *met* when a majority of the repeats met it, and lists the repeats that missed it with their own "
    "values. Latency and req/s count successful answers only; errors are failed + unanswered of requests + "
    "unanswered slots. A stack without a successful repeat fails. The command exited with 99 when a stack failed "
    "(1 if a measurement failed)."
)


def slo_section(run: RunResult) -> str:
    """One row per label: the verdict, the repeats that met every objective, then one cell per objective."""
    if run.slo is None:
        return ""
    if not run.slo.verdicts:
        return section(f"SLO `{run.slo.text}`", "Not judged: the run ended before its stacks were measured.")
    objectives = [o.objective for o in run.slo.verdicts[0].objectives]
    rows = [[f"`{v.label}`", verdict_word(v), _met_by(v), *(cell(o) for o in v.objectives)]
            for v in run.slo.verdicts]  # fmt: skip
    head = ["stack", "SLO", "repeats that met every objective", *(f"`{o}`" for o in objectives)]
    said = "\n".join(f"- `{v.label}`: {'passed' if v.passed else '**failed**'}: {repeats_said(v)}"
                     for v in run.slo.verdicts)  # fmt: skip
    failed = [f"`{v.label}`" for v in run.slo.failed]
    result = f"**Failed**: {', '.join(failed)}." if failed else "Every stack met it."
    return section(f"SLO `{run.slo.text}`", result, said, markdown(rows, head), NOTE)


def verdict_word(v: SloVerdict) -> str:
    return "pass" if v.passed else "**FAIL**"


def _met_by(v: SloVerdict) -> str:
    """`2 of 3`, `1 of 2 (needs 2)`; a verdict of a file before version 5: the repeats judged."""
    if v.met_by is None:
        return str(v.repeats)
    return f"{len(v.met_by)} of {v.repeats}" + ("" if v.passed or not v.repeats else f" (needs {v.needed})")


def cell(o: ObjectiveVerdict) -> str:
    """`45.20 ms met (missed by repeat 2 (150.00 ms))`, `**120.40 ms missed** (missed by repeats 1 (120.00 ms))`."""
    if o.value is None:
        return "**not measured**"
    value = f"{number(o.value, '{:.1f}' if o.unit == 'req/s' else '{:.2f}')} {o.unit}"
    text = f"{value} met" if o.met else f"**{value} missed**"
    if o.missed_in:
        values = o.missed_values if len(o.missed_values) == len(o.missed_in) else [None] * len(o.missed_in)
        shown = ", ".join(str(r) if v is None else f"{r} ({v:.2f} {o.unit})"
                          for r, v in zip(o.missed_in, values, strict=True))  # fmt: skip
        text += f" (missed by repeat{'s' if len(o.missed_in) > 1 else ''} {shown})"
    return text


def step_cell(m: Measurement, marker: str) -> str:
    """One step of a sweep or capacity search against the SLO: `met`, `missed: p99 ...; errors ...`, or `-` when
    it was not judged; ` (marker)` on the step that is the stack's sustainable load (its capacity)."""
    if m.step is None or m.step.slo_missed is None:
        return "-"
    said = "met" if not m.step.slo_missed else "missed: " + "; ".join(m.step.slo_missed)
    return said + (f" ({marker})" if m.step.sustainable else "")
