"""The stack comparison behind `bench all` and `bench stack NAME...`.

The load generator's floor first (locust against a trivial nginx), then every stack,
repeats interleaved (A B C A B C ...), each brought up, checked, loaded once, recorded,
then the floor again (the noise guard, bench/analysis/noise.py: did the machine change speed?).

The closed model (-u users, flat out) by default; with `--rate` the open model: every row is
offered the same arrival rate, so latency is compared at equal load (timed from when each
request was due). `--rate 50%` is half the closed-loop peak of the slowest row, measured first
in this run (role `peak`, one short closed loop per row), as `bench layers` sets its fixed rate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from bench import options as opt
from bench.analysis import slo as slo_lib
from bench.analysis.summary import ok_rps
from bench.console import progress
from bench.errors import ConfigError
from bench.options import Flags, Option, Rate
from bench.results import MAX_IN_FLIGHT, LoadShape, SloResult, folder_of
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
    rate: Rate | None = field(default=None, metadata=shown(form=lambda r: r.of(PEAK)))  # None: the closed model
    max_in_flight: int | None = None  # the open model's bound; None: the closed model has none

    def row_load(self, rps: float | None = None) -> LoadShape:
        """The rows' load: the closed loop, or the open model at `rps` (the same mix, window and processes)."""
        if rps is None:
            return self.load
        shape = LoadShape.open(rps, self.load.duration_s, self.load.warmup_s, self.load.processes,
                               self.max_in_flight or MAX_IN_FLIGHT)  # fmt: skip
        return replace(shape, mix=self.load.mix)

    def peak_load(self) -> LoadShape:
        """The closed loop whose slowest row sets a relative rate: -u users flat out, a few seconds."""
        return replace(self.load, duration_s=min(self.load.duration_s, PEAK_MAX_S))

    def settings(self) -> dict[str, Any]:
        found = super().settings()
        if self.rate is not None and not self.rate.relative:  # -u/-r shape no load: the open model has no users
            found = {k: v for k, v in found.items() if k not in ("users", "spawn_rate")} | {
                "offered_rps": self.rate.value}  # fmt: skip
        return found


PEAK = "the slowest row's closed-loop peak"  # not a capacity: that is defined at an SLO
PEAK_MAX_S = 5.0  # the peak needs only a few seconds of the closed loop
_OPEN = "with --rate the rows are offered an arrival rate (the open model)"


class Measure(Scenario[MeasureConfig]):
    """`bench stack NAME...`: the named stacks side by side."""

    name = "measure"
    command = "stack"
    help = "measure the named stacks"
    positional: ClassVar[Option[Any] | None] = Option("names", (), "stacks to measure; STACK@TAG measures a stack "
                                                      "under a label of its own (flask@a flask@b: an A/A check), "
                                                      "STACK@NAME=VALUE,... with those parameters", nargs="+",
                                                      metavar="NAME")  # fmt: skip
    options = (*opt.LOAD, opt.WAIT, opt.REPEAT, opt.PROCESSES, *opt.PLACEMENT, opt.NO_FLOOR, opt.BREAKER, opt.RATE,
               opt.MAX_IN_FLIGHT, opt.SET, opt.RESULTS, opt.SLO, *opt.YOUR_APP, opt.INJECT)  # fmt: skip

    def configure(self, flags: Flags) -> MeasureConfig:
        workload = your_workload(flags)
        default = [s.name for s in (stack_files.discover().values() if workload.app else stack_files.in_all())]
        chosen, skipped = fitting(chosen_variants(flags, default), workload)
        assert flags.load is not None
        rate = open_model(flags)
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
            rate=rate,
            max_in_flight=flags.of(opt.MAX_IN_FLIGHT) if rate is not None else None,
        )

    def run(self, session: Session, config: MeasureConfig) -> None:
        session.workload = config.workload
        for stack, why in config.skipped.items():
            progress(f"[{stack}] skipped: {why}")
        # the floor's load: the rows' own, or the closed loop when the rate follows a peak not measured yet
        floor_load = config.row_load(config.rate.value) if config.rate and not config.rate.relative else config.load
        if config.floor:
            session.measure_floor(floor_load)
        rps = offered(session, config)
        if config.rate is not None and rps is None:
            progress("ERROR: no row's closed-loop peak could be measured, so a relative --rate has no meaning; "
                     "nothing more to run")  # fmt: skip
            return
        load = config.row_load(rps)
        plan = interleaved(config.repeat, config.variants)
        started = time.monotonic()
        for done, (repeat, index) in enumerate(plan):
            progress(plan_progress(done, len(plan), started, load.warmup_s + load.duration_s + 3))
            variant = config.variants[index]
            params = dict(variant.params)
            folder = folder_of(variant.label) + ("" if config.repeat == 1 else f"-r{repeat}")
            session.measure(variant.stack, "stack", load, label=variant.label, repeat=repeat, params=params,
                            folder=folder, replicas=variant.replicas)  # fmt: skip
        if config.floor:
            session.measure_floor(floor_load, role="floor_end")
        if config.slo is not None:
            judge(session, config.slo, config.variants)


def open_model(flags: Flags) -> Rate | None:
    """--rate and the flags that go with it, checked together: None for the closed model. Only flags typed on
    the command line are refused; a `BENCH_*` variable the other model has no use for is left unused."""
    rate = flags.of(opt.RATE)
    if rate is None:
        if flags.typed_here(opt.MAX_IN_FLIGHT):
            raise ConfigError("--max-in-flight applies to the open model only", tip="add --rate 200 (req/s) or 50%")
        return None
    # a locustfile would be used however it was set (its users wait for answers): refused from the environment too
    clash: list[Option[Any]] = [o for o in (opt.WAIT,) if flags.typed_here(o)]
    clash += [opt.LOCUSTFILE] if flags.has(opt.LOCUSTFILE) else []
    clash += [o for o in (opt.USERS, opt.SPAWN_RATE) if flags.typed_here(o) and not rate.relative]
    if clash:
        tip = ("-u/-r shape only the closed loop that measures the peak of a relative rate (--rate 50%)"
               if clash[0] in (opt.USERS, opt.SPAWN_RATE) else "leave it out, or leave out --rate")  # fmt: skip
        raise ConfigError(f"{clash[0].shown} does not go with --rate {rate.of('peak')}: {_OPEN}, without users "
                          "that wait for answers", tip=tip)  # fmt: skip
    return rate


def offered(session: Session, config: MeasureConfig) -> float | None:
    """The rows' arrival rate, req/s (None: the closed model, or no peak to follow). A relative rate first
    measures every row's closed-loop peak (once each) and follows the slowest, so every row is offered one
    load; recorded in run.json's settings."""
    if config.rate is None:
        return None
    peaks: dict[str, float] = {}
    if config.rate.relative:
        for variant in config.variants:
            m = session.measure(variant.stack, "peak", config.peak_load(), label=variant.label,
                                params=dict(variant.params), folder=f"{folder_of(variant.label)}-peak",
                                replicas=variant.replicas)  # fmt: skip
            if m.ok and m.figures and ok_rps(m.figures) > 0:
                peaks[variant.label] = ok_rps(m.figures)  # successful answers only
    rps = config.rate.resolve(min(peaks.values()) if peaks else None)
    if rps is not None:
        session.run.settings["offered_rps"] = rps
        session.save()
        shown = "" if not config.rate.relative else f" ({config.rate.of(PEAK)})"
        progress(f"open model: {rps:g} req/s offered to every row{shown}")
    return rps


def judge(session: Session, slo: slo_lib.Slo, variants: tuple[Variant, ...]) -> None:
    """Each label against the SLO, repeat by repeat (a majority must meet every objective); kept in run.json."""
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
