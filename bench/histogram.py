"""A latency histogram fine enough for exact-looking percentiles, small enough to stream.

Shared by the locustfile (which records into it, in the locust process) and the runner
(which merges and reads it). Pure standard library: locust's process imports it by file.

Buckets: 0.01 ms wide below 100 ms, 0.1 ms to 1 s, 1 ms above. A value is stored as its
bucket's index, so a percentile read back is within half a bucket (0.005 ms below 100 ms)
of the true sample; min, max and the sum (hence the average) are kept exactly. Memory is
bounded by the number of distinct buckets, whatever the run's length.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

_FINE_END, _MID_END = 100.0, 1000.0
_FINE_STEPS, _MID_STEPS = 100, 10  # buckets per ms
_MID_BASE = int(_FINE_END * _FINE_STEPS)  # 10000
_COARSE_BASE = _MID_BASE + int((_MID_END - _FINE_END) * _MID_STEPS)  # 19000


def bucket(ms: float) -> int:
    """The bucket index of a response time in milliseconds."""
    if ms < _FINE_END:
        return max(0, round(ms * _FINE_STEPS))
    if ms < _MID_END:
        return _MID_BASE + round((ms - _FINE_END) * _MID_STEPS)
    return _COARSE_BASE + round(ms - _MID_END)


def value(index: int) -> float:
    """The response time (ms) a bucket index stands for."""
    if index < _MID_BASE:
        return index / _FINE_STEPS
    if index < _COARSE_BASE:
        return _FINE_END + (index - _MID_BASE) / _MID_STEPS
    return _MID_END + (index - _COARSE_BASE)


def merge(histograms: Iterable[Mapping[str, int] | Mapping[int, int]]) -> Counter[int]:
    """Sum histograms (JSON gives string keys)."""
    total: Counter[int] = Counter()
    for hist in histograms:
        for key, count in hist.items():
            total[int(key)] += int(count)
    return total


def percentile(hist: Mapping[int, int], p: float) -> float | None:
    """Nearest-rank percentile read from a histogram."""
    count = sum(hist.values())
    if not count:
        return None
    rank = max(1, -(-p * count // 100))  # ceil without floats drifting
    seen = 0
    for index in sorted(hist):
        seen += hist[index]
        if seen >= rank:
            return value(index)
    return value(max(hist))
