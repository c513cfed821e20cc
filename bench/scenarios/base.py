"""What every scenario is: a command with the flags it honours, a typed config, and a `run`.

A scenario module imports only light, data-only modules at the top: the CLI imports every
scenario to build its parser, so measuring (bench/session.py, the backends, locust), rendering
and their heavy libraries load only when a command runs.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from bench import options as opt
from bench.analysis import slo as slo_lib
from bench.errors import ConfigError
from bench.options import Flags, Option, Placement
from bench.results import LoadShape
from bench.stacks import catalog
from bench.stacks.catalog import Stack
from bench.stacks.variants import Variant, variants

if TYPE_CHECKING:
    from bench.session import Session


USER_CLASS = "FastHttpUser"  # the locustfile's users (bench/load/locustfile.py)
SETTING = "setting"  # a config field's metadata key: how run.json's settings show it (`shown`)


def shown(key: str | None = None, merged: bool = False, form: Callable[[Any], Any] | None = None,
          without: tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
    """A config field's metadata: recorded under `key` (else its name), or its parts `merged` into the
    settings (`without` some), rendered by `form` (else as its type renders)."""
    return {SETTING: {"key": key, "merged": merged, "form": form, "without": without}}


@dataclass(frozen=True)
class ScenarioConfig:
    """What every scenario's config holds; each scenario adds its own fields."""

    stacks: tuple[Stack, ...]
    placement: Placement = field(metadata=shown(merged=True))
    recorded: ClassVar[Mapping[str, Any]] = {}  # facts of the scenario recorded beside its fields

    def settings(self) -> dict[str, Any]:
        """What applied, for run.json: every field of the config (None: did not apply, left out)."""
        found: dict[str, Any] = {}
        for f in fields(self):
            how = f.metadata.get(SETTING) or shown()[SETTING]
            value = getattr(self, f.name)
            if value is None or value == {}:
                continue
            plain = how["form"](value) if how["form"] else as_setting(value)
            if how["merged"]:
                found |= {k: v for k, v in plain.items() if k not in how["without"]}
            else:
                found[how["key"] or f.name] = plain
        return found | dict(self.recorded)


def as_setting(value: Any) -> Any:
    """A config value as JSON shows it: a stack by its name, a row by its label, a load as it applied."""
    if isinstance(value, Stack):
        return value.name
    if isinstance(value, Variant):
        return value.label
    if isinstance(value, slo_lib.Slo):
        return value.text
    if isinstance(value, LoadShape):
        return load_settings(value)
    if hasattr(value, "settings"):  # the placement, the workload
        return value.settings()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_setting(v) for f in fields(value) if (v := getattr(value, f.name)) is not None}
    if isinstance(value, Mapping):
        return {str(k): as_setting(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_setting(v) for v in value]
    return str(value) if isinstance(value, Path) else value


C = TypeVar("C", bound=ScenarioConfig)


class Scenario(ABC, Generic[C]):
    """One command that measures: its flags, how they become a config, and how it runs."""

    name: ClassVar[str]  # the scenario as run.json names it
    command: ClassVar[str]  # the word on the command line
    help: ClassVar[str]
    positional: ClassVar[Option[Any] | None] = None
    options: ClassVar[tuple[Option[Any], ...]]  # what it honours, own flags included, with this command's defaults
    refused: ClassVar[Mapping[str, str]] = {}  # dest -> what to do instead, for shared flags it does not take

    def refusal(self, given: Collection[str]) -> ConfigError | None:
        """The error for a shared flag this scenario was given (`given`: dests) but cannot honour."""
        honoured = {o.dest for o in self.options}
        for option in opt.SHARED:
            if option.dest not in honoured and option.dest in given:
                tip = self.refused.get(option.dest) or _ELSEWHERE.get(option.dest) or (
                    f"`{self.command}` runs without it: leave it out")  # fmt: skip
                return ConfigError(f"{self.command} does not take {option.shown}", tip=tip)
        return None

    @abstractmethod
    def configure(self, flags: Flags) -> C:
        """The typed flags checked together and turned into the config, before anything starts."""

    @abstractmethod
    def run(self, session: Session, config: C) -> None:
        """Measure, recording each measurement in `session` the moment it exists."""


_ELSEWHERE = {o.dest: "your own app is measured by `bench stack NAME... --app ...` or `bench all --app ...`"
              for o in opt.YOUR_APP}  # fmt: skip


def chosen_variants(flags: Flags, default: Sequence[str]) -> list[Variant]:
    """The rows a run measures: the named stacks (or `default`), `@` labels and `--set` combinations
    checked against each stack's parameters; `--breaker` for the stacks that have one."""
    named = list(flags.names) or list(default)
    stacks = catalog.select([name.partition("@")[0] for name in named])
    breaker = {"breaker": flags.of(opt.BREAKER)} if opt.BREAKER in flags else {}
    sets: list[str] = flags.of(opt.SET) if opt.SET in flags else []
    found = variants(list(zip(stacks, named, strict=True)), sets)
    counted = [v.label for v in found if (v.replicas or 1) > 1]
    if counted and flags.placement.backend != "swarm":
        raise ConfigError(f"{counted[0]}: replicas apply to --backend swarm only (not {flags.placement.backend})",
                          tip="add --backend swarm")  # fmt: skip
    return [Variant(v.stack, v.label, {**breaker, **v.params} if v.stack.breaker_file else v.params, v.replicas)
            for v in found]  # fmt: skip


def stacks_of(chosen: Sequence[Variant]) -> tuple[Stack, ...]:
    """Each stack of the variants once, in order."""
    return tuple({v.stack.name: v.stack for v in chosen}.values())


def interleaved(repeat: int, items: Sequence[object]) -> list[tuple[int, int]]:
    """(repeat, index) pairs A B C, C B A, A B C ...: each round in the other direction, so a drift during the
    run, and whatever one item leaves behind for the next (TIME_WAIT sockets, a warm cache), hits every item
    alike instead of always the later one (an A/A pair measured A B A B A B came out 4 % apart on p99)."""
    order = range(len(items))
    return [(r, i) for r in range(1, repeat + 1) for i in (order if r % 2 else reversed(order))]


def plan_progress(done: int, total: int, started: float, guess_s: float) -> str:
    """`[3/12] about 2m40s left`: from the time taken so far, or `guess_s` each at first."""
    per = (time.monotonic() - started) / done if done else guess_s
    left = int(per * (total - done))
    return f"[{done + 1}/{total}] about {left // 60}m{left % 60:02d}s left"


def load_settings(load: LoadShape) -> dict[str, Any]:
    """A load shape as run.json's settings show it."""
    found = {"users": load.users, "spawn_rate": load.spawn_rate, "duration_s": load.duration_s,
             "warmup_s": load.warmup_s, "processes": load.processes, "user_class": USER_CLASS}  # fmt: skip
    found |= {"wait_s": load.wait_s} if load.wait_s else {}
    return found | ({"rate": load.rate} if load.rate else {})
