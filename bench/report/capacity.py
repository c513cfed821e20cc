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
from bench.analysis import slo as slo_lib
from bench.analysis.summary import RunSummary, error_pct, ok_due_latency, ok_rps
from bench.report import charts as chart_files
from bench.report.objectives import step_cell
from bench.report.tables import markdown, number, section
from bench.results import Measurement, RunResult

DEFAULT_PLAN = search.Plan(start=100, most=12800, least=25)


def sections(run: RunResult, summary: RunSummary) -> list[str]:
    found = capacities(run, summary)
    target = run.settings.get("target_rps")
    return [answer(run, found, float(target)) if target else "", capacity_section(run, found),
            searches_section(found), sizing_section(found, float(target)) if target else "",
            steps_section(run, summary)]  # fmt: skip


def charts(run: RunResult, summary: RunSummary, out_dir: Path) -> list[Path]:
    """capacity.png: p99 from due against the offered rate, the SLO's p99 and each stack's (median) capacity."""
    marks = {c.label: c.rate.median if c.rate else None for c in capacities(run, summary)}
    slo = slo_lib.parse(run.slo.text) if run.slo else None
    bound = next((o.threshold for o in (slo.objectives if slo else ()) if o.figure == "p99" and o.upper_bound), None)
    return chart_files.capacity_chart(run, out_dir, marks, bound)


def plan_of(run: RunResult) -> search.Plan:
    """The search as run.json's settings recorded it."""
    recorded = run.settings.get("search")
    return search.Plan.from_json(recorded) if isinstance(recorded, dict) else DEFAULT_PLAN


def capacities(run: RunResult, summary: RunSummary) -> list[search.Capacity]:
    """Each searched stack's capacity over its repeats, in the order the stacks were searched."""
    plan, top = plan_of(run), ceiling(run)
    slo = slo_lib.parse(run.slo.text) if run.slo else None
    return [search.repeated(label, s.repeats, plan, top, slo) for label, s in summary.of("step").items()]


def ceiling(run: RunResult) -> float | None:
    """The load generator's ceiling: the most successful answers per second it achieved in this run, against
    the floor measured before the search (locust offering --max-rate to nginx) or any step. Offered far more
    than it can send, locust loses some of its own pace, so a step may beat the floor: what it achieved
    anywhere, it can. None without a floor (not measured: no capacity is judged against it)."""
    f = run.floor
    if f is None or not f.ok or f.figures is None or not f.figures.slots:
        return None
    steps = [ok_rps(m.figures) for m in run.rows("step") if m.ok and m.figures is not None]
    return max([ok_rps(f.figures), *steps])


def answer(run: RunResult, found: Sequence[search.Capacity], target: float) -> str:
    """The one paragraph a reader came for: each stack's cores and memory for the target, and what it assumes."""
    slo = run.slo.text if run.slo else run.settings.get("slo", "?")
    said, limits = [], {c.label: c.limited_by for c in found}
    for s in search.ranked(found, target):
        if s.cores is None:
            said.append(f"`{s.label}` cannot be sized ({s.why_none})")
            continue
        memory = f" and {s.memory_mb:,.0f} MB" if s.memory_mb is not None else ""
        bound = " (at most: its capacity is a lower bound)" if s.lower_bound else ""
        limit = f", limited by {limits[s.label]}" if limits.get(s.label) not in (None, "no limit found") else ""
        said.append(f"`{s.label}` needs {s.cores_said()}{memory}{bound}{limit}")
    partial = [c.label for c in found if c.partial]
    return section(f"The answer: {target:,.0f} req/s at `{slo}`",
                   f"For {target:,.0f} req/s at `{slo}`: " + "; ".join(said) + "." + _assumes(run, found)
                   + (f" **Partial**: the search of {', '.join(f'`{p}`' for p in partial)} did not finish."
                      if partial else ""))  # fmt: skip


def _assumes(run: RunResult, found: Sequence[search.Capacity]) -> str:
    cpus = run.machine.get("cpu_count", "?")
    pinned = run.settings.get("stack_cpus")
    where = f"the stack pinned to CPU {','.join(map(str, pinned))}" if isinstance(pinned, list) else "unpinned"
    return (f" It assumes this machine ({cpus} CPUs, {where}, {run.machine.get('cpu_model', 'cpu unknown')}) and "
            "capacity scaling linearly with cores until measured otherwise (a deployment with more CPUs or replicas "
            "measures it): cores = target / (capacity / stack CPU used at capacity), rounded up; replicas = "
            "target / capacity, rounded up; memory = replicas x peak RSS at capacity. No headroom is added. "
            + _certainty(run, found))  # fmt: skip


def _certainty(run: RunResult, found: Sequence[search.Capacity]) -> str:
    """Both uncertainties in words: the search's precision (its bracket), and the spread over repeats."""
    plan = plan_of(run)
    precision = f"within {100 * plan.precision:g} %" if plan.precision is not None else "as bracketed"
    repeats = max((len(c.searches) for c in found), default=1)
    if repeats < 2:
        return (f"Each capacity is one search, {precision} of where the SLO broke (its precision); this machine "
                "moves up to 20 % between runs, so search with --repeat 3 before trusting a difference smaller "
                "than that.")  # fmt: skip
    return (f"Each capacity is the median of {repeats} searches run interleaved, each {precision} of where the SLO "
            "broke (the search's precision); the [interval] is the 95 % interval of the spread over the repeats, "
            "which on this machine is usually the larger uncertainty.")  # fmt: skip


def capacity_section(run: RunResult, found: Sequence[search.Capacity]) -> str:
    if not found:
        return ""
    slo = run.slo.text if run.slo else "?"
    rows = [[f"`{c.label}`", _capacity_cell(c), _interval_cell(c.rate, "{:.0f}"),
             ", ".join(number(s.rate, "{:g}") for s in c.searches), _width_cell(c), number(c.cores, "{:.2f}"),
             number(c.per_core.median if c.per_core else None, "{:.0f}"), number(c.peak_rss_mb, "{:.0f}"),
             number(c.mb_per_worker, "{:.0f}") + (f" ({c.workers} worker{'s' if c.workers != 1 else ''})"
                                                   if c.workers else ""),
             number(c.mb_per_replica, "{:.0f}") + f" ({c.replicas} replica{'s' if c.replicas != 1 else ''})"]
            for c in found]  # fmt: skip
    head = ["stack", "capacity (req/s)", "95 % interval", "each search (req/s)", "search precision",
            "stack CPU (cores)", "req/s per core", "peak RSS MB", "MB per worker", "MB per replica"]  # fmt: skip
    return section(f"Capacity at `{slo}`", markdown(rows, head), _method(run, found))


def _capacity_cell(c: search.Capacity) -> str:
    if c.rate is None:
        return "none" + (" (partial)" if c.partial else "")
    return f"{c.rate.median:g}" + (f" (lower bound: {c.lower_bound})" if c.lower_bound else "") + (
        " (partial)" if c.partial else "")  # fmt: skip


def _interval_cell(spread: search.Spread | None, fmt: str) -> str:
    if spread is None:
        return "-"
    if spread.low is None or spread.high is None:
        return "- (one search)"
    if spread.low == spread.high:
        return f"no spread in {spread.n} searches"
    return f"{fmt.format(spread.low)}-{fmt.format(spread.high)}"


def _width_cell(c: search.Capacity) -> str:
    """The widest bracket of the searches, as +x %: the precision the search achieved."""
    width = c.worst_width
    precision = next((s.precision for s in c.searches if s.precision is not None), None)
    if width is None:
        return "-"
    within = "" if precision is None or width <= precision + 1e-9 else f", not within {100 * precision:g} %"
    return f"+{100 * width:.1f} %{within}"


def searches_section(found: Sequence[search.Capacity]) -> str:
    """Each search on its own: its capacity, bracket, what broke at its first failing rate, and why it ended."""
    rows = [[f"`{s.label}`", str(s.repeat), number(s.rate, "{:g}") + (" (partial)" if s.partial else ""),
             _bracket_cell(s), number(s.ok_rps, "{:.0f}"), number(s.bracket.failed, "{:g}"), "; ".join(s.broke) or "-",
             s.limited_by or "-", s.stopped or "**partial**: stopped before the search ended"]
            for c in found for s in c.searches]  # fmt: skip
    if not rows:
        return ""
    head = ["stack", "search", "capacity (req/s)", "bracket (req/s)", "ok req/s there", "first failing rate",
            "what broke there", "limited by there", "search ended"]  # fmt: skip
    return section("Each search: its bracket and what broke above it", markdown(rows, head))


def _bracket_cell(c: search.StackCapacity) -> str:
    low, high, width = c.bracket.passed, c.bracket.failed, c.bracket.width
    if low is None or high is None or width is None:
        return f"{number(low, '{:g}')}-{number(high, '{:g}')}"
    within = "" if c.within or c.precision is None else f", not within {100 * c.precision:g} %"
    return f"{low:g}-{high:g} (+{100 * width:.1f} %{within})"


def _method(run: RunResult, found: Sequence[search.Capacity]) -> str:
    plan = plan_of(run)
    sweep: dict[str, Any] = run.settings.get("sweep", {})
    least = sweep.get("min_answers")
    precision = f"{100 * plan.precision:g} %" if plan.precision is not None else "-"
    return (f"*Capacity*: the highest offered rate whose step met every objective, judged on successful answers "
            f"only, p99 timed from when each request was due (so an overloaded stack's queue counts), errors "
            f"failed + unanswered of every slot due. The search doubled the rate from {plan.start:g} req/s (a "
            f"failing start halves, down to {number(plan.least, '{:g}')}), then bisected until the lowest failing "
            f"rate was within {precision} above the highest passing one (*bracket*: the search's precision), never "
            f"above {plan.most:g}. With --repeat N each stack was searched N times, interleaved; the capacity is "
            f"the median of the searches and the *95 % interval* the spread over them (a Student t interval on the "
            f"log capacities, bench/analysis/stats.py). "
            f"Each step measured {sweep.get('step_s', '?')} s after a {sweep.get('warmup_s', '?')} s warmup, longer "
            f"at low rates to hold at least {least} answers (its p99 then rests on the {_slowest(least)} slowest); a "
            f"step with fewer fails. *Stack CPU*: the stack's processes at the capacity step (1.00 = one core busy); "
            f"*MB per worker*: peak RSS at capacity over the stack's `workers` parameter (Python's memory grows with "
            f"workers, not with the rate); *limited by*: the diagnosis (docs/limited-by.md) at the first failing rate "
            f"above the capacity. A capacity marked *lower bound* is not a capacity: the load generator, or "
            f"--max-rate, set the limit.")


def _slowest(answers: Any) -> str:
    return f"{answers // 100:,}" if isinstance(answers, int) and answers >= 100 else "1 or 2"


def sizing_section(found: Sequence[search.Capacity], target: float) -> str:
    rows = []
    for n, s in enumerate(search.ranked(found, target), start=1):
        if s.cores is None:
            rows.append(["-", f"`{s.label}`", "-", "-", "-", s.why_none])
            continue
        rows.append([str(n), f"`{s.label}`", s.cores_said() + (" (at most)" if s.lower_bound else ""),
                     str(s.replicas), number(s.memory_mb, "{:,.0f}"), ""])  # fmt: skip
    head = ["rank", "stack", "cores [95 % interval]", "replicas as measured", "memory MB", "not sized because"]
    return section(f"Sizing for {target:,.0f} req/s, fewest cores first", markdown(rows, head))


def steps_section(run: RunResult, summary: RunSummary) -> str:
    """Every step in the order taken, per stack: rate, answers, p99 from due, errors, CPU and the verdict."""
    steps = [m for s in summary.of("step").values() for m in s.repeats if m.step is not None]
    if not steps:
        return ""
    rows = [[f"`{m.label}`", str(m.repeat), f"{_load(m):g}", number(ok_rps(m.figures) if m.figures else None, "{:.0f}"),
             str(m.figures.requests - m.figures.failures) if m.figures else "-", number(_due_p99(m), "{:.2f}"),
             number(error_pct(m), "{:.2f}"), number(m.usage.cpu_percent / 100 if m.usage else None, "{:.2f}"),
             _verdict(m)] for m in steps]  # fmt: skip
    head = ["stack", "search", "offered req/s", "ok req/s", "answers", "p99 ms from due", "errors %",
            "stack CPU (cores)", f"SLO `{run.slo.text if run.slo else '?'}`"]  # fmt: skip
    return section("Every step, in the order taken", markdown(rows, head))


def _load(m: Measurement) -> float:
    return m.step.load if m.step else 0.0


def _due_p99(m: Measurement) -> float | None:
    due = ok_due_latency(m.figures) if m.figures else None
    return None if due is None else due.p99_ms


def _verdict(m: Measurement) -> str:
    if not m.ok:
        return f"**{m.status}**: {m.error}"
    return step_cell(m, "capacity")
