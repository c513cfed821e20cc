"""The noise guard: the load generator's floor measured at the start and at the end of a run.

The floor (locust against nginx answering from memory, bench/session.py) costs the machine the
same work every time, so when its req/s or its average moves between the run's first and last
minute, the machine changed speed under the run (another process, thermal throttling, a noisy
neighbour), and every ratio measured in between carries some of that change. Standard library
and bench's data modules only: results.py writes `noise` into run.json from here, the report
words it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.results import Measurement, RunResult

CHANGED = 0.10  # the floor moving more than this (of the start's value) means the machine changed speed


@dataclass(frozen=True)
class FloorChange:
    """The start's and the end's floor: req/s and average response time (ms), and how far the end moved."""

    start_rps: float
    end_rps: float
    start_avg_ms: float
    end_avg_ms: float

    @property
    def rps_change(self) -> float:
        """(end - start) / start: -0.2 when the end's floor served 20 % fewer requests per second."""
        return _change(self.start_rps, self.end_rps)

    @property
    def avg_change(self) -> float:
        return _change(self.start_avg_ms, self.end_avg_ms)

    @property
    def size(self) -> float:
        """The larger of the two moves, as a share of the start's value (0.2: 20 %)."""
        return max(abs(self.rps_change), abs(self.avg_change))

    @property
    def changed(self) -> bool:
        return self.size > CHANGED

    @property
    def factor(self) -> float:
        """The move as a ratio >= 1, as a verdict's ratio reads (1000 -> 800 req/s: 1.25x)."""
        pairs = ((self.start_rps, self.end_rps), (self.start_avg_ms, self.end_avg_ms))
        return max((max(a / b, b / a) for a, b in pairs if a > 0 and b > 0), default=1.0)

    def could_explain(self, ratio: float) -> bool:
        """Whether a ratio measured across this move (`1.12x`, either way) is no larger than the move itself."""
        return max(ratio, 1 / ratio) <= self.factor if ratio > 0 else False

    def to_json(self) -> dict[str, Any]:
        return {"start_rps": self.start_rps, "end_rps": self.end_rps, "start_avg_ms": self.start_avg_ms,
                "end_avg_ms": self.end_avg_ms, "rps_change_pct": round(100 * self.rps_change, 1),
                "avg_change_pct": round(100 * self.avg_change, 1), "changed": self.changed,
                "threshold_pct": round(100 * CHANGED, 1)}  # fmt: skip


def _change(start: float, end: float) -> float:
    return (end - start) / start if start > 0 else 0.0


def floor_change(run: RunResult) -> FloorChange | None:
    """The run's two floors compared; None unless both were measured and ok."""
    start, end = _figures(run.floor), _figures(next(iter(run.rows("floor_end")), None))
    if start is None or end is None:
        return None
    return FloorChange(start[0], end[0], start[1], end[1])


def _figures(m: Measurement | None) -> tuple[float, float] | None:
    """(req/s, avg ms) of an ok floor that has both."""
    if m is None or not m.ok or m.figures is None or m.figures.latency.avg_ms is None or m.figures.rps <= 0:
        return None
    return m.figures.rps, m.figures.latency.avg_ms
