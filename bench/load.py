"""Drive headless locust against a running stack and read its machine-readable output.

Locust runs as a subprocess (its gevent patching must not touch this process). The
figures come from the raw samples bench/locustfile.py writes (exact percentiles, warmup
left out, status codes); locust's own --csv/--json-file files are kept beside them.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bench.procs import ProcessGroup, tail
from bench.stacks import ROOT

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
PERCENTILES = (50, 90, 95, 99)
SAMPLES_PREFIX = "samples"  # each locust process writes samples-<pid>.json
GENERATOR_BUSY_PERCENT = 90.0  # locust's own warning threshold, of the one core it runs on


@dataclass(frozen=True)
class LoadSettings:
    """The load shape: locust's own -u / -r / -t, plus the uncounted warmup."""

    users: int
    spawn_rate: float
    duration_s: float
    warmup_s: float = 0.0
    wait_s: float = 0.0
    rate: float | None = None  # total arrival rate (open model); None: closed loop
    processes: int = 1  # locust processes (--processes) when one cannot drive the stack


@dataclass(frozen=True)
class LoadFigures:
    """What one measured window gave."""

    requests: int
    failures: int
    avg_ms: float | None
    min_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    rps: float
    measured_s: float
    status_codes: dict[str, int]
    per_second: list[list[int]] = field(default_factory=list)  # [second, requests, failures]
    generator_cpu_percent: float | None = None  # locust's own CPU over the window (100 = one core)
    generator_cpu_warnings: int = 0  # times locust's own CPU monitor saw > 90 %
    overloaded: int = 0  # 503s with x-envoy-overloaded: made by the circuit breaker, not the app
    offered_rps: float | None = None  # the open-model arrival rate asked for, if any
    ok_latency: dict[str, float | None] = field(default_factory=dict)  # successful requests only

    @property
    def generator_bound(self) -> bool:
        """The load generator, not the stack, may have set the pace."""
        busy = self.generator_cpu_percent is not None and self.generator_cpu_percent >= GENERATOR_BUSY_PERCENT
        return busy or self.generator_cpu_warnings > 0


@dataclass(frozen=True)
class LoadOutcome:
    """The figures, and why the load ended early if it did."""

    figures: LoadFigures | None
    exit_code: int | None
    problem: str | None = None  # the stack broke during the load
    interrupted: bool = False
    log_tail: str = ""


def locust_args(base_url: str, settings: LoadSettings, out: str, locustfile: str) -> list[str]:
    """Locust's arguments: headless, machine-readable output under `out` (as locust sees it)."""
    run_time = max(1, math.ceil(settings.warmup_s + settings.duration_s))
    return [
        "-f", locustfile,
        "--headless",
        "-u", str(settings.users),
        "-r", f"{settings.spawn_rate:g}",
        "-t", f"{run_time}s",
        "--host", base_url,
        "--csv", f"{out}/locust",
        "--csv-full-history",
        "--json-file", f"{out}/locust",
        "--only-summary",
        "--loglevel", "WARNING",
        "--stop-timeout", "2",
        *(["--processes", str(settings.processes)] if settings.processes > 1 else []),
    ]  # fmt: skip


def locust_env(settings: LoadSettings, out: str) -> dict[str, str]:
    """What the locustfile reads from its environment (see bench/locustfile.py)."""
    return {
        "BENCH_SAMPLES": f"{out}/{SAMPLES_PREFIX}",
        "BENCH_WARMUP": f"{settings.warmup_s:g}",
        "BENCH_WAIT": f"{settings.wait_s:g}",
        # each locust process paces its share of the total arrival rate
        "BENCH_RATE": f"{settings.rate / settings.processes:g}" if settings.rate else "0",
        "PYTHONUNBUFFERED": "1",
    }


@dataclass(frozen=True)
class LocalLauncher:
    """Locust as a child process of this machine (the local backend's way)."""

    cpus: tuple[int, ...] | None = None  # pin locust apart from the stack

    def command(self, settings: LoadSettings, base_url: str, out: Path) -> tuple[list[str], dict[str, str]]:
        """The argv and environment that run locust writing into `out`."""
        args = locust_args(base_url, settings, str(out), str(LOCUSTFILE))
        prefix = ["taskset", "-c", ",".join(map(str, self.cpus))] if self.cpus else []
        return [*prefix, sys.executable, "-m", "locust", *args], dict(os.environ) | locust_env(settings, str(out))


class Launcher(Protocol):
    """How a backend starts locust: locally, or in the stack's `user` container."""

    def command(self, settings: LoadSettings, base_url: str, out: Path) -> tuple[list[str], dict[str, str]]: ...


def run_load(
    base_url: str,
    settings: LoadSettings,
    out: Path,
    problem: Callable[[], str | None] = lambda: None,
    launcher: Launcher = LocalLauncher(),
) -> LoadOutcome:
    """Run locust until it ends, the stack breaks (`problem()` says why) or Ctrl-C.

    In every case locust is stopped with SIGTERM first, which makes it write its files,
    so what was measured up to that moment is kept.
    """
    out.mkdir(parents=True, exist_ok=True)
    argv, env = launcher.command(settings, base_url, out)
    group = ProcessGroup()
    broken: str | None = None
    interrupted = False
    try:
        child = group.start("locust", argv, out / "locust.log", cwd=ROOT, env=env)
        limit = time.monotonic() + settings.warmup_s + settings.duration_s + 60
        while child.exited() is None and broken is None:
            broken = problem()
            if time.monotonic() > limit:
                broken = "locust did not stop within 60 s of its run time"
            time.sleep(0.2)
    except KeyboardInterrupt:  # keep going to the teardown and return what was measured
        interrupted = True
    finally:
        exit_code = child.exited() if group.children else None
        group.stop(grace=15.0)  # SIGTERM: locust writes its json/csv and our samples
    return LoadOutcome(read_samples(out), exit_code, broken, interrupted, tail(out / "locust.log"))


def read_samples(out: Path) -> LoadFigures | None:
    """Figures from the raw samples of every locust process; None when locust left none."""
    parts = []
    for path in sorted(out.glob(f"{SAMPLES_PREFIX}-*.json")):
        try:
            parts.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # a process killed while writing: its temp file never replaced the real one
    return figures_from_samples(merge_samples(parts)) if parts else None


def merge_samples(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One sample document from several locust processes (a master writes an empty one)."""
    busy = [p for p in parts if p.get("requests")] or parts[:1]
    if len(busy) == 1:
        return busy[0]
    merged: dict[str, Any] = {
        "measured_from": min(p["measured_from"] for p in busy if p.get("measured_from")),
        "stopped": max(p["stopped"] for p in busy if p.get("stopped")),
        "ok_latencies_ms": [x for p in busy for x in p.get("ok_latencies_ms", [])],
        "failed_latencies_ms": [x for p in busy for x in p.get("failed_latencies_ms", [])],
        "generator_cpu_warnings": [x for p in busy for x in p.get("generator_cpu_warnings") or []],
        "offered_rps": sum(p.get("offered_rps") or 0 for p in busy) or None,
    }
    for key in ("requests", "failures", "overloaded", "warmup_requests"):
        merged[key] = sum(int(p.get(key, 0)) for p in busy)
    codes: Counter[str] = Counter()
    seconds: dict[int, list[int]] = {}
    for p in busy:
        codes.update({str(k): int(v) for k, v in p.get("status_codes", {}).items()})
        for second, count, failed in p.get("per_second", []):
            row = seconds.setdefault(int(second), [int(second), 0, 0])
            row[1] += count
            row[2] += failed
    merged["status_codes"] = dict(codes)
    merged["per_second"] = [seconds[s] for s in sorted(seconds)]
    # the busiest process decides whether the generator was the limit (each has one core)
    cpu = [p["generator_cpu_seconds"] for p in busy if p.get("generator_cpu_seconds") is not None]
    merged["generator_cpu_seconds"] = max(cpu) if cpu else None
    merged["processes"] = len(busy)
    return merged


def figures_from_samples(data: dict[str, Any]) -> LoadFigures:
    """Exact figures from raw response times (ms) and counters."""
    ok = sorted(float(x) for x in data.get("ok_latencies_ms", []))
    latencies = sorted(ok + [float(x) for x in data.get("failed_latencies_ms", [])])
    start, stop = data.get("measured_from"), data.get("stopped")
    measured = max(float(stop) - float(start), 0.0) if start and stop else 0.0
    count = len(latencies)
    pct = {p: _rounded(percentile(latencies, p)) for p in PERCENTILES}
    return LoadFigures(
        requests=count,
        failures=int(data.get("failures", 0)),
        avg_ms=_rounded(sum(latencies) / count) if count else None,
        min_ms=_rounded(latencies[0]) if count else None,
        p50_ms=pct[50],
        p90_ms=pct[90],
        p95_ms=pct[95],
        p99_ms=pct[99],
        max_ms=_rounded(latencies[-1]) if count else None,
        rps=round(count / measured, 1) if measured > 0 else 0.0,
        measured_s=round(measured, 2),
        status_codes={str(k): int(v) for k, v in sorted(data.get("status_codes", {}).items())},
        per_second=[list(map(int, row)) for row in data.get("per_second", [])],
        generator_cpu_percent=_share(data.get("generator_cpu_seconds"), measured),
        generator_cpu_warnings=len(data.get("generator_cpu_warnings") or []),
        overloaded=int(data.get("overloaded", 0)),
        offered_rps=data.get("offered_rps"),
        ok_latency=latency_summary(ok),
    )


def latency_summary(sorted_values: Sequence[float]) -> dict[str, float | None]:
    """avg and exact percentiles of a sorted sample (the successful requests, say)."""
    summary = {f"p{p}_ms": _rounded(percentile(sorted_values, p)) for p in PERCENTILES}
    summary["avg_ms"] = _rounded(sum(sorted_values) / len(sorted_values)) if sorted_values else None
    summary["max_ms"] = _rounded(sorted_values[-1]) if sorted_values else None
    return summary


def _share(cpu_seconds: float | None, wall: float) -> float | None:
    if cpu_seconds is None or wall <= 0:
        return None
    return round(100 * float(cpu_seconds) / wall, 1)


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values (no bucketing, no interpolation)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def locust_totals(out: Path) -> tuple[int, int] | None:
    """(requests, failures) as locust's own --json-file counted them, for cross-checks."""
    try:
        rows = json.loads((out / "locust.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return sum(r["num_requests"] for r in rows), sum(r["num_failures"] for r in rows)
