"""`bench compare --baseline last|stable|RUN`: the run to judge against, picked from the history index.

Candidates are the indexed runs of the same scenario and load shape that measured every label of the run
judged. `last` is the latest of them; `stable` the first run of the last segment without a change point of
the labels' figure (the median of the whole stable stretch would not be one run; its first run is the
oldest that is already "the current normal"), never the best of N, which biases towards false regressions.
"""

from __future__ import annotations

from pathlib import Path

from bench.analysis import changes
from bench.errors import ConfigError
from bench.history import store
from bench.results import RunResult

KEY = "latency.p99_ms"  # the figure whose change points bound the stable segment


def pick(results_dir: Path, run: RunResult, how: str) -> str:
    """The baseline's run id for `run` (ConfigError when the history holds none)."""
    labels = [m.label for m in run.rows("stack")]
    with store.open_index(results_dir) as db:
        like = [r for r in store.runs_like(db, run, labels) if r < run.run_id]
        if not like:
            raise ConfigError(f"no earlier run of {run.scenario} with the same load and labels in the history",
                              tip="measure a baseline first, or give RUN_A")  # fmt: skip
        if how == "last":
            return like[-1]
        start = 0
        for label in dict.fromkeys(labels):
            points = [p for p in store.series(db, label, KEY, scenario=run.scenario) if p.run_id in like]
            start = max(start, changes.stable_segment([p.median for p in points]))
        return like[start]
