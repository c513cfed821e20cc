"""Service level objectives: `--slo "p99<100ms,errors<1%,rps>500"`, parsed strictly, then judged.

An SLO is objectives separated by commas, each FIGURE OP VALUE (spaces around the parts allowed):

  avg p50 p90 p95 p99 p99.9 max   response time; a unit is required: ms or s
  errors                          % of requests without a successful answer; unit %
  rps                             successful answers per second; a plain number
  OP                              <  <=  >  >=

Each figure at most once. Anything else (an unknown figure, unit or operator, a missing unit, a
value that is not a number) is a ConfigError naming what is wrong and listing what is valid,
raised before anything starts.

Every figure is read from bench/analysis/summary.py's registry, and latency and rps count successful
answers only (a failure answered in 1 ms must not make a stack look fast); errors are their own
figure, with one definition: failed + unanswered / requests + unanswered slots. Under the open
model (an arrival rate) latency is timed from when each request was *due* (`ok_corrected`, so the
waiting an overloaded stack imposes counts) and `errors` counts every due request that got no
successful answer (failed, unanswered or never sent); under the closed model latency is timed
from the send and errors are failed / answered requests.

Judging (the verdicts are run.json's `slo`, bench/results.py):
- stacks side by side (`bench all`/`stack`): a label passes when a *majority* of its repeats
  each met every objective (one repeat: it; two: both; three: two of them); a repeat that failed
  to measure (or whose requests mostly failed) counts as one that met nothing. A label cannot pass on
  medians alone: p99 40 and 150 ms in two repeats have a median of 95 ms, yet one repeat missed
  `p99<100ms`, so the label fails. Each objective still shows its median over the ok repeats as
  its figure, and lists the repeats that missed it with their own values. A label with no ok
  repeat fails.
- a sweep: a step meets the SLO when its one measurement meets every objective. An upper
  bound missed (`<`, `<=`: what more load makes worse) ends the sweep's climb; a lower bound
  (`rps>500`) may still be met at a higher load, so it does not. A stack passes when some step
  met the SLO; the highest such load is its *sustainable* load.

Standard library and bench's data modules only: the CLI checks --slo before anything starts.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.analysis.summary import Spread, figure
from bench.errors import ConfigError
from bench.load.record import Latency
from bench.results import Measurement, ObjectiveVerdict, SloVerdict

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip
# figure name as typed -> the Latency field it reads (a new percentile field appears here by itself)
LATENCY = {name.removesuffix("_ms").replace("_", "."): name for name in ("avg_ms", *Latency.percentile_fields(),
                                                                        "max_ms")}  # fmt: skip
LATENCY_UNITS = {"ms": 1.0, "s": 1000.0}  # -> ms
FIGURES = (*LATENCY, "errors", "rps")
EXAMPLE = 'e.g. --slo "p99<100ms,errors<1%,rps>500"'
_ITEM = re.compile(r"^([A-Za-z][\w.]*)\s*([<>=!~]+)\s*(.*)$")
_VALUE = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*(\S*)$")


@dataclass(frozen=True)
class Objective:
    """One objective: a figure, a comparison and a threshold in the figure's unit (ms, %, req/s)."""

    figure: str  # "p99", "errors", "rps"
    op: str  # "<", "<=", ">", ">="
    threshold: float  # ms for latency (0.1s -> 100.0), % for errors, req/s for rps
    text: str  # as given, spaces removed: "p99<0.1s"

    @property
    def unit(self) -> str:
        return "ms" if self.figure in LATENCY else "%" if self.figure == "errors" else "req/s"

    @property
    def upper_bound(self) -> bool:
        """`<`/`<=`: more load can only make it worse, so a sweep stops climbing when it is missed."""
        return self.op in ("<", "<=")

    def met(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.threshold)

    def key(self, open_model: bool) -> str:
        """The figure of bench/analysis/summary.py's registry this objective judges: successful answers only (under the
        open model timed from when each was due); errors has one definition there (`error_pct`)."""
        if self.figure == "rps":
            return "figures.ok_rps"
        if self.figure == "errors":
            return "figures.error_pct"
        return f"{'ok_corrected' if open_model else 'ok_latency'}.{LATENCY[self.figure]}"

    def value_of(self, m: Measurement) -> float | None:
        """This objective's figure in one measurement; None when it has none."""
        if m.figures is None:
            return None
        return figure(self.key(bool(m.figures.slots))).read(m)


@dataclass(frozen=True)
class Slo:
    """Every objective of one --slo."""

    objectives: tuple[Objective, ...]

    @property
    def text(self) -> str:
        return ",".join(o.text for o in self.objectives)


def parse(text: str, flag: str = "--slo") -> Slo:
    """`p99<100ms,errors<1%,rps>500` -> an Slo; anything malformed is a one-line ConfigError."""
    if not text or not text.strip():
        raise ConfigError(f"{flag}: no objective given", tip=EXAMPLE)
    objectives = [_objective(item.strip(), text, flag) for item in text.split(",")]
    seen: dict[str, Objective] = {}
    for o in objectives:
        if o.figure in seen:
            raise ConfigError(f"{flag}: {o.figure} is given twice ({seen[o.figure].text!r} and {o.text!r})",
                              tip="give each figure once")  # fmt: skip
        seen[o.figure] = o
    return Slo(tuple(objectives))


def _objective(item: str, whole: str, flag: str) -> Objective:
    if not item:
        raise ConfigError(f"{flag}: an empty objective in {whole!r}", tip=EXAMPLE)
    match = _ITEM.match(item)
    if not match:
        raise ConfigError(f"{flag}: cannot read {item!r} as FIGURE OP VALUE; figures: {', '.join(FIGURES)}; "
                          f"operators: {', '.join(OPERATORS)}", tip=EXAMPLE)  # fmt: skip
    figure, op, rest = match.groups()
    if figure not in FIGURES:
        raise ConfigError(f"{flag}: unknown figure {figure!r} in {item!r}; figures: {', '.join(FIGURES)}", tip=EXAMPLE)
    if op not in OPERATORS:
        raise ConfigError(f"{flag}: unknown operator {op!r} in {item!r}; operators: {', '.join(OPERATORS)}",
                          tip=EXAMPLE)  # fmt: skip
    value = _VALUE.match(rest.strip())
    if not value:
        raise ConfigError(f"{flag}: cannot read {rest.strip()!r} as a number in {item!r}", tip=EXAMPLE)
    threshold = _in_unit(figure, float(value.group(1)), value.group(2), item, flag)
    return Objective(figure, op, threshold, re.sub(r"\s+", "", item))


def _in_unit(figure: str, number: float, unit: str, item: str, flag: str) -> float:
    """The threshold in the figure's own unit; the unit must be one the figure takes."""
    if figure in LATENCY:
        valid, scale = "ms or s", LATENCY_UNITS.get(unit)
    elif figure == "errors":
        valid, scale = "%", 1.0 if unit == "%" else None
    else:
        valid, scale = "a plain number (req/s)", 1.0 if unit == "" else None
    if scale is None:
        what = f"needs a unit in {item!r}" if not unit else f"does not take the unit {unit!r} in {item!r}"
        raise ConfigError(f"{flag}: {figure} {what}; {figure} takes {valid}", tip=EXAMPLE)
    if figure == "errors" and number > 100:
        raise ConfigError(f"{flag}: errors is a share of the requests, 0 to 100 %, got {item!r}", tip=EXAMPLE)
    return number * scale


# --- judging --------------------------------------------------------------------------------


def judge(slo: Slo, label: str, measurements: Sequence[Measurement]) -> SloVerdict:
    """One label's repeats: passed when a majority of the ok repeats (two: both) each met every objective;
    each objective shows its median over the ok repeats and the repeats that missed it, with their values."""
    judged = [m for m in measurements if m.status != "interrupted"]  # Ctrl-C's repeat says nothing either way
    ok = [m for m in judged if m.ok and m.figures is not None]
    not_measured = sorted(m.repeat for m in judged if not (m.ok and m.figures is not None))
    needed = len(judged) // 2 + 1  # a repeat that failed counts as one that met nothing
    met_by = [m.repeat for m in ok if not missed(slo, m)]
    found = []
    for o in slo.objectives:
        values = {m.repeat: o.value_of(m) for m in ok}
        spread = Spread.of(values.values())  # the median the summary's tables show
        misses = sorted(r for r, v in values.items() if v is None or not o.met(v))
        met = bool(ok) and len(ok) - len(misses) >= needed
        found.append(ObjectiveVerdict(o.text, o.unit, _rounded(spread.mid if spread else None), met, misses,
                                      [_rounded(values[r]) for r in misses]))  # fmt: skip
    return SloVerdict(label, bool(ok) and len(met_by) >= needed, found, repeats=len(judged), met_by=met_by,
                      needed=needed if ok else 0, not_measured=not_measured)  # fmt: skip


def missed(slo: Slo, m: Measurement) -> list[Objective]:
    """The objectives one measurement missed (every one when it has no figures)."""
    if not m.ok or m.figures is None:
        return list(slo.objectives)
    return [o for o in slo.objectives if (v := o.value_of(m)) is None or not o.met(v)]


def words(o: Objective, m: Measurement) -> str:
    """`p99 120.30 ms, not <100ms`: one measurement's figure against the objective it missed."""
    return miss(o.text, o.value_of(m), o.unit)


def miss(objective: str, value: float | None, unit: str) -> str:
    """`p99 120.30 ms, not <100ms` (`p99 no value, ...` when it was not measured)."""
    match = _ITEM.match(objective)
    figure, bound = (match.group(1), objective[len(match.group(1)):]) if match else (objective, "")
    shown = "no value" if value is None else f"{value:.2f} {unit}"
    return f"{figure} {shown}, not {bound}"


def judge_sweep(slo: Slo, label: str, steps: Sequence[Measurement]) -> SloVerdict:
    """A stack's sweep: passed when a step met the SLO; the objectives as judged at the sustainable step
    (or, when none met it, at the lowest load measured, to show why)."""
    ok = sorted((m for m in steps if m.ok and m.step), key=lambda m: m.step.load if m.step else 0.0)
    best = next((m for m in reversed(ok) if m.step and m.step.sustainable), None)
    shown = best or (ok[0] if ok else None)
    found = []
    for o in slo.objectives:
        v = o.value_of(shown) if shown else None
        found.append(ObjectiveVerdict(o.text, o.unit, _rounded(v), v is not None and o.met(v)))
    load = best.step.load if best and best.step else None
    return SloVerdict(label, best is not None, found, repeats=len(ok), sustainable=load)


def line(v: SloVerdict) -> str:
    """`flask: passed: 2 of 3 repeats met every objective; repeat 2 missed p99<100ms (150.00 ms)`, or
    `flask: FAILED: ...`, for the terminal and the summary."""
    if v.met_by is not None:
        return f"{v.label}: {'passed' if v.passed else 'FAILED'}: {repeats_said(v)}"
    if v.passed:
        return f"{v.label}: passed" + (f" (sustainable up to {v.sustainable:g})" if v.sustainable else "")
    if not v.repeats:
        return f"{v.label}: FAILED (no successful measurement)"
    return f"{v.label}: FAILED ({'; '.join(miss(o.objective, o.value, o.unit) for o in v.objectives if not o.met)})"


def repeats_said(v: SloVerdict) -> str:
    """`1 of 2 repeats met every objective (needs both); repeat 2 missed p99<100ms (150.00 ms)`: how many ok
    repeats met every objective, what passing needs when it failed, and what each other repeat missed."""
    if not v.repeats or len(v.not_measured) == v.repeats:
        return "no successful measurement"
    if v.met_by is None:  # judged before run.json 5: on each objective's median, not repeat by repeat
        return f"judged on each objective's median over {v.repeats} repeat{'s' if v.repeats > 1 else ''}"
    met = v.met_by
    text = f"{len(met)} of {v.repeats} repeat{'s' if v.repeats > 1 else ''} met every objective"
    if not v.passed:
        text += f" (needs {'both' if v.repeats == 2 else 'it' if v.repeats == 1 else v.needed})"
    by_repeat: dict[int, list[str]] = {}
    for o in v.objectives:
        for repeat, value in zip(o.missed_in, o.missed_values or [None] * len(o.missed_in), strict=True):
            shown = "" if value is None else f" ({value:.2f} {o.unit})"  # a file before 5 kept no value
            by_repeat.setdefault(repeat, []).append(f"{o.objective}{shown}")
    said = [f"repeat {r} missed {', '.join(by_repeat[r])}" for r in sorted(by_repeat)]
    said += [f"repeat {r} failed (not measured: counts as missing every objective)" for r in v.not_measured]
    return "; ".join([text, *said])


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
