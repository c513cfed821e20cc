"""The stack comparison behind `bench all` and `bench stack NAME...`.

The load generator's floor first (locust against a trivial nginx), then every stack,
repeats interleaved (A B C A B C ...), each brought up, checked, loaded once, recorded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from bench import options as opt
from bench import slo as slo_lib
from bench import stacks as stack_files
from bench.console import progress
from bench.errors import ConfigError
from bench.options import Option, Placement, Values
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
from bench.userapp import Workload, load_mix, mix_json, parse_inject, resolve_app
from bench.variants import Variant

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
    workload: Workload = field(default_factory=Workload)
    skipped: tuple[tuple[str, str], ...] = ()  # (stack, why) of the stacks that cannot serve --app
    slo: slo_lib.Slo | None = None

    def settings(self) -> dict[str, Any]:
        shown = super().settings() | {"labels": [v.label for v in self.variants]}
        shown |= load_settings(self.load) | {"repeat": self.repeat, "preset": self.preset}
        if any(s.breaker_file for s in self.stacks):
            shown["breaker"] = self.breaker
        shown |= self.workload.settings()
        shown |= {"skipped": dict(self.skipped)} if self.skipped else {}
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
               opt.RESULTS, opt.SLO, *opt.YOUR_APP, opt.INJECT)  # fmt: skip
    refused: ClassVar[Mapping[str, str]] = {
        "max_in_flight": "the stack comparison is a closed loop of -u users; an arrival rate (the open model) "
        "is `bench breaker --rate` or `bench sweep --model open`",
    }

    def configure(self, values: Values) -> MeasureConfig:
        workload = your_workload(values)
        default = [s.name for s in (stack_files.discover().values() if workload.app else stack_files.in_all())]
        chosen, skipped = fitting(chosen_variants(values, default), workload)
        return MeasureConfig(
            stacks=stacks_of(chosen),
            variants=tuple(chosen),
            placement=Placement.from_values(values),
            load=replace(load_shape(values), mix=mix_json(workload.mix) if workload.mix else "",
                         locustfile=str(workload.locustfile or "")),
            repeat=opt.positive_int(values["repeat"], "--repeat"),
            preset=opt.preset_name(values["preset"]),
            breaker=values["breaker"],
            floor=not values["no_floor"],
            workload=workload,
            skipped=skipped,
            slo=slo_lib.parse(values["slo"]) if values.get("slo") is not None else None,
        )

    def run(self, session: Session, config: MeasureConfig) -> None:
        session.workload = config.workload
        for stack, why in config.skipped:
            progress(f"[{stack}] skipped: {why}")
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


def your_workload(values: Values) -> Workload:
    """--app and the flags that go with it, checked before anything starts."""
    app_dir = Path(values.get("app_dir") or os.getcwd()).resolve()
    requests = Path(values["requests"]) if values.get("requests") else None
    locustfile = Path(values["locustfile"]).resolve() if values.get("locustfile") else None
    if requests and locustfile:
        raise ConfigError("give --requests or --locustfile, not both", tip="a locustfile sends its own requests")
    if locustfile is not None and not locustfile.is_file():
        raise ConfigError(f"--locustfile: {locustfile} is not a file")
    for flag in ("interface", "health", "requirements"):
        if values.get(flag) and not values.get("app"):
            raise ConfigError(f"--{flag} goes with --app", tip="serve your app: --app module:attribute")
    health = values.get("health")
    if health and not health.startswith("/"):
        raise ConfigError(f"--health: a path starting with /, got {health!r}")
    app = None
    if values.get("app"):
        requirements = Path(values["requirements"]).resolve() if values.get("requirements") else None
        app = resolve_app(values["app"], values.get("interface"), app_dir, requirements)
        if requests is None and locustfile is None:
            raise ConfigError("--app needs the requests to send", tip="--requests mix.toml or --locustfile FILE")
    inject = parse_inject(values.get("inject"))
    if inject and app is not None:
        raise ConfigError("--inject switches the lab's own app's faults, not your app's", tip="leave out --app")
    return Workload(app, load_mix(requests) if requests else (), locustfile, health or (None if app is None else
                    "/health"), inject)  # fmt: skip


def fitting(chosen: list[Variant], workload: Workload) -> tuple[list[Variant], tuple[tuple[str, str], ...]]:
    """The rows whose stack can serve the app, and the stacks skipped with why."""
    app = workload.app
    if app is None:
        return chosen, ()
    kept = [v for v in chosen if app.fits(v.stack.interface)]
    skipped = {v.stack.name: _why(v.stack.interface, app.interface) for v in chosen if not app.fits(v.stack.interface)}
    if not kept:
        fit = ", ".join(s.name for s in stack_files.discover().values() if app.fits(s.interface))
        raise ConfigError(f"no chosen stack serves a {app.interface.upper()} app like {app.target}",
                          tip=f"stacks for it: {fit}")  # fmt: skip
    return kept, tuple(skipped.items())


def _why(stack_interface: str, app_interface: str) -> str:
    if stack_interface == "flask":
        return "the Flask development server serves Flask apps only"
    return f"it serves {stack_interface.upper()} apps and this one is {app_interface.upper()}"


class MeasureAll(Measure):
    """`bench all`: the four stacks of the seed documents (name the others with `bench stack`)."""

    command = "all"
    help = "measure the four seed stacks (flask, flask_gunicorn, flask_gunicorn_nginx, fastapi_istio)"
    positional = None
