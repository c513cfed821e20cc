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
- A difference is *significant* when its whole interval lies beyond MIN_EFFECT from no change
  (a ratio's interval above 1.03 or below 1/1.03; a difference's beyond 3 % of the baseline):
  smaller differences are within what this machine moves between interleaved repeats anyway
  (pyperf's `--min-speed`), and a point estimate past 3 % with an interval reaching 1.001 is
  not a 3 % effect. An interval of zero width (every repeat gave the same value, or the same
  ratio) is *no spread in N repeats*: it says nothing about the noise, so it is not significant
  by itself, however far from 1 it lies.
- Both kinds are computed by one routine each: `_one_sample` (a t interval on the mean of the
  pairs' differences) and `_two_samples` (Welch's, Welch-Satterthwaite degrees of freedom used
  as computed, not floored), on log values for ratios and raw values for differences. Repeats
  are paired when the run interleaved them and at least MIN_PAIRS of them are on both sides.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95
MIN_EFFECT = 0.03  # 3 %


MIN_PAIRS = 2  # fewer pairs than this have no spread to build a paired interval from


@dataclass(frozen=True)
class Interval:
    """An estimate and its 95 % interval, on the scale it was computed on (log ratio, or a difference)."""

    mean: float
    low: float | None  # None: one repeat, no interval
    high: float | None
    method: str  # "paired" | "welch" | "single"
    n: int  # pairs, or the smaller side's repeats


def _no_spread(spread: float, values: Sequence[float]) -> bool:
    """No spread: every value the same, up to floating-point rounding (ln(104/100) computed from 100 and
    200 differs in its last bit), which must not pass for a very narrow, significant interval."""
    return spread <= 1e-9 * max(abs(v) for v in values)


def _one_sample(values: Sequence[float]) -> Interval:
    """The mean of `values` (differences of pairs) with its Student t interval."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Interval(mean, None, None, "single", len(values))
    sd = statistics.stdev(values)
    if _no_spread(sd, values):
        return Interval(mean, mean, mean, "paired", len(values))
    half = t_quantile(len(values) - 1) * sd / math.sqrt(len(values))
    return Interval(mean, mean - half, mean + half, "paired", len(values))


def _two_samples(a: Sequence[float], b: Sequence[float]) -> Interval:
    """mean(b) - mean(a) of two independent samples with Welch's t interval."""
    mean, n = statistics.fmean(b) - statistics.fmean(a), min(len(a), len(b))
    if n < 2:
        return Interval(mean, None, None, "single", n)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if _no_spread(math.sqrt(va + vb), [*a, *b]):
        return Interval(mean, mean, mean, "welch", n)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = t_quantile(df) * math.sqrt(va + vb)
    return Interval(mean, mean - half, mean + half, "welch", n)


def _interval(base: dict[int, float], other: dict[int, float], interleaved: bool) -> Interval | None:
    """Repeat number -> value on each side: paired by repeat number when the run interleaved them (and
    MIN_PAIRS are on both sides), else two independent samples. None when a side has no value."""
    common = sorted(set(base) & set(other))
    if interleaved and len(common) >= MIN_PAIRS:
        return _one_sample([other[r] - base[r] for r in common])
    if not base or not other:
        return None
    return _two_samples(list(base.values()), list(other.values()))


@dataclass(frozen=True)
class Ratio:
    """`other / base` for one figure: the estimate, its interval, how it was computed."""

    ratio: float
    low: float | None  # None: one repeat, no interval
    high: float | None
    method: str  # "paired" | "welch" | "single"
    n: int  # pairs, or the smaller side's repeats

    @property
    def no_spread(self) -> bool:
        return self.low is not None and self.low == self.high

    @property
    def significant(self) -> bool:
        """The whole interval beyond MIN_EFFECT (either way), and an interval with some width."""
        if self.low is None or self.high is None or self.no_spread:
            return False
        return self.low >= 1 + MIN_EFFECT or self.high <= 1 / (1 + MIN_EFFECT)

    def interval(self) -> str:
        """`95 % CI 1.21-1.66`, `no spread in 3 repeats`, or `no interval: one repeat`."""
        if self.low is None or self.high is None:
            return "no interval: one repeat"
        if self.no_spread:
            return f"no spread in {self.n} repeats"
        return f"95 % CI {self.low:.2f}-{self.high:.2f}"


def t_quantile(df: float, confidence: float = CONFIDENCE) -> float:
    """The two-sided Student t critical value (df may be fractional: Welch's)."""
    from scipy.special import stdtrit  # the report's only scipy need; loaded when a comparison is made

    return float(stdtrit(df, 0.5 + confidence / 2))


def _logs(values: dict[int, float]) -> dict[int, float]:
    return {r: math.log(v) for r, v in values.items() if v > 0}


def compare(base: dict[int, float], other: dict[int, float], interleaved: bool) -> Ratio | None:
    """Repeat number -> value on each side: `other / base` as the geometric mean of the pair ratios
    (interleaved, MIN_PAIRS or more) or the ratio of the geometric means, with the interval of its logs."""
    found = _interval(_logs(base), _logs(other), interleaved)
    if found is None:
        return None
    low, high = (None, None) if found.low is None or found.high is None else (math.exp(found.low),
                                                                              math.exp(found.high))  # fmt: skip
    return Ratio(math.exp(found.mean), low, high, found.method, found.n)


@dataclass(frozen=True)
class Difference:
    """`other - base` for one figure (ms, MB, ...): the estimate and its 95 % interval."""

    mean: float
    low: float | None  # None: one repeat, no interval
    high: float | None
    method: str  # "paired" | "welch" | "single"
    base: float  # the baseline's mean, for the minimum effect
    n: int = 1

    @property
    def no_spread(self) -> bool:
        return self.low is not None and self.low == self.high

    @property
    def significant(self) -> bool:
        """The whole interval beyond MIN_EFFECT of the baseline (either way), and an interval with some width."""
        if self.low is None or self.high is None or self.no_spread:
            return False
        return self.low >= MIN_EFFECT * abs(self.base) or self.high <= -MIN_EFFECT * abs(self.base)


def difference(base: dict[int, float], other: dict[int, float], interleaved: bool) -> Difference | None:
    """Repeat number -> value on each side: the mean difference, paired by repeat when interleaved."""
    found = _interval(base, other, interleaved)
    if found is None:
        return None
    common = sorted(set(base) & set(other))
    paired_ = found.method == "paired"
    base_mean = statistics.fmean(base[r] for r in common) if paired_ else statistics.fmean(base.values())
    return Difference(found.mean, found.low, found.high, found.method, base_mean, found.n)


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
