"""The stack comparison behind `bench all` and `bench stack NAME...`.

The load generator's floor first (locust against a trivial nginx), then every stack,
repeats interleaved (A B C A B C ...), each brought up, checked, loaded once, recorded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from bench import options as opt
from bench import stacks as stack_files
from bench.console import progress
from bench.options import Option, Placement, Values
from bench.results import LoadShape
from bench.scenarios.base import (
    Scenario,
    ScenarioConfig,
    interleaved,
    load_settings,
    load_shape,
    plan_progress,
)

if TYPE_CHECKING:
    from bench.session import Session


@dataclass(frozen=True)
class MeasureConfig(ScenarioConfig):
    load: LoadShape
    repeat: int = 3
    preset: str = "default"
    breaker: str = "seed000"
    floor: bool = True

    def settings(self) -> dict[str, Any]:
        shown = super().settings() | load_settings(self.load) | {"repeat": self.repeat, "preset": self.preset}
        if any(s.breaker_file for s in self.stacks):
            shown["breaker"] = self.breaker
        return shown | {"floor": self.floor}


class Measure(Scenario[MeasureConfig]):
    """`bench stack NAME...`: the named stacks side by side."""

    name = "measure"
    command = "stack"
    help = "measure the named stacks"
    positional: ClassVar[Option | None] = Option("names", (), "stacks to measure", nargs="+", metavar="NAME")
    options = (*opt.LOAD, opt.REPEAT, opt.PROCESSES, *opt.PLACEMENT, opt.NO_FLOOR, opt.BREAKER, opt.RESULTS)

    def configure(self, values: Values) -> MeasureConfig:
        names = values.get("names")
        chosen = stack_files.select(names) if names else list(stack_files.discover().values())
        return MeasureConfig(
            stacks=tuple(chosen),
            placement=Placement.from_values(values),
            load=load_shape(values),
            repeat=opt.positive_int(values["repeat"], "--repeat"),
            preset=opt.preset_name(values["preset"]),
            breaker=values["breaker"],
            floor=not values["no_floor"],
        )

    def run(self, session: Session, config: MeasureConfig) -> None:
        if config.floor:
            session.measure_floor(config.load)
        plan = interleaved(config.repeat, config.stacks)
        started = time.monotonic()
        for done, (repeat, index) in enumerate(plan):
            progress(plan_progress(done, len(plan), started, config.load.warmup_s + config.load.duration_s + 3))
            stack = config.stacks[index]
            params = {"breaker": config.breaker} if stack.breaker_file else {}
            folder = stack.name if config.repeat == 1 else f"{stack.name}-r{repeat}"
            session.measure(stack, "stack", config.load, repeat=repeat, params=params, folder=folder)


class MeasureAll(Measure):
    """`bench all`: every stack."""

    command = "all"
    help = "measure every stack"
    positional = None
