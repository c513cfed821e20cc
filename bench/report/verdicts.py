"""Verdicts in words: "1.42x slower (95 % CI 1.21-1.66; 7.40 vs 5.21 ms)" or "not significant".

bench/stats.py decides (ratio, interval, significance); this module only words it.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from bench import stats
from bench.record import Figures, Latency
from bench.results import Measurement


@dataclass(frozen=True)
class Figure:
    """A figure a verdict can be given on: what it is called, its unit, which way is better, how to read it."""

    words: str
    unit: str
    lower_is_better: bool
    read: Callable[[Figures], float | None]


def _latency(name: str, due: bool = False) -> Callable[[Figures], float | None]:
    return lambda f: getattr(f.corrected if due else f.latency, name)


FIGURES: dict[str, Figure] = {  # every latency figure the record has (a new percentile appears by itself)
    "avg": Figure("average response time", "ms", True, _latency("avg_ms")),
    **{n.removesuffix("_ms").replace("_", "."): Figure(n.removesuffix("_ms").replace("_", "."), "ms", True,
                                                       _latency(n)) for n in Latency.percentile_fields()},
    "rps": Figure("throughput", "req/s", False, lambda f: f.rps),
    # the open model: timed from when each request was due, so an overloaded stack's queue counts
    "due p50": Figure("p50 from due", "ms", True, _latency("p50_ms", due=True)),
    "due p99": Figure("p99 from due", "ms", True, _latency("p99_ms", due=True)),
}  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """One figure of one label against the baseline's."""

    figure: str
    base: float  # geometric mean of the baseline's repeats (the ratio is of these)
    other: float
    unit: str
    lower_is_better: bool
    ratio: stats.Ratio

    @property
    def better(self) -> bool:
        return (self.ratio.ratio < 1) == self.lower_is_better

    def word(self) -> str:
        """faster / slower, higher / lower, or not significant."""
        if not self.ratio.significant:
            return "not significant"
        words = ("faster", "slower") if self.lower_is_better else ("higher", "lower")
        return words[0] if self.better else words[1]

    def factor(self) -> tuple[float, float | None, float | None]:
        """The ratio as "N x" (N >= 1, interval turned the same way)."""
        r = self.ratio
        if r.ratio >= 1:
            return r.ratio, r.low, r.high
        return 1 / r.ratio, 1 / r.high if r.high else None, 1 / r.low if r.low else None

    def change(self) -> str:
        """`1.42x slower` (which way the estimate points, significant or not)."""
        n = self.factor()[0]
        if f"{n:.2f}" == "1.00":
            return "1.00x (no change)"
        direction = ("slower" if self.ratio.ratio > 1 else "faster") if self.lower_is_better else (
            "higher" if self.ratio.ratio > 1 else "lower")  # fmt: skip
        return f"{n:.2f}x {direction}"

    def interval(self) -> str | None:
        """`1.21-1.66`, turned the way `change` is; `no spread in 3 repeats`; None with one repeat."""
        _, low, high = self.factor()
        if low is None or high is None:
            return None
        return f"no spread in {self.ratio.n} repeats" if self.ratio.no_spread else f"{low:.2f}-{high:.2f}"

    def shown(self, value: float) -> str:
        return ("{:.2f}" if self.unit == "ms" else "{:.0f}").format(value)

    def text(self) -> str:
        figures = f"{self.shown(self.other)} vs {self.shown(self.base)} {self.unit}"
        ci = self.interval()
        interval = self.ratio.interval() if ci is None or self.ratio.no_spread else f"95 % CI {ci}"
        if not self.ratio.significant:
            return f"{self.figure} not significant ({self.change()}, {interval}; {figures})"
        return f"{self.figure} {self.change()} ({interval}; {figures})"


def value(m: Measurement, figure: str) -> float | None:
    return FIGURES[figure].read(m.figures) if m.figures is not None else None


def verdict(figure: str, base: list[Measurement], other: list[Measurement], interleaved: bool) -> Verdict | None:
    """`other`'s repeats against `base`'s for one figure; None when either has no value."""
    # a ratio needs positive values on both sides (an open-model p50 of 0 would have none)
    a = {m.repeat: v for m in base if m.ok and (v := value(m, figure)) is not None and v > 0}
    b = {m.repeat: v for m in other if m.ok and (v := value(m, figure)) is not None and v > 0}
    if not a or not b:
        return None
    ratio = stats.compare(a, b, interleaved)
    if ratio is None:
        return None
    f = FIGURES[figure]
    return Verdict(f.words, statistics.geometric_mean(a.values()), statistics.geometric_mean(b.values()), f.unit,
                   f.lower_is_better, ratio)  # fmt: skip
