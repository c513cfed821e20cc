"""Run one load generator once and read its figures: wrk, the lab's locust, a vanilla locust.

- wrk (C, event loop) runs benchmarks/wrk_mix.lua, the lab's request mix, and prints one JSON
  line that is read instead of its human text.
- the lab's locust is bench/locustfile.py through bench.load.run_load, exactly as a lab run
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.errors import StackFailed
from bench.load import LocalLauncher, run_load
from bench.metrics import Sampler, Usage
from bench.procs import ProcessGroup, tail
from bench.results import LoadShape
from bench.stacks import ROOT

WRK_SCRIPT = Path(__file__).with_name("wrk_mix.lua")
VANILLA = Path(__file__).with_name("vanilla_locustfile.py")
WRK_GRACE_S = 30.0  # beyond its own -d, before a hung wrk counts as failed
LOCUST_START_S = 1.5  # locust's own start-up (imports, spawning) before its warmup begins, on this machine


@dataclass(frozen=True)
class Pins:
    """The CPUs of the stack and of the generator (None: unpinned, not watched)."""

    stack: tuple[int, ...] | None
    load: tuple[int, ...] | None


@contextmanager
def cpus_busy(pins: Pins, delay_s: float) -> Iterator[dict[str, float | None]]:
    """How busy the stack's and the generator's CPUs were (every process on them), from `delay_s` after
    entering until leaving: filled in on leaving, as {"stack": %, "load": %}."""
    samplers = {side: Sampler(lambda: Usage(0.0, 0), cpus=cpus)
                for side, cpus in (("stack", pins.stack), ("load", pins.load)) if cpus}  # fmt: skip
    for sampler in samplers.values():
        sampler.start(delay=delay_s)
    found: dict[str, float | None] = {"stack": None, "load": None}
    try:
        yield found
    finally:
        for side, sampler in samplers.items():
            found[side] = sampler.stop().cpus_busy_percent


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
    with cpus_busy(Pins(stack_cpus, cpus), 0.0) as busy:
        try:
            child = group.start("wrk", wrk_argv(url, connections, duration_s, cpus), log, cwd=ROOT, env=env)
            child.popen.wait(timeout=math.ceil(duration_s) + WRK_GRACE_S)
        except subprocess.TimeoutExpired:
            raise StackFailed(f"wrk did not finish within {WRK_GRACE_S:g} s of its run time", tail(log)) from None
        finally:
            group.stop()
    sample = wrk_sample(parse_wrk_summary(log.read_text(encoding="utf-8", errors="replace")))
    return replace(sample, stack_busy_pct=busy["stack"], load_busy_pct=busy["load"])


def lab(url: str, load: LoadShape, out: Path, cpus: tuple[int, ...] | None,
        problem: Callable[[], str | None] = lambda: None,
        stack_cpus: tuple[int, ...] | None = None) -> Sample:  # fmt: skip
    """The lab's own load run (bench.load.run_load, bench/locustfile.py) -> the lab's figures; the CPUs' business
    from about the end of locust's start-up and warmup to its end."""
    with cpus_busy(Pins(stack_cpus, cpus), LOCUST_START_S + load.warmup_s) as busy:
        outcome = _run(url, load, out, cpus, problem, LocalLauncher(cpus))
    figures = outcome.figures
    if figures is None or figures.requests == 0:
        raise StackFailed(f"no request completed in locust's measured window (see {out})", outcome.log_tail)
    return Sample(figures.requests, figures.failures, figures.rps, figures.latency.avg_ms, figures.generator_bound,
                  busy["stack"], busy["load"])  # fmt: skip


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
