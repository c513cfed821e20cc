"""The lab's flags as data, in shared groups (as asv's common_args), and the parsers of their values.

A scenario declares which groups it honours (bench/scenarios/); cli.py turns the
declarations into argparse. Every flag can also be set from its environment variable
(BENCH_USERS, BENCH_DURATION, ...), as locust's can; the command line wins. A shared flag
that a scenario does not honour is refused with a one-line error, never silently dropped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import ConfigError
from bench.results import MAX_IN_FLIGHT as MAX_IN_FLIGHT_DEFAULT
from bench.stacks import ROOT

Values = Mapping[str, Any]  # parsed flags by `dest` (strings as typed, or None when not given)


@dataclass(frozen=True)
class Option:
    """One flag (or positional argument), its environment variable and its default."""

    dest: str
    flags: tuple[str, ...]  # ("-u", "--users"); () for a positional
    help: str
    env: str | None = None
    default: str | None = None
    choices: tuple[str, ...] | None = None
    switch: bool = False  # a flag without a value
    many: bool = False  # may be given several times (a list; the environment variable separates with ";")
    nargs: str | None = None  # positionals: "+", "*" or "?"
    metavar: str | None = None

    @property
    def shown(self) -> str:
        """The flag as a person types it (`-t/--duration`)."""
        return "/".join(self.flags) if self.flags else self.dest


# Named load shapes. `seed002` reproduces seed 002's locust run (-u 1000 -r 100 --run-time 10s).
PRESETS: dict[str, dict[str, str]] = {
    # 4 stacks x 3 repeats x (2 s warmup + 15 s) + the floor: about 4 minutes on 2 cores
    "default": {"users": "50", "spawn_rate": "50", "duration": "15s", "warmup": "2s"},
    "quick": {"users": "10", "spawn_rate": "10", "duration": "5s", "warmup": "1s"},
    "seed002": {"users": "1000", "spawn_rate": "100", "duration": "10s", "warmup": "0s"},
}
PRESET_ALIASES = {"seed": "seed002"}  # the name it had before

# --- the shared groups ---------------------------------------------------------------------

PRESET = Option("preset", ("--preset",), "a named load shape; -u/-r/-t/--warmup override its parts "
                "(seed002, alias seed: seed 002's load)", env="BENCH_PRESET", default="default",
                choices=(*PRESETS, *PRESET_ALIASES))  # fmt: skip
USERS = Option("users", ("-u", "--users"), "concurrent locust users", env="BENCH_USERS")
SPAWN_RATE = Option("spawn_rate", ("-r", "--spawn-rate"), "users started per second", env="BENCH_SPAWN_RATE")
DURATION = Option("duration", ("-t", "--duration"), "measured time: 20, 20s, 1m, 1h30m", env="BENCH_DURATION")
WARMUP = Option("warmup", ("--warmup",), "uncounted time before measuring (e.g. 3s)", env="BENCH_WARMUP")
WAIT = Option("wait", ("--wait",), "think time: each user waits this long between requests (e.g. 50ms, 0.2s; "
              "default 0: flat out)", env="BENCH_WAIT")  # fmt: skip
REPEAT = Option("repeat", ("--repeat",), "measure each N times, interleaved", env="BENCH_REPEAT", default="3")
PROCESSES = Option("processes", ("--processes",), "locust processes (a master and N workers) when one cannot "
                   "drive the stack", env="BENCH_PROCESSES", default="1")  # fmt: skip
BACKEND = Option("backend", ("--backend",), "local processes, docker compose, docker swarm mode, or auto (compose "
                 "when an engine answers)", env="BENCH_BACKEND", default="auto",
                 choices=("auto", "local", "compose", "swarm"))  # fmt: skip
REPLICAS = Option("replicas", ("--replicas",), "swarm: tasks of each stack's app service (a row's own count: "
                  "STACK@replicas=N, or --set replicas=1,2)", env="BENCH_REPLICAS", default="1")  # fmt: skip
EXISTING_SWARM = Option("existing_swarm", ("--existing-swarm",), "swarm: deploy into the swarm this engine already "
                        "manages (without it a single-node swarm is initialised for the run and left after it, and "
                        "an engine already in a swarm is refused)", switch=True)  # fmt: skip
READY_TIMEOUT = Option("ready_timeout", ("--ready-timeout",), "deadline for a stack to be ready",
                       env="BENCH_READY_TIMEOUT", default="60s")  # fmt: skip
PIN = Option("pin", ("--pin",), "CPUs for stack:load, e.g. 0:1 or 0-1:2-3; auto splits the CPUs in two; off pins "
             "nothing (compose: the containers' cpusets)", env="BENCH_PIN", default="auto")  # fmt: skip
UID = Option("uid", ("--uid",), "owner of files written in containers", env="BENCH_UID", default=str(os.getuid()))
GID = Option("gid", ("--gid",), "group of files written in containers", env="BENCH_GID", default=str(os.getgid()))
NO_FLOOR = Option("no_floor", ("--no-floor",), "skip measuring the load generator's floor (locust vs. a trivial "
                  "nginx)", switch=True)  # fmt: skip
BREAKER = Option("breaker", ("--breaker",), "circuit breaker preset of stacks with one (seed000, alias seed; "
                 "tight; off)", env="BENCH_BREAKER", default="seed000")  # fmt: skip
MAX_IN_FLIGHT = Option("max_in_flight", ("--max-in-flight",), "open model: requests in flight allowed, all "
                       "locust processes together (like vegeta -max-workers; default 10000)",
                       env="BENCH_MAX_IN_FLIGHT")  # fmt: skip
SET = Option("set", ("--set",), "a stack parameter and its values, NAME=V1,V2,...; several --set measure every "
             "combination, each a row `stack@NAME=V,...` (see `python -m bench list --params`)", env="BENCH_SET",
             many=True, metavar="NAME=VALUES")  # fmt: skip
APP = Option("app", ("--app",), "serve your own app instead of the lab's users API, in every stack that fits its "
             "interface: module:attribute, or a factory module:create_app()", env="BENCH_APP_TARGET")  # fmt: skip
APP_DIR = Option("app_dir", ("--app-dir",), "the folder --app is imported from (default: where you are)",
                 env="BENCH_APP_DIR")  # fmt: skip
INTERFACE = Option("interface", ("--interface",), "--app's interface when it cannot be told from the app",
                   env="BENCH_INTERFACE", choices=("wsgi", "asgi"))  # fmt: skip
REQUESTS = Option("requests", ("--requests",), "the requests to send, a TOML file of [[request]] tables "
                  "(method, path, weight, json/body, headers)", env="BENCH_REQUESTS")  # fmt: skip
LOCUSTFILE = Option("locustfile", ("--locustfile",), "your own locustfile: its users send, the lab's recorder "
                    "measures (closed model)", env="BENCH_LOCUSTFILE")  # fmt: skip
HEALTH = Option("health", ("--health",), "--app's readiness path (default /health)", env="BENCH_HEALTH")
REQUIREMENTS = Option("requirements", ("--requirements",), "--app's dependencies, a requirements file: wheels "
                      "for the containers (compose)", env="BENCH_REQUIREMENTS")  # fmt: skip
YOUR_APP = (APP, APP_DIR, INTERFACE, REQUESTS, LOCUSTFILE, HEALTH, REQUIREMENTS)
INJECT = Option("inject", ("--inject",), "make the lab's app misbehave on purpose, in every backend: delay=2ms (each "
                "request waits), delayed=10%% (only that share waits), errors=1%% (that share answered 500), "
                "status=503 (that error's status); recorded in run.json settings, not in the label",
                env="BENCH_INJECT", metavar="FAULTS")  # fmt: skip
RESULTS = Option("results", ("--results",), "results folder (default: results/ of the lab)", env="BENCH_RESULTS")
SLO = Option("slo", ("--slo",), "service level objectives every stack must meet, comma-separated FIGURE OP VALUE: "
             "avg, p50, p90, p95, p99, p99.9, max in ms or s; errors in %%; rps; operators < <= > >= (e.g. "
             "\"p99<100ms,errors<1%%,rps>500\"); a stack that misses one fails, and the command exits with 99",
             env="BENCH_SLO", metavar="OBJECTIVES")  # fmt: skip

LOAD = (PRESET, USERS, SPAWN_RATE, DURATION, WARMUP)
PLACEMENT = (BACKEND, READY_TIMEOUT, PIN, UID, GID, REPLICAS, EXISTING_SWARM)
SHARED = (*LOAD, WAIT, REPEAT, PROCESSES, *PLACEMENT, NO_FLOOR, BREAKER, MAX_IN_FLIGHT, SET, RESULTS, SLO, *YOUR_APP,
          INJECT)  # fmt: skip


def max_in_flight(text: str | None) -> int:
    """--max-in-flight, or the default bound when it is not given."""
    return positive_int(text, "--max-in-flight") if text else MAX_IN_FLIGHT_DEFAULT


def preset_name(text: str) -> str:
    """A load preset's name, its old alias resolved."""
    return PRESET_ALIASES.get(text, text)


def default_of(option: Option) -> str | list[str] | None:
    """An option's value when the flag is not given: its environment variable, else its default."""
    if option.env and os.environ.get(option.env):
        text = os.environ[option.env]
        return [part for part in text.split(";") if part] if option.many else text
    return [] if option.many else option.default


# --- values -> typed settings ---------------------------------------------------------------

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s?)?$")
_MILLISECONDS = re.compile(r"^(\d+(?:\.\d+)?)ms$")


def parse_duration(text: str, flag: str, allow_zero: bool = False) -> float:
    """`20`, `20s`, `1m`, `1h30m`, `1.5s`, `50ms` -> seconds."""
    if ms := _MILLISECONDS.match(str(text).strip()):
        return float(ms.group(1)) / 1000 if float(ms.group(1)) > 0 or allow_zero else parse_duration("0", flag)
    match = _DURATION.match(str(text).strip())
    if not str(text).strip() or not match:
        raise ConfigError(f"{flag}: cannot read {text!r} as a duration", tip="use e.g. 20, 20s, 1m or 1h30m")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0 and not allow_zero:
        raise ConfigError(f"{flag}: must be more than zero, got {text!r}")
    return total


def parse_pin(text: str) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """`auto`, `off` or `STACK:LOAD` CPU lists -> (stack CPUs, load CPUs)."""
    available = sorted(os.sched_getaffinity(0))
    if text == "off":
        return None, None
    if text == "auto":
        if len(available) < 2:
            return None, None  # one CPU: nothing to separate
        half = len(available) // 2
        return tuple(available[:half]), tuple(available[half:])
    try:
        stack, load = (_cpu_list(part) for part in text.split(":"))
    except ValueError:
        raise ConfigError(
            f"--pin: cannot read {text!r}", tip="use auto, off, or STACK:LOAD like 0:1 or 0-1:2-3"
        ) from None
    unknown = sorted(set(stack + load) - set(available))
    if unknown:
        raise ConfigError(f"--pin: CPU {unknown[0]} is not available here (available: {available})")
    return stack, load


def _cpu_list(text: str) -> tuple[int, ...]:
    cpus: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.extend(range(int(low), int(high or low) + 1))
    if not cpus:
        raise ValueError(text)
    return tuple(cpus)


def positive_int(text: str, flag: str) -> int:
    return int(_number(text, flag, int, "is not a whole number", 1, "must be at least 1"))


def positive_float(text: str, flag: str) -> float:
    return _number(text, flag, float, "is not a number", 0, "must be more than zero", strict=True)


def numeric_id(text: str, flag: str) -> int:
    return int(_number(text, flag, int, "is not a numeric id", 0, "must be 0 or more"))


def _number(text: str, flag: str, kind: type[int] | type[float], not_a: str, low: float, too_low: str,
            strict: bool = False) -> float:  # fmt: skip
    """`text` read as `kind`, at least `low` (more than `low` when `strict`), else a ConfigError saying so."""
    try:
        value = kind(str(text))
    except ValueError:
        raise ConfigError(f"{flag}: {text!r} {not_a}") from None
    if value < low or (strict and value == low):
        raise ConfigError(f"{flag}: {too_low}, got {text}")
    return value


@dataclass(frozen=True)
class Placement:
    """Where a run's stacks and load go: backend, results folder, CPUs, file owners, deadline."""

    backend: str  # local | compose | auto (resolved when the run starts)
    results_dir: Path
    ready_timeout: float = 60.0
    stack_cpus: tuple[int, ...] | None = None
    load_cpus: tuple[int, ...] | None = None
    uid: int | None = None
    gid: int | None = None
    replicas: int = 1  # swarm: tasks of each stack's app service, unless a row sets its own
    existing_swarm: bool = False  # swarm: deploy into the engine's swarm instead of one for the run

    @classmethod
    def from_values(cls, values: Values) -> Placement:
        stack_cpus, load_cpus = parse_pin(values["pin"])
        placement = cls(
            backend=values["backend"],
            results_dir=results_dir(values["results"]),
            ready_timeout=parse_duration(values["ready_timeout"], "--ready-timeout"),
            stack_cpus=stack_cpus,
            load_cpus=load_cpus,
            uid=numeric_id(values["uid"], "--uid"),
            gid=numeric_id(values["gid"], "--gid"),
            replicas=positive_int(values.get("replicas") or "1", "--replicas"),
            existing_swarm=bool(values.get("existing_swarm")),
        )
        swarm_only = [flag for flag, given in (("--replicas", placement.replicas != 1),
                                               ("--existing-swarm", placement.existing_swarm)) if given]  # fmt: skip
        if swarm_only and placement.backend != "swarm":
            raise ConfigError(f"{swarm_only[0]} applies to --backend swarm only (not {placement.backend})",
                              tip="add --backend swarm, or leave it out")  # fmt: skip
        return placement

    def settings(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"stack_cpus": list(self.stack_cpus) if self.stack_cpus else "all",
                                 "load_cpus": list(self.load_cpus) if self.load_cpus else "all"}  # fmt: skip
        if self.backend == "swarm":
            shown |= {"replicas": self.replicas, "existing_swarm": self.existing_swarm}
        return shown


def results_dir(text: str | None) -> Path:
    """The results folder: as given (relative to where you are), else the lab's own results/."""
    return Path(text) if text else ROOT / "results"
