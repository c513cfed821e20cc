"""Stack parameters as data: the declaration a stack.toml holds, and values checked against it.

A stack's stack.toml declares every parameter it accepts; its server configs and commands
are rendered from the values (`{{param.workers}}`; under compose also `BENCH_PARAM_WORKERS`):

    [params.workers]
    type = "int"            # int | choice | preset | text
    default = 4
    min = 1                 # int: the bounds (optional)
    help = "gunicorn worker processes"

    [params.worker_class]
    type = "choice"
    values = ["sync", "gthread"]
    default = "sync"
    # aliases = {"OLD" = "gthread"}: a choice's old names, still accepted and taken as the value they
    # name (runs and labels stored under the old name still compare with new ones: bench/stacks/catalog.py)

    [params.breaker]
    type = "preset"          # one table of `file` (the Istio circuit breaker presets)
    file = "breaker.toml"
    default = "seed000"

    [params.experiment]
    type = "preset"          # one table of `file`'s table `table` (the gateway's experiments)
    file = "gateway.toml"
    table = "experiment"
    default = "weights"

    [params.split]
    type = "text"            # any string; what it means is the stack's to check
    default = ""

A parameter named `workers` is the server's process count (the report compares it with the
CPUs the stack had). bench/stacks/variants.py turns values into the rows a run measures.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ConfigError
from bench.gateway.istio import PRESET_ALIASES  # the breaker preset's old name

KINDS = ("int", "choice", "preset", "text")


@dataclass(frozen=True)
class Param:
    """One parameter a stack accepts: its kind, default and allowed values."""

    name: str
    kind: str
    default: str
    values: tuple[str, ...] = ()  # choice / preset: the allowed values
    low: int | None = None  # int: bounds
    high: int | None = None
    help: str = ""
    file: str | None = None  # preset: the file whose tables are the presets
    aliases: Mapping[str, str] = field(default_factory=dict)  # choice: old name -> the value it now is

    def check(self, value: str, stack: str) -> str:
        """The value as the stack will use it; a ConfigError naming what is allowed otherwise."""
        where = f"{stack}: {self.name}"
        if self.kind == "int":
            try:
                number = int(value)
            except ValueError:
                raise ConfigError(f"{where}={value!r} is not a whole number", tip=self.allowed()) from None
            if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
                raise ConfigError(f"{where}={number} is out of range", tip=self.allowed())
            return str(number)
        if self.kind == "text":
            return value
        value = PRESET_ALIASES.get(value, value) if self.kind == "preset" else self.aliases.get(value, value)
        if value not in self.values:
            raise ConfigError(f"{where}={value!r} is not allowed", tip=self.allowed())
        return value

    def kind_text(self) -> str:
        """`int 1-64`, `sync|gthread`: what the parameter takes, in a few characters."""
        if self.kind == "int":
            return f"int {'' if self.low is None else self.low}-{'' if self.high is None else self.high}"
        return "text" if self.kind == "text" else "|".join(self.values)

    def allowed(self) -> str:
        if self.kind == "int":
            low = "" if self.low is None else f"{self.low} <= "
            high = "" if self.high is None else f" <= {self.high}"
            return f"{self.name}: a whole number, {low}{self.name}{high} (default {self.default})"
        if self.kind == "text":
            return f"{self.name}: any text (default {self.default!r})"
        return f"{self.name}: one of {', '.join(self.values)} (default {self.default})"


def load_params(raw: Any, folder: Path, where: str) -> dict[str, Param]:
    """The [params.*] tables of a stack.toml."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [params] must hold one table per parameter")
    found = {}
    for name, table in raw.items():
        if not isinstance(table, dict) or table.get("type") not in KINDS:
            raise ConfigError(f"{where}: params.{name} needs type = one of {', '.join(KINDS)}")
        kind, file = table["type"], table.get("file")
        values = tuple(str(v) for v in table.get("values", ()))
        if kind == "preset":
            if not file:
                raise ConfigError(f"{where}: params.{name} (preset) needs file = ...")
            values = _presets(folder / file, table.get("table"))
        aliases = table.get("aliases", {})
        if not isinstance(aliases, dict) or (aliases and kind != "choice"):
            raise ConfigError(f"{where}: params.{name}.aliases must be a table of old name = value, for a choice")
        param = Param(name, kind, str(table.get("default", "")), values, table.get("min"), table.get("max"),
                      str(table.get("help", "")), file, {str(k): str(v) for k, v in aliases.items()})  # fmt: skip
        param.check(param.default, f"{where} default")
        for old in param.aliases:
            param.check(old, f"{where} alias")  # an alias names one of the values
        found[name] = param
    return found


def _presets(path: Path, table: str | None = None) -> tuple[str, ...]:
    """The names of the file's top-level tables, or of the tables inside its table `table`."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read presets {path}: {exc}") from exc
    found = data.get(table) if table else data
    if not isinstance(found, dict):
        raise ConfigError(f"presets {path}: no table [{table}]")
    return tuple(found)
