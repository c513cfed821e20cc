"""One run: for each stack, bring it up, check its answers, load it, record, tear down.

Data flows one way: stack description -> backend up -> load + sampling -> run.json ->
summary. One stack failing is recorded and the others still run; Ctrl-C tears down the
stack under load, keeps what was measured, and marks the run interrupted.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bench import envoy, machine, report
from bench.backends.base import Backend, StackRun, Target
from bench.errors import Interrupted, MissingToolError, StackFailed
from bench.load import LoadOutcome, LoadSettings, run_load
from bench.metrics import Sampler, UsageSummary
from bench.results import RunResult, StackResult, new_run_dir, now_iso, save_run
from bench.stacks import Stack
from bench.verify import verify


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, decided by cli.py."""

    stacks: tuple[Stack, ...]
    load: LoadSettings
    results_dir: Path
    breaker: str = "seed"
    repeat: int = 1
    preset: str | None = None
    ready_timeout: float = 60.0
    uid: int | None = None
    gid: int | None = None
    stack_cpus: tuple[int, ...] | None = None
    load_cpus: tuple[int, ...] | None = None
    floor: Stack | None = None  # trivial target measured first: the generator's own floor


FLOOR_MAX_S = 5.0  # the floor needs only a few seconds of the same load shape


def run(config: RunConfig, backend: Backend, floor_backend: Backend | None = None) -> RunResult:
    """Measure every stack of `config`; raises Interrupted after saving on Ctrl-C."""
    backend.check(list(config.stacks))
    floor_problem = _floor_problem(config, floor_backend)
    with recording(config, backend) as rec:
        if config.floor and floor_backend and not floor_problem:
            rec.record.floor = measure_floor(config, floor_backend, rec.run_dir)
        elif config.floor:
            rec.record.floor = StackResult(name="floor", backend="local", status="skipped", error=floor_problem)
            say(f"WARNING: load generator floor not measured: {floor_problem}")
        rec.save()
        plan = [(repeat, stack) for repeat in range(1, config.repeat + 1) for stack in config.stacks]
        started = time.monotonic()
        for done, (repeat, stack) in enumerate(plan):  # interleaved: A B C A B C, so drift hits all alike
            say(_progress(done, len(plan), started, config))
            rec.add(measure(stack, backend, config, rec.run_dir, repeat))
    return rec.record


@dataclass
class Recording:
    """The run being recorded: run.json is rewritten after every result."""

    record: RunResult
    run_dir: Path

    def save(self) -> None:
        save_run(self.run_dir, self.record)

    def add(self, result: StackResult) -> None:
        """Keep one result; an interrupted one ends the run (after it is saved)."""
        self.record.stacks.append(result)
        self.save()
        if result.status == "interrupted":
            raise KeyboardInterrupt


@contextmanager
def recording(config: RunConfig, backend: Backend, scenario: str = "compare") -> Iterator[Recording]:
    """A fresh run folder and run.json; on exit the run's status, summary and charts.

    Ctrl-C inside becomes Interrupted after everything measured so far is written.
    """
    run_id, run_dir = new_run_dir(config.results_dir)
    settings = {"scenario": scenario, **_settings(config)}
    record = RunResult(run_id=run_id, started_at=now_iso(), backend=backend.name, settings=settings,
                       machine=machine.describe())  # fmt: skip
    rec = Recording(record, run_dir)
    rec.save()
    # every child inherits the run id, so leftovers of a run can be found by it (tests do)
    os.environ["BENCH_RUN_ID"] = run_id
    say(f"run {run_id}: {scenario}, backend {backend.name}, results in {run_dir}")
    try:
        yield rec
        record.status = "failed" if any(s.status != "ok" for s in record.stacks) else "complete"
    except KeyboardInterrupt as exc:
        record.status = "interrupted"
        raise Interrupted() from exc
    finally:
        record.finished_at = now_iso()
        rec.save()
        report.write_summaries(config.results_dir, run_dir)


def _progress(done: int, total: int, started: float, config: RunConfig) -> str:
    """`[3/12] about 2m40s left`: from the time taken so far, or the load settings at first."""
    per = (time.monotonic() - started) / done if done else config.load.warmup_s + config.load.duration_s + 3
    left = int(per * (total - done))
    return f"[{done + 1}/{total}] about {left // 60}m{left % 60:02d}s left"


def _floor_problem(config: RunConfig, floor_backend: Backend | None) -> str | None:
    """Why the floor cannot be measured (it is optional: the run goes on without it)."""
    if not config.floor or not floor_backend:
        return None
    try:
        floor_backend.check([config.floor])
    except MissingToolError as exc:
        return f"{exc}" + (f" ({exc.tip})" if exc.tip else "")
    return None


def measure_floor(config: RunConfig, backend: Backend, run_dir: Path) -> StackResult:
    """The same load shape against a trivial nginx: what locust itself adds to every figure."""
    assert config.floor is not None
    load = replace(config.load, duration_s=min(config.load.duration_s, FLOOR_MAX_S))
    result = measure(config.floor, backend, replace(config, load=load, repeat=1), run_dir, 1)
    if result.status == "interrupted":
        raise KeyboardInterrupt
    return result


def measure(
    stack: Stack, backend: Backend, config: RunConfig, run_dir: Path, repeat: int, folder: str | None = None
) -> StackResult:
    """Bring one stack up, verify it, load it; a StackFailed becomes a failed result."""
    folder = folder or (stack.name if config.repeat == 1 else f"{stack.name}-r{repeat}")
    result = new_result(stack, backend, config, repeat, folder)
    spec = stack_run(config, run_dir / folder)
    say(f"[{stack.name}{'' if config.repeat == 1 else f' #{repeat}'}] starting")
    try:
        with up_and_verified(stack, backend, spec) as target:
            measure_on(target, stack, config, result, spec.stack_dir / "load")
    except StackFailed as exc:
        result.status, result.error, result.log_tail = "failed", str(exc), exc.log_tail
    _announce(result)
    return result


@contextmanager
def up_and_verified(stack: Stack, backend: Backend, spec: StackRun) -> Iterator[Target]:
    """The stack up and answering correctly, torn down on leaving (StackFailed otherwise)."""
    started = time.monotonic()
    with backend.up(stack, spec) as target:
        say(f"[{stack.name}] ready in {time.monotonic() - started:.1f} s")
        if stack.verify:
            verify(target.base_url)
        yield target


def new_result(stack: Stack, backend: Backend, config: RunConfig, repeat: int, folder: str) -> StackResult:
    """A result that says `failed` until a measurement succeeds."""
    return StackResult(name=stack.name, backend=backend.name, status="failed", repeat=repeat,
                       description=stack.description, reference=dict(stack.reference), folder=folder,
                       users=config.load.users)  # fmt: skip


def stack_run(config: RunConfig, stack_dir: Path) -> StackRun:
    return StackRun(stack_dir, config.breaker, config.ready_timeout, config.uid, config.gid,
                    config.stack_cpus, config.load_cpus)  # fmt: skip


def measure_on(target: Target, stack: Stack, config: RunConfig, result: StackResult, out: Path) -> None:
    """Load a running stack once, filling `result` (Envoy's counters too, if it has them)."""
    result.details = dict(target.details)
    result.breaker = config.breaker if stack.breaker_file else None
    before = _envoy_counters(target)
    outcome, usage = _load(target, config.load, out)
    _record(result, outcome, usage, target)
    result.time_wait = target.time_wait()
    if before is not None and (after := _envoy_counters(target)) is not None:
        result.envoy = envoy.deltas(before, after)


def _envoy_counters(target: Target) -> dict[str, int] | None:
    if not target.admin_url:
        return None
    try:
        return envoy.read_counters(target.admin_url)
    except OSError as exc:
        say(f"    WARNING: Envoy admin did not answer ({exc}); its counters are not recorded")
        return None


def _load(target: Target, load: LoadSettings, out: Path) -> tuple[LoadOutcome, UsageSummary]:
    say(f"    loading {load.users} users for {load.duration_s:g} s (+{load.warmup_s:g} s warmup) ...")
    sampler = Sampler(target.usage)
    sampler.start(delay=load.warmup_s)
    try:
        outcome = run_load(target.load_url or target.base_url, load, out, target.problem, target.launcher)
    finally:
        usage = sampler.stop()
    return outcome, usage


def _record(result: StackResult, outcome: LoadOutcome, usage: UsageSummary, target: Target) -> None:
    figures = outcome.figures
    if figures is not None:
        for key, value in asdict(figures).items():
            setattr(result, key, value)
    result.cpu_percent, result.cpu_seconds, result.peak_rss_mb = usage.cpu_percent, usage.cpu_seconds, usage.peak_rss_mb
    for row, rss in zip(result.per_window, usage.rss_mb_per_window, strict=False):
        row["stack_rss_mb"] = rss
    if figures is not None:
        result.generator_bound = figures.generator_bound
    if usage.cpu_seconds > 0 and figures is not None:
        result.rps_per_cpu_second = round(figures.requests / usage.cpu_seconds, 1)
    if outcome.interrupted:
        result.status, result.error = "interrupted", "interrupted during the load; figures cover the time until then"
    elif outcome.problem:
        result.status, result.error, result.log_tail = (
            "failed",
            f"stack broke during the load: {outcome.problem}",
            target.log_tail(),
        )
    elif figures is None or figures.requests == 0:
        result.status, result.error, result.log_tail = "failed", "locust recorded no requests", outcome.log_tail
    else:
        result.status = "ok"


def _announce(result: StackResult) -> None:
    if result.status == "ok":
        say(
            f"    ok: {result.rps:.0f} req/s, avg {result.avg_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
            f"{result.failures} failures of {result.requests}, stack CPU {result.cpu_percent}%"
        )
        return
    say(f"    {result.status.upper()}: {result.error}")
    if result.log_tail:
        say("    last log lines:\n" + "\n".join("      " + line for line in result.log_tail.splitlines()))


def _settings(config: RunConfig) -> dict[str, object]:
    return {
        "stacks": [s.name for s in config.stacks],
        "users": config.load.users,
        "spawn_rate": config.load.spawn_rate,
        "duration_s": config.load.duration_s,
        "warmup_s": config.load.warmup_s,
        "wait_s": config.load.wait_s,
        "repeat": config.repeat,
        "preset": config.preset,
        "breaker": config.breaker,
        "user_class": "FastHttpUser",
        "stack_cpus": list(config.stack_cpus) if config.stack_cpus else "all",
        "load_cpus": list(config.load_cpus) if config.load_cpus else "all",
    }


def say(message: str) -> None:
    """Progress for the person at the terminal (stderr; stdout stays for data)."""
    print(message, file=sys.stderr, flush=True)
