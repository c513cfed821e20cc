"""The circuit-breaker experiment: the same overload with the breaker off and on.

Like seeds 000/001 (vegeta at a fixed rate against FastAPI behind Istio), but with the side
they never published: the same rate with no breaker. The rate is absolute (`1500`) or
relative to the stack's capacity (`2x`), which is then measured first with a short
closed-loop run, breaker off. Every phase is a normal stack result in run.json, tagged
with its `phase`, so the report can set them side by side.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

from bench.backends.base import Backend
from bench.errors import ConfigError, StackFailed
from bench.load import LoadSettings
from bench.results import RunResult, StackResult
from bench.runner import RunConfig, measure, recording, say
from bench.stacks import Stack

CAPACITY_LOAD = LoadSettings(users=50, spawn_rate=50, duration_s=5.0, warmup_s=2.0)
MAX_USERS = 1500  # enough for 1 s of latency at 1500 req/s; locust on one core tops out near there
_RATE = re.compile(r"^(\d+(?:\.\d+)?)(x?)$")


@dataclass(frozen=True)
class Rate:
    """An arrival rate: absolute req/s, or a multiple of the measured capacity."""

    value: float
    relative: bool

    def resolve(self, capacity_rps: float | None) -> float:
        if not self.relative:
            return self.value
        if not capacity_rps:
            raise StackFailed("capacity could not be measured, so a relative rate has no meaning")
        return round(self.value * capacity_rps, 1)

    def __str__(self) -> str:
        return f"{self.value:g}x capacity" if self.relative else f"{self.value:g} req/s"


def parse_rate(text: str) -> Rate:
    """`1500` (req/s) or `2x` (twice the measured capacity)."""
    match = _RATE.match(str(text).strip().lower())
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(
            f"--rate: cannot read {text!r} as a rate", tip="use req/s like 1500, or 2x for twice capacity"
        )
    return Rate(float(match.group(1)), bool(match.group(2)))


def run_breaker(config: RunConfig, backend: Backend, stack: Stack, rate: Rate, users: int | None) -> RunResult:
    """Capacity (if the rate is relative), then breaker `off` and `config.breaker` at one rate."""
    if not stack.breaker_file:
        raise ConfigError(f"stack {stack.name!r} has no circuit breaker", tip="use a stack with a breaker file")
    backend.check([stack])
    presets = ["off", config.breaker] if config.breaker != "off" else ["off"]
    with recording(config, backend, scenario="breaker") as rec:
        capacity = None
        if rate.relative:
            result = _phase(stack, backend, replace(config, breaker="off", load=CAPACITY_LOAD), rec.run_dir, "capacity")
            rec.add(result)
            capacity = result.rps if result.status == "ok" else None
        offered = rate.resolve(capacity)
        n = users or min(MAX_USERS, max(100, math.ceil(offered)))
        load = LoadSettings(users=n, spawn_rate=n, duration_s=config.load.duration_s, warmup_s=0.0, rate=offered)
        say(f"overload: {offered:g} req/s offered ({rate}) by up to {n} users, presets {', '.join(presets)}")
        for preset in presets:
            rec.add(
                _phase(stack, backend, replace(config, breaker=preset, load=load), rec.run_dir, f"breaker {preset}")
            )
    return rec.record


def _phase(stack: Stack, backend: Backend, config: RunConfig, run_dir: Path, phase: str) -> StackResult:
    result = measure(stack, backend, config, run_dir, 1, folder=f"{stack.name}-{phase.replace(' ', '-')}")
    result.phase = phase
    return result
