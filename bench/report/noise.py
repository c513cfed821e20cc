"""The noise guard's words: when the load generator's floor moved between the start and the end of the
run, the machine changed speed under it; say by how much and which verdicts that could explain.
bench/analysis/noise.py decides; this module only words it."""

from __future__ import annotations

from bench.analysis.noise import CHANGED, FloorChange, floor_change
from bench.report.tables import section as titled
from bench.report.verdicts import Verdict
from bench.results import RunResult


def section(run: RunResult, verdicts: dict[str, list[Verdict]]) -> str:
    """A warning first in the summary when the floor moved more than CHANGED; "" otherwise (the floor line says
    how far it moved). `verdicts`: label -> its verdicts against the first label ("Compared with")."""
    change = floor_change(run)
    if change is None or not change.changed:
        return ""
    return titled("WARNING: the machine changed speed during this run", moved(change), affected(change, verdicts))


def moved(change: FloorChange) -> str:
    """How far the floor moved, each figure as a share of the start's value."""
    return (f"The load generator floor (the same locust load against nginx answering from memory) was measured at "
            f"the start and again at the end: req/s {change.start_rps:.0f} -> {change.end_rps:.0f} "
            f"({_pct(change.rps_change)} of the start's), avg {change.start_avg_ms:.2f} -> {change.end_avg_ms:.2f} ms "
            f"({_pct(change.avg_change)}). More than {100 * CHANGED:g} % apart: the machine itself ran "
            f"{'slower' if change.rps_change < 0 or change.avg_change > 0 else 'faster'} by the end (other work, "
            f"throttling, a neighbour), so every figure measured in between carries some of that "
            f"({change.factor:.2f}x).")  # fmt: skip


def affected(change: FloorChange, verdicts: dict[str, list[Verdict]]) -> str:
    """Which "Compared with" verdicts a move this large could explain: a significant one whose ratio is no
    larger than the move (repeats are interleaved, so a steady drift spreads over every row, a step does not)."""
    if not verdicts:
        return "No verdict compares rows in this run; the figures above are each a little uncertain."
    could = [f"`{label}` {v.figure} {v.change()}" for label, found in verdicts.items() for v in found
             if v.ratio.significant and change.could_explain(v.ratio.ratio)]  # fmt: skip
    larger = [f"`{label}` {v.figure} {v.change()}" for label, found in verdicts.items() for v in found
              if v.ratio.significant and not change.could_explain(v.ratio.ratio)]  # fmt: skip
    parts = []
    if could:
        parts.append(f"Significant verdicts of *Compared with* no larger than the move ({change.factor:.2f}x) could be "
                     f"the machine's, not the stacks': {'; '.join(could)}.")  # fmt: skip
    if larger:
        parts.append(f"Larger than the move, these stand: {'; '.join(larger)}.")
    if not could and not larger:
        parts.append("No verdict of *Compared with* was significant; the move may also hide a difference.")
    return " ".join(parts) + " Measure again on a quiet machine to be sure."


def _pct(share: float) -> str:
    return f"{100 * share:+.0f} %"
