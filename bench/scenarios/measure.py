"""The stack comparison behind `bench all` and `bench stack NAME...`.

The load generator's floor first (locust against a trivial nginx), then every stack,
repeats interleaved (A B C A B C ...), each brought up, checked, loaded once, recorded.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from bench import options as opt
from bench.analysis import slo as slo_lib
from bench.console import progress
from bench.errors import ConfigError
from bench.options import Flags, Option
from bench.results import LoadShape, SloResult, folder_of
from bench.scenarios.base import (
    Scenario,
    ScenarioConfig,
    chosen_variants,
    interleaved,
    plan_progress,
    shown,
    stacks_of,
)
from bench.stacks import catalog as stack_files
from bench.stacks.userapp import Workload, load_mix, mix_json, resolve_app
from bench.stacks.variants import Variant

if TYPE_CHECKING:
    from bench.session import Session


@dataclass(frozen=True)
class MeasureConfig(ScenarioConfig):
    variants: tuple[Variant, ...] = field(metadata=shown("labels"))
    load: LoadShape = field(metadata=shown(merged=True))
    repeat: int = 3
    preset: str = "default"
    breaker: str | None = "seed000"  # None: no chosen stack has a breaker
    workload: Workload = field(default_factory=Workload, metadata=shown(merged=True))
    skipped: dict[str, str] = field(default_factory=dict)  # stack -> why it cannot serve --app
    floor: bool = True
    slo: slo_lib.Slo | None = None


class Measure(Scenario[MeasureConfig]):
    """`bench stack NAME...`: the named stacks side by side."""

    name = "measure"
    command = "stack"
    help = "measure the named stacks"
    positional: ClassVar[Option[Any] | None] = Option("names", (), "stacks to measure; STACK@TAG measures a stack "
                                                      "under a label of its own (flask@a flask@b: an A/A check), "
                                                      "STACK@NAME=VALUE,... with those parameters", nargs="+",
                                                      metavar="NAME")  # fmt: skip
    options = (*opt.LOAD, opt.WAIT, opt.REPEAT, opt.PROCESSES, *opt.PLACEMENT, opt.NO_FLOOR, opt.BREAKER, opt.SET,
               opt.RESULTS, opt.SLO, *opt.YOUR_APP, opt.INJECT)  # fmt: skip
    refused: ClassVar[Mapping[str, str]] = {
        "max_in_flight": "the stack comparison is a closed loop of -u users; an arrival rate (the open model) "
        "is `bench breaker --rate` or `bench sweep --model open`",
    }

    def configure(self, flags: Flags) -> MeasureConfig:
        workload = your_workload(flags)
        default = [s.name for s in (stack_files.discover().values() if workload.app else stack_files.in_all())]
        chosen, skipped = fitting(chosen_variants(flags, default), workload)
        assert flags.load is not None
        return MeasureConfig(
            stacks=stacks_of(chosen),
            variants=tuple(chosen),
            placement=flags.placement,
            load=replace(flags.load, mix=mix_json(workload.mix) if workload.mix else "",
                         locustfile=str(workload.locustfile or "")),
            repeat=flags.of(opt.REPEAT),
            preset=flags.of(opt.PRESET),
            breaker=flags.of(opt.BREAKER) if any(s.breaker_file for s in stacks_of(chosen)) else None,
            floor=not flags.of(opt.NO_FLOOR),
            workload=workload,
            skipped=skipped,
            slo=flags.of(opt.SLO),
        )

    def run(self, session: Session, config: MeasureConfig) -> None:
        session.workload = config.workload
        for stack, why in config.skipped.items():
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


def your_workload(flags: Flags) -> Workload:
    """--app and the flags that go with it, checked before anything starts."""
    requests, locustfile, target = flags.of(opt.REQUESTS), flags.of(opt.LOCUSTFILE), flags.of(opt.APP)
    if requests and locustfile:
        raise ConfigError("give --requests or --locustfile, not both", tip="a locustfile sends its own requests")
    if locustfile is not None and not locustfile.is_file():
        raise ConfigError(f"--locustfile: {locustfile} is not a file")
    for option in (opt.INTERFACE, opt.HEALTH, opt.REQUIREMENTS):
        if flags.has(option) and target is None:
            raise ConfigError(f"{option.shown} goes with --app", tip="serve your app: --app module:attribute")
    health = flags.of(opt.HEALTH)
    if not health.startswith("/"):
        raise ConfigError(f"--health: a path starting with /, got {health!r}")
    inject = flags.of(opt.INJECT) or {}
    if target is None:
        return Workload(None, load_mix(requests) if requests else (), locustfile, None, inject)
    if inject:
        raise ConfigError("--inject switches the lab's own app's faults, not your app's", tip="leave out --app")
    app = resolve_app(target, flags.of(opt.INTERFACE), flags.of(opt.APP_DIR), flags.of(opt.REQUIREMENTS))
    if requests is None and locustfile is None:
        raise ConfigError("--app needs the requests to send", tip="--requests mix.toml or --locustfile FILE")
    return Workload(app, load_mix(requests) if requests else (), locustfile, health)


def fitting(chosen: list[Variant], workload: Workload) -> tuple[list[Variant], dict[str, str]]:
    """The rows whose stack can serve the app, and the stacks skipped with why."""
    app = workload.app
    if app is None:
        return chosen, {}
    kept = [v for v in chosen if app.fits(v.stack.interface)]
    skipped = {v.stack.name: _why(v.stack.interface, app.interface) for v in chosen if not app.fits(v.stack.interface)}
    if not kept:
        fit = ", ".join(s.name for s in stack_files.discover().values() if app.fits(s.interface))
        raise ConfigError(f"no chosen stack serves a {app.interface.upper()} app like {app.target}",
                          tip=f"stacks for it: {fit}")  # fmt: skip
    return kept, skipped


def _why(stack_interface: str, app_interface: str) -> str:
    if stack_interface == "flask":
        return "the Flask development server serves Flask apps only"
    return f"it serves {stack_interface.upper()} apps and this one is {app_interface.upper()}"


class MeasureAll(Measure):
    """`bench all`: the four stacks of the seed documents (name the others with `bench stack`)."""

    command = "all"
    help = "measure the four seed stacks (flask, flask_gunicorn, flask_gunicorn_nginx, fastapi_istio)"
    positional = None
