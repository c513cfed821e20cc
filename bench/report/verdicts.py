"""Verdicts in words: "1.42x slower (95 % CI 1.21-1.66; 7.40 vs 5.21 ms)" or "not significant".

bench/stats.py decides (ratio, interval, significance); this module only words it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench import stats
from bench.results import Measurement

FIGURES = {  # name -> (what it is called, unit, lower is better)
    "avg": ("average response time", "ms", True),
    "p99": ("p99", "ms", True),
    "rps": ("throughput", "req/s", False),
}


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

    def text(self) -> str:
        n, low, high = self.factor()
        fmt = "{:.2f}" if self.unit == "ms" else "{:.0f}"
        figures = f"{fmt.format(self.other)} vs {fmt.format(self.base)} {self.unit}"
        interval = "no interval: one repeat" if low is None or high is None else f"95 % CI {low:.2f}-{high:.2f}"
        direction = ("slower" if self.ratio.ratio > 1 else "faster") if self.lower_is_better else (
            "higher" if self.ratio.ratio > 1 else "lower")  # fmt: skip
        if not self.ratio.significant:
            return f"{self.figure} not significant ({n:.2f}x {direction}, {interval}; {figures})"
        return f"{self.figure} {n:.2f}x {direction} ({interval}; {figures})"


def value(m: Measurement, figure: str) -> float | None:
    if m.figures is None:
        return None
    if figure == "rps":
        return m.figures.rps
    return m.latency.avg_ms if figure == "avg" else m.latency.p99_ms


def verdict(figure: str, base: list[Measurement], other: list[Measurement], interleaved: bool) -> Verdict | None:
    """`other`'s repeats against `base`'s for one figure; None when either has no value."""
    a = {m.repeat: v for m in base if m.ok and (v := value(m, figure)) is not None}
    b = {m.repeat: v for m in other if m.ok and (v := value(m, figure)) is not None}
    ratio = stats.compare(a, b, interleaved)
    if ratio is None:
        return None
    name, unit, lower = FIGURES[figure]
    return Verdict(name, statistics.geometric_mean(a.values()), statistics.geometric_mean(b.values()), unit, lower,
                   ratio)  # fmt: skip
