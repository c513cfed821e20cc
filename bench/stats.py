"""How sure a comparison is: a ratio with its 95 % interval, repeats as the unit.

- Two labels measured in one run, repeats interleaved (A1 B1 A2 B2 ...), are compared as
  *pairs*: repeat i of B against repeat i of A, taken minutes apart at most, so the machine's
  drift between repeats cancels. The ratio is the geometric mean of the pair ratios; its
  interval a Student t interval on the log ratios (n pairs, n - 1 degrees of freedom).
- Without pairs (two different runs, as `bench compare` has, or repeats that failed on one
  side), Welch's t interval on the difference of the mean log values.
- Why not a bootstrap: with the usual 3 repeats a bootstrap over repeats has 10 distinct
  resamples and understates the spread; the t interval is exact for log-normal noise and
  widens honestly when there are few repeats.
- A difference is *significant* when its interval excludes 1 and the ratio is at least
  MIN_EFFECT from 1 (pyperf's `--min-speed`): smaller differences are within what this
  machine moves between interleaved repeats anyway, and calling them would make an A/A check
  (one stack under two labels) fail more often than the 5 % a 95 % interval promises.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95
MIN_EFFECT = 0.03  # 3 %


@dataclass(frozen=True)
class Ratio:
    """`other / base` for one figure: the estimate, its interval, how it was computed."""

    ratio: float
    low: float | None  # None: one repeat, no interval
    high: float | None
    method: str  # "paired" | "welch" | "single"
    n: int  # pairs, or the smaller side's repeats

    @property
    def significant(self) -> bool:
        if self.low is None or self.high is None:
            return False
        excludes_one = self.low > 1 or self.high < 1
        return excludes_one and abs(math.log(self.ratio)) >= math.log(1 + MIN_EFFECT)

    def interval(self) -> str:
        """`[1.21-1.66]`, or `no interval` with one repeat."""
        if self.low is None or self.high is None:
            return "no interval: one repeat"
        return f"95 % CI {self.low:.2f}-{self.high:.2f}"


def t_quantile(df: float, confidence: float = CONFIDENCE) -> float:
    """The two-sided Student t critical value."""
    from scipy.special import stdtrit  # the report's only scipy need; loaded when a comparison is made

    return float(stdtrit(df, 0.5 + confidence / 2))


def paired(base: Sequence[float], other: Sequence[float]) -> Ratio | None:
    """Pairs (base_i, other_i) taken side by side: geometric-mean ratio and a t interval on log ratios."""
    logs = [math.log(o / b) for b, o in zip(base, other, strict=True) if b > 0 and o > 0]
    if not logs:
        return None
    mean = statistics.fmean(logs)
    if len(logs) < 2:
        return Ratio(math.exp(mean), None, None, "single", 1)
    half = t_quantile(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return Ratio(math.exp(mean), math.exp(mean - half), math.exp(mean + half), "paired", len(logs))


def welch(base: Sequence[float], other: Sequence[float]) -> Ratio | None:
    """Two independent sets of repeats: ratio of geometric means and Welch's t interval."""
    a = [math.log(v) for v in base if v > 0]
    b = [math.log(v) for v in other if v > 0]
    if not a or not b:
        return None
    diff = statistics.fmean(b) - statistics.fmean(a)
    if len(a) < 2 or len(b) < 2:
        return Ratio(math.exp(diff), None, None, "single", min(len(a), len(b)))
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return Ratio(math.exp(diff), math.exp(diff), math.exp(diff), "welch", min(len(a), len(b)))
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = t_quantile(df) * se  # Welch-Satterthwaite df as it is: floored, 3.9999 (equal spreads, 4) would be 3
    return Ratio(math.exp(diff), math.exp(diff - half), math.exp(diff + half), "welch", min(len(a), len(b)))


def compare(base: dict[int, float], other: dict[int, float], interleaved: bool) -> Ratio | None:
    """Repeat number -> value on each side. Repeats of one interleaved run are paired by number
    (two or more pairs needed); otherwise, and across runs, the two sides are independent."""
    common = sorted(set(base) & set(other))
    if interleaved and len(common) >= 2:
        return paired([base[r] for r in common], [other[r] for r in common])
    return welch(list(base.values()), list(other.values()))


@dataclass(frozen=True)
class Difference:
    """`other - base` for one figure (ms, MB, ...): the estimate and its 95 % interval."""

    mean: float
    low: float | None  # None: one repeat, no interval
    high: float | None
    method: str  # "paired" | "welch" | "single"
    base: float  # the baseline's mean, for the minimum effect

    @property
    def significant(self) -> bool:
        if self.low is None or self.high is None:
            return False
        return (self.low > 0 or self.high < 0) and abs(self.mean) >= MIN_EFFECT * abs(self.base)


def difference(base: dict[int, float], other: dict[int, float], interleaved: bool) -> Difference | None:
    """Repeat number -> value on each side: the mean difference, paired by repeat when interleaved."""
    common = sorted(set(base) & set(other))
    if interleaved and common:
        diffs = [other[r] - base[r] for r in common]
        mean, base_mean = statistics.fmean(diffs), statistics.fmean(base[r] for r in common)
        if len(diffs) < 2:
            return Difference(mean, None, None, "single", base_mean)
        half = t_quantile(len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
        return Difference(mean, mean - half, mean + half, "paired", base_mean)
    a, b = list(base.values()), list(other.values())
    if not a or not b:
        return None
    mean, base_mean = statistics.fmean(b) - statistics.fmean(a), statistics.fmean(a)
    if len(a) < 2 or len(b) < 2:
        return Difference(mean, None, None, "single", base_mean)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se else 1.0
    half = t_quantile(df) * se  # Welch-Satterthwaite df as it is: floored, 3.9999 (equal spreads, 4) would be 3
    return Difference(mean, mean - half, mean + half, "welch", base_mean)


@dataclass(frozen=True)
class Share:
    """A share of `n` trials (requests routed to one version, ...) with its 95 % Wilson score interval."""

    share: float
    low: float
    high: float
    n: int


def share(hits: int, n: int, confidence: float = CONFIDENCE) -> Share | None:
    """`hits` of `n` independent trials: the proportion and its Wilson score interval (good near 0 and 1,
    where the normal approximation's interval would leave [0, 1]); None when there were no trials."""
    if n <= 0:
        return None
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Share(p, max(0.0, centre - half), min(1.0, centre + half), n)
