"""The SLO section: each label passed or FAILED, each objective's judged value, the repeats that missed.

Renders run.json's `slo` (judged by bench/slo.py when the run was measured); computes nothing.
"""

from __future__ import annotations

from bench.report.tables import markdown, number, section
from bench.results import ObjectiveVerdict, RunResult, SloVerdict

NOTE = (
    "Each objective is judged on the median over the stack's successful repeats; a repeat listed missed it on its "
    "own (the median decides). A stack without a successful repeat fails. The command exited with 99 when a stack "
    "failed (1 if a measurement failed)."
)


def slo_section(run: RunResult) -> str:
    """One row per label: the verdict, then one cell per objective."""
    if run.slo is None:
        return ""
    if not run.slo.verdicts:
        return section(f"SLO `{run.slo.text}`", "Not judged: the run ended before its stacks were measured.")
    objectives = [o.objective for o in run.slo.verdicts[0].objectives]
    rows = [[f"`{v.label}`", verdict_word(v), str(v.repeats), *(cell(o) for o in v.objectives)]
            for v in run.slo.verdicts]  # fmt: skip
    head = ["stack", "SLO", "repeats judged", *(f"`{o}`" for o in objectives)]
    failed = [f"`{v.label}`" for v in run.slo.failed]
    result = f"**Failed**: {', '.join(failed)}." if failed else "Every stack met it."
    return section(f"SLO `{run.slo.text}`", result, markdown(rows, head), NOTE)


def verdict_word(v: SloVerdict) -> str:
    return "pass" if v.passed else "**FAIL**"


def cell(o: ObjectiveVerdict) -> str:
    """`45.20 ms met (repeat 2 missed)` or `**120.40 ms missed**`."""
    if o.value is None:
        return "**not measured**"
    value = f"{number(o.value, '{:.1f}' if o.unit == 'req/s' else '{:.2f}')} {o.unit}"
    text = f"{value} met" if o.met else f"**{value} missed**"
    if o.missed_in:
        text += f" (repeat{'s' if len(o.missed_in) > 1 else ''} {', '.join(map(str, o.missed_in))} missed)"
    return text
