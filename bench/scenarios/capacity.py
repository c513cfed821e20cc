"""The highest arrival rate each stack serves within an SLO, and what to deploy for a target rate.

`bench capacity` is the open-model sweep (bench/scenarios/sweep.py) searching more finely: one
bring-up per stack, then steps of an arrival rate, each judged against the SLO on successful
answers only, p99 timed from when each request was due (`ok_corrected`), errors as failed +
unanswered of every slot due. The search (bench/analysis/capacity.py, the same one the sweep
climbs with) doubles the rate from --start-rate until a step misses the SLO (a failing start
halves, down to a quarter of it), then bisects until the lowest failing rate is within
--precision (2 %) above the highest passing one. Each step lasts --step, or longer at low rates,
so that it holds at least --min-answers answers: a p99 of 1,000 answers rests on its 10 slowest.

The highest passing rate is the stack's capacity; the report (bench/report/capacity.py) adds the
CPU and memory used there, what broke above it, and with --target-rps the cores, replicas and
memory each stack needs, ranked. Every step is recorded as it is measured (role `step`), so a
Ctrl-C keeps the finished ones and the best bracket, reported as partial.

With --repeat N every stack is searched N times, interleaved (bench/scenarios/base.py's `interleaved`: the
first search of every stack, then the second in the other order, ...), each search its own bring-up and
each step recorded with its search's number as `repeat`; the report takes the median and its interval.

Before the search, the load generator's ceiling: the lab's floor (locust against nginx answering from
memory) offered --max-rate; a stack whose first failing rate comes within reach of the most locust achieved
there or at any step (bench/analysis/capacity.py's REACH) is a lower bound, never a capacity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from bench import options as opt
from bench.analysis import capacity as search
from bench.analysis.summary import ok_rps
from bench.console import progress
from bench.errors import ConfigError
from bench.options import Flags, Option
from bench.results import MAX_IN_FLIGHT, LoadShape, SloResult
from bench.scenarios.base import Scenario, chosen_variants, interleaved, shown, stacks_of
from bench.scenarios.sweep import MAX_RATE, START_RATE, STEP, SweepConfig, SweepSettings, sweep_stack
from bench.stacks import catalog
from bench.stacks.userapp import Workload

if TYPE_CHECKING:
    from bench.session import Session

DEFAULT_SLO = "p99<100ms,errors<1%"
DOWN_TO = 4  # a failing --start-rate steps down to a quarter of it


def _share(text: str, flag: str) -> float:
    """`2%` or `2` -> 0.02: a precision above 0 and under 50 %."""
    value = opt.positive_float(text.strip().removesuffix("%"), flag)
    if value >= 50:
        raise ConfigError(f"{flag}: a precision is a few %, got {text}", tip="e.g. --precision 2%")
    return value / 100


PRECISION = Option("precision", ("--precision",), "bisect until the lowest failing rate is within this share above "
                   "the highest passing one", _share, env="BENCH_PRECISION", default="2%")  # fmt: skip
MIN_ANSWERS = Option("min_answers", ("--min-answers",), "successful answers each step needs for its p99 to count "
                     "(a step at a low rate lasts longer than --step to get them)", opt.positive_int,
                     env="BENCH_MIN_ANSWERS", default="1000")  # fmt: skip
TARGET_RPS = Option("target_rps", ("--target-rps",), "size each stack for this rate: cores, replicas and memory, "
                    "ranked by cores", opt.positive_float, env="BENCH_TARGET_RPS", metavar="R")  # fmt: skip
CAPACITY_STEP = STEP.defaulting("5s")
REPEAT = replace(opt.REPEAT, help="search each stack N times, interleaved (every stack's first search, then every "
                 "stack's second, ...): the capacity is the median with a 95 %% interval", default="1")  # fmt: skip
SLO = replace(opt.SLO, help="the objectives a rate must meet, upper bounds only (what more load makes worse): "
              "comma-separated FIGURE OP VALUE, avg, p50, p90, p95, p99, p99.9, max in ms or s (timed from when "
              "each request was due), errors in %%; a stack that meets it at no rate exits with 99",
              default=DEFAULT_SLO)  # fmt: skip
_STEPS = "the capacity search sets each step's rate itself; its length with --step"


@dataclass(frozen=True)
class CapacityConfig(SweepConfig):
    search: search.Plan | None = None  # the search the report re-reads (recorded as run.json settings' `search`)
    target_rps: float | None = None
    repeat: int = 1
    floor: bool = True  # the load generator's ceiling measured before the search
    workload: Workload = field(default_factory=Workload, metadata=shown(merged=True))  # --inject's faults


class Capacity(Scenario[CapacityConfig]):
    name = "capacity"
    command = "capacity"
    help = "the highest arrival rate each stack serves within an SLO (p99 from due time, errors), and with " \
           "--target-rps the cores and memory each needs"  # fmt: skip
    positional: ClassVar[Option[Any] | None] = Option("names", (), "stacks to search (default: all)", nargs="*",
                                                      metavar="STACK")  # fmt: skip
    options = (SLO, PRECISION, TARGET_RPS, REPEAT, START_RATE, MAX_RATE, CAPACITY_STEP,
               MIN_ANSWERS, opt.PROCESSES, *opt.PLACEMENT, opt.NO_FLOOR, opt.BREAKER, opt.MAX_IN_FLIGHT, opt.SET,
               opt.INJECT, opt.RESULTS)  # fmt: skip
    refused: ClassVar[Mapping[str, str]] = {
        "preset": _STEPS, "users": _STEPS, "spawn_rate": _STEPS, "duration": _STEPS, "rate": _STEPS,
        "warmup": "each step has a 2 s warmup of its own",
        "wait": "the capacity search offers an arrival rate (open model): no think time",
    }  # fmt: skip

    def configure(self, flags: Flags) -> CapacityConfig:
        chosen = chosen_variants(flags, [s.name for s in catalog.in_all()])
        slo = flags.of(opt.SLO)
        assert slo is not None  # defaulted
        lower = [o.text for o in slo.objectives if not o.upper_bound]
        if lower:
            raise ConfigError(f"capacity takes upper bounds only (what more load makes worse), not {lower[0]!r}",
                              tip=f'e.g. --slo "{DEFAULT_SLO}"; --target-rps sizes each stack for a rate')
        settings = SweepSettings(p99_target_ms=None, model="open", start_rate=flags.of(START_RATE),
                                 max_rate=flags.of(MAX_RATE), step_s=flags.of(CAPACITY_STEP), slo=slo,
                                 precision=flags.of(PRECISION), least_rate=flags.of(START_RATE) / DOWN_TO,
                                 min_answers=flags.of(MIN_ANSWERS), confirm=True)  # fmt: skip
        if settings.start_rate > settings.max_rate:
            raise ConfigError(f"--start-rate {settings.start_rate:g} is above --max-rate {settings.max_rate:g}")
        return CapacityConfig(stacks=stacks_of(chosen), variants=tuple(chosen), placement=flags.placement,
                              sweep=settings, processes=flags.of(opt.PROCESSES),
                              max_in_flight=flags.of(opt.MAX_IN_FLIGHT), search=settings.plan(),
                              target_rps=flags.of(TARGET_RPS), repeat=flags.of(REPEAT),
                              floor=not flags.of(opt.NO_FLOOR),
                              workload=_faults(flags))  # fmt: skip

    def run(self, session: Session, config: CapacityConfig) -> None:
        assert config.sweep.slo is not None
        session.run.slo = SloResult(config.sweep.slo.text)
        session.workload = config.workload  # --inject: the lab's app's faults, in every stack searched
        if config.floor:
            ceiling(session, config)
        for repeat, index in interleaved(config.repeat, config.variants):
            sweep_stack(session, config.variants[index], config, repeat)


def _faults(flags: Flags) -> Workload:
    """--inject's faults for the lab's own app (each stack's, as `bench stack --inject`)."""
    inject = flags.of(opt.INJECT)
    return Workload(inject=inject or {})


def ceiling(session: Session, config: CapacityConfig) -> float | None:
    """The load generator's ceiling, before the search: --max-rate offered to nginx answering from memory (the
    lab's floor, bench/session.py) for a few seconds; the successful answers/s locust achieved there (or at any
    step, bench/report/capacity.py) is the most it can offer here. A stack whose capacity comes within reach of
    it is reported as a lower bound."""
    settings = config.sweep
    load = LoadShape.open(settings.max_rate, settings.step_s, settings.warmup_s, config.processes,
                          config.max_in_flight or MAX_IN_FLIGHT)  # fmt: skip
    floor = session.measure_floor(load)
    if floor is None or not floor.ok or floor.figures is None:
        progress("WARNING: the load generator's ceiling was not measured: no capacity can be told from the "
                 "generator's limit")  # fmt: skip
        return None
    found = ok_rps(floor.figures)
    progress(f"load generator ceiling: at least {found:.0f} req/s against nginx (offered {settings.max_rate:g}); "
             f"a first failing rate at {100 * search.REACH:g} % or more of the most it achieves in the run is a lower "
             "bound")  # fmt: skip
    return found
