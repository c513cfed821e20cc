"""Turn stored results into results/summary.md. Reads the results folder only; runs nothing."""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from bench.charts import chart_links, write_charts
from bench.results import RUN_FILE, RunResult, StackResult, load_run, write_text_atomic

SUMMARY = "summary.md"


def find_runs(results_dir: Path) -> list[tuple[Path, RunResult]]:
    """Every readable run, oldest first; a damaged run.json is skipped with a warning."""
    found = []
    for run_file in sorted((results_dir / "runs").glob(f"*/{RUN_FILE}")):
        try:
            found.append((run_file.parent, load_run(run_file.parent)))
        except (OSError, ValueError, TypeError) as exc:
            print(f"WARNING: skipping {run_file}: damaged ({exc})", file=sys.stderr)
    return found


def write_summaries(results_dir: Path, run_dir: Path) -> Path:
    """Write the run's own summary.md and results/summary.md (the latest run), charts beside each."""
    run = load_run(run_dir)
    where = run_dir.relative_to(results_dir) if run_dir.is_relative_to(results_dir) else run_dir
    for folder in (run_dir, results_dir):
        charts = write_charts(run, folder)
        write_text_atomic(folder / SUMMARY, render(run, where, chart_links(charts, folder)))
    return results_dir / SUMMARY


def render(run: RunResult, where: Path, charts: str = "") -> str:
    """The summary of one run as Markdown: the comparison first, then charts and context."""
    parts = [
        f"# Deployment stacks compared: run {run.run_id}\n",
        f"Status **{run.status}**, backend `{run.backend}`, started {run.started_at}, "
        f"finished {run.finished_at or '-'}. Raw files: `{where}/`.\n",
        _main_table(run) if any(r.phase != "sweep" for r in run.stacks) else "",
        sweep_section(run),
        _comparison(run),
        breaker_section(run),
        _floor(run),
        _drift(run),
        charts,
        _reference_table(run),
        _failures(run),
        _settings(run),
        _machine(run),
    ]
    return "\n".join(p for p in parts if p)


_COLUMNS: list[tuple[str, Callable[[StackResult], float | None], str]] = [
    ("avg ms", lambda s: s.avg_ms, "{:.2f}"),
    ("p50 ms", lambda s: s.p50_ms, "{:.2f}"),
    ("p90 ms", lambda s: s.p90_ms, "{:.2f}"),
    ("p95 ms", lambda s: s.p95_ms, "{:.2f}"),
    ("p99 ms", lambda s: s.p99_ms, "{:.2f}"),
    ("max ms", lambda s: s.max_ms, "{:.1f}"),
    ("req/s", lambda s: s.rps, "{:.0f}"),
    ("locust CPU %", lambda s: s.generator_cpu_percent, "{:.0f}"),
    ("stack CPU %", lambda s: s.cpu_percent, "{:.0f}"),
    ("req per CPU-s", lambda s: s.rps_per_cpu_second, "{:.0f}"),
    ("peak RSS MB", lambda s: s.peak_rss_mb, "{:.0f}"),
    ("TIME_WAIT", lambda s: s.time_wait, "{:.0f}"),
]


def _main_table(run: RunResult) -> str:
    head = ["stack", "status", "requests", "failures", *(c[0] for c in _COLUMNS), "status codes"]
    lines = ["## Response times and throughput\n", _row(head), _row(["---"] * len(head))]
    for name, results in _by_stack(run).items():
        if results[0].phase == "sweep":
            continue  # the sweep's steps have their own section
        ok = [r for r in results if r.status == "ok"]
        shown = ok or results
        status = "ok" if len(ok) == len(results) else "/".join(sorted({r.status for r in results}))
        if any(r.generator_bound for r in shown):
            status += " **generator-bound**"
        cells = [f"`{name}`", status, str(sum(r.requests for r in shown)), str(sum(r.failures for r in shown))]
        cells += [_cell([get(r) for r in shown], fmt) for _, get, fmt in _COLUMNS]
        cells.append(_codes(shown))
        lines.append(_row(cells))
    note = (
        "\nFigures cover the measured window only (warmup excluded). Percentiles are exact "
        "(nearest rank over every response time). With repeats, a cell is the median and "
        "[min-max] the spread. CPU % is of one core, summed over the stack's processes.\n"
        "**generator-bound**: locust's own CPU reached 90 % of its core (or its CPU warning fired), "
        "so the load generator, not the stack, may have set the pace: read that row as a lower bound.\n"
    )
    return "\n".join(lines) + "\n" + note


def _comparison(run: RunResult) -> str:
    """pyperf-style: each stack against the first, or "not significant" when spreads overlap."""
    groups = [(n, [r for r in rs if r.status == "ok"]) for n, rs in _by_stack(run).items()]
    groups = [(n, rs) for n, rs in groups if rs and rs[0].phase == "measure"]
    if len(groups) < 2:
        return ""
    base_name, base = groups[0]
    lines = [f"## Compared with `{base_name}`\n"]
    for name, results in groups[1:]:
        avg = _verdict([r.avg_ms for r in base], [r.avg_ms for r in results], "faster", "slower", "ms", lower=True)
        rps = _verdict([r.rps for r in base], [r.rps for r in results], "higher", "lower", "req/s", lower=False)
        lines.append(f"- `{name}`: average response time {avg}; throughput {rps}")
    if any(len(rs) < 2 for _, rs in groups):
        lines.append("\nWith one repeat there is no spread to judge significance; use --repeat 3 or more.")
    return "\n".join(lines) + "\n"


def _verdict(base: list[float | None], other: list[float | None], better: str, worse: str, unit: str,
             lower: bool) -> str:  # fmt: skip
    """`2.31x faster (3.2 vs 7.4 ms)` or `not significant (...)` when the min-max ranges overlap."""
    a = [v for v in base if v is not None]
    b = [v for v in other if v is not None]
    if not a or not b or min(a + b) <= 0:
        return "-"
    ma, mb = statistics.median(a), statistics.median(b)
    figures = f"{mb:.2f} vs {ma:.2f} {unit}" if unit == "ms" else f"{mb:.0f} vs {ma:.0f} {unit}"
    if len(a) > 1 and len(b) > 1 and min(b) <= max(a) and min(a) <= max(b):
        return f"not significant ({figures}; the spreads overlap)"
    improved = mb < ma if lower else mb > ma
    ratio = max(ma, mb) / min(ma, mb)
    return f"{ratio:.2f}x {better if improved else worse} ({figures})"


def sweep_section(run: RunResult) -> str:
    """Each stack's knee, then every step with its verdict."""
    steps = [r for r in run.stacks if r.phase == "sweep"]
    if not steps:
        return ""
    sweep = run.settings.get("sweep", {})
    unit = "req/s offered" if sweep.get("model") == "open" else "users"
    head = ["stack", f"knee ({unit})", "req/s", "p50 ms", "p99 ms", "stack CPU %", f"broke at ({unit})", "why"]
    lines = ["## Capacity: each stack's knee\n",
             f"The highest load that kept p99 under {sweep.get('p99_target_ms', '?')} ms and errors under "
             f"{sweep.get('max_error_pct', '?')} % while throughput still followed the load "
             f"({sweep.get('model', 'closed')} model).\n",
             _row(head), _row(["---"] * len(head))]  # fmt: skip
    names = list(dict.fromkeys(r.name for r in steps))
    for name in names:
        mine = [r for r in steps if r.name == name]
        knee = next((r for r in mine if r.details.get("knee")), None)
        broke = min((r for r in mine if r.details.get("verdict", "ok") != "ok"), key=lambda r: r.load, default=None)
        cells = [f"`{name}`"] + (["none"] + ["-"] * 4 if knee is None else
                 [f"{knee.load:g}", f"{knee.rps:.0f}", _num(knee.p50_ms, "{:.2f}"), _num(knee.p99_ms, "{:.2f}"),
                  _num(knee.cpu_percent, "{:.0f}")])  # fmt: skip
        cells += [f"{broke.load:g}", broke.details.get("verdict", broke.error or "")] if broke else ["-", "not reached"]
        lines.append(_row(cells))
    every = ["stack", unit, "users", "req/s", "p50 ms", "p99 ms", "failures", "stack CPU %", "locust CPU %", "verdict"]
    lines += ["", "Every step:", "", _row(every), _row(["---"] * len(every))]
    for r in sorted(steps, key=lambda r: (names.index(r.name), r.load)):
        lines.append(_row([f"`{r.name}`", f"{r.load:g}", str(r.users), f"{r.rps:.0f}", _num(r.p50_ms, "{:.2f}"),
                           _num(r.p99_ms, "{:.2f}"), str(r.failures), _num(r.cpu_percent, "{:.0f}"),
                           _num(r.generator_cpu_percent, "{:.0f}"), _step_verdict(r)]))  # fmt: skip
    return "\n".join(lines) + "\n"


def _step_verdict(r: StackResult) -> str:
    return r.details.get("verdict", r.error or "") + (" (knee)" if r.details.get("knee") else "")


def breaker_section(run: RunResult) -> str:
    """Breaker off vs on at the same arrival rate, with Envoy's own counters beside locust's."""
    phases = [r for r in run.stacks if r.phase.startswith("breaker")]
    if not phases:
        return ""
    head = ["breaker", "offered req/s", "achieved req/s", "success %", "status codes", "503 by breaker",
            "Envoy pending overflow", "Envoy cx overflow", "ejections", "app 5xx",
            "ok p50 / p99 ms", "all p50 / p99 ms"]  # fmt: skip
    lines = ["## Circuit breaker under overload\n", _row(head), _row(["---"] * len(head))]
    for r in phases:
        lines.append(_row([f"`{r.breaker}`", _num(r.offered_rps, "{:.0f}"), f"{r.rps:.0f}", _pct(_success(r)),
                           _codes([r]), str(r.overloaded), _delta(r, "upstream_rq_pending_overflow"),
                           _delta(r, "upstream_cx_overflow"), _delta(r, "ejections_enforced_total"), str(_app_5xx(r)),
                           _pair(r.ok_latency.get("p50_ms"), r.ok_latency.get("p99_ms")),
                           _pair(r.p50_ms, r.p99_ms)]))  # fmt: skip
    ref = phases[0].reference.get("breaker")
    if ref:
        lines.append(_row(["seed 001 (`seed`, published)", f"{ref['offered_rps']}", "-", _pct(ref["success_pct"]),
                           f"503: {ref['code_503']}", "-", "-", "-", "-", "-", "-",
                           _pair(ref.get("p50_ms"), ref.get("p99_ms"))]))  # fmt: skip
    notes = [_capacity_note(run), *(_reading(r) for r in phases)]
    if ref:
        notes.append(f"The seed 001 row is {ref['source']}: compare the shape, not the values.")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes if n) + "\n"


def _reading(r: StackResult) -> str:
    """One plain sentence on what this phase shows."""
    if r.status != "ok" or not r.requests:
        return f"`{r.breaker}`: not measured ({r.error})."
    reached = r.offered_rps is None or r.rps >= 0.95 * r.offered_rps
    rate = (
        "the offered rate was kept"
        if reached
        else (
            f"the offered rate was NOT reached ({r.rps:.0f} of {r.offered_rps:.0f} req/s): every user was waiting on a "
            "response, so the stack's slowness throttled the load itself"
        )
    )
    ok = r.requests - r.failures
    text = (
        f"`{r.breaker}`: {rate}; {ok} of {r.requests} requests succeeded ({_pct(_success(r))} %), "
        f"successful ones at p99 {_num(r.ok_latency.get('p99_ms'), '{:.0f}')} ms."
    )
    if r.overloaded:
        matches = r.overloaded == _counter(r, "upstream_rq_pending_overflow")
        text += (
            f" Envoy refused {r.overloaded} requests with a fast 503 (x-envoy-overloaded)"
            f"{', exactly the pending-overflow count Envoy reports' if matches else ''}."
        )
    return text


def _capacity_note(run: RunResult) -> str:
    cap = next((r for r in run.stacks if r.phase == "capacity" and r.status == "ok"), None)
    if cap is None:
        return ""
    return (
        f"Capacity measured first (closed loop, {cap.requests} requests, breaker off): {cap.rps:.0f} req/s "
        f"at p99 {cap.p99_ms:.0f} ms."
    )


def _success(r: StackResult) -> float | None:
    return 100 * (r.requests - r.failures) / r.requests if r.requests else None


def _app_5xx(r: StackResult) -> int:
    return sum(n for code, n in r.status_codes.items() if code.startswith("5")) - r.overloaded


def _counter(r: StackResult, name: str) -> int:
    pair = next((v for k, v in r.envoy.items() if k.endswith("." + name)), None)
    return pair[1] - pair[0] if pair else 0


def _delta(r: StackResult, name: str) -> str:
    return str(_counter(r, name)) if r.envoy else "-"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _pair(a: float | None, b: float | None) -> str:
    return f"{_num(a, '{:.1f}')} / {_num(b, '{:.1f}')}"


def _drift(run: RunResult) -> str:
    """Per-minute rows of measurements that lasted more than one minute (endurance runs)."""
    long = [r for r in run.stacks if len(r.per_window) > 1]
    if not long:
        return ""
    head = ["stack", "minute", "requests", "req/s", "avg ms", "p50 ms", "p99 ms", "failures", "stack RSS MB"]
    lines = ["## Drift over time\n", _row(head), _row(["---"] * len(head))]
    for r in long:
        for w in r.per_window:
            cells = [f"`{r.name}`", str(int(w["window"]) + 1), str(w["requests"]), _num(w.get("rps"), "{:.0f}")]
            cells += [_num(w.get(k), "{:.2f}") for k in ("avg_ms", "p50_ms", "p99_ms")]
            cells += [str(w.get("failures", 0)), _num(w.get("stack_rss_mb"), "{:.0f}")]
            lines.append(_row(cells))
    return "\n".join(lines) + "\n\nThe last row may cover less than a minute.\n"


def _floor(run: RunResult) -> str:
    f = run.floor
    if f is None:
        return ""
    if f.status != "ok":
        return f"Load generator floor: not measured ({f.error}).\n"
    bound = " (generator-bound)" if f.generator_bound else ""
    return (
        f"**Load generator floor** (the same locust load against nginx answering from memory, same cores): "
        f"avg {f.avg_ms:.2f} ms, p50 {f.p50_ms:.2f} ms, p99 {f.p99_ms:.2f} ms at {f.rps:.0f} req/s, "
        f"locust CPU {f.generator_cpu_percent}%{bound}. Every figure above includes about this much "
        f"of locust's own time; a stack's req/s near this one means locust set the pace.\n"
    )


def _reference_table(run: RunResult) -> str:
    rows = [(n, rs) for n, rs in _by_stack(run).items() if rs[0].reference.get("avg_ms") is not None]
    if not rows:
        return ""
    lines = [
        "## Beside the seed's published figures\n",
        _row(["stack", "avg ms (this run)", "avg ms (published)", "published under"]),
        _row(["---"] * 4),
    ]
    for name, results in rows:
        ours = _cell([r.avg_ms for r in results if r.status == "ok"], "{:.2f}")
        ref = results[0].reference
        lines.append(_row([f"`{name}`", ours, f"{ref['avg_ms']:.2f}", str(ref.get("source", ""))]))
    return "\n".join(lines) + (
        "\n\nThe published figures come from another machine and load; "
        "compare the order of the stacks, not the values.\n"
    )


def _failures(run: RunResult) -> str:
    bad = [r for r in run.stacks if r.status != "ok"]
    if not bad:
        return ""
    lines = ["## What did not go well\n"]
    for r in bad:
        lines.append(f"- `{r.name}` (repeat {r.repeat}): **{r.status}**: {r.error}")
        if r.log_tail:
            lines.append("\n  ```\n" + "\n".join("  " + x for x in r.log_tail.splitlines()[-15:]) + "\n  ```")
    return "\n".join(lines) + "\n"


def _settings(run: RunResult) -> str:
    rows = [_row(["setting", "value"]), _row(["---", "---"])]
    rows += [_row([key, f"`{value}`"]) for key, value in run.settings.items()]
    return "## Settings\n\n" + "\n".join(rows) + "\n"


def _machine(run: RunResult) -> str:
    m = run.machine
    flat = {k: v for k, v in m.items() if not isinstance(v, dict)}
    for group in ("packages", "binaries"):
        flat |= {k: v for k, v in (m.get(group) or {}).items()}
    rows = [_row(["", ""]), _row(["---", "---"])] + [_row([k, f"`{v}`"]) for k, v in flat.items()]
    return "## Machine\n\n" + "\n".join(rows) + "\n"


def _by_stack(run: RunResult) -> dict[str, list[StackResult]]:
    grouped: dict[str, list[StackResult]] = {}
    for result in run.stacks:  # repeats share a row; the breaker scenario's phases do not
        label = result.name if result.phase == "measure" else f"{result.name} ({result.phase})"
        grouped.setdefault(label, []).append(result)
    return grouped


def _cell(values: list[float | None], fmt: str) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    middle = fmt.format(statistics.median(present))
    if len(present) == 1:
        return middle
    return f"{middle} [{fmt.format(min(present))}-{fmt.format(max(present))}]"


def _codes(results: list[StackResult]) -> str:
    total: dict[str, int] = {}
    for r in results:
        for code, count in r.status_codes.items():
            total[code] = total.get(code, 0) + count
    return ", ".join(f"{code}: {count}" for code, count in sorted(total.items())) or "-"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"
