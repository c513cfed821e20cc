"""Ratios and their 95 % intervals: paired (interleaved repeats) and Welch (independent runs)."""

from __future__ import annotations

import math

import pytest

from bench import stats
from bench.report.verdicts import verdict
from tests.factories import measured


def test_t_quantiles_are_students() -> None:
    assert stats.t_quantile(2) == pytest.approx(4.3027, abs=1e-4)
    assert stats.t_quantile(30) == pytest.approx(2.0423, abs=1e-4)


def test_a_paired_ratio_is_the_geometric_mean_of_the_pair_ratios() -> None:
    r = stats.paired([10.0, 20.0, 40.0], [12.0, 23.0, 49.0])
    assert r is not None and r.method == "paired" and r.n == 3
    assert r.ratio == pytest.approx(math.exp((math.log(1.2) + math.log(1.15) + math.log(1.225)) / 3))
    assert r.low is not None and r.high is not None and 1 < r.low < r.ratio < r.high
    assert r.significant  # drift between repeats (10 -> 40) cancels in the pairs


def test_without_pairs_the_same_figures_are_not_significant() -> None:
    r = stats.welch([10.0, 20.0, 40.0], [12.0, 23.0, 49.0])
    assert r is not None and r.method == "welch" and not r.significant


def test_an_interval_containing_one_or_a_tiny_effect_is_not_significant() -> None:
    noisy = stats.paired([10.0, 10.0, 10.0], [9.0, 11.0, 10.5])
    assert noisy is not None and noisy.low is not None and noisy.low < 1 < (noisy.high or 0)
    assert not noisy.significant
    tiny = stats.paired([10.0, 10.0, 10.0], [10.1, 10.11, 10.12])  # 1 %: real but under MIN_EFFECT
    assert tiny is not None and tiny.low is not None and tiny.low > 1 and not tiny.significant


def test_one_repeat_has_no_interval() -> None:
    r = stats.paired([10.0], [20.0])
    assert r is not None and r.low is None and not r.significant and r.interval() == "no interval: one repeat"


def test_verdicts_pair_repeats_of_one_run_and_say_which_way() -> None:
    base = [measured("a", r, [5.0 * r] * 50) for r in (1, 2, 3)]
    slower = [measured("b", r, [7.5 * r * (1 + 0.01 * r)] * 50) for r in (1, 2, 3)]
    v = verdict("avg", base, slower, interleaved=True)
    assert v is not None and v.ratio.method == "paired" and v.word() == "slower"
    assert v.text() == "average response time 1.53x slower (95 % CI 1.49-1.57; 13.90 vs 9.09 ms)"
    rps = verdict("rps", base, slower, interleaved=True)
    assert rps is not None and rps.word() == "not significant"  # same request counts, same window
