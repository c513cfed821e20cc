"""A run's label summary as a Prometheus text file (`metrics.prom`), for a team's Prometheus and Grafana.

Every figure of the registry (bench/analysis/summary.py) a label has a value for becomes one gauge family, the
figure's key turned into a metric name by Prometheus's rules with its unit in the name and in base units:
`ok_latency.p99_ms` -> `bench_ok_latency_p99_seconds` (ms / 1000), `figures.error_pct` -> `bench_error_ratio`
(% / 100; CPU: 1 = one core busy), `figures.ok_rps` -> `bench_ok_requests_per_second`, `usage.peak_rss_mb` ->
`bench_usage_peak_rss_bytes` (MiB * 2**20); counts keep their name (`bench_requests`, `bench_whole_401`). Each
sample carries the run's labels (`run_id`, `scenario`, `backend`, `lab_commit`, `app`), the row's (`stack`: the
label, `role`) and `stat`: `median`, `min` or `max` over the label's ok repeats (run.json `summary`: the same
numbers). `bench_run_info` (1) and `bench_run_started_timestamp_seconds` describe the run itself.

The format is Prometheus's text exposition (0.0.4), written by prometheus-client: node_exporter's textfile
collector serves such a file as it is, and `prometheus_client.parser.text_string_to_metric_families` reads it.
No sample has a timestamp (the textfile collector refuses them): the run's start is its own gauge.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from bench.analysis.summary import FIGURES, RunSummary
from bench.results import RunResult

METRICS = "metrics.prom"
PREFIX = "bench_"
STATS = ("median", "min", "max")
LAB_APP = "users-api"  # the app label when the run served the lab's own users API (apps/), not --app
# figure-key ending -> (name ending, what its values are divided by to reach the base unit, the HELP's words):
# 15.152 ms / 1000 prints 0.015152 where * 0.001 would print 0.015151999999999999; the first that matches applies
_UNITS = (
    ("_ms", "_seconds", 1000.0, "in seconds (the lab's ms / 1000)"),
    ("_pct", "_ratio", 100.0, "a ratio (the lab's % / 100)"),
    ("_percent", "_ratio", 100.0, "a ratio (the lab's % / 100: 1 = one core busy)"),
    # the lab's MB are MiB (bench/sampling/metrics.py); a power of two divides exactly
    ("_mb", "_bytes", 1 / 2**20, "in bytes (the lab's MiB * 2**20)"),
    ("rps", "requests_per_second", 1.0, "in requests per second"),
    ("_per_cpu_s", "_per_cpu_second", 1.0, "requests per second of the stack's CPU"),
)


def metric_name(key: str) -> tuple[str, float]:
    """A figure key's Prometheus name (unit in base units at the end) and what its values are divided by."""
    name, divisor = key.removeprefix("figures."), 1.0
    for ending, unit, scale, _ in _UNITS:
        if name.endswith(ending):
            name, divisor = name.removesuffix(ending) + unit, scale
            break
    return PREFIX + re.sub(r"[^a-zA-Z0-9_]", "_", name), divisor


def _unit_words(key: str) -> str:
    name = key.removeprefix("figures.")
    return next((words for ending, _, _, words in _UNITS if name.endswith(ending)), "a count")


def run_labels(run: RunResult) -> dict[str, str]:
    """The labels every sample of a run carries."""
    app = run.settings.get("app")
    return {
        "run_id": run.run_id,
        "scenario": run.scenario,
        "backend": run.backend,
        "lab_commit": str(run.machine.get("git_commit") or "unknown"),
        "app": str(app.get("target") or LAB_APP) if isinstance(app, dict) else LAB_APP,
    }


def families(run: RunResult, summary: RunSummary) -> Iterator[Metric]:
    """The run's gauges: its info and start, then one family per figure any label has, every label's stats."""
    common = run_labels(run)
    info = GaugeMetricFamily(f"{PREFIX}run_info", "a bench lab run (always 1): its labels say which",
                             labels=[*common, "status"])  # fmt: skip
    info.add_metric([*common.values(), run.status], 1.0)
    yield info
    started = GaugeMetricFamily(f"{PREFIX}run_started_timestamp_seconds", "when the run started (Unix seconds)",
                                labels=list(common))  # fmt: skip
    try:  # a run.json written by hand or by another tool may carry any text here: then no start gauge
        at = datetime.strptime(run.started_at, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        at = None
    if at is not None:
        started.add_metric(list(common.values()), at)
        yield started
    row = ["stack", "role", "stat"]
    for key, fig in FIGURES.items():
        name, divisor = metric_name(key)
        family = GaugeMetricFamily(name, f"{fig.heading} ({key}; {_unit_words(key)}), over the ok repeats",
                                   labels=[*common, *row])  # fmt: skip
        for s in summary.labels:
            spread = s.spread(key)
            for stat, value in () if spread is None else zip(STATS, (spread.mid, spread.low, spread.high), strict=True):
                family.add_metric([*common.values(), s.label, s.role, stat], value / divisor)
        if family.samples:
            yield family


class _Run(Collector):
    def __init__(self, found: Iterable[Metric]) -> None:
        self.found = list(found)

    def collect(self) -> Iterable[Metric]:
        return self.found


def text(run: RunResult, summary: RunSummary) -> str:
    """The Prometheus text of a run's summary."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Run(families(run, summary)))
    return generate_latest(registry).decode("utf-8")
