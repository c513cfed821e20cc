"""Run one load generator once and read its figures: wrk, the lab's locust, a vanilla locust.

- wrk (C, event loop) runs benchmarks/wrk_mix.lua, the lab's request mix, and prints one JSON
  line that is read instead of its human text.
- the lab's locust is bench/load/locustfile.py through bench.load.runner.run_load, exactly as a lab run
  starts it; its figures are the lab's own (warmup left out).
- vanilla locust is benchmarks/vanilla_locustfile.py: a plain FastHttpUser with the same
  requests and nothing of the lab's recording, to price what the lab adds per request.
For like-for-like comparisons between the two locusts both are read from locust's own
--json-file (`from_locust_json`), which counts every request of the run the same way.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.errors import StackFailed
from bench.load.runner import LocalLauncher, run_load
from bench.procs import ProcessGroup, tail
from bench.results import LoadShape
from bench.sampling.metrics import cpu_jiffies
from bench.stacks.catalog import ROOT

WRK_SCRIPT = Path(__file__).with_name("wrk_mix.lua")
VANILLA = Path(__file__).with_name("vanilla_locustfile.py")
WRK_GRACE_S = 30.0  # beyond its own -d, before a hung wrk counts as failed
JIFFIES_EVERY_S = 0.1  # how often the CPUs' clock ticks are read while a generator runs


@dataclass(frozen=True)
class Pins:
    """The CPUs of the stack and of the generator (None: unpinned, not watched)."""

    stack: tuple[int, ...] | None
    load: tuple[int, ...] | None


class BusyLog:
    """The stack's and the generator's CPUs' clock ticks (/proc/stat, every process on them), read every
    JIFFIES_EVERY_S on a thread with the wall-clock time, so how busy they were can be read afterwards over
    exactly the window a tool measured."""

    def __init__(self, pins: Pins) -> None:
        self._pins = pins
        self._rows: list[tuple[float, tuple[int, int] | None, tuple[int, int] | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-ticks", daemon=True)

    def __enter__(self) -> BusyLog:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            self._rows.append((time.time(), cpu_jiffies(self._pins.stack) if self._pins.stack else None,
                               cpu_jiffies(self._pins.load) if self._pins.load else None))  # fmt: skip
            if self._stop.wait(JIFFIES_EVERY_S):
                break

    def busy(self, start: float | None = None, end: float | None = None) -> tuple[float | None, float | None]:
        """(stack %, generator %) between the first reading at or after `start` and the last at or before `end`
        (the whole log by default); None where a side is not watched or the window holds fewer than two."""
        rows = [r for r in self._rows if (start is None or r[0] >= start) and (end is None or r[0] <= end)]
        if len(rows) < 2:
            return None, None
        return _pct(rows[0][1], rows[-1][1]), _pct(rows[0][2], rows[-1][2])


def _pct(first: tuple[int, int] | None, last: tuple[int, int] | None) -> float | None:
    if first is None or last is None or last[1] <= first[1]:
        return None
    return round(100 * (last[0] - first[0]) / (last[1] - first[1]), 1)


def measured_window(out: Path) -> tuple[float | None, float | None]:
    """When the lab's locust measured (after its warmup) until it stopped, from its process reports."""
    starts, stops = [], []
    for path in out.glob("samples-*.json"):
        if path.stem.rsplit("-", 1)[-1].startswith("w"):
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        starts += [data["measured_from"]] if data.get("measured_from") else []
        stops += [data["stopped"]] if data.get("stopped") else []
    return (min(starts) if starts else None), (max(stops) if stops else None)


@dataclass(frozen=True)
class Sample:
    """One tool's figures for one measured window."""

    requests: int
    errors: int  # locust failures, or wrk's connect/read/write/status/timeout errors
    rps: float
    mean_ms: float | None
    generator_busy: bool = False  # the generator itself ran out of CPU
    stack_busy_pct: float | None = None  # how busy the stack's CPUs were (all work on them) while it ran
    load_busy_pct: float | None = None  # how busy the generator's CPUs were


def wrk_argv(url: str, connections: int, duration_s: float, cpus: tuple[int, ...] | None) -> list[str]:
    """`taskset -c CPUS wrk -t1 -c N -d Ts --latency -s wrk_mix.lua URL` (wrk takes whole seconds)."""
    pin = ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []
    seconds = max(1, math.ceil(duration_s))
    wrk = ["wrk", "-t1", "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", str(WRK_SCRIPT), url]
    return pin + wrk


def parse_wrk_summary(output: str) -> dict[str, Any]:
    """The JSON line wrk_mix.lua's done() printed; StackFailed if there is none."""
    for line in reversed(output.splitlines()):
        if line.startswith('{"wrk_mix"'):
            data: dict[str, Any] = json.loads(line)
            return data
    raise StackFailed("wrk printed no summary line (did it start?)", output[-2000:])


def wrk_sample(summary: dict[str, Any]) -> Sample:
    """Figures from wrk_mix.lua's summary (times there are microseconds)."""
    seconds = summary["duration_us"] / 1e6
    mean = (summary.get("latency_us") or {}).get("mean")
    return Sample(
        requests=int(summary["requests"]),
        errors=sum(int(v) for v in summary["errors"].values()),
        rps=round(summary["requests"] / seconds, 1) if seconds > 0 else 0.0,
        mean_ms=None if mean is None else round(mean / 1000, 3),
    )


def wrk(url: str, connections: int, duration_s: float, rate: float, cpus: tuple[int, ...] | None,
        log: Path, stack_cpus: tuple[int, ...] | None = None) -> Sample:  # fmt: skip
    """Run wrk once in its own process group (stopped TERM then KILL, even on Ctrl-C)."""
    env = dict(os.environ) | {"WRK_MIX_RATE": f"{rate:g}"}
    group = ProcessGroup()
    with BusyLog(Pins(stack_cpus, cpus)) as ticks:  # wrk measures from its start to its end
        try:
            child = group.start("wrk", wrk_argv(url, connections, duration_s, cpus), log, cwd=ROOT, env=env)
            child.popen.wait(timeout=math.ceil(duration_s) + WRK_GRACE_S)
        except subprocess.TimeoutExpired:
            raise StackFailed(f"wrk did not finish within {WRK_GRACE_S:g} s of its run time", tail(log)) from None
        finally:
            group.stop()
    sample = wrk_sample(parse_wrk_summary(log.read_text(encoding="utf-8", errors="replace")))
    stack_busy, load_busy = ticks.busy()
    return replace(sample, stack_busy_pct=stack_busy, load_busy_pct=load_busy)


def lab(url: str, load: LoadShape, out: Path, cpus: tuple[int, ...] | None,
        problem: Callable[[], str | None] = lambda: None,
        stack_cpus: tuple[int, ...] | None = None) -> Sample:  # fmt: skip
    """The lab's own load run (bench.load.runner.run_load, bench/load/locustfile.py) -> the lab's figures, and how
    busy the CPUs were over the window locust measured (its warmup and start-up left out)."""
    with BusyLog(Pins(stack_cpus, cpus)) as ticks:
        outcome = _run(url, load, out, cpus, problem, LocalLauncher(cpus))
    stack_busy, load_busy = ticks.busy(*measured_window(out))
    figures = outcome.figures
    if figures is None or figures.requests == 0:
        raise StackFailed(f"no request completed in locust's measured window (see {out})", outcome.log_tail)
    return Sample(figures.requests, figures.failures, figures.rps, figures.latency.avg_ms, figures.generator_bound,
                  stack_busy, load_busy)  # fmt: skip


def locust_json(url: str, load: LoadShape, out: Path, cpus: tuple[int, ...] | None, vanilla: bool) -> Sample:
    """A locust run read from locust's own --json-file: the lab's locustfile, or the vanilla one."""
    launcher = LocalLauncher(cpus, locustfile=VANILLA if vanilla else None)
    _run(url, load, out, cpus, lambda: None, launcher)
    return from_locust_json(out / "locust.json")


def from_locust_json(path: Path) -> Sample:
    """Every request of the run as locust counted it: requests, failures, rate over its span, mean."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StackFailed(f"locust left no readable {path}: {exc}") from exc
    requests = sum(r["num_requests"] for r in rows)
    if not requests:
        raise StackFailed(f"locust counted no request in {path}")
    span = max(r["last_request_timestamp"] for r in rows) - min(r["start_time"] for r in rows)
    total_ms = sum(r["total_response_time"] for r in rows)
    return Sample(requests, sum(r["num_failures"] for r in rows), round(requests / span, 1) if span > 0 else 0.0,
                  round(total_ms / requests, 3))  # fmt: skip


def _run(url: str, load: LoadShape, out: Path, cpus: tuple[int, ...] | None, problem: Callable[[], str | None],
         launcher: LocalLauncher) -> Any:  # fmt: skip
    outcome = run_load(url, load, out, problem, launcher)
    if outcome.interrupted:
        raise KeyboardInterrupt
    if outcome.problem:
        raise StackFailed(outcome.problem, outcome.log_tail)
    return outcome
