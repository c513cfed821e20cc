"""Service level objectives: `--slo "p99<100ms,errors<1%,rps>500"`, parsed strictly, then judged.

An SLO is objectives separated by commas, each FIGURE OP VALUE (spaces around the parts allowed):

  avg p50 p90 p95 p99 p99.9 max   response time; a unit is required: ms or s
  errors                          % of requests without a successful answer; unit %
  rps                             requests answered per second; a plain number
  OP                              <  <=  >  >=

Each figure at most once. Anything else (an unknown figure, unit or operator, a missing unit, a
value that is not a number) is a ConfigError naming what is wrong and listing what is valid,
raised before anything starts.

What a figure means follows the run's own figures (bench/record.py): under the open model (an
arrival rate) latency is timed from when each request was *due* (`corrected`, so the waiting an
overloaded stack imposes counts) and `errors` counts every due request that got no successful
answer (failed, unanswered or never sent); under the closed model they are the plain latency
and failed / answered requests.

Judging (the verdicts are run.json's `slo`, bench/results.py):
- stacks side by side (`bench all`/`stack`): a label passes when the *median* over its ok
  repeats meets every objective; repeats that missed an objective on their own are listed
  but do not fail it. A label with no ok repeat fails.
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
        """The figure of bench/summary.py's registry this objective judges: under the open model latency is
        timed from when each request was due; errors has one definition there (`error_pct`)."""
        if self.figure == "rps":
            return "figures.rps"
        if self.figure == "errors":
            return "figures.error_pct"
        return f"{'corrected' if open_model else 'latency'}.{LATENCY[self.figure]}"

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
    """One label's repeats: each objective on the median over the ok repeats, the repeats that missed listed."""
    ok = [m for m in measurements if m.ok and m.figures is not None]
    found = []
    for o in slo.objectives:
        values = {m.repeat: v for m in ok if (v := o.value_of(m)) is not None}
        spread = Spread.of(values.values())  # the median the summary's tables show
        middle = spread.mid if spread else None
        missed = sorted(r for r, v in values.items() if not o.met(v))
        found.append(ObjectiveVerdict(o.text, o.unit, _rounded(middle), middle is not None and o.met(middle), missed))
    return SloVerdict(label, bool(ok) and all(v.met for v in found), found, repeats=len(ok))


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
    """`flask: passed` or `flask: FAILED (p99 120.30 ms, not <100ms)`, for the terminal."""
    if v.passed:
        return f"{v.label}: passed" + (f" (sustainable up to {v.sustainable:g})" if v.sustainable else "")
    if not v.repeats:
        return f"{v.label}: FAILED (no successful measurement)"
    return f"{v.label}: FAILED ({'; '.join(miss(o.objective, o.value, o.unit) for o in v.objectives if not o.met)})"


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
