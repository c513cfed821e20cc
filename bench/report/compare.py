"""`bench compare RUN_A RUN_B`: each stack's figures in B against A (the baseline), as pyperf's compare_to.

Compute, then render (as pyperf's `_compare.py`): `compare_runs` checks that the runs can be
compared and builds a `Comparison` (one Verdict per label and figure, from bench/report/verdicts.py
and bench/analysis/stats.py); `markdown` only prints it; `write_new` keeps it beside the runs.

Two runs are independent, so every ratio is Welch's (interleaved=False): B's repeats against A's,
the ratio of their geometric means with a 95 % t interval, and "not significant" unless the whole
interval lies beyond 3 % from no change (and has some width: "no spread in N repeats" is not
enough). Labels (a stack, `stack@tag`, `stack@param=value`) are matched by name; labels measured in
one run only are listed.

Capacity runs (`bench capacity`) compare each stack's capacity at the SLO instead: B's searches against
A's, the ratio of their geometric means with the same Welch interval (each search is one value, as a
repeat is). Refused as well when the SLO, the step's length, its warmup or the answers a step needs
differ (the capacity is defined by them).

Refused, every difference named (the figures would differ because the load did):
- a different scenario; a sweep at all (each step is measured once: no spread, no interval);
- a different load: users, spawn rate, measured time, warmup, locust processes, user class, open vs
  closed model and the arrival rate, the in-flight bound, the breaker's capacity load;
- a different backend (local processes vs compose: another network path) or CPU pinning.
Skipped for one label only: different stack parameters (e.g. the breaker preset), or, under an
open model, an offered rate more than 5 % apart (a relative `--rate 2x` follows each run's capacity).

Only warned about, both values shown (often the point of comparing): another commit, machine,
kernel, Python or package version; runs started hours apart (this machine's speed drifts from day to
day); a load generator floor that moved by more than 20 % (the machine itself changed); a run that did
not complete.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.analysis import capacity as search
from bench.analysis import stats
from bench.analysis.summary import FIGURES, LabelSummary, by_name, summarize
from bench.errors import ConfigError
from bench.report.capacity import capacities  # the report's reading of a capacity run, not a copy of it
from bench.report.tables import markdown as table
from bench.report.tables import number
from bench.report.verdicts import Verdict, verdict
from bench.results import RunResult
from bench.stacks.catalog import canonical_params

ROLES = {"measure": "stack", "breaker": "overload"}  # the rows a comparison is about, by scenario
# the short table first: the headline's figures (bench/report/measure.py), each as A -> B and its verdict
HEADLINE = (("avg (ms)", "avg"), ("p99 (ms)", "p99"), ("req/s", "rps"), ("req per CPU-s", "req per cpu-s"))
# settings key -> (what it is called, its value when a run does not record it: version-1 runs)
LOAD: dict[str, tuple[str, Any]] = {
    "users": ("users", None),
    "spawn_rate": ("spawn rate", None),
    "duration_s": ("measured time (s)", None),
    "warmup_s": ("warmup (s)", 0.0),
    "processes": ("locust processes", 1),
    "user_class": ("locust user class", "FastHttpUser"),
    "rate": ("arrival rate (open model; none: closed)", None),
    "max_in_flight": ("in-flight bound", None),
    "capacity_load": ("capacity phase load", None),
    "stack_cpus": ("stack CPUs (--pin)", "all"),
    "load_cpus": ("load CPUs (--pin)", "all"),
    "replicas": ("app replicas (--replicas, swarm)", 1),
}
MACHINE = ("cpu_model", "cpu_count", "memory_gb", "kernel", "python")
OFFERED_APART = 0.05  # open model: offered rates further apart than this are different loads
FLOOR_MOVED = 0.20  # the floor moving more than this means the machine itself changed
HOURS_APART = 6.0


@dataclass(frozen=True)
class LabelComparison:
    """One label in both runs: its summary on each side and a verdict per figure (keyed by its short name)."""

    label: str
    repeats: tuple[int, int]
    verdicts: list[Verdict]
    names: list[str]  # the figure each verdict is on: "avg", "p99", ..., a derived figure's name
    base: LabelSummary
    other: LabelSummary
    open_model: bool = False  # every repeat on both sides offered an arrival rate: latency is judged too

    def on(self, name: str) -> Verdict | None:
        return next((v for n, v in zip(self.names, self.verdicts, strict=True) if n == name), None)


@dataclass(frozen=True)
class Comparison:
    """Everything `markdown` prints: nothing is decided there."""

    base: RunResult
    other: RunResult
    labels: list[LabelComparison]
    only_base: list[str]
    only_other: list[str]
    not_compared: list[tuple[str, str]]  # label, why
    warnings: list[str]
    capacities: list[CapacityRatio] = field(default_factory=list)  # capacity runs: each stack's capacity B / A


@dataclass(frozen=True)
class CapacityRatio:
    """One stack's capacity in both capacity runs: each side over its searches, and B / A with its interval."""

    label: str
    base: search.Capacity
    other: search.Capacity
    ratio: stats.Ratio

    @staticmethod
    def found_in(c: search.Capacity) -> list[float]:
        """The capacities of the searches that found one."""
        return [s.rate for s in c.searches if s.rate is not None]

    def change(self) -> str:
        """`1.29x higher`, `1.10x lower`, or `not significant`."""
        r = self.ratio
        if not r.significant:
            return "not significant"
        return f"{r.ratio:.2f}x higher" if r.ratio >= 1 else f"{1 / r.ratio:.2f}x lower"


def compare_runs(base: RunResult, other: RunResult) -> Comparison:
    """B (`other`) against A (`base`); ConfigError naming every difference when they cannot be compared."""
    refusal = incomparable(base, other)
    if refusal:
        raise ConfigError(f"runs {base.run_id} and {other.run_id} cannot be compared: {'; '.join(refusal)}",
                          tip="compare runs of one scenario measured with the same load, backend and CPU pinning "
                          "(each run's summary.md lists its settings); another machine or commit is only a "
                          "warning")  # fmt: skip
    if base.scenario == "capacity":
        return compare_capacities(base, other)
    a, b = groups(base), groups(other)
    labels, skipped = [], []
    for label in (name for name in a if name in b):
        why = _label_differs(a[label], b[label])
        ok_a, ok_b = ([m for m in s.ok if m.figures] for s in (a[label], b[label]))
        if why is None and not (ok_a and ok_b):
            why = f"no successful measurement in {'A' if not ok_a else 'B'}"
        if why is not None:
            skipped.append((label, why))
            continue
        names, found = [], []
        open_model = all(m.figures and m.figures.slots for m in ok_a + ok_b)
        for name in figures(open_model):
            v = verdict(name, a[label], b[label], interleaved=False)
            if v is not None:
                names.append(name)
                found.append(v)
        labels.append(LabelComparison(label, (len(ok_a), len(ok_b)), found, names, a[label], b[label], open_model))
    return Comparison(base, other, labels, [n for n in a if n not in b], [n for n in b if n not in a], skipped,
                      warnings(base, other))  # fmt: skip


def figures(open_model: bool) -> list[str]:
    """The figures judged: every registered figure marked `compared` (derived ones included). Open model (every
    request due at one rate): latency too, those timed from when each was due included. Closed model: no latency,
    which at fixed users is req/s seen from the other side (Little's law); it is shown, not judged."""
    return [f.name for f in FIGURES.values()
            if f.compared and (f.unit != "ms" or open_model) and (open_model or not f.open_only)]  # fmt: skip


def groups(run: RunResult) -> dict[str, LabelSummary]:
    """label -> its summary in the rows compared, in the order labels first appear."""
    return summarize(run).of(ROLES.get(run.scenario, "stack"))


def incomparable(base: RunResult, other: RunResult) -> list[str]:
    """Every difference that makes the two runs' figures incomparable (empty: comparable)."""
    if base.scenario != other.scenario:
        return [f"scenario {base.scenario} vs {other.scenario}"]
    if base.scenario == "sweep":
        return ["a sweep measures each step once, so there is no spread to build an interval from (compare the "
                "knees in each summary, or measure at one load with `bench stack ... --repeat 3` and compare "
                "those runs)"]  # fmt: skip
    found = [f"backend {base.backend or '-'} vs {other.backend or '-'}"] if base.backend != other.backend else []
    if base.scenario == "capacity":
        found += _capacity_differs(base, other)
    for key, (name, default) in LOAD.items():
        mine, theirs = base.settings.get(key, default), other.settings.get(key, default)
        if _normal(mine) != _normal(theirs):
            found.append(f"{name} {_shown(mine)} vs {_shown(theirs)}")
    return found


# what defines a capacity: settings["sweep"] key -> what it is called
CAPACITY = {"slo": "SLO", "step_s": "step (s)", "warmup_s": "step warmup (s)", "min_answers": "answers a step needs"}


def _capacity_differs(base: RunResult, other: RunResult) -> list[str]:
    """The differences that make two capacity runs' capacities different things."""
    sa, sb = base.settings.get("sweep") or {}, other.settings.get("sweep") or {}
    return [f"{name} {_shown(sa.get(key))} vs {_shown(sb.get(key))}" for key, name in CAPACITY.items()
            if _normal(sa.get(key)) != _normal(sb.get(key))]  # fmt: skip


def compare_capacities(base: RunResult, other: RunResult) -> Comparison:
    """Each stack's capacity in B against A: the searches that found one on each side (each search one value),
    Welch's interval on the log capacities (bench/analysis/stats.py, the runs being independent)."""
    a = {c.label: c for c in capacities(base, summarize(base))}
    b = {c.label: c for c in capacities(other, summarize(other))}
    found, skipped = [], []
    for label in (name for name in a if name in b):
        rates = [{s.repeat: s.rate for s in c.searches if s.rate is not None} for c in (a[label], b[label])]
        ratio = stats.compare(rates[0], rates[1], interleaved=False)
        if ratio is None:
            skipped.append((label, f"no capacity found in {'A' if not rates[0] else 'B'}"))
            continue
        found.append(CapacityRatio(label, a[label], b[label], ratio))
    return Comparison(base, other, [], [n for n in a if n not in b], [n for n in b if n not in a], skipped,
                      warnings(base, other), found)  # fmt: skip


def _normal(value: Any) -> Any:
    """Numbers compared as numbers (a version-1 `4` is a version-2 `4.0`), lists as tuples."""
    if isinstance(value, bool) or not isinstance(value, (int, float, list)):
        return value
    return tuple(_normal(v) for v in value) if isinstance(value, list) else float(value)


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _label_differs(a: LabelSummary, b: LabelSummary) -> str | None:
    """Why one label cannot be compared although the runs can: other stack parameters, another offered rate."""
    params_a, params_b = (canonical_params(s.repeats[0].stack, s.repeats[0].params) for s in (a, b))
    if params_a != params_b:
        return f"stack parameters {_params(params_a)} in A, {_params(params_b)} in B"
    offered_a, offered_b = (s.spread("figures.offered_rps") for s in (a, b))
    if offered_a and offered_b and offered_a.mid and offered_b.mid:
        rate_a, rate_b = offered_a.mid, offered_b.mid
        if abs(math.log(rate_b / rate_a)) > math.log(1 + OFFERED_APART):
            return (f"offered {rate_a:.0f} vs {rate_b:.0f} req/s (a relative --rate follows each run's capacity; "
                    f"use an absolute one to compare)")  # fmt: skip
    return None


def _params(params: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "none"


def warnings(base: RunResult, other: RunResult) -> list[str]:
    """What differs without making the figures incomparable: shown, both values given."""
    found = [f"run {x} is {run.status}: only what it measured is compared"
             for x, run in (("A", base), ("B", other)) if run.status != "complete"]  # fmt: skip
    ma, mb = base.machine, other.machine
    if ma.get("git_commit") != mb.get("git_commit"):
        found.append(f"commit {ma.get('git_commit') or '-'} (A) vs {mb.get('git_commit') or '-'} (B)")
    found += [f"machine {k}: {ma.get(k)} (A) vs {mb.get(k)} (B)" for k in MACHINE if ma.get(k) != mb.get(k)]
    for group in ("packages", "binaries"):
        pa, pb = ma.get(group) or {}, mb.get(group) or {}
        found += [f"{k} {pa.get(k) or '-'} (A) vs {pb.get(k) or '-'} (B)" for k in sorted({*pa, *pb})
                  if pa.get(k) != pb.get(k)]  # fmt: skip
    hours = _hours_apart(base.started_at, other.started_at)
    if hours is not None and hours > HOURS_APART:
        found.append(f"started {hours:.0f} h apart ({base.started_at} vs {other.started_at}): this machine's speed "
                     f"drifts from day to day, so a change may be the machine's; the floor row above shows how much")
    moved = _floor_moved(base, other)
    if moved:
        found.append(moved)
    return found


def _hours_apart(a: str, b: str) -> float | None:
    try:
        return abs((datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()) / 3600
    except (TypeError, ValueError):
        return None


def _floor_moved(base: RunResult, other: RunResult) -> str | None:
    fa, fb = floor_rps(base), floor_rps(other)
    if fa is None or fb is None or abs(math.log(fb / fa)) <= math.log(1 + FLOOR_MOVED):
        return None
    return (f"the load generator floor (locust against nginx answering from memory, a few seconds at each run's "
            f"start) moved from {fa:.0f} to {fb:.0f} req/s ({fb / fa:.2f}x): the machine itself changed speed, so "
            f"part of any change below may be the machine's")  # fmt: skip


def floor_rps(run: RunResult) -> float | None:
    f = run.floor
    return f.figures.rps if f is not None and f.ok and f.figures and f.figures.rps > 0 else None


# --- rendering -------------------------------------------------------------------------------------


def markdown(c: Comparison) -> str:
    """The comparison as Markdown: the two runs, warnings, one row per label and figure, what was left out."""
    parts = [f"# Comparison: run {c.other.run_id} (B) against {c.base.run_id} (A, the baseline)\n",
             _runs_table(c)]  # fmt: skip
    if c.warnings:
        parts.append("**Warnings** (these differ, but the figures are comparable):\n\n"
                     + "\n".join(f"- {w}" for w in c.warnings) + "\n")  # fmt: skip
    if c.base.scenario == "capacity":
        parts.append(_capacity_table(c))
    else:
        parts.append(_headline_table(c))
        parts.append(_verdicts_table(c))
    left = [f"Only in A: {_names(c.only_base)}." if c.only_base else "",
            f"Only in B: {_names(c.only_other)}." if c.only_other else "",
            *(f"Not compared: `{label}`: {why}." for label, why in c.not_compared)]  # fmt: skip
    parts.append("\n".join(f"- {x}" for x in left if x) + "\n" if any(left) else "")
    parts.append((CAPACITY_METHOD if c.base.scenario == "capacity" else METHOD) + "\n")
    return "\n".join(p for p in parts if p)


METHOD = (
    "Each figure of B against A: the ratio of the geometric means of their successful repeats, with a 95 % "
    "Welch t interval on the log values (the runs are independent: no pairs), written as a factor (1.42x slower); "
    f"*not significant*: some of the interval lies within {stats.MIN_EFFECT:.0%} of no change, or the repeats had "
    "no spread at all (bench/analysis/stats.py). *A* and *B* are the medians of those repeats, the figures each "
    "run's own summary shows. Latency and req/s count successful answers only (errors are their own figure); a run "
    "written before run.json 5 has them only where nothing failed, so no verdict mixes the two definitions. With few "
    "repeats the interval is wide: measure with --repeat 3 or more."
)


CAPACITY_METHOD = (
    "Each stack's capacity in B against A: the ratio of the geometric means of their searches' capacities (the "
    "highest rate that met the SLO, one value per search), with a 95 % Welch t interval on the log values (the runs "
    f"are independent: no pairs); *not significant*: some of the interval lies within {stats.MIN_EFFECT:.0%} of no "
    "change, or the searches had no spread at all (bench/analysis/stats.py). *A* and *B* are the medians each run's "
    "own summary shows. Each search brackets its capacity within its precision (+-2 %); the interval is the spread "
    "over searches, usually the larger: search with --repeat 3 or more."
)


def _capacity_table(c: Comparison) -> str:
    """One row per stack: A's capacity -> B's, the ratio, its interval and the verdict."""
    rows = [[f"`{r.label}`", f"{len(r.found_in(r.base))} / {len(r.found_in(r.other))}", _capacity(r.base),
             _capacity(r.other), f"{r.ratio.ratio:.2f}", r.ratio.interval(), r.change()]
            for r in c.capacities]  # fmt: skip
    if not rows:
        return "## Capacity in B against A\n\nNo stack had a capacity in both runs.\n"
    slo = c.base.slo.text if c.base.slo else "?"
    head = ["stack", "searches A / B", "A (req/s)", "B (req/s)", "B / A", "95 % CI", "verdict"]
    return f"## Capacity at `{slo}` in B against A\n\n" + table(rows, head) + "\n"


def _capacity(c: search.Capacity) -> str:
    if c.rate is None:
        return "none"
    return f"{c.rate.median:g}" + (" (lower bound)" if c.lower_bound else "") + (" (partial)" if c.partial else "")


def _runs_table(c: Comparison) -> str:
    rows = [["run", f"`{c.base.run_id}`", f"`{c.other.run_id}`"],
            ["started", c.base.started_at, c.other.started_at],
            ["status", c.base.status, c.other.status],
            ["commit", f"`{c.base.machine.get('git_commit') or '-'}`", f"`{c.other.machine.get('git_commit') or '-'}`"],
            ["machine", _machine(c.base), _machine(c.other)],
            ["load (the same in both)", _load(c.base), _load(c.other)],
            ["load generator floor", _floor(c.base), _floor(c.other)]]  # fmt: skip
    return table(rows, ["", "A (baseline)", "B"]) + "\n"


def _machine(run: RunResult) -> str:
    m = run.machine
    return f"{m.get('cpu_count', '?')} CPUs, {m.get('cpu_model', '?')}, kernel {m.get('kernel', '?')}"


def _load(run: RunResult) -> str:
    s = run.settings
    if run.scenario == "capacity":
        sweep = s.get("sweep") or {}
        return (f"capacity at `{sweep.get('slo', '?')}`: steps of {_shown(sweep.get('step_s'))} s after "
                f"{_shown(sweep.get('warmup_s'))} s warmup, at least {_shown(sweep.get('min_answers'))} answers, "
                f"{_shown(s.get('repeat', 1))} search(es) per stack, backend {run.backend}, stack CPUs "
                f"{s.get('stack_cpus', 'all')}, load CPUs {s.get('load_cpus', 'all')}")  # fmt: skip
    rate = f"{s['rate']} arrival rate" if s.get("rate") else f"{s.get('users', '?')} users"
    return (f"{run.scenario}: {rate}, {_shown(s.get('duration_s'))} s after {_shown(s.get('warmup_s', 0.0))} s "
            f"warmup, backend {run.backend}, stack CPUs {s.get('stack_cpus', 'all')}, load CPUs "
            f"{s.get('load_cpus', 'all')}")  # fmt: skip


def _floor(run: RunResult) -> str:
    f = run.floor
    if f is None or not f.ok or f.figures is None:
        return "not measured"
    return f"{f.figures.rps:.0f} req/s, avg {number(f.latency.avg_ms, '{:.2f}')} ms"


def _headline_table(c: Comparison) -> str:
    """One row per label, the summary's headline figures: A's median -> B's, and what the verdict says."""
    if not c.labels:
        return ""
    rows = []
    for lc in c.labels:
        cells = []
        for _, name in HEADLINE:
            v = lc.on(name)
            cells.append(_shown_only(lc, name) if v is None else f"{v.shown(v.base)} -> {v.shown(v.other)} "
                         f"({v.change() if v.ratio.significant else 'not significant'})")  # fmt: skip
        errors = [s.spread("figures.error_pct") for s in (lc.base, lc.other)]
        cells.insert(3, " -> ".join("-" if e is None else f"{e.mid:.2f}%" for e in errors))
        rows.append([f"`{lc.label}`", f"{lc.repeats[0]} / {lc.repeats[1]}", *cells])
    head = ["stack", "repeats A / B", *(h for h, _ in HEADLINE[:3]), "errors", HEADLINE[3][0]]
    note = "Medians of each run's successful repeats, A -> B; every figure with its interval is in the table below."
    if any(not lc.open_model for lc in c.labels):
        note += " " + LITTLE
    return "## At a glance\n\n" + table(rows, head) + "\n\n" + note + "\n"


LITTLE = (
    "*Not judged*: in the closed model (a fixed number of users, each waiting for its answer) latency and req/s are "
    "one fact seen from two sides (Little's law: avg ~= users / req/s), so only throughput gets a verdict and latency "
    "is shown beside it. A latency verdict needs equal load: compare two runs of the open model (`--rate`)."
)


def _shown_only(lc: LabelComparison, name: str) -> str:
    """A figure without a verdict (closed-model latency): A's median -> B's, `not judged`; `-` when either lacks it."""
    f = by_name(name)
    a, b = lc.base.spread(f.key), lc.other.spread(f.key)
    if a is None or b is None:
        return "-"
    return f"{f.fmt.format(a.mid)} -> {f.fmt.format(b.mid)} (not judged)"


def _verdicts_table(c: Comparison) -> str:
    rows = []
    for lc in c.labels:
        for v in lc.verdicts:
            rows.append([f"`{lc.label}`", f"{lc.repeats[0]} / {lc.repeats[1]}", v.figure,
                         f"{v.shown(v.base)} {v.unit}", f"{v.shown(v.other)} {v.unit}", v.change(),
                         v.interval() or "- (one repeat)", v.word()])  # fmt: skip
    if not rows:
        return "## Each stack in B against A\n\nNo label was measured successfully in both runs.\n"
    head = ["stack", "repeats A / B", "figure", "A", "B", "change", "95 % CI", "verdict"]
    return "## Each stack in B against A\n\n" + table(rows, head) + "\n"


def _names(labels: Sequence[str]) -> str:
    return ", ".join(f"`{n}`" for n in labels)


def write_new(folder: Path, stem: str, text: str) -> Path:
    """`folder/stem.md`, or `stem-2.md`, ... when taken: written whole (temp file, then a hard link, which
    fails rather than replace an existing file), never over an earlier comparison."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{stem}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        for n in range(1, 1000):
            path = folder / (f"{stem}.md" if n == 1 else f"{stem}-{n}.md")
            try:
                os.link(tmp, path)
            except FileExistsError:
                continue
            return path
    finally:
        Path(tmp).unlink(missing_ok=True)
    raise ConfigError(f"too many comparisons named {stem} in {folder}")


def regressions(c: Comparison) -> list[str]:
    """`label figure` of every significant change for the worse (what `--fail-on-regression` fails on)."""
    return [f"{lc.label} {n}" for lc in c.labels for n, v in zip(lc.names, lc.verdicts, strict=True)
            if v.ratio.significant and not v.better]  # fmt: skip
