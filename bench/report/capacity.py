"""The capacity search's sections: with --target-rps the answer first (what to deploy, and what that
assumes), then each stack's capacity at the SLO with its bracket, CPU and memory, what broke above
it, the sizing ranked by cores, and every step.

Computes nothing of its own: capacities and sizing come from bench/analysis/capacity.py, read from
run.json's steps and the search recorded in its settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.analysis import capacity as search
from bench.analysis.summary import RunSummary, error_pct, ok_due_latency, ok_rps
from bench.report.tables import markdown, number, section
from bench.results import Measurement, RunResult

DEFAULT_PLAN = search.Plan(start=100, most=12800, least=25)


def sections(run: RunResult, summary: RunSummary) -> list[str]:
    found = capacities(run, summary)
    target = run.settings.get("target_rps")
    return [answer(run, found, float(target)) if target else "", capacity_section(run, found),
            sizing_section(found, float(target)) if target else "", steps_section(run, summary)]  # fmt: skip


def charts(run: RunResult, summary: RunSummary, out_dir: Path) -> list[Path]:
    return []  # the p99-against-rate chart is still to come (issue 22)


def plan_of(run: RunResult) -> search.Plan:
    """The search as run.json's settings recorded it."""
    recorded = run.settings.get("search")
    return search.Plan.from_json(recorded) if isinstance(recorded, dict) else DEFAULT_PLAN


def capacities(run: RunResult, summary: RunSummary) -> list[search.StackCapacity]:
    """Each searched stack's capacity, in the order the stacks were searched."""
    plan = plan_of(run)
    return [search.capacity_of(label, s.repeats, plan) for label, s in summary.of("step").items()]


def answer(run: RunResult, found: Sequence[search.StackCapacity], target: float) -> str:
    """The one paragraph a reader came for: each stack's cores and memory for the target, and what it assumes."""
    slo = run.slo.text if run.slo else run.settings.get("slo", "?")
    said = []
    for s in search.ranked(found, target):
        if s.cores is None:
            said.append(f"`{s.label}` cannot be sized ({s.why_none})")
            continue
        memory = f" and {s.memory_mb:,.0f} MB" if s.memory_mb is not None else ""
        bound = " (at most: its capacity is a lower bound)" if s.lower_bound else ""
        said.append(f"`{s.label}` needs {s.cores} core{'s' if s.cores != 1 else ''}{memory}{bound}")
    partial = [c.label for c in found if c.partial]
    return section(f"The answer: {target:,.0f} req/s at `{slo}`",
                   f"For {target:,.0f} req/s at `{slo}`: " + "; ".join(said) + "." + _assumes(run, found)
                   + (f" **Partial**: the search of {', '.join(f'`{p}`' for p in partial)} did not finish."
                      if partial else ""))  # fmt: skip


def _assumes(run: RunResult, found: Sequence[search.StackCapacity]) -> str:
    cpus = run.machine.get("cpu_count", "?")
    pinned = run.settings.get("stack_cpus")
    where = f"the stack pinned to CPU {','.join(map(str, pinned))}" if isinstance(pinned, list) else "unpinned"
    precision = next((c.precision for c in found if c.precision is not None), None)
    within = f"within {100 * precision:g} %" if precision is not None else "as bracketed"
    return (f" It assumes this machine ({cpus} CPUs, {where}, {run.machine.get('cpu_model', 'cpu unknown')}) and "
            "capacity scaling linearly with cores until measured otherwise (a deployment with more CPUs or replicas "
            "measures it): cores = target / (capacity / stack CPU used at capacity), rounded up; replicas = "
            "target / capacity, rounded up; memory = replicas x peak RSS at capacity. No headroom is added. Each "
            f"capacity is one search, {within} of where the SLO broke; this machine moves up to 20 % between "
            "runs, so repeat it before trusting a difference smaller than that.")  # fmt: skip


def capacity_section(run: RunResult, found: Sequence[search.StackCapacity]) -> str:
    if not found:
        return ""
    slo = run.slo.text if run.slo else "?"
    rows = [[f"`{c.label}`", _capacity_cell(c), _bracket_cell(c), number(c.ok_rps, "{:.0f}"),
             number(c.cores, "{:.2f}"), number(c.rps_per_core, "{:.0f}"), number(c.peak_rss_mb, "{:.0f}"),
             number(c.bracket.failed, "{:g}"), "; ".join(c.broke) or "-", c.limited_by or "-",
             c.stopped or "**partial**: stopped before the search ended"] for c in found]  # fmt: skip
    head = ["stack", "capacity (req/s)", "bracket (req/s)", "ok req/s there", "stack CPU (cores)", "req/s per core",
            "peak RSS MB", "first failing rate", "what broke there", "limited by there", "search"]  # fmt: skip
    return section(f"Capacity at `{slo}`", markdown(rows, head), _method(run, found))


def _capacity_cell(c: search.StackCapacity) -> str:
    if c.rate is None:
        return "none"
    return f"{c.rate:g}" + (f" (lower bound: {c.lower_bound})" if c.lower_bound else "") + (
        " (partial)" if c.partial else "")  # fmt: skip


def _bracket_cell(c: search.StackCapacity) -> str:
    low, high, width = c.bracket.passed, c.bracket.failed, c.bracket.width
    if low is None or high is None or width is None:
        return f"{number(low, '{:g}')}-{number(high, '{:g}')}"
    within = "" if c.within or c.precision is None else f", not within {100 * c.precision:g} %"
    return f"{low:g}-{high:g} (+{100 * width:.1f} %{within})"


def _method(run: RunResult, found: Sequence[search.StackCapacity]) -> str:
    plan = plan_of(run)
    sweep: dict[str, Any] = run.settings.get("sweep", {})
    least = sweep.get("min_answers")
    precision = f"{100 * plan.precision:g} %" if plan.precision is not None else "-"
    return (f"*Capacity*: the highest offered rate whose step met every objective, judged on successful answers "
            f"only, p99 timed from when each request was due (so an overloaded stack's queue counts), errors "
            f"failed + unanswered of every slot due. The search doubled the rate from {plan.start:g} req/s (a "
            f"failing start halves, down to {number(plan.least, '{:g}')}), then bisected until the lowest failing "
            f"rate was within {precision} above the highest passing one (*bracket*), never above {plan.most:g}. "
            f"Each step measured {sweep.get('step_s', '?')} s after a {sweep.get('warmup_s', '?')} s warmup, longer "
            f"at low rates to hold at least {least} answers (its p99 then rests on the {_slowest(least)} slowest); a "
            f"step with fewer fails. *Stack CPU*: the stack's processes at the capacity step (1.00 = one core busy); "
            f"*limited by*: the diagnosis (docs/limited-by.md) at the first failing rate above the capacity. A "
            f"capacity marked *lower bound* is not a capacity: the load generator, or --max-rate, set the limit.")


def _slowest(answers: Any) -> str:
    return f"{answers // 100:,}" if isinstance(answers, int) and answers >= 100 else "1 or 2"


def sizing_section(found: Sequence[search.StackCapacity], target: float) -> str:
    rows = []
    for n, s in enumerate(search.ranked(found, target), start=1):
        if s.cores is None:
            rows.append(["-", f"`{s.label}`", "-", "-", "-", s.why_none])
            continue
        rows.append([str(n), f"`{s.label}`", str(s.cores) + (" (at most)" if s.lower_bound else ""),
                     str(s.replicas), number(s.memory_mb, "{:,.0f}"), ""])  # fmt: skip
    head = ["rank", "stack", "cores", "replicas as measured", "memory MB", "not sized because"]
    return section(f"Sizing for {target:,.0f} req/s, fewest cores first", markdown(rows, head))


def steps_section(run: RunResult, summary: RunSummary) -> str:
    """Every step in the order taken, per stack: rate, answers, p99 from due, errors, CPU and the verdict."""
    steps = [m for s in summary.of("step").values() for m in s.repeats if m.step is not None]
    if not steps:
        return ""
    rows = [[f"`{m.label}`", f"{_load(m):g}", number(ok_rps(m.figures) if m.figures else None, "{:.0f}"),
             str(m.figures.requests - m.figures.failures) if m.figures else "-", number(_due_p99(m), "{:.2f}"),
             number(error_pct(m), "{:.2f}"), number(m.usage.cpu_percent / 100 if m.usage else None, "{:.2f}"),
             _verdict(m)] for m in steps]  # fmt: skip
    head = ["stack", "offered req/s", "ok req/s", "answers", "p99 ms from due", "errors %", "stack CPU (cores)",
            f"SLO `{run.slo.text if run.slo else '?'}`"]  # fmt: skip
    return section("Every step, in the order taken", markdown(rows, head))


def _load(m: Measurement) -> float:
    return m.step.load if m.step else 0.0


def _due_p99(m: Measurement) -> float | None:
    due = ok_due_latency(m.figures) if m.figures else None
    return None if due is None else due.p99_ms


def _verdict(m: Measurement) -> str:
    if not m.ok:
        return f"**{m.status}**: {m.error}"
    if m.step is None or m.step.slo_missed is None:
        return "-"
    said = "met" if not m.step.slo_missed else "missed: " + "; ".join(m.step.slo_missed)
    return said + (" (capacity)" if m.step.sustainable else "")
