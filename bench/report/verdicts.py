"""Verdicts in words: "1.42x slower (95 % CI 1.21-1.66; median 7.40 vs 5.21 ms)" or "not significant".

bench/analysis/stats.py decides (ratio, interval, significance); this module only words it. The figures shown
beside a verdict are the two labels' medians over the very repeats the ratio was computed from, the
same `Spread` the summary's tables print (bench/analysis/summary.py), so a reader sees one value per label.
The ratio itself is estimated on log values (the geometric mean of the pair ratios, or the ratio of
the geometric means), so it can differ from median / median by how skewed the repeats are. Repeats
are paired only when both labels have a value at the same repeats; otherwise (a failed repeat on
one side) all ok repeats of each are compared as independent samples, never a subset beside all.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.analysis import stats
from bench.analysis.summary import LabelSummary, Spread, by_name


@dataclass(frozen=True)
class Verdict:
    """One figure of one label against the baseline's."""

    figure: str
    base: float  # median of the baseline's repeats compared (the table's cell)
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
        figures = f"median {self.shown(self.other)} vs {self.shown(self.base)} {self.unit}"
        ci = self.interval()
        interval = self.ratio.interval() if ci is None or self.ratio.no_spread else f"95 % CI {ci}"
        if not self.ratio.significant:
            return f"{self.figure} not significant ({self.change()}, {interval}; {figures})"
        return f"{self.figure} {self.change()} ({interval}; {figures})"


def verdict(name: str, base: LabelSummary, other: LabelSummary, interleaved: bool) -> Verdict | None:
    """`other`'s ok repeats against `base`'s for one figure ("avg", "p99", "rps", "due p99", ...); None when
    either has no value, or a value a ratio cannot take (zero: an open-model p50 of 0)."""
    f = by_name(name)
    a, b = base.values(f.key), other.values(f.key)
    if not a or not b or min(*a.values(), *b.values()) <= 0 or f.lower_is_better is None:
        return None
    ratio = stats.compare(a, b, interleaved and set(a) == set(b))
    mid_a, mid_b = Spread.of(a.values()), Spread.of(b.values())
    if ratio is None or mid_a is None or mid_b is None:
        return None
    return Verdict(f.words, mid_a.mid, mid_b.mid, f.unit, f.lower_is_better, ratio)
