"""The lab's flags as data, in shared groups (as asv's common_args): each with its parser and default.

A scenario declares which options it honours (bench/scenarios/), each with the default that
command applies (`DURATION.defaulting("10s")`); cli.py turns the declarations into argparse,
whose `--help` shows that default, and converts every value with the option's parser, so a
scenario receives typed `Flags` (its load and placement built already), never text to read
again. Every flag can also be set from its environment variable (BENCH_USERS, BENCH_DURATION,
...), as locust's can, read by the same parser; the command line wins. A shared flag that a
scenario does not honour is refused with a one-line error, never silently dropped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from bench.analysis import slo as slo_lib
from bench.errors import ConfigError
from bench.results import MAX_IN_FLIGHT as MAX_IN_FLIGHT_DEFAULT
from bench.results import LoadShape
from bench.stacks.catalog import ROOT

T = TypeVar("T")
Parser = Callable[[str, str], T]  # (text, flag) -> its value, or a ConfigError that names the flag
Cpus = tuple[tuple[int, ...] | None, tuple[int, ...] | None]  # (stack CPUs, load CPUs); None: not pinned


@dataclass(frozen=True)
class Option(Generic[T]):
    """One flag (or positional argument): its parser, environment variable and default (as typed)."""

    dest: str
    flags: tuple[str, ...]  # ("-u", "--users"); () for a positional
    help: str
    parse: Parser[T] | None = None  # None: the text as typed
    env: str | None = None
    default: str | None = None  # as typed; None: the value is None (a switch False, `many` []) unless given
    choices: tuple[str, ...] | None = None
    switch: bool = False  # a flag without a value
    many: bool = False  # may be given several times (a list; the environment variable separates with ";")
    nargs: str | None = None  # positionals: "+", "*" or "?"
    metavar: str | None = None

    @property
    def shown(self) -> str:
        """The flag as a person types it (`-t/--duration`)."""
        return "/".join(self.flags) if self.flags else self.dest

    def defaulting(self, default: str | None) -> Option[T]:
        """This option with the default one command applies."""
        return replace(self, default=default)

    def convert(self, text: str) -> T:
        """Text as typed (on the command line, in the environment, a default) -> the typed value."""
        if self.parse is None:
            return cast(T, text)
        return self.parse(text, self.flags[-1] if self.flags else self.dest)

    def from_env(self) -> str | None:
        """Its environment variable's text, when set and not empty."""
        return (os.environ.get(self.env) or None) if self.env else None


# --- parsers: text -> typed value, or a ConfigError naming the flag ----------------------------------

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


def duration_or_zero(text: str, flag: str) -> float:
    """A duration that may be 0 (a warmup, a think time)."""
    return parse_duration(text, flag, allow_zero=True)


def parse_pin(text: str, flag: str = "--pin") -> Cpus:
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
            f"{flag}: cannot read {text!r}", tip="use auto, off, or STACK:LOAD like 0:1 or 0-1:2-3"
        ) from None
    unknown = sorted(set(stack + load) - set(available))
    if unknown:
        raise ConfigError(f"{flag}: CPU {unknown[0]} is not available here (available: {available})")
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
class Rate:
    """An arrival rate (the open model): req/s, or a multiple of a closed-loop peak the run measures first."""

    value: float  # req/s; relative: the multiple of the peak (`50%`: 0.5, `2x`: 2.0)
    relative: bool = False

    def resolve(self, peak_rps: float | None) -> float | None:
        """req/s; None when it is relative and the peak could not be measured."""
        if not self.relative:
            return self.value
        return round(self.value * peak_rps, 1) if peak_rps else None

    def of(self, peak: str) -> str:
        """As a person reads it: `200 req/s`, `50% of <peak>`, `2x <peak>`."""
        if not self.relative:
            return f"{self.value:g} req/s"
        return f"{self.value:g}x {peak}" if self.value >= 1 else f"{100 * self.value:g}% of {peak}"


_RATE = re.compile(r"^(\d+(?:\.\d+)?)\s*(x|%|/s|req/s|rps)?$")


def parse_rate(text: str, flag: str = "--rate") -> Rate:
    """`200`, `200/s` (req/s), `50%` (half the closed-loop peak), `2x` (twice it)."""
    match = _RATE.match(str(text).strip().lower())
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"{flag}: cannot read {text!r} as a rate",
                          tip="use req/s like 200 or 200/s, or a share of the peak measured first: 50%, 2x")
    value, unit = float(match.group(1)), match.group(2)
    if unit == "%":
        return Rate(value / 100, relative=True)
    return Rate(value, relative=unit == "x")


def a_path(text: str, flag: str) -> Path:
    return Path(text)


def a_folder(text: str, flag: str) -> Path:
    """A folder, made absolute against where you are now."""
    return Path(text).resolve()


def preset_name(text: str, flag: str = "--preset") -> str:
    """A load preset's name, its old alias resolved."""
    return PRESET_ALIASES.get(text, text)


def an_injection(text: str, flag: str = "--inject") -> dict[str, str]:
    """`delay=2ms,errors=1%` -> the apps' fault switch variables (bench/stacks/userapp.py reads the keys)."""
    from bench.stacks.userapp import parse_inject  # the fault switch's keys live with the workload

    return parse_inject(text)


def a_slo(text: str, flag: str) -> slo_lib.Slo:
    return slo_lib.parse(text, flag)


# --- the shared groups ---------------------------------------------------------------------------

# Named load shapes. `seed002` reproduces seed 002's locust run (-u 1000 -r 100 --run-time 10s).
PRESETS: dict[str, dict[str, str]] = {
    # 4 stacks x 3 repeats x (2 s warmup + 15 s) + the floor: about 4 minutes on 2 cores
    "default": {"users": "50", "spawn_rate": "50", "duration": "15s", "warmup": "2s"},
    "quick": {"users": "10", "spawn_rate": "10", "duration": "5s", "warmup": "1s"},
    "seed002": {"users": "1000", "spawn_rate": "100", "duration": "10s", "warmup": "0s"},
}
PRESET_ALIASES = {"seed": "seed002"}  # the name it had before

PRESET = Option("preset", ("--preset",), "a named load shape; -u/-r/-t/--warmup override its parts "
                "(seed002, alias seed: seed 002's load)", preset_name, env="BENCH_PRESET", default="default",
                choices=(*PRESETS, *PRESET_ALIASES))  # fmt: skip
USERS = Option("users", ("-u", "--users"), "concurrent locust users", positive_int, env="BENCH_USERS")
SPAWN_RATE = Option("spawn_rate", ("-r", "--spawn-rate"), "users started per second", positive_float,
                    env="BENCH_SPAWN_RATE")  # fmt: skip
DURATION = Option("duration", ("-t", "--duration"), "measured time: 20, 20s, 1m, 1h30m", parse_duration,
                  env="BENCH_DURATION")  # fmt: skip
WARMUP = Option("warmup", ("--warmup",), "uncounted time before measuring (e.g. 3s)", duration_or_zero,
                env="BENCH_WARMUP")  # fmt: skip
WAIT = Option("wait", ("--wait",), "think time: each user waits this long between requests (e.g. 50ms, 0.2s; "
              "0: flat out)", duration_or_zero, env="BENCH_WAIT", default="0")  # fmt: skip
REPEAT = Option("repeat", ("--repeat",), "measure each N times, interleaved", positive_int, env="BENCH_REPEAT",
                default="3")  # fmt: skip
PROCESSES = Option("processes", ("--processes",), "locust processes (a master and N workers) when one cannot "
                   "drive the stack", positive_int, env="BENCH_PROCESSES", default="1")  # fmt: skip
BACKEND: Option[str] = Option("backend", ("--backend",), "local processes, docker compose, docker swarm mode, or "
                              "auto (compose when an engine answers)", env="BENCH_BACKEND", default="auto",
                              choices=("auto", "local", "compose", "swarm"))  # fmt: skip
REPLICAS = Option("replicas", ("--replicas",), "swarm: tasks of each stack's app service (a row's own count: "
                  "STACK@replicas=N, or --set replicas=1,2)", positive_int, env="BENCH_REPLICAS",
                  default="1")  # fmt: skip
EXISTING_SWARM: Option[bool] = Option("existing_swarm", ("--existing-swarm",), "swarm: deploy into the swarm this "
                                      "engine already manages (without it a single-node swarm is initialised for "
                                      "the run and left after it, and an engine already in a swarm is refused)",
                                      switch=True)  # fmt: skip
READY_TIMEOUT = Option("ready_timeout", ("--ready-timeout",), "deadline for a stack to be ready", parse_duration,
                       env="BENCH_READY_TIMEOUT", default="60s")  # fmt: skip
PIN = Option("pin", ("--pin",), "CPUs for stack:load, e.g. 0:1 or 0-1:2-3; auto splits the CPUs in two; off pins "
             "nothing (compose: the containers' cpusets)", parse_pin, env="BENCH_PIN", default="auto")  # fmt: skip
UID = Option("uid", ("--uid",), "owner of files written in containers", numeric_id, env="BENCH_UID",
             default=str(os.getuid()))  # fmt: skip
GID = Option("gid", ("--gid",), "group of files written in containers", numeric_id, env="BENCH_GID",
             default=str(os.getgid()))  # fmt: skip
NO_FLOOR: Option[bool] = Option("no_floor", ("--no-floor",), "skip measuring the load generator's floor (locust "
                                "vs. a trivial nginx)", switch=True)  # fmt: skip
BREAKER: Option[str] = Option("breaker", ("--breaker",), "circuit breaker preset of stacks with one (seed000, "
                              "alias seed; tight; off)", env="BENCH_BREAKER", default="seed000")  # fmt: skip
MAX_IN_FLIGHT = Option("max_in_flight", ("--max-in-flight",), "open model: requests in flight allowed, all "
                       "locust processes together (like vegeta -max-workers)", positive_int,
                       env="BENCH_MAX_IN_FLIGHT", default=str(MAX_IN_FLIGHT_DEFAULT))  # fmt: skip
SET: Option[list[str]] = Option("set", ("--set",), "a stack parameter and its values, NAME=V1,V2,...; several "
                                "--set measure every combination, each a row `stack@NAME=V,...` (see `python -m "
                                "bench list --params`)", env="BENCH_SET", many=True, metavar="NAME=VALUES")  # fmt: skip
APP: Option[str | None] = Option("app", ("--app",), "serve your own app instead of the lab's users API, in every "
                                 "stack that fits its interface: module:attribute, or a factory "
                                 "module:create_app()", env="BENCH_APP_TARGET")  # fmt: skip
APP_DIR = Option("app_dir", ("--app-dir",), "the folder --app is imported from (.: where you are)", a_folder,
                 env="BENCH_APP_DIR", default=".")  # fmt: skip
INTERFACE: Option[str | None] = Option("interface", ("--interface",), "--app's interface when it cannot be told "
                                       "from the app", env="BENCH_INTERFACE", choices=("wsgi", "asgi"))  # fmt: skip
REQUESTS: Option[Path | None] = Option("requests", ("--requests",), "the requests to send, a TOML file of "
                                       "[[request]] tables (method, path, weight, json/body, headers)", a_path,
                                       env="BENCH_REQUESTS")  # fmt: skip
LOCUSTFILE: Option[Path | None] = Option("locustfile", ("--locustfile",), "your own locustfile: its users send, "
                                         "the lab's recorder measures (closed model)", a_folder,
                                         env="BENCH_LOCUSTFILE")  # fmt: skip
HEALTH: Option[str] = Option("health", ("--health",), "--app's readiness path", env="BENCH_HEALTH", default="/health")
REQUIREMENTS: Option[Path | None] = Option("requirements", ("--requirements",), "--app's dependencies, a "
                                           "requirements file: wheels for the containers (compose)", a_folder,
                                           env="BENCH_REQUIREMENTS")  # fmt: skip
YOUR_APP = (APP, APP_DIR, INTERFACE, REQUESTS, LOCUSTFILE, HEALTH, REQUIREMENTS)
INJECT: Option[dict[str, str] | None] = Option("inject", ("--inject",), "make the lab's app misbehave on purpose, "
                                               "in every backend: delay=2ms (each request waits), delayed=10%% (only "
                                               "that share waits), errors=1%% (that share answered 500), status=503 "
                                               "(that error's status); recorded in run.json settings, not in the "
                                               "label", an_injection, env="BENCH_INJECT", metavar="FAULTS")  # fmt: skip
RATE: Option[Rate | None] = Option("rate", ("--rate",), "the open model: requests arrive at this rate whatever the "
                                   "answers do, req/s (200, 200/s), or a share of the closed-loop peak measured "
                                   "first (50%%, 2x)", parse_rate, env="BENCH_RATE")  # fmt: skip
RESULTS = Option("results", ("--results",), "results folder", a_path, env="BENCH_RESULTS",
                 default=str(ROOT / "results"))  # fmt: skip
SLO: Option[slo_lib.Slo | None] = Option("slo", ("--slo",), "service level objectives every stack must meet, "
                                         "comma-separated FIGURE OP VALUE: avg, p50, p90, p95, p99, p99.9, max in ms "
                                         "or s; errors in %%; rps; operators < <= > >= (e.g. \"p99<100ms,errors<1%%,"
                                         "rps>500\"); a stack that misses one fails, and the command exits with 99",
                                         a_slo, env="BENCH_SLO", metavar="OBJECTIVES")  # fmt: skip

LOAD = (PRESET, USERS, SPAWN_RATE, DURATION, WARMUP)
PLACEMENT = (BACKEND, READY_TIMEOUT, PIN, UID, GID, REPLICAS, EXISTING_SWARM)
SHARED: tuple[Option[Any], ...] = (*LOAD, WAIT, REPEAT, PROCESSES, *PLACEMENT, NO_FLOOR, BREAKER, RATE,
                                   MAX_IN_FLIGHT, SET, RESULTS, SLO, *YOUR_APP, INJECT)  # fmt: skip


def unset(option: Option[Any]) -> Any:
    """An option's value when it is neither given nor defaulted."""
    return [] if option.many else False if option.switch else None


# --- what a scenario receives ----------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where a run's stacks and load go: backend, results folder, CPUs, file owners, deadline."""

    backend: str  # local | compose | swarm | auto (resolved when the run starts)
    results_dir: Path
    ready_timeout: float = 60.0
    stack_cpus: tuple[int, ...] | None = None
    load_cpus: tuple[int, ...] | None = None
    uid: int | None = None
    gid: int | None = None
    replicas: int = 1  # swarm: tasks of each stack's app service, unless a row sets its own
    existing_swarm: bool = False  # swarm: deploy into the engine's swarm instead of one for the run

    def settings(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"stack_cpus": list(self.stack_cpus) if self.stack_cpus else "all",
                                 "load_cpus": list(self.load_cpus) if self.load_cpus else "all"}  # fmt: skip
        if self.backend == "swarm":
            shown |= {"replicas": self.replicas, "existing_swarm": self.existing_swarm}
        return shown


@dataclass(frozen=True)
class Flags:
    """One command's flags, every value converted by its option's parser and defaulted as that command
    defaults it; the placement, and the closed-loop load where the command takes -u, built from them."""

    names: tuple[str, ...]  # the positional: stacks, or pairs
    values: Mapping[str, Any]  # dest -> typed value; read through `of`
    given: frozenset[str] = frozenset()  # dests set on the command line or by their environment variable
    typed: frozenset[str] = frozenset()  # dests set on the command line (an environment default is not refused)
    placement: Placement = field(init=False)
    load: LoadShape | None = field(init=False)  # -u/-r/-t/--warmup/--wait/--processes as they applied

    def __post_init__(self) -> None:
        object.__setattr__(self, "placement", self._placement())
        object.__setattr__(self, "load", self._load())

    def of(self, option: Option[T]) -> T:
        """The typed value of `option` (its default when not given)."""
        return cast(T, self.values[option.dest])

    def __contains__(self, option: object) -> bool:
        """Whether the command takes `option`."""
        return isinstance(option, Option) and option.dest in self.values

    def has(self, option: Option[Any]) -> bool:
        """Whether `option` was set, on the command line or by its environment variable."""
        return option.dest in self.given

    def typed_here(self, option: Option[Any]) -> bool:
        """Whether `option` was given on the command line: what a refusal names (a `BENCH_*` variable set for
        another command, e.g. BENCH_MAX_IN_FLIGHT for breaker, must not break this one)."""
        return option.dest in self.typed

    def _placement(self) -> Placement:
        stack_cpus, load_cpus = self.of(PIN)
        placement = Placement(backend=self.of(BACKEND), results_dir=self.of(RESULTS),
                              ready_timeout=self.of(READY_TIMEOUT), stack_cpus=stack_cpus, load_cpus=load_cpus,
                              uid=self.of(UID), gid=self.of(GID), replicas=self.of(REPLICAS),
                              existing_swarm=self.of(EXISTING_SWARM))  # fmt: skip
        swarm_only = [flag for flag, given in (("--replicas", placement.replicas != 1),
                                               ("--existing-swarm", placement.existing_swarm)) if given]  # fmt: skip
        if swarm_only and placement.backend != "swarm":
            raise ConfigError(f"{swarm_only[0]} applies to --backend swarm only (not {placement.backend})",
                              tip="add --backend swarm, or leave it out")  # fmt: skip
        return placement

    def _load(self) -> LoadShape | None:
        """The closed loop of -u users, where the command takes -u; a flag it does not take stays neutral
        (every user at once: -r = -u; no think time; one locust process)."""
        users = self.values.get(USERS.dest)
        if users is None:
            return None
        return LoadShape(users=users, spawn_rate=self.values.get(SPAWN_RATE.dest) or users,
                         duration_s=self.of(DURATION), warmup_s=self.of(WARMUP),
                         wait_s=self.values.get(WAIT.dest) or 0.0,
                         processes=self.values.get(PROCESSES.dest) or 1)  # fmt: skip


def converted(options: Collection[Option[Any]], typed: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
    """Every option's typed value: as given on the command line (`typed`, argparse converted it), else its
    environment variable's, else the preset's part (where the command takes --preset), else its default."""
    values: dict[str, Any] = {}
    given = set(typed)
    for option in options:
        if option.dest in typed:
            values[option.dest] = typed[option.dest]
        elif (env := option.from_env()) is not None:
            given.add(option.dest)
            many = [option.convert(part) for part in env.split(";") if part]
            values[option.dest] = many if option.many else option.convert(env)
        elif option.default is not None:
            values[option.dest] = option.convert(option.default)
        else:
            values[option.dest] = unset(option)
    if PRESET.dest in values:  # -u/-r/-t/--warmup not set: the preset's
        preset = PRESETS[values[PRESET.dest]]
        for option in (o for o in options if values[o.dest] is None and o.dest in preset):
            values[option.dest] = option.convert(preset[option.dest])
    return values, frozenset(given)
