"""The parts of a summary every run has: its header, the floor, drift, failures, settings, machine."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from bench.analysis.noise import CHANGED, floor_change
from bench.analysis.summary import LabelSummary, RunSummary, ok_due_latency, ok_rps
from bench.report.charts import TITLES
from bench.report.tables import markdown, number, section
from bench.results import Finding, Measurement, RunResult


def header(run: RunResult, where: Path) -> str:
    title = {"measure": "Deployment stacks compared", "breaker": "The circuit breaker under overload",
             "sweep": "Capacity sweep", "layers": "What each layer costs", "gateway": "The API gateway",
             "capacity": "Capacity at an SLO"}.get(run.scenario, run.scenario)  # fmt: skip
    loads = [run.machine.get(k) for k in ("load_average_start", "load_average_end")]
    shown = " -> ".join("/".join(f"{x:g}" for x in v) for v in loads if v)
    return (f"# {title}: run {run.run_id}\n\nStatus **{run.status}**, backend `{run.backend}`, started "
            f"{run.started_at}, finished {run.finished_at or '-'}"
            + (f", load average (1/5/15 min) {shown}" if shown else "")
            + f". Raw files: `{where}/` (every figure of every measurement: `{where}/results.csv`).\n"
            + _open_model(run))  # fmt: skip


def _open_model(run: RunResult) -> str:
    """`stack`/`all --rate`: the rate every row was offered, and what the latency then means."""
    if run.scenario != "measure" or "rate" not in run.settings:
        return ""
    offered = run.settings.get("offered_rps")
    at = f"{offered:g} req/s" if isinstance(offered, int | float) else "no rate (its peak was not measured)"
    peaks = ", ".join(f"`{m.label}` {ok_rps(m.figures):.0f} req/s" for m in run.rows("peak") if m.ok and m.figures)
    return (f"\n**Open model**: every row offered {at} (`--rate`: {run.settings['rate']}"
            + (f"; closed-loop peaks: {peaks}" if peaks else "")
            + "), so latency is compared at equal load, timed from when each request was due (corrected for "
            "coordinated omission).\n")  # fmt: skip


def codes(measurements: list[Measurement]) -> str:
    """`200: 4310, 503: 12`, summed over the measurements."""
    total: dict[str, int] = {}
    for m in measurements:
        for code, count in (m.figures.status_codes if m.figures else {}).items():
            total[code] = total.get(code, 0) + count
    return ", ".join(f"{code}: {count}" for code, count in sorted(total.items())) or "-"


def floor(run: RunResult) -> str:
    f = run.floor
    if f is None:
        return ""
    if not f.ok or f.figures is None:
        return f"Load generator floor: not measured ({f.error}).\n"
    lat, fig = f.figures.latency, f.figures
    bound = " (generator-bound)" if fig.generator_bound else ""
    if fig.slots and (due := ok_due_latency(fig)) is not None:  # the open model: the rows' own rate
        return (
            f"**Load generator floor** (the same open-model load, {fig.offered_rps or fig.rps:.0f} req/s, against "
            f"nginx answering from memory, same cores): avg from due {number(due.avg_ms, '{:.2f}')} ms, p99 from due "
            f"{number(due.p99_ms, '{:.2f}')} ms (from send: avg {number(lat.avg_ms, '{:.2f}')} ms), locust CPU "
            f"{fig.generator_cpu_percent}%{bound}. Every latency above includes about this much of locust's own time, "
            f"its schedule's lateness included.{_floor_end(run)}\n"
        )
    rows_open = any(m.load is not None and m.load.rate for m in run.rows("stack"))
    load = "the closed loop that measured the peaks" if rows_open else "the same locust load"
    return (
        f"**Load generator floor** ({load} against nginx answering from memory, same cores): "
        f"avg {number(lat.avg_ms, '{:.2f}')} ms, p50 {number(lat.p50_ms, '{:.2f}')} ms, p99 "
        f"{number(lat.p99_ms, '{:.2f}')} ms at {fig.rps:.0f} req/s, locust CPU {fig.generator_cpu_percent}%{bound}. "
        f"Every figure above includes about this much of locust's own time; a stack's req/s near this one means "
        f"locust set the pace.{_floor_end(run)}\n"
    )


def _floor_end(run: RunResult) -> str:
    """The floor again at the run's end (the noise guard): how far it moved from the start's."""
    end = next(iter(run.rows("floor_end")), None)
    if end is None:
        return ""
    change = floor_change(run)
    if change is None:
        return f" Measured again at the end: {end.error or 'no figures'}."
    within = "more than" if change.changed else "within"
    return (f" Measured again at the end: avg {change.end_avg_ms:.2f} ms at {change.end_rps:.0f} req/s "
            f"({100 * change.rps_change:+.0f} % req/s, {100 * change.avg_change:+.0f} % avg of the start's: {within} "
            f"{100 * CHANGED:g} %, {'the machine changed speed' if change.changed else 'the machine held its speed'}).")


def deployment(summary: RunSummary) -> str:
    """Where each label ran under swarm: replicas and nodes per service, the limits each task had, notes."""
    firsts: dict[str, Measurement] = {}
    for s in summary.labels:
        swarm = [m for m in s.repeats if "swarm_stack" in m.deployment]
        if swarm:
            firsts.setdefault(s.label, swarm[0])
    if not firsts:
        return ""
    rows = []
    for label, m in firsts.items():
        d = m.deployment
        limits = "; ".join(f"{k.removeprefix('limits_')}: {v.split(' each task')[0]}"
                           for k, v in d.items() if k.startswith("limits_"))  # fmt: skip
        rows.append([f"`{label}`", d.get("replicas", "-"), d.get("nodes", "-"), limits or "-", d.get("swarm_note", "")])
    d = next(iter(firsts.values())).deployment
    notes = [f"Swarm: {d.get('swarm', '-')}; nodes {d.get('swarm_nodes', '-')}. Stack services placed on "
             f"{d.get('placement_stack', '-')}, locust workers on {d.get('placement_load', '-')}. Reached from "
             f"{d.get('reached_via', '-')}.",
             "Swarm has no CPU pinning: each task has the CPU and memory limits shown (limits, not pinning); "
             "replicas on one node share its CPUs."]  # fmt: skip
    table = markdown(rows, ["stack", "replicas", "nodes", "limits (each task)", "what swarm changed"])
    return section("Where each stack ran (swarm)", table, " ".join(notes))


def drift(run: RunResult) -> str:
    """Per-minute rows of measurements that lasted more than one minute (endurance runs)."""
    long = [m for m in run.measurements if m.figures and len(m.figures.per_window) > 1]
    if not long:
        return ""
    rows = []
    for m in long:
        assert m.figures is not None
        rss = m.usage.rss_mb_per_window if m.usage else []
        for i, w in enumerate(m.figures.per_window):
            lat = w.latency
            rows.append([f"`{m.label}`", str(w.window + 1), str(w.requests), number(w.rps, "{:.0f}"),
                         number(lat.avg_ms, "{:.2f}"), number(lat.p50_ms, "{:.2f}"), number(lat.p99_ms, "{:.2f}"),
                         str(w.failures), number(rss[i] if i < len(rss) else None, "{:.0f}")])  # fmt: skip
    head = ["stack", "minute", "requests", "req/s", "avg ms", "p50 ms", "p99 ms", "failures", "stack RSS MB"]
    return section("Drift over time", markdown(rows, head), "The last row may cover less than a minute.")


def failures(run: RunResult) -> str:
    bad = [m for m in run.measurements if not m.ok]
    if not bad:
        return ""
    lines = []
    for m in bad:
        lines.append(f"- `{m.label}` (repeat {m.repeat}): **{m.status}**: {m.error}")
        if m.log_tail:
            lines.append("\n  ```\n" + "\n".join("  " + x for x in m.log_tail.splitlines()[-15:]) + "\n  ```")
    return section("What did not go well", "\n".join(lines))


def settings(run: RunResult) -> str:
    rows = [[key, f"`{value}`"] for key, value in run.settings.items()]
    return section("Settings", markdown(rows, ["setting", "value"]))


def machine(run: RunResult) -> str:
    m = run.machine
    flat = {k: v for k, v in m.items() if not isinstance(v, dict)}
    for group in ("packages", "binaries"):
        flat |= dict((m.get(group) or {}).items())
    return section("Machine", markdown([[k, f"`{v}`"] for k, v in flat.items()], ["", ""]))


def chart_links(paths: list[Path], relative_to: Path) -> str:
    """A Markdown section embedding the charts, with links relative to the folder of the .md file."""
    if not paths:
        return ""
    images = [f"![{TITLES.get(p.name, p.stem)}]({Path(os.path.relpath(p, relative_to)).as_posix()})" for p in paths]
    return section("Charts", "\n\n".join(images))


def stack_cpus(run: RunResult) -> int | None:
    """How many CPUs the stacks had: the pinned set, else the machine's."""
    cpus = run.settings.get("stack_cpus")
    if isinstance(cpus, list):
        return len(cpus)
    count = run.machine.get("cpu_count")
    return int(count) if count else None


def workers_note(run: RunResult, measurements: list[Measurement]) -> str:
    """Say when a stack runs more worker processes than it has CPUs, and how to give it more."""
    cpus = stack_cpus(run)
    crowded = {m.label: int(m.params["workers"]) for m in measurements if m.params.get("workers", "").isdigit()}
    crowded = {label: n for label, n in crowded.items() if cpus is not None and n > cpus}
    if not crowded:
        return ""
    rows = ", ".join(f"`{label}` ({n})" for label, n in crowded.items())
    return (f"**More workers than CPUs**: {rows} run more worker processes than the stack's {cpus} CPU(s); they "
            "take turns on the same core, so what several workers do (and what more of them would buy) cannot "
            "show here. Give the stacks more CPUs with `--pin STACK:LOAD` (e.g. `--pin 0-2:3` on 4 CPUs), or "
            "compare worker counts with `--set workers=1,2,4` on a machine that has them.\n")


def headline(s: LabelSummary) -> str:
    """The rule that limited most of the label's judged repeats ("" none found, "-" not judged); ties go to the
    first repeat's. The summary's tables and "What limited each stack" both print this one."""
    heads = _heads(s)
    return max(dict.fromkeys(heads), key=heads.count) if heads else "-"


def _heads(s: LabelSummary) -> list[str]:
    judged = [m for m in (s.ok or s.repeats) if m.limited_by is not None]
    return [m.limited_by[0].rule if m.limited_by else "" for m in judged]


def limited_by(summary: RunSummary, role: str = "stack") -> str:
    """Per label: what limited it (the headline of most repeats), the evidence, a tip, and the others that fired."""
    lines = []
    for label, s in summary.of(role).items():
        judged = [m for m in (s.ok or s.repeats) if m.limited_by is not None]
        if not judged:
            continue
        heads, head = _heads(s), headline(s)
        shown = next(m for m in judged if (m.limited_by[0].rule if m.limited_by else "") == head)
        rest = Counter(h or "none found" for h in heads if h != head)
        otherwise = "".join(f"; {rule} in {n}" for rule, n in rest.items())  # what the other repeats said
        count = f" ({heads.count(head)} of {len(judged)} repeats{otherwise})" if len(judged) > 1 else ""
        if not shown.limited_by:
            lines.append(f"- `{label}`: none found{count}: no limit of bench/analysis/rules.toml fired.")
        else:
            first, others = shown.limited_by[0], shown.limited_by[1:]
            lines.append(f"- `{label}`: **{first.headline}**{count}. Evidence: {_evidence(first)}. Tip: {first.tip}."
                         + (f" Also: {'; '.join(v.headline for v in others)}." if others else ""))  # fmt: skip
        if shown.risks:
            lines.append("  Risks: " + "; ".join(f"{v.headline} ({_evidence(v)})" for v in shown.risks) + ".")
        if shown.limited_by:
            lines.append(f"  {_signals_line(shown)}")
    if not lines:
        return ""
    note = ("From the kernel's TCP counters on both sides, the stack's and locust's CPU, the breaker's 503s and the "
            "containers' memory, by the rules of bench/analysis/rules.toml: the first limit (harm seen in the window) "
            "that fires is the headline; a risk (a level that may become a limit) is listed apart, never as it. "
            "Locally the stack and locust share the host's TCP counters (host-wide): another program's traffic "
            "counts too.")
    return section("What limited each stack", "\n".join(lines), note)


def _evidence(verdict: Finding) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in verdict.evidence.items())


def _signals_line(m: Measurement) -> str:
    s = m.signals
    parts = [f"scope {s.scope or '-'}"]
    if s.listen_backlog:
        parts.append("listen backlog " + ", ".join(f"{k} {v}" for k, v in s.listen_backlog.items())
                     + (f" (somaxconn {s.somaxconn})" if s.somaxconn else ""))  # fmt: skip
    keys = ("listen_overflows", "syn_retrans", "timeouts", "out_rsts")
    if s.server_tcp:
        parts.append("server " + ", ".join(f"{k} {s.server_tcp.get(k, 0)}" for k in keys))
    if m.figures and m.figures.client_tcp:
        parts.append("client " + ", ".join(f"{k} {m.figures.client_tcp.get(k, 0)}" for k in keys))
    if m.figures and m.figures.ports_in_use is not None:
        parts.append(f"ephemeral ports {m.figures.ports_in_use} of {m.figures.port_range}")
    if s.memory:
        parts.append("memory " + ", ".join(f"{k} {v:g}" for k, v in s.memory.items()))
    if s.not_measured:
        parts.append("not measured: " + "; ".join(f"{k} ({v})" for k, v in s.not_measured.items()))
    return "Signals: " + "; ".join(parts) + "."
