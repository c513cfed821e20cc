"""The capacity search and what it finds, computed without I/O (so a unit test can drive it).

The search (one implementation: `bench sweep` and `bench capacity` both climb with it): given the
loads tried so far and whether each passed, `next_load` names the next load, or None when the
search is done, and `stopped` says why. Loads multiply by `factor` from `start` until one fails (or
`most` passed); a failing start steps down by the same factor to `least`; then bisection between
the highest load that passed and the lowest above it that failed, until that failing load is
within `precision` above the passing one (`bench capacity`: the capacity is then at most 2 % under
where the SLO broke), or after `refine` bisection steps (`bench sweep`: two). With `confirm`
(`bench capacity`), a climb step that fails is measured once more first: it counts as failed only if
it fails again (a pass makes it the highest passing load, and the climb goes on).

Then, from a stack's recorded steps: each search's capacity (the highest rate that met the SLO), the
bracket around it (the search's precision), the CPU and memory it used there, what broke at the first
failing rate above it (`StackCapacity`); over `--repeat N` searches the median with a 95 % interval of
their spread (`Capacity`, the interval from bench/analysis/stats.py); and for a target rate, what to
deploy (`Sizing`: cores with their interval), ranked by cores.

Standard library and bench's data modules only.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from bench.analysis import slo as slo_lib
from bench.analysis import stats
from bench.analysis.summary import ok_rps

if TYPE_CHECKING:
    from bench.results import Measurement


REACH = 0.8  # a first failing rate at 80 % or more of the generator's ceiling may be the generator's failure


@dataclass(frozen=True)
class Plan:
    """Where the search starts and stops, and how finely it brackets."""

    start: float
    most: float  # never above this load; passing here ends the climb (a lower bound, not a capacity)
    least: float | None = None  # a failing start steps down to here; None: never below the start
    factor: float = 2.0
    precision: float | None = 0.02  # done when the lowest failing load <= highest passing x (1 + precision)
    refine: int | None = None  # done after this many bisection steps (None: only the precision ends it)
    whole: bool = True  # loads are whole numbers (users; req/s)
    confirm: bool = False  # a climb step that fails is measured once more before the search bisects below it

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Tried:
    """One step of the search: its load and whether it passed."""

    load: float
    passed: bool


@dataclass(frozen=True)
class Bracket:
    """The highest load that passed and the lowest load above it that failed (None: none yet)."""

    passed: float | None
    failed: float | None

    @property
    def width(self) -> float | None:
        """How far above the passing load the failing one lies, as a share (0.02: 2 %); None without both."""
        if self.passed is None or self.failed is None or self.passed <= 0:
            return None
        return self.failed / self.passed - 1


def bracket(tried: Sequence[Tried]) -> Bracket:
    """The bracket the steps so far give (a failure below a pass is noise the bracket ignores)."""
    good = max((t.load for t in tried if t.passed), default=None)
    bad = min((t.load for t in tried if not t.passed and (good is None or t.load > good)), default=None)
    return Bracket(good, bad)


def next_load(plan: Plan, tried: Sequence[Tried]) -> float | None:
    """The load to try next; None when the search is done (`stopped` says why)."""
    return _next(plan, tried)[0]


def stopped(plan: Plan, tried: Sequence[Tried]) -> str | None:
    """Why the search ended after these steps; None when it has a next load (it was stopped early)."""
    load, why = _next(plan, tried)
    return why if load is None else None


def drive(plan: Plan, step: Callable[[float], bool], tried: list[Tried]) -> str:
    """Run the search: `step(load)` measures one load and says whether it passed. Each step is appended to
    `tried` as it finishes, so a Ctrl-C (KeyboardInterrupt from `step`) leaves the finished ones there."""
    while (load := next_load(plan, tried)) is not None:
        tried.append(Tried(load, step(load)))
    return stopped(plan, tried) or ""


def _next(plan: Plan, tried: Sequence[Tried]) -> tuple[float | None, str]:
    if not tried:
        return _round(plan, plan.start), ""
    b = bracket(tried)
    if b.passed is None:
        lowest = min(t.load for t in tried)
        lower = _round(plan, max(lowest / plan.factor, plan.least or lowest))
        if plan.least is None or lower >= lowest or lower <= 0:
            return None, f"no load met it, down to {lowest:g}"
        return lower, ""
    if b.failed is None:
        if b.passed >= plan.most:
            return None, f"met at the most tried ({plan.most:g}): at least that much"
        return min(_round(plan, b.passed * plan.factor), plan.most), ""
    if plan.confirm and _unconfirmed(plan, tried, b):
        return b.failed, ""
    if plan.refine is not None and _bisections(tried) >= plan.refine:
        return None, f"{plan.refine} bisection steps done"
    if plan.precision is not None and b.failed <= b.passed * (1 + plan.precision):
        return None, f"bracketed within {100 * plan.precision:g} %"
    middle = _round(plan, (b.passed + b.failed) / 2)
    if not b.passed < middle < b.failed:
        return None, f"no whole load between {b.passed:g} and {b.failed:g}"
    return middle, ""


def _unconfirmed(plan: Plan, tried: Sequence[Tried], b: Bracket) -> bool:
    """The last step was a climb step (the passing load times the factor, or the most) failing for the first time:
    measured once more before the search bisects below it, since one marginal miss there (a p99 of a few thousand
    answers a hair over its bound on a shared machine) would otherwise halve the capacity found."""
    last = tried[-1]
    if last.passed or b.passed is None or last.load != b.failed:
        return False
    climb = min(_round(plan, b.passed * plan.factor), plan.most)
    return last.load == climb and sum(t.load == last.load for t in tried) == 1


def _round(plan: Plan, load: float) -> float:
    return float(math.floor(load)) if plan.whole else load


def _bisections(tried: Sequence[Tried]) -> int:
    """Steps taken since the bracket first had both ends."""
    for i in range(len(tried)):
        b = bracket(tried[: i + 1])
        if b.passed is not None and b.failed is not None:
            return len(tried) - i - 1
    return 0


# --- a stack's capacity from its recorded steps ---------------------------------------------------


def passed(m: Measurement) -> bool:
    """A capacity step passed: measured, and it met every objective of the SLO (enough answers included)."""
    return m.ok and m.step is not None and m.step.slo_missed == []


def tried_of(steps: Sequence[Measurement]) -> list[Tried]:
    """The recorded steps as the search saw them, in the order taken (a step that never finished is left out)."""
    return [Tried(m.step.load, passed(m)) for m in steps if m.step is not None and m.status != "interrupted"
            and m.step.load > 0]  # fmt: skip


@dataclass(frozen=True)
class StackCapacity:
    """One stack's capacity at the SLO: the highest rate that met it, what that cost, what broke above it."""

    label: str
    rate: float | None  # req/s offered at the highest step that met the SLO; None: none did
    bracket: Bracket
    precision: float | None
    stopped: str | None  # why the search ended; None: it did not finish (interrupted, or the stack failed)
    ok_rps: float | None = None  # successful answers/s at that step
    cores: float | None = None  # stack CPU at that step (1.0 = one core busy)
    peak_rss_mb: float | None = None
    answers: int | None = None  # successful answers in that step's window
    limited_by: str | None = None  # the headline limit at the first failing rate above it; None: not judged
    broke: tuple[str, ...] = ()  # what that step missed, in words (`p99 80.00 ms, not <50ms`)
    lower_bound: str | None = None  # why the capacity is only a lower bound; None: it is a capacity
    repeat: int = 1  # which search of the stack (`--repeat N`)
    workers: int | None = None  # the stack's `workers` parameter at that step; None: it has none
    replicas: int = 1  # copies of the app service (swarm's --replicas; 1 elsewhere)

    @property
    def partial(self) -> bool:
        return self.stopped is None

    @property
    def within(self) -> bool:
        """The bracket is within the search's precision."""
        width = self.bracket.width
        return width is not None and self.precision is not None and width <= self.precision + 1e-9

    @property
    def rps_per_core(self) -> float | None:
        """The capacity per core of stack CPU it used."""
        if self.rate is None or not self.cores or self.cores <= 0:
            return None
        return self.rate / self.cores


def capacity_of(label: str, steps: Sequence[Measurement], plan: Plan, ceiling: float | None = None,
                slo: slo_lib.Slo | None = None) -> StackCapacity:  # fmt: skip
    """The capacity the recorded `steps` of one search of one stack show, partial when the search would have
    gone on; `ceiling`: the most req/s the load generator achieved in the run (None: not measured); `slo`:
    the objectives judged, to say by how much the first failing step missed each."""
    tried = tried_of(steps)
    b = bracket(tried)
    why = stopped(plan, tried) if tried else None
    at = _step_at(steps, b.passed, passing=True)
    broke = _step_at(steps, b.failed, passing=False)
    found = StackCapacity(label, b.passed, b, plan.precision, why, repeat=steps[0].repeat if steps else 1)
    if at is not None:
        found = _with_usage(found, at)
    if broke is not None:
        found = replace(found, limited_by=_headline(broke), broke=tuple(_missed(broke, slo)))
    return replace(found, lower_bound=_lower_bound(found, broke, plan, ceiling))


def _with_usage(found: StackCapacity, at: Measurement) -> StackCapacity:
    f, u = at.figures, at.usage
    cores = u.cpu_percent / 100 if u is not None and u.samples else None
    workers, replicas = at.params.get("workers", ""), at.deployment.get("replicas", "")
    return replace(found, ok_rps=ok_rps(f) if f else None, cores=cores,
                   peak_rss_mb=u.peak_rss_mb if u is not None and u.samples else None,
                   answers=f.requests - f.failures if f else None,
                   workers=int(workers) if workers.isdigit() and int(workers) > 0 else None,
                   replicas=int(replicas) if replicas.isdigit() and int(replicas) > 0 else 1)  # fmt: skip


def _headline(m: Measurement) -> str | None:
    """The limit the diagnosis put first at this step; None when it was not judged."""
    if m.limited_by is None:
        return None
    return m.limited_by[0].headline if m.limited_by else "no limit found"


def _missed(m: Measurement, slo: slo_lib.Slo | None) -> list[str]:
    """What the step missed as recorded (`p99 80.00 ms, not <50ms`), each objective with its value over its
    bound (`(1.60x the bound)`)."""
    if not m.ok:
        return [m.error or "failed"]
    said = list(m.step.slo_missed or []) if m.step else []
    by = {slo_lib.words(o, m): _times(o, m) for o in (slo.objectives if slo else ())}
    return [s + by.get(s, "") for s in said]


def _times(o: slo_lib.Objective, m: Measurement) -> str:
    value = o.value_of(m)
    return "" if value is None or o.threshold <= 0 else f" ({value / o.threshold:.2f}x the bound)"


def _lower_bound(found: StackCapacity, broke: Measurement | None, plan: Plan, ceiling: float | None) -> str | None:
    if found.rate is not None and found.bracket.failed is None and found.rate >= plan.most:
        return f"met the SLO at the highest rate tried ({plan.most:g} req/s, --max-rate)"
    top = found.bracket.failed or found.rate
    if ceiling is not None and top is not None and top >= REACH * ceiling:
        return (f"within reach of the load generator's ceiling ({ceiling:.0f} req/s, the most it achieved in the "
                f"run; {top:g} req/s is {100 * top / ceiling:.0f} % of it)")  # fmt: skip
    f = broke.figures if broke is not None else None
    if f is not None and f.generator_bound:
        return (f"the load generator was busy at the first failing rate ({found.bracket.failed:g} req/s): "
                "it, not the stack, may have set the limit")  # fmt: skip
    return None


def _step_at(steps: Sequence[Measurement], load: float | None, passing: bool) -> Measurement | None:
    if load is None:
        return None
    return next((m for m in steps if m.step is not None and m.step.load == load and passed(m) == passing
                 and m.status != "interrupted"), None)  # fmt: skip


# --- a stack's capacity over repeated searches -------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """One figure over the repeated searches: the median, and the 95 % interval of the repeats' geometric mean
    (bench/analysis/stats.py's t interval on the log values; None with one repeat)."""

    median: float
    low: float | None
    high: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread | None:
        """None without a positive value. The interval is stats.compare's paired routine against a baseline of 1
        in every repeat: the t interval of the mean log value, exponentiated (no spread: low == high)."""
        kept = [v for v in values if v > 0]
        if not kept:
            return None
        ratio = stats.compare({r: 1.0 for r in range(len(kept))}, dict(enumerate(kept)), interleaved=True)
        assert ratio is not None  # both sides have values
        return cls(statistics.median(kept), ratio.low, ratio.high, len(kept))


@dataclass(frozen=True)
class Capacity:
    """One stack's capacity over its `--repeat N` searches (interleaved): the median of the searches that found
    one, with its 95 % interval (the spread over repeats); each search's own bracket is its precision."""

    label: str
    searches: tuple[StackCapacity, ...]  # in repeat order
    rate: Spread | None  # over the searches that found a rate
    per_core: Spread | None  # req/s per core of stack CPU, over the searches that measured it
    cores: float | None  # median stack CPU at capacity
    peak_rss_mb: float | None  # median peak RSS at capacity

    @property
    def partial(self) -> bool:
        return any(s.partial for s in self.searches)

    @property
    def lower_bound(self) -> str | None:
        """Why the capacity is only a lower bound (any search's reason); None: it is a capacity."""
        return next((s.lower_bound for s in self.searches if s.lower_bound), None)

    @property
    def limited_by(self) -> str | None:
        """The limit most searches' diagnosis put first at their first failing rate (ties: the earlier search's)."""
        heads = [s.limited_by for s in self.searches if s.limited_by]
        return max(dict.fromkeys(heads), key=heads.count) if heads else None

    @property
    def worst_width(self) -> float | None:
        """The widest bracket of the searches: the search's precision as achieved."""
        widths = [w for s in self.searches if (w := s.bracket.width) is not None]
        return max(widths) if widths else None

    @property
    def workers(self) -> int | None:
        return next((s.workers for s in self.searches if s.workers), None)

    @property
    def replicas(self) -> int:
        return next((s.replicas for s in self.searches if s.rate is not None), 1)

    @property
    def mb_per_worker(self) -> float | None:
        """Peak RSS at capacity / workers (Python's memory grows with workers, not with the rate)."""
        return None if self.peak_rss_mb is None or not self.workers else self.peak_rss_mb / self.workers

    @property
    def mb_per_replica(self) -> float | None:
        return None if self.peak_rss_mb is None else self.peak_rss_mb / self.replicas


def over_repeats(label: str, searches: Sequence[StackCapacity]) -> Capacity:
    """The median capacity, req/s per core, CPU and memory of one stack's searches, with the intervals."""
    found = [s for s in searches if s.rate is not None]
    cores = [s.cores for s in found if s.cores is not None]
    rss = [s.peak_rss_mb for s in found if s.peak_rss_mb is not None]
    return Capacity(label, tuple(searches), Spread.of([s.rate for s in found if s.rate is not None]),
                    Spread.of([c for s in found if (c := s.rps_per_core) is not None]),
                    statistics.median(cores) if cores else None,
                    statistics.median(rss) if rss else None)  # fmt: skip


def repeated(label: str, steps: Sequence[Measurement], plan: Plan, ceiling: float | None = None,
             slo: slo_lib.Slo | None = None) -> Capacity:  # fmt: skip
    """One stack's recorded steps (every repeat) -> each search's capacity, then their median and interval."""
    repeats = sorted({m.repeat for m in steps})
    return over_repeats(label, [capacity_of(label, [m for m in steps if m.repeat == r], plan, ceiling, slo)
                                for r in repeats])  # fmt: skip


# --- sizing: what to deploy for a target rate ---------------------------------------------------------


@dataclass(frozen=True)
class Sizing:
    """What one stack needs for a target rate, assuming its capacity scales linearly with cores."""

    label: str
    target_rps: float
    cores: int | None  # ceil(target / median req/s per core); None: no capacity or no CPU measured
    replicas: int | None  # ceil(target / median capacity): copies of the deployment as measured
    memory_mb: float | None  # replicas x median peak memory at capacity
    lower_bound: bool  # built on a capacity that is only a lower bound: the cores are an upper bound
    why_none: str = ""
    cores_low: int | None = None  # the cores at the top of the req/s-per-core interval; None: one repeat
    cores_high: int | None = None  # at its bottom

    def cores_said(self) -> str:
        """`3 cores [3-4]`, `1 core` (one repeat), `3 cores [3-3]` (no spread)."""
        if self.cores is None:
            return "-"
        said = f"{self.cores} core{'s' if self.cores != 1 else ''}"
        return said + (f" [{self.cores_low}-{self.cores_high}]" if self.cores_low is not None else "")


def _cores(target_rps: float, per_core: float) -> int:
    return math.ceil(target_rps / per_core - 1e-9)  # exactly 2.0 cores is 2, not 3


def size(found: Capacity, target_rps: float) -> Sizing:
    """Cores = ceil(target / req/s per core) (the interval's ends likewise); replicas = ceil(target / capacity);
    memory = replicas x peak RSS, all at the medians over repeats."""
    rate, per_core = found.rate, found.per_core
    if rate is None:
        return Sizing(found.label, target_rps, None, None, None, False, "no rate met the SLO")
    if per_core is None:
        return Sizing(found.label, target_rps, None, None, None, False, "its CPU was not measured")
    replicas = math.ceil(target_rps / rate.median - 1e-9)
    memory = None if found.peak_rss_mb is None else replicas * found.peak_rss_mb
    low = None if per_core.high is None else _cores(target_rps, per_core.high)
    high = None if per_core.low is None else _cores(target_rps, per_core.low)
    return Sizing(found.label, target_rps, _cores(target_rps, per_core.median), replicas, memory,
                  found.lower_bound is not None, cores_low=low, cores_high=high)  # fmt: skip


def ranked(capacities: Sequence[Capacity], target_rps: float) -> list[Sizing]:
    """Every stack's sizing, fewest cores first (then least memory); stacks without one last."""
    sized = [size(c, target_rps) for c in capacities]
    return sorted(sized, key=lambda s: (s.cores is None, s.cores or 0, s.memory_mb or 0.0))
