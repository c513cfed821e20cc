"""Step the load until each stack saturates, and report its knee (seed 003's method).

For each stack, one bring-up; then steps of doubling load (coarse) until a step breaks the
target: p99 over the target (default 100 ms, seed 003's guideline), errors over 1 %, or
throughput no longer following the load. The load is locust users (closed model: requests/s
must grow by 5 % or more for twice the users) or an arrival rate (open model, like
`vegeta -rate`: at least 95 % of the offered rate must be achieved). Then a few bisection
steps between the last good and the first bad load (fine). The knee is the highest load that
met the target; every step is a result in run.json with phase `sweep` and its verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from bench.backends.base import Backend, Target
from bench.errors import StackFailed
from bench.load import LoadSettings
from bench.results import RunResult, StackResult
from bench.runner import RunConfig, measure_on, new_result, recording, say, stack_run, up_and_verified
from bench.stacks import Stack

OPEN_MAX_USERS = 1000


@dataclass(frozen=True)
class SweepSettings:
    """Where a step counts as broken, and how the steps are laid out."""

    p99_target_ms: float = 100.0
    max_error_pct: float = 1.0
    min_gain: float = 0.05  # twice the users must give 5 % more requests/s, or throughput stopped
    start_users: int = 4
    max_users: int = 1024
    model: str = "closed"  # closed: step users; open: step the arrival rate
    start_rate: float = 100.0  # req/s, open model
    max_rate: float = 12800.0
    min_kept: float = 0.95  # open model: share of the offered rate that must be achieved
    step_s: float = 8.0
    warmup_s: float = 2.0
    refine_steps: int = 2  # bisection steps between the last good and the first bad load


def run_sweep(config: RunConfig, backend: Backend, settings: SweepSettings) -> RunResult:
    """Sweep every stack of `config`; one stack failing does not stop the others."""
    backend.check(list(config.stacks))
    with recording(replace(config, repeat=1), backend, scenario="sweep") as rec:
        rec.record.settings["sweep"] = settings.__dict__.copy()
        for stack in config.stacks:
            for result in sweep_stack(stack, backend, config, settings, rec.run_dir):
                rec.add(result)
    return rec.record


def sweep_stack(stack: Stack, backend: Backend, config: RunConfig, settings: SweepSettings,
                run_dir: Path) -> list[StackResult]:  # fmt: skip
    """All steps of one stack, the knee marked in `details["knee"]`."""
    spec = stack_run(config, run_dir / f"{stack.name}-sweep")
    steps: list[StackResult] = []
    say(f"[{stack.name}] sweep: starting")
    try:
        with up_and_verified(stack, backend, spec) as target:
            _coarse_then_fine(target, stack, backend, config, settings, spec.stack_dir, steps)
    except StackFailed as exc:
        failed = new_result(stack, backend, config, 1, f"{stack.name}-sweep")
        failed.status, failed.error, failed.log_tail, failed.phase = "failed", str(exc), exc.log_tail, "sweep"
        steps.append(failed)
    _mark_knee(steps)
    return steps


def _coarse_then_fine(target: Target, stack: Stack, backend: Backend, config: RunConfig,
                      settings: SweepSettings, folder: Path, steps: list[StackResult]) -> None:  # fmt: skip
    open_model = settings.model == "open"

    def step(value: int) -> StackResult:
        load = step_load(value, settings)
        result = new_result(stack, backend, replace(config, load=load), 1, f"{stack.name}-sweep")
        result.phase = "sweep"
        measure_on(target, stack, replace(config, load=load), result, folder / f"{unit(settings)}-{value}")
        result.details["verdict"] = verdict(result, _best(steps), settings)
        figures = f"{result.rps:.0f} req/s, p99 {result.p99_ms} ms"
        say(f"    {value} {unit(settings)}: {figures} -> {result.details['verdict']}")
        steps.append(result)
        if result.status == "interrupted":
            raise KeyboardInterrupt
        return result

    start, most = (settings.start_rate, settings.max_rate) if open_model else (settings.start_users, settings.max_users)
    value, good, bad = round(start), 0, 0
    while value <= most:
        if step(value).details["verdict"] != "ok":
            bad = value
            break
        good, value = value, value * 2
    for _ in range(settings.refine_steps if good and bad else 0):
        middle = (good + bad) // 2
        if middle in (good, bad):
            break
        if step(middle).details["verdict"] == "ok":
            good = middle
        else:
            bad = middle


def unit(settings: SweepSettings) -> str:
    """What a step's load counts: users (closed model) or req/s offered (open model)."""
    return "rps" if settings.model == "open" else "users"


def step_load(value: int, settings: SweepSettings) -> LoadSettings:
    """One step's load: `value` users, or `value` req/s offered by a pool of users."""
    if settings.model != "open":
        return LoadSettings(users=value, spawn_rate=max(value, 1) * 2, duration_s=settings.step_s,
                            warmup_s=settings.warmup_s)  # fmt: skip
    # enough users that each needs only 5 req/s: they run out only once latency passes 200 ms
    pool = min(OPEN_MAX_USERS, max(50, math.ceil(value / 5)))
    return LoadSettings(users=pool, spawn_rate=pool, duration_s=settings.step_s, warmup_s=settings.warmup_s,
                        rate=float(value))  # fmt: skip


def verdict(result: StackResult, best: StackResult | None, settings: SweepSettings) -> str:
    """`ok`, or why this step broke the target."""
    if result.status != "ok":
        return f"failed: {result.error}"
    errors = 100 * result.failures / result.requests if result.requests else 100.0
    if errors > settings.max_error_pct:
        return f"errors {errors:.1f} % > {settings.max_error_pct:g} %"
    if result.p99_ms is None or result.p99_ms > settings.p99_target_ms:
        return f"p99 {result.p99_ms} ms > {settings.p99_target_ms:g} ms"
    if settings.model == "open":
        offered = result.offered_rps or 0.0
        if result.rps < settings.min_kept * offered:
            return f"rate not kept ({result.rps:.0f} of {offered:.0f} req/s)"
        return "ok"
    # doubling the users must buy min_gain more req/s; a smaller step proportionally less
    needed = settings.min_gain * math.log2(result.users / best.users) if best and best.users < result.users else 0
    if best is not None and needed > 0 and result.rps < best.rps * (1 + needed):
        gain = 100 * (result.rps / best.rps - 1) if best.rps else 0.0
        return f"throughput stopped growing ({gain:+.0f} % for {result.users} vs {best.users} users)"
    return "ok"


def _best(steps: list[StackResult]) -> StackResult | None:
    good = [s for s in steps if s.details.get("verdict") == "ok"]
    return max(good, key=lambda s: s.rps) if good else None


def _mark_knee(steps: list[StackResult]) -> None:
    good = [s for s in steps if s.details.get("verdict") == "ok"]
    if good:
        max(good, key=lambda r: r.load).details["knee"] = "true"
