"""The stack comparison behind `bench all` and `bench stack NAME...`.

The load generator's floor first (locust against a trivial nginx), then every stack,
repeats interleaved (A B C A B C ...), each brought up, checked, loaded once, recorded.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from bench import options as opt
from bench import slo as slo_lib
from bench import stacks as stack_files
from bench.console import progress
from bench.options import Option, Placement, Values
from bench.params import Variant
from bench.results import LoadShape, SloResult, folder_of
from bench.scenarios.base import (
    Scenario,
    ScenarioConfig,
    chosen_variants,
    interleaved,
    load_settings,
    load_shape,
    plan_progress,
    stacks_of,
)

if TYPE_CHECKING:
    from bench.session import Session


@dataclass(frozen=True)
class MeasureConfig(ScenarioConfig):
    variants: tuple[Variant, ...]
    load: LoadShape
    repeat: int = 3
    preset: str = "default"
    breaker: str = "seed000"
    floor: bool = True
    slo: slo_lib.Slo | None = None

    def settings(self) -> dict[str, Any]:
        shown = super().settings() | {"labels": [v.label for v in self.variants]}
        shown |= load_settings(self.load) | {"repeat": self.repeat, "preset": self.preset}
        if any(s.breaker_file for s in self.stacks):
            shown["breaker"] = self.breaker
        return shown | {"floor": self.floor} | ({"slo": self.slo.text} if self.slo else {})


class Measure(Scenario[MeasureConfig]):
    """`bench stack NAME...`: the named stacks side by side."""

    name = "measure"
    command = "stack"
    help = "measure the named stacks"
    positional: ClassVar[Option | None] = Option("names", (), "stacks to measure; STACK@TAG measures a stack under "
                                                 "a label of its own (flask@a flask@b: an A/A check), "
                                                 "STACK@NAME=VALUE,... with those parameters", nargs="+",
                                                 metavar="NAME")  # fmt: skip
    options = (*opt.LOAD, opt.WAIT, opt.REPEAT, opt.PROCESSES, *opt.PLACEMENT, opt.NO_FLOOR, opt.BREAKER, opt.SET,
               opt.RESULTS, opt.SLO)  # fmt: skip
    refused: ClassVar[Mapping[str, str]] = {
        "max_in_flight": "the stack comparison is a closed loop of -u users; an arrival rate (the open model) "
        "is `bench breaker --rate` or `bench sweep --model open`",
    }

    def configure(self, values: Values) -> MeasureConfig:
        chosen = chosen_variants(values, [s.name for s in stack_files.in_all()])
        return MeasureConfig(
            stacks=stacks_of(chosen),
            variants=tuple(chosen),
            placement=Placement.from_values(values),
            load=load_shape(values),
            repeat=opt.positive_int(values["repeat"], "--repeat"),
            preset=opt.preset_name(values["preset"]),
            breaker=values["breaker"],
            floor=not values["no_floor"],
            slo=slo_lib.parse(values["slo"]) if values.get("slo") is not None else None,
        )

    def run(self, session: Session, config: MeasureConfig) -> None:
        if config.floor:
            session.measure_floor(config.load)
        plan = interleaved(config.repeat, config.variants)
        started = time.monotonic()
        for done, (repeat, index) in enumerate(plan):
            progress(plan_progress(done, len(plan), started, config.load.warmup_s + config.load.duration_s + 3))
            variant = config.variants[index]
            params = dict(variant.params)
            folder = folder_of(variant.label) + ("" if config.repeat == 1 else f"-r{repeat}")
            session.measure(variant.stack, "stack", config.load, label=variant.label, repeat=repeat, params=params,
                            folder=folder, replicas=variant.replicas)  # fmt: skip
        if config.slo is not None:
            judge(session, config.slo, config.variants)


def judge(session: Session, slo: slo_lib.Slo, variants: tuple[Variant, ...]) -> None:
    """Each label against the SLO, on the median of its repeats; kept in run.json."""
    rows = session.run.rows("stack")
    verdicts = [slo_lib.judge(slo, v.label, [m for m in rows if m.label == v.label]) for v in variants]
    session.run.slo = SloResult(slo.text, verdicts)
    session.save()


class MeasureAll(Measure):
    """`bench all`: the four stacks of the seed documents (name the others with `bench stack`)."""

    command = "all"
    help = "measure the four seed stacks (flask, flask_gunicorn, flask_gunicorn_nginx, fastapi_istio)"
    positional = None
