"""Step the load until each stack saturates, and report its knee (seed 003's method).

For each stack, one bring-up; then steps of doubling load (coarse) until a step breaks the
target: p99 over the target (default 100 ms, seed 003's guideline), errors over 1 %, or
throughput no longer following the load. The load is locust users (closed model: requests/s
must grow by 5 % or more for twice the users) or an arrival rate (open model, like
`vegeta -rate`: at least 95 % of the offered rate must be achieved). Then a few bisection
steps between the last good and the first bad load (fine). Each step is recorded the moment
it is measured (role `step`, with its load and verdict); the knee, the highest load that met
the target, is marked when the stack's sweep ends.

With `--slo` (which replaces --p99-target) the knee is only where throughput stops following
the load (or errors pass 1 %), and the climb goes on past it until a step misses an upper
bound of the SLO (`p99<100ms`, `errors<1%`: what more load makes worse; bench/analysis/slo.py), then
bisects between the last load that kept them and that one. The highest load that met every
objective is the stack's *sustainable* load, reported beside the peak throughput; a stack
with none fails the SLO (exit code 99).

Every step is judged on successful answers only (bench/analysis/summary.py: `ok_latency`, `ok_rps`; a
stack that fails fast does not look faster or higher) and on errors as one figure (`error_pct`:
failed + unanswered of requests + unanswered slots).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from bench import options as opt
from bench.analysis import capacity as search
from bench.analysis import slo as slo_lib
from bench.analysis.summary import error_pct, ok_due_latency, ok_latency, ok_rps
from bench.console import progress
from bench.errors import ConfigError, StackFailed
from bench.options import Flags, Option
from bench.results import MAX_IN_FLIGHT, LoadShape, Measurement, SloResult, SweepStep, folder_of
from bench.scenarios.base import Scenario, ScenarioConfig, chosen_variants, shown, stacks_of
from bench.stacks import catalog
from bench.stacks.variants import Variant

if TYPE_CHECKING:
    from bench.backends.base import RunningStack
    from bench.session import Session

STEP_WARMUP_S = 2.0


@dataclass(frozen=True)
class SweepSettings:
    """Where a step counts as broken, and how the steps are laid out."""

    p99_target_ms: float | None = 100.0  # None: --slo replaced it
    max_error_pct: float = 1.0
    min_gain: float = 0.05  # twice the users must give 5 % more requests/s, or throughput stopped
    start_users: int = 4
    max_users: int = 1024
    model: str = "closed"  # closed: step users; open: step the arrival rate
    start_rate: float = 100.0  # req/s, open model
    max_rate: float = 12800.0
    min_kept: float = 0.95  # open model: share of the offered rate that must be achieved
    step_s: float = 8.0
    warmup_s: float = STEP_WARMUP_S
    refine_steps: int = 2  # bisection steps between the last good and the first bad load
    slo: slo_lib.Slo | None = None  # replaces p99_target_ms; the climb goes on until it breaks
    precision: float | None = None  # `bench capacity`: bisect until the bracket is this narrow (not refine_steps)
    least_rate: float | None = None  # `bench capacity`: a failing start rate steps down to this one
    min_answers: int = 0  # `bench capacity`: successful answers a step needs for its p99 to count (0: no minimum)
    confirm: bool = False  # `bench capacity`: a failing climb step is measured once more before bisecting below it

    @property
    def unit(self) -> str:
        """What a step's load counts: users (closed model) or req/s offered (open model)."""
        return "req/s" if self.model == "open" else "users"

    def plan(self) -> search.Plan:
        """The search over loads these settings ask for (bench/analysis/capacity.py)."""
        open_model = self.model == "open"
        start, most = (self.start_rate, self.max_rate) if open_model else (self.start_users, self.max_users)
        return search.Plan(start=round(start), most=most, least=self.least_rate, precision=self.precision,
                           refine=None if self.precision is not None else self.refine_steps,
                           confirm=self.confirm)  # fmt: skip


@dataclass(frozen=True)
class SweepConfig(ScenarioConfig):
    sweep: SweepSettings
    processes: int = 1
    max_in_flight: int | None = None  # the open model's bound; None: the closed model has none
    variants: tuple[Variant, ...] = field(default=(), metadata=shown("labels"))


P99_TARGET = Option("p99_target", ("--p99-target",), "p99 target in ms; --slo replaces it", opt.positive_float,
                    env="BENCH_P99_TARGET", default="100")  # fmt: skip
MAX_USERS = Option("max_users", ("--max-users",), "closed model: stop doubling here", opt.positive_int,
                   env="BENCH_MAX_USERS", default="1024")  # fmt: skip
STEP = Option("step", ("--step",), f"measured time per step (after a {STEP_WARMUP_S:g} s warmup)", opt.parse_duration,
              env="BENCH_STEP", default="8s")  # fmt: skip
MODEL: Option[str] = Option("model", ("--model",), "closed: step locust users; open: step the arrival rate (req/s, "
                            "like vegeta -rate)", env="BENCH_MODEL", default="closed",
                            choices=("closed", "open"))  # fmt: skip
START_RATE = Option("start_rate", ("--start-rate",), "open model: first rate", opt.positive_float,
                    env="BENCH_START_RATE", default="100")  # fmt: skip
MAX_RATE = Option("max_rate", ("--max-rate",), "open model: stop here", opt.positive_float, env="BENCH_MAX_RATE",
                  default="12800")  # fmt: skip
_STEPS = "a sweep sets each step's load itself; its length with --step"


class Sweep(Scenario[SweepConfig]):
    name = "sweep"
    command = "sweep"
    help = "step the load up to each stack's knee (p99 target, errors, throughput)"
    positional: ClassVar[Option[Any] | None] = Option("names", (), "stacks to sweep (default: all)", nargs="*",
                                                 metavar="STACK")  # fmt: skip
    options = (P99_TARGET, MAX_USERS, STEP, MODEL, START_RATE, MAX_RATE, opt.PROCESSES, *opt.PLACEMENT, opt.BREAKER,
               opt.MAX_IN_FLIGHT, opt.SET, opt.RESULTS, opt.SLO)  # fmt: skip
    refused: ClassVar[Mapping[str, str]] = {
        "preset": _STEPS, "users": _STEPS, "spawn_rate": _STEPS, "duration": _STEPS,
        "warmup": "each step has a 2 s warmup of its own",
        "repeat": "a sweep measures each step once; repeat the sweep to see its spread",
        "no_floor": "a sweep measures no floor",
        "rate": "the open-model sweep steps the rate itself: --model open --start-rate R --max-rate R",
    }  # fmt: skip

    def configure(self, flags: Flags) -> SweepConfig:
        chosen = chosen_variants(flags, [s.name for s in catalog.in_all()])
        slo = flags.of(opt.SLO)
        if slo is not None and flags.has(P99_TARGET):
            raise ConfigError("--slo replaces --p99-target: give one of them",
                              tip=f'put the p99 in the SLO, e.g. --slo "p99<{flags.of(P99_TARGET):g}ms,errors<1%"')
        settings = SweepSettings(
            p99_target_ms=None if slo is not None else flags.of(P99_TARGET),
            max_users=flags.of(MAX_USERS),
            step_s=flags.of(STEP),
            model=flags.of(MODEL),
            start_rate=flags.of(START_RATE),
            max_rate=flags.of(MAX_RATE),
            slo=slo,
        )
        if flags.has(opt.MAX_IN_FLIGHT) and settings.model != "open":
            raise ConfigError("--max-in-flight applies to the open model only", tip="add --model open")
        return SweepConfig(
            stacks=stacks_of(chosen),
            variants=tuple(chosen),
            placement=flags.placement,
            sweep=settings,
            processes=flags.of(opt.PROCESSES),
            max_in_flight=flags.of(opt.MAX_IN_FLIGHT) if settings.model == "open" else None,
        )

    def run(self, session: Session, config: SweepConfig) -> None:
        if config.sweep.slo is not None:
            session.run.slo = SloResult(config.sweep.slo.text)
        for variant in config.variants:
            sweep_stack(session, variant, config)


def sweep_stack(session: Session, variant: Variant, config: SweepConfig, repeat: int = 1) -> None:
    """All steps of one stack, each recorded as it is measured; the knee marked at the end. `repeat`: which
    search of the stack this is (`bench capacity --repeat N`), recorded with each step."""
    stack, label, params = variant.stack, variant.label, dict(variant.params)
    folder = f"{folder_of(label)}-sweep" + (f"-r{repeat}" if repeat > 1 else "")
    progress(f"[{label}{'' if repeat == 1 else f' #{repeat}'}] sweep: starting")
    steps: list[Measurement] = []
    try:
        with session.up(stack, params, folder, replicas=variant.replicas) as running:
            _coarse_then_fine(session, running, variant, config, params, steps, folder, repeat)
    except StackFailed as exc:
        failed = session.new(stack, "step", step_load(0, config), label=label, repeat=repeat, params=params,
                             folder=folder)
        failed.error, failed.log_tail = str(exc), exc.log_tail
        failed.step = SweepStep(0, config.sweep.unit, f"failed: {exc}")
        session.record(failed)
    finally:
        _mark_knee(steps)
        if config.sweep.slo is not None and session.run.slo is not None:
            _mark_sustainable(steps)
            session.run.slo.verdicts.append(slo_lib.judge_sweep(config.sweep.slo, label, steps))
        session.save()


def _coarse_then_fine(session: Session, running: RunningStack, variant: Variant, config: SweepConfig,
                      params: dict[str, str], steps: list[Measurement], folder: str, repeat: int) -> None:  # fmt: skip
    settings = config.sweep

    def step(value: int) -> bool:
        """Measure one load; True when the climb goes on (the knee's target, or the SLO's upper bounds, kept)."""
        m = session.new(variant.stack, "step", step_load(value, config), label=variant.label, repeat=repeat,
                        params=params, folder=folder)  # fmt: skip
        session.load(running, m, session.run_dir / m.folder / f"{settings.unit.replace('/', '')}-{value}")
        missed = slo_lib.missed(settings.slo, m) if settings.slo else None
        few = too_few(m, settings.min_answers)
        said = None if missed is None else [slo_lib.words(o, m) for o in missed] + few
        m.step = SweepStep(value, settings.unit, verdict(m, _best(steps), settings), slo_missed=said)
        f = m.figures
        slo_said = "" if said is None else "; SLO " + ("missed: " + ", ".join(said) if said else "met")
        due = ok_due_latency(f) if f else None  # the open model: what the SLO judges
        progress(f"    {value} {settings.unit}: {ok_rps(f) if f else 0:.0f} ok req/s, "
                 f"p99 {ok_latency(f).p99_ms if f else None} ms"
                 f"{f' ({due.p99_ms} ms from due)' if due else ''} -> {m.step.verdict}{slo_said}")  # fmt: skip
        steps.append(m)
        session.record(m)  # kept now: a Ctrl-C in the next step loses nothing of this one
        if missed is None:
            return m.step.verdict == "ok"
        return m.ok and not any(o.upper_bound for o in missed) and not few  # past the knee, until the SLO breaks

    why = search.drive(settings.plan(), lambda load: step(int(load)), [])
    progress(f"[{variant.label}] search done: {why}")


def too_few(m: Measurement, least: int) -> list[str]:
    """`answers 480, fewer than the 1000 a step needs`: a step whose p99 rests on too few answers to count."""
    f = m.figures
    answers = f.requests - f.failures if f else 0
    return [f"answers {answers}, fewer than the {least} a step needs"] if least and answers < least else []


def step_load(value: int, config: SweepConfig) -> LoadShape:
    """One step's load: `value` users, or `value` req/s offered by a pool of users."""
    settings = config.sweep
    if settings.model != "open":
        users = max(value, 1)
        return LoadShape(users=users, spawn_rate=users * 2, duration_s=settings.step_s, warmup_s=settings.warmup_s,
                         processes=config.processes)  # fmt: skip
    # long enough for `min_answers` answers at this rate, so a slow rate's p99 rests on as many as a fast one's
    length = max(settings.step_s, settings.min_answers / value) if value > 0 else settings.step_s
    return LoadShape.open(float(value), length, settings.warmup_s, config.processes,
                          config.max_in_flight or MAX_IN_FLIGHT)  # fmt: skip


def verdict(m: Measurement, best: Measurement | None, settings: SweepSettings) -> str:
    """`ok`, or why this step broke the target."""
    f = m.figures
    if not m.ok or f is None:
        return f"failed: {m.error}"
    errors = error_pct(m)  # the one definition: the open model's unanswered slots count
    if errors is None or errors > settings.max_error_pct:
        return f"errors {100.0 if errors is None else errors:.1f} % > {settings.max_error_pct:g} %"
    # successful answers only (failing fast is not keeping up); under the open model timed from due, as the SLO
    p99 = (ok_due_latency(f) or ok_latency(f)).p99_ms
    target = None if settings.slo else settings.p99_target_ms  # --slo replaces the p99 target
    if target is not None and (p99 is None or p99 > target):
        return f"p99 {p99} ms > {target:g} ms"
    rps = ok_rps(f)  # successful answers per second
    if settings.model == "open":
        offered = f.offered_rps or 0.0
        if rps < settings.min_kept * offered:
            return f"rate not kept ({rps:.0f} of {offered:.0f} req/s)"
        return "ok"
    users = m.load.users if m.load else 0
    best_users = best.load.users if best and best.load else 0
    best_rps = ok_rps(best.figures) if best and best.figures else 0.0
    # doubling the users must buy min_gain more req/s; a smaller step proportionally less
    needed = settings.min_gain * math.log2(users / best_users) if best_users and best_users < users else 0
    if best is not None and needed > 0 and rps < best_rps * (1 + needed):
        gain = 100 * (rps / best_rps - 1) if best_rps else 0.0
        return f"throughput stopped growing ({gain:+.0f} % for {users} vs {best_users} users)"
    return "ok"


def _best(steps: list[Measurement]) -> Measurement | None:
    good = [s for s in steps if s.step and s.step.verdict == "ok" and s.figures]
    return max(good, key=lambda s: ok_rps(s.figures) if s.figures else 0.0) if good else None


def _mark_sustainable(steps: list[Measurement]) -> None:
    """The highest load whose step met every objective of the SLO (the climb stops at the first upper
    bound missed and bisects below it, so every such step lies below the lowest load that broke it)."""
    met = [s for s in steps if s.ok and s.step and s.step.slo_missed == []]
    if met:
        best = max(met, key=lambda m: m.step.load if m.step else 0.0)
        assert best.step is not None
        best.step = replace(best.step, sustainable=True)


def _mark_knee(steps: list[Measurement]) -> None:
    good = [s for s in steps if s.step and s.step.verdict == "ok"]
    if good:
        knee = max(good, key=lambda m: m.step.load if m.step else 0.0)
        assert knee.step is not None
        knee.step = replace(knee.step, knee=True)
