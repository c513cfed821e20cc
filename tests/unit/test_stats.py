"""Ratios and their 95 % intervals: paired (interleaved repeats) and Welch (independent runs)."""

from __future__ import annotations

import math

import pytest

from bench.analysis import stats
from bench.analysis.summary import group
from bench.report.verdicts import verdict
from tests.factories import measured


def paired(base: list[float], other: list[float]) -> stats.Ratio | None:
    """Repeat i of each side measured side by side (an interleaved run)."""
    return stats.compare(dict(enumerate(base)), dict(enumerate(other)), interleaved=True)


def welch(base: list[float], other: list[float]) -> stats.Ratio | None:
    """Two independent sets of repeats (two runs)."""
    return stats.compare(dict(enumerate(base)), dict(enumerate(other)), interleaved=False)


def test_t_quantiles_are_students() -> None:
    assert stats.t_quantile(2) == pytest.approx(4.3027, abs=1e-4)
    assert stats.t_quantile(30) == pytest.approx(2.0423, abs=1e-4)


def test_a_paired_ratio_is_the_geometric_mean_of_the_pair_ratios() -> None:
    r = paired([10.0, 20.0, 40.0], [12.0, 23.0, 49.0])
    assert r is not None and r.method == "paired" and r.n == 3
    assert r.ratio == pytest.approx(math.exp((math.log(1.2) + math.log(1.15) + math.log(1.225)) / 3))
    assert r.low is not None and r.high is not None and 1 < r.low < r.ratio < r.high
    assert r.significant  # drift between repeats (10 -> 40) cancels in the pairs


def test_without_pairs_the_same_figures_are_not_significant() -> None:
    r = welch([10.0, 20.0, 40.0], [12.0, 23.0, 49.0])
    assert r is not None and r.method == "welch" and not r.significant


def test_an_interval_containing_one_or_a_tiny_effect_is_not_significant() -> None:
    noisy = paired([10.0, 10.0, 10.0], [9.0, 11.0, 10.5])
    assert noisy is not None and noisy.low is not None and noisy.low < 1 < (noisy.high or 0)
    assert not noisy.significant
    tiny = paired([10.0, 10.0, 10.0], [10.1, 10.11, 10.12])  # 1 %: real but under MIN_EFFECT
    assert tiny is not None and tiny.low is not None and tiny.low > 1 and not tiny.significant


def test_one_repeat_has_no_interval() -> None:
    r = paired([10.0], [20.0])
    assert r is not None and r.low is None and not r.significant and r.interval() == "no interval: one repeat"


def test_verdicts_pair_repeats_of_one_run_and_say_which_way() -> None:
    base = [measured("a", r, [5.0 * r] * 50) for r in (1, 2, 3)]
    slower = [measured("b", r, [7.5 * r * (1 + 0.01 * r)] * 50) for r in (1, 2, 3)]
    v = verdict("avg", group("a", base), group("b", slower), interleaved=True)
    assert v is not None and v.ratio.method == "paired" and v.word() == "slower"
    # the figures beside it are the medians of the repeats compared, as the tables show: 5 * 2 = 10 and
    # 7.5 * 2 * 1.02 = 15.30 ms (the ratio, 1.53, is the geometric mean of the pair ratios 1.5 * 1.01, 1.02, 1.03)
    assert v.text() == "average response time 1.53x slower (95 % CI 1.49-1.57; median 15.30 vs 10.00 ms)"
    rps = verdict("rps", group("a", base), group("b", slower), interleaved=True)
    assert rps is not None and rps.word() == "not significant"  # same request counts, same window


# Hand-computed references: the arithmetic is written out so a change in the method shows as a changed number.


def test_a_paired_interval_matches_the_hand_computed_one() -> None:
    # log ratios: ln(12/10) = 0.182322, ln(23/20) = 0.139762, ln(49/40) = 0.202941; mean 0.175008
    # deviations 0.007313, -0.035246, 0.027933 -> sum of squares 0.0020760 -> sd sqrt(0.0020760 / 2) = 0.032218
    # se = 0.032218 / sqrt(3) = 0.018601; t(2 df) = 4.302653 -> half width 0.080035
    # ratio exp(0.175008) = 1.191256, interval exp(0.094973) = 1.099630 to exp(0.255043) = 1.290516
    r = paired([10.0, 20.0, 40.0], [12.0, 23.0, 49.0])
    assert r is not None and (r.method, r.n) == ("paired", 3)
    assert (r.ratio, r.low, r.high) == pytest.approx((1.191256, 1.099630, 1.290516), abs=2e-6)


def test_a_welch_interval_matches_the_hand_computed_one() -> None:
    # logs around ln 100: base -0.1, 0, +0.1 (variance 0.01); other 0.0, 0.2, 0.4 (variance 0.04)
    # difference of means 0.2 -> ratio exp(0.2) = 1.221403; se = sqrt(0.01/3 + 0.04/3) = sqrt(0.05/3) = 0.129099
    # Welch-Satterthwaite df = (0.05/3)^2 / ((0.01/3)^2/2 + (0.04/3)^2/2) = 0.0025*2/0.0017 = 2.941176
    # t(2.941176 df) = 3.218759 (between t(2) 4.303 and t(3) 3.182) -> half width 0.415540
    # interval exp(0.2 - 0.415540) = exp(-0.215540) = 0.806106 to exp(0.615540) = 1.850656
    base = [100 * math.exp(x) for x in (-0.1, 0.0, 0.1)]
    other = [100 * math.exp(x) for x in (0.0, 0.2, 0.4)]
    r = welch(base, other)
    assert r is not None and (r.method, r.n) == ("welch", 3)
    assert (r.ratio, r.low, r.high) == pytest.approx((1.221403, 0.806106, 1.850656), abs=2e-6)
    assert not r.significant


def test_welch_degrees_of_freedom_are_not_rounded_down() -> None:
    # equal spreads on both sides: df = 4 exactly in arithmetic, 3.9999... in floating point; flooring that
    # to 3 would widen the interval by t(3)/t(4) = 3.182/2.776 = 15 %
    # logs: base ln 10 + (0, 0.1, 0.2), other ln 15 + (0, 0.1, 0.2): variance 0.01 each, se = sqrt(2 * 0.01/3)
    # = 0.081650; t(4 df) = 2.776445 -> half width 0.226696; ratio 1.5, interval 1.5 * exp(-+0.226696)
    # = 1.5 * 0.797163 = 1.195745 to 1.5 * 1.254448 = 1.881672
    base = [10 * math.exp(x) for x in (0.0, 0.1, 0.2)]
    other = [15 * math.exp(x) for x in (0.0, 0.1, 0.2)]
    r = welch(base, other)
    assert r is not None
    assert (r.ratio, r.low, r.high) == pytest.approx((1.5, 1.195745, 1.881672), abs=2e-6)


def test_a_paired_difference_matches_the_hand_computed_one() -> None:
    # differences 2, 3, 1: mean 2, sd 1, se 1/sqrt(3) = 0.577350; t(2 df) 4.302653 -> half width 2.484138
    d = stats.difference({1: 10.0, 2: 20.0, 3: 30.0}, {1: 12.0, 2: 23.0, 3: 31.0}, interleaved=True)
    assert d is not None and d.method == "paired"
    assert (d.mean, d.low, d.high, d.base) == pytest.approx((2.0, -0.484138, 4.484138, 20.0), abs=1e-6)
    assert not d.significant


def test_a_welch_difference_matches_the_hand_computed_one() -> None:
    # means 12 and 22: difference 10; variance 4 on each side, se = sqrt(4/3 + 4/3) = 1.632993; df 4
    # t(4 df) = 2.776445 -> half width 4.533916 -> 5.466084 to 14.533916
    d = stats.difference({1: 10.0, 2: 12.0, 3: 14.0}, {1: 20.0, 2: 22.0, 3: 24.0}, interleaved=False)
    assert d is not None and d.method == "welch"
    assert (d.mean, d.low, d.high, d.base) == pytest.approx((10.0, 5.466084, 14.533916, 12.0), abs=1e-6)
    assert d.significant


def test_no_spread_is_not_significant_by_itself() -> None:
    # every pair says 1.04 exactly: a zero-width interval says nothing about the noise
    same = paired([100.0] * 3, [104.0] * 3)
    assert same is not None and (same.ratio, same.low, same.high) == pytest.approx((1.04, 1.04, 1.04))
    assert same.no_spread and not same.significant and same.interval() == "no spread in 3 repeats"
    # the same ratio from drifting repeats: ln(104/100), ln(208/200), ln(312/300) differ in their last bits only
    drift = paired([100.0, 200.0, 300.0], [104.0, 208.0, 312.0])
    assert drift is not None and drift.no_spread and not drift.significant
    apart = welch([100.0] * 3, [104.0] * 3)  # two runs, each without spread
    assert apart is not None and apart.method == "welch" and apart.no_spread and not apart.significant
    flat = stats.difference({1: 10.0, 2: 10.0}, {1: 12.0, 2: 12.0}, interleaved=True)
    assert flat is not None and (flat.mean, flat.low, flat.high) == (2.0, 2.0, 2.0) and not flat.significant


def test_significance_needs_the_whole_interval_beyond_three_percent() -> None:
    # log ratios ln 1.001, ln 1.031, ln 1.061 = 0.0009995, 0.0305292, 0.0592119: mean 0.0302469, sd 0.0291072,
    # se 0.0168051, half width 4.302653 * 0.0168051 = 0.0723063 -> 1.030709 [0.958813-1.107996]: holds 1
    wide = paired([100.0] * 3, [100.1, 103.1, 106.1])
    assert wide is not None and not wide.significant
    assert (wide.ratio, wide.low, wide.high) == pytest.approx((1.030709, 0.958813, 1.107996), abs=1e-6)
    # a 1.031 point estimate with an interval 1.001-1.061: excludes 1, but only part of it is beyond 3 %
    narrow = stats.Ratio(1.031, 1.001, 1.061, "paired", 3)
    assert not narrow.significant
    assert stats.Ratio(1.05, 1.031, 1.07, "paired", 3).significant  # all of it beyond +3 %
    assert stats.Ratio(0.95, 0.93, 1 / 1.031, "paired", 3).significant  # all of it beyond -3 % (1/1.03)
    assert not stats.Ratio(0.95, 0.93, 0.975, "paired", 3).significant  # 0.975 is within 1/1.03 = 0.9709
    # differences: beyond 3 % of the baseline's mean (here 100 -> 3)
    assert stats.Difference(5.0, 3.5, 6.5, "paired", 100.0, 3).significant
    assert not stats.Difference(5.0, 2.0, 8.0, "paired", 100.0, 3).significant  # 2 is within 3


def test_a_verdict_without_spread_says_so() -> None:
    base = [measured("a", r, [5.0] * 50) for r in (1, 2, 3)]
    same = [measured("b", r, [5.2] * 50) for r in (1, 2, 3)]
    v = verdict("avg", group("a", base), group("b", same), interleaved=True)
    assert v is not None and v.word() == "not significant"
    assert v.text() == ("average response time not significant (1.04x slower, no spread in 3 repeats; "
                        "median 5.20 vs 5.00 ms)")
