"""The API-gateway experiments (issue 16): each of seed 004's gateway features off and on, at the same load.

Weighted routing, retries, timeouts, an IP allow-list, trace ids and client authentication, each
configured in Istio's terms in stacks/gateway/gateway.toml and served by a real Envoy. Each
experiment brings the gateway stack up once, Envoy rendered for it (bench/gateway/api_gateway.py: each variant
on a listener of its own, all through the same upstream processes), then loads its phases in
turn, `--repeat` times interleaved (off, on, off, on, ...), every one with the same closed-loop
load. A phase is a variant loaded as one client: the usual one, one from an address the allow-list
refuses (`outside`), or one sending a valid, expired or wrongly signed JWT. Each phase is a
measurement with role `experiment`, labelled `gateway@<experiment>=<phase>`, recorded the moment
its load ends; the trace experiment also counts the lines the app's trace log gained.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from bench import options as opt
from bench.console import progress
from bench.errors import ConfigError, StackFailed
from bench.gateway import api_gateway, jwt
from bench.load import lab_load
from bench.options import Flags, Option
from bench.results import LoadShape, Measurement
from bench.scenarios.base import Scenario, ScenarioConfig, interleaved, plan_progress, shown
from bench.stacks import catalog
from bench.stacks.catalog import Stack

if TYPE_CHECKING:
    from bench.backends.base import RunningStack
    from bench.session import Session

STACK = "gateway"


def _names(text: str, flag: str) -> tuple[str, ...]:
    """`retries, auth` -> ("retries", "auth"): each once, in order."""
    return tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))


def _split(text: str, flag: str) -> tuple[int, ...]:
    return api_gateway.parse_split(text)


EXPERIMENTS: Option[tuple[str, ...] | None] = Option("experiments", ("--experiments",), "which experiments, "
                                                     "comma-separated (weights, retries, timeouts, allowlist, "
                                                     "trace, auth; not given: all)", _names,
                                                     env="BENCH_EXPERIMENTS")  # fmt: skip
SPLIT: Option[tuple[int, ...] | None] = Option("split", ("--split",), "a weighted-routing split to measure beside "
                                               "90/10, v1/v2 (e.g. 70/30)", _split, env="BENCH_SPLIT")  # fmt: skip
_ONE_LOAD = "every phase of every experiment has the same load: set it with -u, -t and --warmup"


@dataclass(frozen=True)
class Phase:
    """One measured load of an experiment: a variant's listener, loaded as one client."""

    variant: api_gateway.ExperimentVariant
    client: str  # default | outside | token | expired | forged (api_gateway.CLIENTS)
    port: str  # the stack port of the variant's listener

    @property
    def name(self) -> str:
        return self.variant.name if self.client == "default" else f"{self.variant.name}+{self.client}"

    def params(self) -> dict[str, str]:
        """What applied, for run.json (the weights only where a route splits)."""
        shown = {"experiment": self.variant.experiment, "variant": self.variant.name, "client": self.client}
        weights = self.variant.weights
        return shown | ({"weights": "/".join(map(str, weights))} if len(weights) > 1 else {})


def plan(spec: api_gateway.GatewaySpec, experiment: str, split: tuple[int, ...] | None) -> list[Phase]:
    """Every phase of an experiment, variants in the file's order (off first), each client in turn."""
    variants = spec.variants(experiment, split if _splits(spec, experiment) else None)
    listeners = zip(variants, api_gateway.LISTENERS, strict=False)
    return [Phase(variant, client, port) for variant, port in listeners for client in variant.clients]


def _splits(spec: api_gateway.GatewaySpec, experiment: str) -> bool:
    return any(len(v.http["route"]) > 1 for v in spec.experiments[experiment])


@dataclass(frozen=True)
class GatewayConfig(ScenarioConfig):
    experiments: tuple[str, ...]
    load: LoadShape = field(metadata=shown(merged=True, without=("processes",)))  # one locust process: no setting
    repeat: int = 3
    split: tuple[int, ...] | None = field(default=None, metadata=shown(form=lambda w: "/".join(map(str, w))))


class Gateway(Scenario[GatewayConfig]):
    name = "gateway"
    command = "gateway"
    help = "the API gateway's features (routing, retries, timeouts, allow-list, trace ids, JWT), each off vs on"
    # every phase's load unless -u / -t / --warmup say otherwise
    options = (EXPERIMENTS, SPLIT, opt.USERS.defaulting("10"), opt.DURATION.defaulting("5s"),
               opt.WARMUP.defaulting("1s"), opt.REPEAT, *opt.PLACEMENT, opt.RESULTS)  # fmt: skip
    refused: ClassVar[Mapping[str, str]] = {
        "preset": _ONE_LOAD,
        "spawn_rate": "every user starts at once (within 0.1 s); the warmup (--warmup) is left out of the figures",
        "processes": "one locust process loads the gateway: the allow-list tells clients apart by their address",
        "no_floor": "the gateway experiments measure no floor: each compares its own off and on",
        "breaker": "the gateway's traffic policy is in stacks/gateway/gateway.toml",
        "max_in_flight": "the gateway experiments are a closed loop of -u users; an arrival rate is `bench breaker`",
    }

    def configure(self, flags: Flags) -> GatewayConfig:
        stack = catalog.select([STACK])[0]
        if not stack.gateway_file:
            raise ConfigError(f"stack {STACK!r} names no gateway file in its stack.toml")
        spec = api_gateway.load(stack.path / stack.gateway_file)  # a bad gateway.toml is refused before anything runs
        experiments = _experiments(flags.of(EXPERIMENTS), spec)
        split = flags.of(SPLIT)
        if split is not None:
            weighted = [e for e in experiments if _splits(spec, e)]
            if not weighted:
                raise ConfigError("--split applies to the weighted-routing experiment", tip="add --experiments weights")
            spec.variants(weighted[0], split)  # as many weights as the route has destinations
        assert flags.load is not None
        # every user within a tenth of a second: short phases are not spent ramping up
        load = replace(flags.load, spawn_rate=flags.load.users * 10)
        return GatewayConfig(stacks=(stack,), placement=flags.placement, experiments=experiments, load=load,
                             repeat=flags.of(opt.REPEAT), split=split)  # fmt: skip

    def run(self, session: Session, config: GatewayConfig) -> None:
        stack = config.stacks[0]
        assert stack.gateway_file is not None
        spec = api_gateway.load(stack.path / stack.gateway_file)
        for experiment in config.experiments:
            run_experiment(session, stack, spec, experiment, config)


def _experiments(chosen: tuple[str, ...] | None, spec: api_gateway.GatewaySpec) -> tuple[str, ...]:
    if chosen is None:
        return tuple(spec.experiments)
    unknown = [name for name in chosen if name not in spec.experiments]
    if unknown or not chosen:
        raise ConfigError(f"--experiments: unknown experiment {unknown[0] if unknown else ''!r}",
                          tip=f"known experiments: {', '.join(spec.experiments)}")  # fmt: skip
    return chosen


def run_experiment(session: Session, stack: Stack, spec: api_gateway.GatewaySpec, experiment: str,
                   config: GatewayConfig) -> None:  # fmt: skip
    """One bring-up, Envoy rendered for this experiment; every phase loaded, repeats interleaved."""
    phases = plan(spec, experiment, config.split)
    split = config.split if config.split and _splits(spec, experiment) else None
    params = {"experiment": experiment} | ({"split": "/".join(map(str, split))} if split else {})
    folder = f"{STACK}-{experiment}"
    order = interleaved(config.repeat, phases)
    done = 0
    progress(f"[{experiment}] {len(phases)} phase(s): {', '.join(p.name for p in phases)}; {config.repeat} time(s) "
             f"each, interleaved")  # fmt: skip
    try:
        with session.up(stack, params, folder) as running:
            started = time.monotonic()
            for repeat, index in order:
                progress(plan_progress(done, len(order), started, config.load.duration_s + config.load.warmup_s + 3))
                measure_phase(session, running, stack, spec, phases[index], repeat, config.load, folder)
                done += 1
    except StackFailed as exc:  # the bring-up failed: every phase not measured yet is recorded as failed
        for repeat, index in order[done:]:
            m = session.new(stack, "experiment", config.load, label=_label(phases[index]), repeat=repeat,
                            params=phases[index].params(), folder=folder)  # fmt: skip
            m.error, m.log_tail = str(exc), exc.log_tail
            session.record(m)


def _label(phase: Phase) -> str:
    return f"{STACK}@{phase.variant.experiment}={phase.name}"


def measure_phase(session: Session, running: RunningStack, stack: Stack, spec: api_gateway.GatewaySpec, phase: Phase,
                  repeat: int, load: LoadShape, folder: str) -> Measurement:  # fmt: skip
    """Load one variant's listener as one client; record the measurement (the trace log's growth too)."""
    label = _label(phase)
    m = session.new(stack, "experiment", load, label=label, repeat=repeat, params=phase.params(), folder=folder)
    progress(f"[{label}{'' if repeat == 1 else f' #{repeat}'}] loading {running.load_urls[phase.port]}")
    target = replace(running, load_url=running.load_urls[phase.port],
                     launcher=running.clients[phase.client] if phase.client == "outside" else running.launcher)
    trace_log = session.run_dir / folder / "work" / api_gateway.TRACE_LOG
    offset = _size(trace_log)
    out = session.run_dir / folder / f"{phase.name.replace('+', '-')}-r{repeat}"
    session.load(target, m, out, client_env(spec, phase))
    if phase.variant.experiment == "trace":
        m.counts = trace_counts(trace_log, offset)
    return session.record(m)


def client_env(spec: api_gateway.GatewaySpec, phase: Phase) -> dict[str, str] | None:
    """The locustfile's client switches for a token-carrying client: a fresh JWT of its kind."""
    if phase.client not in jwt.TOKEN_KINDS:
        return None
    issuer, key_dir = _token_issuer(spec, phase.variant.experiment)
    token = jwt.mint(phase.client, issuer, key_dir)
    return {lab_load.variable("headers"): json.dumps({"Authorization": f"Bearer {token}"})}


def _token_issuer(spec: api_gateway.GatewaySpec, experiment: str) -> tuple[str, Path]:
    """The issuer the experiment's RequestAuthentication trusts, and the folder of its key set (the signing keys
    are beside it)."""
    for variant in spec.experiments[experiment]:
        for rule in (variant.request_authentication or {}).get("jwtRules", []):
            return rule["issuer"], (spec.path.parent / rule["jwksFile"]).parent
    raise ConfigError(f"experiment {experiment!r} has token clients but no RequestAuthentication to issue for")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def trace_counts(path: Path, offset: int) -> dict[str, int]:
    """The lines the app's trace log gained since `offset`, and how many carried a trace id."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            lines = log.read().decode("utf-8", "replace").splitlines()
    except OSError:
        lines = []
    with_id = sum(1 for line in lines if " x-request-id=" in line and " x-request-id=- " not in line)
    return {"trace_log_lines": len(lines), "trace_log_with_id": with_id}
