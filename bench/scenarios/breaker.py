"""The circuit-breaker experiment: the same overload with the breaker off and on.

Like seeds 000/001 (vegeta at a fixed rate against FastAPI behind Istio), but with the side
they never published: the same rate with no breaker. The rate is absolute (`1500`) or
relative to the stack's capacity (`2x`), which is then measured first with a short
closed-loop run, breaker off. Then each preset (`off` and the chosen one) at that rate,
`--repeat` times interleaved (off, seed000, off, seed000, ...). Each is a measurement with
role `overload`, labelled `stack@breaker=<preset>`; the capacity phase has role `capacity`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, cast

from bench import options as opt
from bench.analysis.summary import ok_rps
from bench.console import progress
from bench.errors import ConfigError
from bench.gateway import istio
from bench.options import Flags, Option, Rate
from bench.results import LoadShape
from bench.scenarios.base import Scenario, ScenarioConfig, interleaved, shown
from bench.stacks import catalog

if TYPE_CHECKING:
    from bench.session import Session

CAPACITY_LOAD = LoadShape(users=50, spawn_rate=50, duration_s=5.0, warmup_s=2.0)
PHASE_DURATION = "10s"  # seed 001: vegeta attack -duration=10s
# the shared parser (bench/options.py); relative to the capacity measured first, twice it by default
RATE = cast(Option[Rate], replace(opt.RATE, help="arrival rate: req/s (1500) or a multiple of the capacity "
                                  "(2x, 150%%)").defaulting("2x"))  # with a default, never None


@dataclass(frozen=True)
class BreakerConfig(ScenarioConfig):
    rate: Rate = field(metadata=shown(form=lambda r: r.of("capacity")))
    presets: tuple[str, ...]  # breaker off, then the chosen preset
    repeat: int = 3
    duration_s: float = 10.0
    warmup_s: float = 0.0
    max_in_flight: int = 10_000
    processes: int = 1
    capacity_load: LoadShape | None = None  # the closed loop that measures the capacity a relative rate needs


class Breaker(Scenario[BreakerConfig]):
    name = "breaker"
    command = "breaker"
    help = "the circuit breaker under overload: breaker off vs a preset, same rate"
    positional: ClassVar[Option[Any] | None] = Option("names", (), "a stack with a breaker (default fastapi_istio)",
                                                 nargs="?", metavar="STACK")  # fmt: skip
    options = (RATE, opt.MAX_IN_FLIGHT, opt.DURATION.defaulting(PHASE_DURATION), opt.WARMUP.defaulting("0s"),
               opt.REPEAT, opt.PROCESSES, *opt.PLACEMENT, opt.BREAKER, opt.RESULTS)  # fmt: skip
    refused: ClassVar[Mapping[str, str]] = {
        "preset": "the phases' load is the arrival rate: set it with --rate, their length with -t",
        "spawn_rate": "every user of an open-model phase starts at once; --rate sets the load",
        "no_floor": "the breaker experiment measures no floor",
        "set": "the breaker experiment varies the breaker preset only (--breaker); other parameters: bench stack "
        "fastapi_istio --set ...",
        "users": "the open model has no users: each request is sent when due, as many in flight as needed up "
        "to --max-in-flight",
        "slo": "the breaker experiment overloads the stack on purpose (twice its capacity by default), so an SLO "
        "would fail by design; gate on `bench stack fastapi_istio --slo ...` or find the load that meets it with "
        "`bench sweep fastapi_istio --slo ...`",
    }

    def configure(self, flags: Flags) -> BreakerConfig:
        stack = catalog.select(list(flags.names) or ["fastapi_istio"])[0]
        if not stack.breaker_file:
            raise ConfigError(f"stack {stack.name!r} has no circuit breaker", tip="use a stack with a breaker file")
        preset = istio.choose(stack.path / stack.breaker_file, flags.of(opt.BREAKER)).name  # unknown: refused here
        return BreakerConfig(
            stacks=(stack,),
            placement=flags.placement,
            rate=flags.of(RATE),
            duration_s=flags.of(opt.DURATION),
            warmup_s=flags.of(opt.WARMUP),
            max_in_flight=flags.of(opt.MAX_IN_FLIGHT),
            processes=flags.of(opt.PROCESSES),
            repeat=flags.of(opt.REPEAT),
            presets=("off", preset) if preset != "off" else ("off",),
            capacity_load=CAPACITY_LOAD if flags.of(RATE).relative else None,
        )

    def run(self, session: Session, config: BreakerConfig) -> None:
        stack = config.stacks[0]
        capacity = None
        if config.capacity_load is not None:
            m = session.measure(stack, "capacity", config.capacity_load, label=f"{stack.name}@breaker=off",
                                params={"breaker": "off"}, folder=f"{stack.name}-capacity")  # fmt: skip
            capacity = ok_rps(m.figures) if m.ok and m.figures else None  # successful answers only
        offered = config.rate.resolve(capacity)
        if offered is None:
            progress("ERROR: capacity could not be measured, so a relative rate has no meaning; nothing more to run")
            return
        load = LoadShape.open(offered, config.duration_s, config.warmup_s, config.processes, config.max_in_flight)
        progress(f"overload: {offered:g} req/s offered ({config.rate.of('capacity')}), up to "
                 f"{config.max_in_flight} in flight, presets {', '.join(config.presets)}, {config.repeat} time(s) "
                 "each, interleaved")  # fmt: skip
        for repeat, index in interleaved(config.repeat, config.presets):
            preset = config.presets[index]
            folder = f"{stack.name}-{preset}" + (f"-r{repeat}" if config.repeat > 1 else "")
            session.measure(stack, "overload", load, label=f"{stack.name}@breaker={preset}", repeat=repeat,
                            params={"breaker": preset}, folder=folder)  # fmt: skip
