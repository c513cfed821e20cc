"""Every figure the lab reports, owned once: a registry of how each is read from a measurement, and
the summary of each label's repeats built from it (as hyperfine's `BenchmarkResult`, pyperf's
`Benchmark`).

- `FIGURES`: figure key -> `Figure` (its results.csv column, table heading, format, and for a
  verdict its words, unit and which way is better). A key is the tidy column name
  (`latency.p99_ms`, `figures.rps`, `usage.requests_per_cpu_s`); families the record holds by
  name (`envoy.<counter>`, `status_codes.<code>`, `counts.<name>`) are read by `figure(key)`
  without an entry each. A *derived* figure is computed from others (requests per CPU-second,
  errors %, app 5xx, ...); adding one is one `register(Figure(...))`: results.csv, run.json's
  `summary`, the report's tables and `bench compare` all list the registry.
- `summarize(run)` groups the run's measurements by role and label once, in the order labels
  first appear, into `LabelSummary`s: every repeat, the ok repeats, and per figure its values by
  repeat (ok repeats only) and their `Spread`: median [min-max], computed here and nowhere else.
  Tables, charts, verdicts, the SLO, compare, results.csv and report.html read these.

Standard library and bench's data modules only (the CLI and the SLO judge import it); results.py
imports it to write run.json's `summary`, so bench.results is imported here for types only.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.load.record import Figures, Latency
from bench.sampling import envoy

if TYPE_CHECKING:
    from bench.results import Measurement, RunResult

Read = Callable[["Measurement"], float | None]


@dataclass(frozen=True)
class Figure:
    """One figure: where it lives, how it is printed and, when a verdict can be given on it, how to word it."""

    key: str  # results.csv column and run.json summary key: "latency.p99_ms"
    heading: str  # table heading: "p99 ms"
    fmt: str  # "{:.2f}"
    read: Read
    name: str = ""  # short name verdicts, the SLO and compare use: "p99", "avg", "rps"; "" none
    words: str = ""  # in a verdict: "average response time"
    unit: str = ""  # ms | req/s | % | ...
    lower_is_better: bool | None = None  # None: no verdict on it (a count, a setting)
    derived: bool = False  # computed from other figures: written to results.csv from here
    listed: bool = True  # a derived figure the stack comparison's second table lists (not a gateway-only count)
    compared: bool = False  # `bench compare` gives a verdict on it (closed and open models)
    open_only: bool = False  # only meaningful under the open model (`bench compare` skips it otherwise)


FIGURES: dict[str, Figure] = {}


def register(figure: Figure) -> Figure:
    """Add (or replace) a figure; it appears in results.csv, run.json's summary and compare by this alone."""
    FIGURES[figure.key] = figure
    return figure


def by_name(name: str) -> Figure:
    """The figure a verdict or an SLO names ("p99", "due p99", "rps", "errors"); KeyError for an unknown one."""
    for f in FIGURES.values():
        if f.name == name:
            return f
    raise KeyError(f"no figure named {name!r}; known: {', '.join(f.name for f in FIGURES.values() if f.name)}")


def figure(key: str) -> Figure:
    """A registered figure, or one of the record's named families: envoy.<counter> (summed over clusters
    and listeners), status_codes.<code>, warmup_status_codes.<code>, counts.<name>."""
    if key in FIGURES:
        return FIGURES[key]
    family, _, name = key.partition(".")
    reads: dict[str, Read] = {
        "envoy": lambda m: float(envoy.change(m.envoy, name)) if _has_counter(m, name) else None,
        "status_codes": lambda m: float(m.figures.status_codes.get(name, 0)) if m.figures else None,
        "warmup_status_codes": lambda m: float(m.figures.warmup_status_codes.get(name, 0)) if m.figures else None,
        "counts": lambda m: float(m.counts[name]) if name in m.counts else None,
    }
    if family not in reads or not name:
        raise KeyError(f"no figure {key!r}")
    return Figure(key, name, "{:.0f}", reads[family])


def _has_counter(m: Measurement, counter: str) -> bool:
    """Envoy reported this counter in some cluster or listener (absent: no value, not zero)."""
    return any((found := envoy.split(name)) is not None and found[1] == counter for name in m.envoy)


# --- the registry -----------------------------------------------------------------------------------


def _on(pick: Callable[[Figures], Any]) -> Read:
    """A figure of the record (None when the measurement has no figures or the value is missing)."""
    return lambda m: None if m.figures is None or (v := pick(m.figures)) is None else float(v)


def _latency_name(field_name: str) -> str:
    """`p99_9_ms` -> `p99.9`, `avg_ms` -> `avg`."""
    return field_name.removesuffix("_ms").replace("_", ".")


def ok_latency(f: Figures) -> Latency:
    """The successful answers' latency, timed from the send: what every verdict, the SLO and the sweep judge
    (a failure answered in 1 ms must not make a stack look fast). Without failures it is every answer's, whose
    average is exact in files before version 5 too (they kept no average of the successful answers)."""
    return f.latency if f.failures == 0 else f.ok_latency


def ok_due_latency(f: Figures) -> Latency | None:
    """The open model's successful answers timed from when each was due (None under the closed model). With
    every due slot answered successfully it is every slot's (exact in files before version 5 too)."""
    if not f.slots:
        return None
    return f.corrected if f.failures == 0 and f.unfinished + f.unsent == 0 else f.ok_corrected


def ok_rps(f: Figures) -> float:
    """Successful answers per second of the measured window: the throughput verdicts and the sweep judge."""
    return f.rps * (f.requests - f.failures) / f.requests if f.requests else 0.0


def _latency(field_name: str) -> Figure:
    """Every answer, failures included, timed from the send: shown, never judged."""
    name = _latency_name(field_name)
    return Figure(f"latency.{field_name}", f"{name} ms (all answers)", "{:.1f}" if field_name == "max_ms"
                  else "{:.2f}", _on(lambda f: getattr(f.latency, field_name)), name=f"all {name}")  # fmt: skip


def _ok_latency(field_name: str) -> Figure:
    """The successful answers only, timed from the send: the figure verdicts and the SLO are judged on."""
    name = _latency_name(field_name)
    return Figure(f"ok_latency.{field_name}", f"{name} ms", "{:.1f}" if field_name == "max_ms" else "{:.2f}",
                  _on(lambda f: getattr(ok_latency(f), field_name)), name=name,
                  words="average response time" if name == "avg" else name, unit="ms", lower_is_better=True,
                  compared=field_name != "max_ms")  # fmt: skip


def _due(field_name: str) -> Figure:
    """Under the open model: every slot due, answered or not, failed or not, timed from when it was due; shown
    (the breaker's waiting), never judged."""
    name = _latency_name(field_name)
    return Figure(f"corrected.{field_name}", f"{name} ms from due", "{:.1f}",
                  _on(lambda f: getattr(f.corrected, field_name) if f.slots else None),
                  name=f"all due {name}")  # fmt: skip


def _ok_due(field_name: str) -> Figure:
    """Under the open model: the successful answers timed from when each was due, so an overloaded stack's queue
    counts; unanswered and failed slots are the errors figure's."""
    name = _latency_name(field_name)
    return Figure(f"ok_corrected.{field_name}", f"{name} ms from due (ok)", "{:.1f}",
                  _on(lambda f: None if (due := ok_due_latency(f)) is None else getattr(due, field_name)),
                  name=f"due {name}", words=f"{name} from due", unit="ms", lower_is_better=True,
                  compared=field_name in ("avg_ms", "p50_ms", "p99_ms"), open_only=True)  # fmt: skip


def _usage(pick: Callable[[Any], float | None]) -> Read:
    return lambda m: None if m.usage is None else pick(m.usage)


def error_pct(m: Measurement) -> float | None:
    """The one definition of errors: (failed + unanswered) / (requests + unanswered slots), in %: requests
    without a successful answer of those that should have had one. Open model: every due slot that got none
    (failed, unanswered or never sent; slots == requests + unfinished + unsent) of the slots due; closed model
    (no slots: a user waits for its answer): failed of answered requests."""
    f = m.figures
    if f is None:
        return None
    if f.slots:
        return 100 * (f.slots - (f.requests - f.failures)) / f.slots
    return 100 * f.failures / f.requests if f.requests else None


def _success_pct(m: Measurement) -> float | None:
    errors = error_pct(m)
    return None if errors is None else 100 - errors


def _requests_per_cpu_s(m: Measurement) -> float | None:
    """Successful answers the stack served per second of its CPU (all its processes): what a request costs in
    cores (a failure answered fast would make it look cheap)."""
    if m.usage is None or m.figures is None or m.usage.cpu_seconds <= 0:
        return None
    return (m.figures.requests - m.figures.failures) / m.usage.cpu_seconds


def _app_5xx(m: Measurement) -> float | None:
    """5xx answers the app (or a proxy) made: every 5xx but the breaker's fast 503s."""
    if m.figures is None:
        return None
    return float(sum(n for code, n in m.figures.status_codes.items() if code.startswith("5")) - m.figures.overloaded)


def _whole(pick: Callable[[Figures], int]) -> Read:
    """A client count over the whole load, warmup included, as Envoy's counters run."""
    return lambda m: None if m.figures is None else float(pick(m.figures))


def _whole_code(code: str) -> Read:
    return _whole(lambda f: f.status_codes.get(code, 0) + f.warmup_status_codes.get(code, 0))


for _f in (
    *(_ok_latency(n) for n in ("avg_ms", *Latency.percentile_fields(), "max_ms")),
    *(_ok_due(n) for n in ("avg_ms", *Latency.percentile_fields(), "max_ms")),
    *(_latency(n) for n in ("avg_ms", *Latency.percentile_fields(), "max_ms")),
    *(_due(n) for n in ("avg_ms", *Latency.percentile_fields(), "max_ms")),
    Figure("figures.ok_rps", "req/s", "{:.0f}", _on(ok_rps), name="rps", words="throughput", unit="req/s",
           lower_is_better=False, derived=True, listed=False, compared=True),
    Figure("figures.rps", "answers/s (all)", "{:.0f}", _on(lambda f: f.rps), name="all rps"),
    Figure("figures.requests", "requests", "{:.0f}", _on(lambda f: f.requests), name="requests"),
    Figure("figures.failures", "failures", "{:.0f}", _on(lambda f: f.failures), name="failures"),
    Figure("figures.offered_rps", "offered req/s", "{:.0f}", _on(lambda f: f.offered_rps)),
    Figure("figures.slots", "slots due", "{:.0f}", _on(lambda f: f.slots if f.slots else None)),
    Figure("figures.unfinished", "unanswered at end", "{:.0f}", _on(lambda f: f.unfinished)),
    Figure("figures.overloaded", "503 by breaker", "{:.0f}", _on(lambda f: f.overloaded)),
    Figure("figures.late", "late slots", "{:.0f}", _on(lambda f: f.late)),
    Figure("figures.peak_in_flight", "peak in flight", "{:.0f}", _on(lambda f: f.peak_in_flight)),
    Figure("figures.request_ids", "answers with x-request-id", "{:.0f}", _on(lambda f: f.request_ids)),
    Figure("figures.generator_cpu_percent", "locust CPU %", "{:.0f}", _on(lambda f: f.generator_cpu_percent)),
    Figure("usage.cpu_percent", "stack CPU %", "{:.0f}", _usage(lambda u: u.cpu_percent), name="stack cpu",
           words="stack CPU", unit="%", lower_is_better=True),
    Figure("usage.peak_rss_mb", "peak RSS MB", "{:.0f}", _usage(lambda u: u.peak_rss_mb), name="peak rss",
           words="peak memory", unit="MB", lower_is_better=True),
    Figure("time_wait", "TIME_WAIT", "{:.0f}", lambda m: None if m.time_wait is None else float(m.time_wait)),
    # derived: computed from the figures above, written to results.csv and run.json from here
    Figure("usage.requests_per_cpu_s", "req per CPU-s", "{:.0f}", _requests_per_cpu_s, name="req per cpu-s",
           words="requests per CPU-second", unit="req/CPU-s", lower_is_better=False, derived=True, compared=True),
    Figure("figures.error_pct", "errors %", "{:.2f}", error_pct, name="errors", words="errors", unit="%",
           derived=True),
    Figure("figures.success_pct", "ok %", "{:.2f}", _success_pct, name="success", derived=True, listed=False),
    Figure("figures.app_5xx", "app 5xx", "{:.0f}", _app_5xx, name="app 5xx", derived=True),
    Figure("whole.requests", "answers (whole load)", "{:.0f}", _whole(lambda f: f.requests + f.warmup_requests),
           derived=True, listed=False),
    Figure("whole.retried", "retried (clients, whole load)", "{:.0f}", _whole(lambda f: f.retried + f.warmup_retried),
           derived=True, listed=False),
    *(Figure(f"whole.{code}", f"{code} (clients, whole load)", "{:.0f}", _whole_code(code), derived=True,
             listed=False) for code in ("401", "403", "504")),
):  # fmt: skip
    register(_f)


# --- summaries ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """The median of some repeats and their min-max range: the one way a label's figure is summarised."""

    mid: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Spread | None:
        """Median and min-max of the values present (None and NaN are absent); None when there are none."""
        present = [v for v in values if v is not None and v == v]
        if not present:
            return None
        return cls(statistics.median(present), min(present), max(present), len(present))

    def cell(self, fmt: str) -> str:
        """`4.10 [3.90-4.40]`, or `4.10` with one repeat or when every repeat printed the same."""
        middle, low, high = fmt.format(self.mid), fmt.format(self.low), fmt.format(self.high)
        return middle if self.n == 1 or low == high else f"{middle} [{low}-{high}]"

    def to_json(self) -> dict[str, float | int]:
        return {"median": self.mid, "min": self.low, "max": self.high, "n": self.n}


@dataclass
class LabelSummary:
    """One label's repeats in one role: all of them, the ok ones, and each figure over the ok repeats."""

    label: str
    role: str
    repeats: list[Measurement]
    _values: dict[str, dict[int, float]] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> list[Measurement]:
        return [m for m in self.repeats if m.ok]

    def values(self, key: str) -> dict[int, float]:
        """Repeat -> this figure's value, over the ok repeats that have one (computed once)."""
        if key not in self._values:
            read = figure(key).read
            self._values[key] = {m.repeat: v for m in self.ok if (v := read(m)) is not None and v == v}
        return self._values[key]

    def spread(self, key: str) -> Spread | None:
        """Median [min-max] of this figure over the ok repeats."""
        return Spread.of(self.values(key).values())

    def cell(self, key: str, fmt: str | None = None) -> str:
        """The figure as a table cell (`-` when no ok repeat has it)."""
        s = self.spread(key)
        return "-" if s is None else s.cell(fmt or figure(key).fmt)

    def to_json(self) -> dict[str, Any]:
        spreads = {key: s.to_json() for key in FIGURES if (s := self.spread(key)) is not None}
        return {"label": self.label, "role": self.role, "repeats": [m.repeat for m in self.repeats],
                "ok_repeats": [m.repeat for m in self.ok], "figures": spreads}  # fmt: skip


@dataclass
class RunSummary:
    """Every label of a run, per role, built once from its measurements."""

    labels: list[LabelSummary]

    def of(self, *roles: str) -> dict[str, LabelSummary]:
        """label -> its summary in these roles (the first role that has it), labels in the order they first
        appear; a label in two of the roles asked is kept under the first one met."""
        found: dict[str, LabelSummary] = {}
        for s in self.labels:
            if s.role in roles:
                found.setdefault(s.label, s)
        return found

    def to_json(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.labels]


def summarize(run: RunResult) -> RunSummary:
    """Group the run's measurements by (role, label) once, labels in the order they first appear."""
    found: dict[tuple[str, str], LabelSummary] = {}
    for m in run.measurements:
        found.setdefault((m.role, m.label), LabelSummary(m.label, m.role, [])).repeats.append(m)
    return RunSummary(list(found.values()))


def group(label: str, measurements: Iterable[Measurement], role: str = "stack") -> LabelSummary:
    """A summary of measurements gathered some other way (a test, a sweep step's one measurement)."""
    return LabelSummary(label, role, list(measurements))
