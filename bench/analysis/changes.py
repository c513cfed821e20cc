"""Change points in a figure's history, told from drift and noise.

Method: ruptures' PELT (Killick et al. 2012) with the L2 cost (a shift of the mean) on the series scaled
by its own noise (the median absolute deviation of successive differences, which a step barely moves),
penalty 3 ln n on that unit-variance scale: the MBIC of Zhang & Siegmund, a notch above BIC's 2 ln n so
that one noisy run does not buy a segment; segments of at least MIN_SIZE runs. Each candidate change is
then confirmed by a two-sided Mann-Whitney U test between the segments either side of it (scipy, exact
for small samples) at ALPHA, so a slow drift that PELT cuts into pieces is not reported as a change unless
the runs either side differ beyond chance. The "from -> to" is the median of each segment, and the
change's 95 % interval a seeded bootstrap of the ratio of those medians.

A change of a stack's figure at the same run (+-1) as a change of the generator floor's, in the same
direction, is named the machine's (it got slower or faster for everything), not the stack's.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import ruptures  # type: ignore[import-untyped]  # ships no type hints
from scipy import stats

MIN_SIZE = 3  # runs on each side of a change: fewer cannot be told from one noisy run
ALPHA = 0.05
PENALTY_PER_LN_N = 3.0
BOOTSTRAP = 2000
METHOD = (
    "ruptures PELT, L2 cost on the noise-scaled series, penalty 3 ln n (MBIC), segments >= 3 runs, "
    "each change confirmed by a Mann-Whitney U test (p < 0.05)"
)


@dataclass(frozen=True)
class Change:
    """A confirmed change: at run `index` (the first run after it), from one segment's median to the next."""

    index: int
    before: float
    after: float
    ratio_low: float  # 95 % interval of after / before
    ratio_high: float
    p_value: float
    cause: str = "stack"  # stack | machine (the generator floor changed with it)

    @property
    def ratio(self) -> float:
        return self.after / self.before if self.before else float("inf")


def candidates(values: Sequence[float]) -> list[int]:
    """PELT's breakpoints (index of the first run of each new segment), before any test."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 2 * MIN_SIZE:
        return []
    noise = statistics.median(abs(d - statistics.median(np.diff(x))) for d in np.diff(x)) * 1.4826 / 2**0.5
    scale = noise if noise > 0 else (float(np.std(x)) or 1.0)
    algo = ruptures.Pelt(model="l2", min_size=MIN_SIZE, jump=1).fit((x / scale).reshape(-1, 1))
    return [int(b) for b in algo.predict(pen=PENALTY_PER_LN_N * np.log(n))[:-1]]


def detect(values: Sequence[float]) -> list[Change]:
    """The confirmed changes of one series, oldest first."""
    x = [float(v) for v in values]
    cuts = candidates(x)
    bounds = [0, *cuts, len(x)]
    found = []
    for i, cut in enumerate(cuts):
        left, right = x[bounds[i] : cut], x[cut : bounds[i + 2]]
        p = float(stats.mannwhitneyu(left, right, alternative="two-sided").pvalue)
        if p < ALPHA:
            low, high = _ratio_interval(left, right)
            found.append(Change(cut, statistics.median(left), statistics.median(right), low, high, p))
    return found


def _ratio_interval(left: Sequence[float], right: Sequence[float]) -> tuple[float, float]:
    """95 % bootstrap interval of median(right) / median(left), seeded so a report is reproducible."""
    rng = np.random.default_rng(0)
    a, b = np.asarray(left), np.asarray(right)
    ma = np.median(rng.choice(a, (BOOTSTRAP, len(a))), axis=1)
    mb = np.median(rng.choice(b, (BOOTSTRAP, len(b))), axis=1)
    ratios = mb / np.where(ma == 0, np.nan, ma)
    return float(np.nanpercentile(ratios, 2.5)), float(np.nanpercentile(ratios, 97.5))


def attribute(changes: Sequence[Change], floor: Sequence[Change], near: int = 1) -> list[Change]:
    """Each change named the machine's when the floor changed in the same direction within `near` runs."""
    out = []
    for c in changes:
        shared = any(abs(f.index - c.index) <= near and (f.after > f.before) == (c.after > c.before) for f in floor)
        out.append(Change(c.index, c.before, c.after, c.ratio_low, c.ratio_high, c.p_value,
                          "machine" if shared else "stack"))  # fmt: skip
    return out


def stable_segment(values: Sequence[float]) -> int:
    """Index of the first run of the last segment without a change point (0: no change)."""
    changes = detect(values)
    return changes[-1].index if changes else 0
