"""Discover and validate `stacks/*/stack.toml` into frozen dataclasses.

Everything about a stack that is data lives in its folder; this module only reads it.
Commands and server configs carry `{{name}}` placeholders (ports, hosts, paths) that a
backend fills in with `fill`, so the same nginx.conf serves local processes and compose.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ConfigError
from bench.stacks.params import Param, load_params

ROOT = Path(__file__).resolve().parents[2]
# BENCH_STACKS_DIR points the lab at another folder of stacks (your own, or test fixtures)
STACKS_DIR = Path(os.environ.get("BENCH_STACKS_DIR") or ROOT / "stacks")

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")


@dataclass(frozen=True)
class Process:
    """One server process of a stack when it runs as local processes."""

    name: str
    command: tuple[str, ...]
    binary: str  # what must be on PATH (or the venv) for this process to start
    install_tip: str
    ready_port: str | None  # wait until this named port accepts TCP before the next process
    env: Mapping[str, str] = field(default_factory=dict)  # set for this process only ({{placeholders}} filled)


@dataclass(frozen=True)
class Compose:
    """How the stack's docker-compose.yml looks to the compose backend ([compose] in stack.toml)."""

    file: str  # the compose file in the stack folder
    target_service: str  # the service whose network namespace holds the target port
    hosts: Mapping[str, str]  # port name -> host a config template sees it at (default: loopback)


@dataclass(frozen=True)
class Client:
    """The load generator as another client than the usual one ([clients.NAME] in stack.toml), for a
    stack that tells clients apart by their address (the gateway's IP allow-list)."""

    local_source: str | None  # local runs: the loopback address locust's sockets bind to (127.0.0.2)
    compose_service: str | None  # compose runs: the locust service, on its own address of the project network


@dataclass(frozen=True)
class Stack:
    """A deployment stack as described by its folder."""

    name: str
    path: Path
    description: str
    order: int  # position in listings and the summary
    hidden: bool  # a helper target (the generator floor), not a stack to compare
    in_all: bool  # measured by `bench all` (the four seed stacks); the others when named
    verify: bool  # check the users API's answers before loading
    app: str  # what it serves by default, module:attribute (the lab's users API)
    interface: str  # the apps it can serve: wsgi | asgi | flask (a Flask app only) | none
    ports: Mapping[str, int]  # port name -> container port (compose); local picks free ones
    local_ports: Mapping[str, int]  # fixed loopback ports for local runs, where a stack needs them
    target: str  # the named port the load generator hits
    health_path: str
    processes: tuple[Process, ...]
    templates: tuple[str, ...]  # files rendered into the work folder (by their base name) before start
    params: Mapping[str, Param]  # the parameters it accepts (bench/stacks/params.py)
    reference: Mapping[str, Any]  # published figures from the seeds, shown beside ours
    compose: Compose = Compose("docker-compose.yml", "app", {})
    gateway_file: str | None = None  # the gateway stack's Istio objects (bench/gateway/api_gateway.py renders them)
    clients: Mapping[str, Client] = field(default_factory=dict)  # other clients the load can be sent as

    def __str__(self) -> str:
        return self.name

    @property
    def breaker_file(self) -> str | None:
        """The Istio circuit-breaker presets of a stack with an Envoy sidecar (its `breaker` parameter)."""
        param = self.params.get("breaker")
        return param.file if param is not None and param.kind == "preset" else None


def discover(stacks_dir: Path = STACKS_DIR, hidden: bool = False) -> dict[str, Stack]:
    """Return every stack under `stacks_dir`, by name, in a stable order (helpers only if `hidden`)."""
    loaded = [load_stack(path) for path in stacks_dir.glob("*/stack.toml")]
    ordered = sorted(loaded, key=lambda s: (s.order, s.name))
    return {stack.name: stack for stack in ordered if hidden or not stack.hidden}


def in_all(stacks_dir: Path = STACKS_DIR) -> list[Stack]:
    """The stacks `bench all` measures: the four of the seed documents (`in_all = true`)."""
    return [s for s in discover(stacks_dir).values() if s.in_all]


def floor_stack(stacks_dir: Path = STACKS_DIR) -> Stack:
    """The trivial target that measures the load generator's own floor."""
    return discover(stacks_dir, hidden=True)["floor"]


def select(names: list[str], stacks_dir: Path = STACKS_DIR) -> list[Stack]:
    """Resolve stack names; an unknown one is a ConfigError that lists the known ones.

    A helper stack (the floor) can be named too, though `list` and `all` leave it out.
    """
    known, everything = discover(stacks_dir), discover(stacks_dir, hidden=True)
    chosen = []
    for name in names:
        if name not in everything:
            raise ConfigError(
                f"stack {name!r} not found",
                tip=f"known stacks: {', '.join(known)} (see `python -m bench list`)",
            )
        chosen.append(everything[name])
    return chosen


_loaded: dict[Path, tuple[tuple[tuple[str, int, int], ...], Stack]] = {}


def load_stack(toml_path: Path) -> Stack:
    """Parse one stack.toml (again only when a file of its folder changed: the CLI resolves stacks many times
    over); a missing or mistyped key is a ConfigError naming the file."""
    try:
        seen = tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in toml_path.parent.iterdir()
                           if p.is_file()))  # fmt: skip
    except OSError:
        seen = ()
    if seen and (cached := _loaded.get(toml_path)) is not None and cached[0] == seen:
        return cached[1]
    stack = _parse_stack(toml_path)
    if seen:
        _loaded[toml_path] = (seen, stack)
    return stack


def _parse_stack(toml_path: Path) -> Stack:
    try:
        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {toml_path}: {exc}") from exc
    where = str(toml_path)
    ports = _require(data, "ports", dict, where)
    stack = Stack(
        name=toml_path.parent.name,
        path=toml_path.parent,
        description=_require(data, "description", str, where),
        order=int(data.get("order", 100)),
        hidden=bool(data.get("hidden", False)),
        in_all=bool(data.get("in_all", False)),
        verify=bool(data.get("verify", True)),
        app=_require(data, "app", str, where),
        interface=_choice(data.get("interface", "none"), ("wsgi", "asgi", "flask", "none"), "interface", where),
        ports={str(k): int(v) for k, v in ports.items()},
        local_ports={str(k): int(v) for k, v in data.get("local_ports", {}).items()},
        target=_require(data, "target", str, where),
        health_path=data.get("health_path", "/health"),
        processes=tuple(_process(p, where) for p in _require(data, "process", list, where)),
        templates=tuple(data.get("templates", [])),
        params=load_params(data.get("params", {}), toml_path.parent, where),
        reference=data.get("reference", {}),
        compose=_compose(data.get("compose", {}), where),
        gateway_file=data.get("gateway"),
        clients={str(k): _client(v, where) for k, v in data.get("clients", {}).items()},
    )
    if stack.target not in stack.ports:
        raise ConfigError(f"{where}: target {stack.target!r} is not one of its ports")
    for template in stack.templates:
        if not (stack.path / template).is_file():
            raise ConfigError(f"{where}: template {template!r} does not exist")
    for spec in (stack.breaker_file, stack.gateway_file):
        if spec and not (stack.path / spec).is_file():
            raise ConfigError(f"{where}: {spec!r} does not exist")
    return stack


def _process(raw: Any, where: str) -> Process:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: every [[process]] must be a table")
    command = _require(raw, "command", list, where)
    return Process(
        name=_require(raw, "name", str, where),
        command=tuple(str(part) for part in command),
        binary=raw.get("binary", str(command[0])),
        install_tip=raw.get("install_tip", ""),
        ready_port=raw.get("ready_port"),
        env={str(k): str(v) for k, v in raw.get("env", {}).items()},
    )


def _client(raw: Any, where: str) -> Client:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: every [clients.NAME] must be a table")
    return Client(local_source=raw.get("local_source"), compose_service=raw.get("compose_service"))


def _compose(raw: Any, where: str) -> Compose:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [compose] must be a table")
    hosts = raw.get("hosts", {})
    if not isinstance(hosts, dict):
        raise ConfigError(f"{where}: [compose] hosts must be a table of port name -> host")
    return Compose(
        file=str(raw.get("file", "docker-compose.yml")),
        target_service=str(raw.get("target_service", "app")),
        hosts={str(k): str(v) for k, v in hosts.items()},
    )


def _choice(value: Any, allowed: tuple[str, ...], key: str, where: str) -> str:
    if value not in allowed:
        raise ConfigError(f"{where}: {key} must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def _require(data: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise ConfigError(f"{where}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: {key!r} must be a {kind.__name__}")
    return value


def canonical_params(stack: str, params: Mapping[str, str], stacks_dir: Path = STACKS_DIR) -> dict[str, str]:
    """Stored parameter values as the stack names them now (an alias its stack.toml declares -> the value), so
    a run recorded under a value's old name compares with runs after the rename; values of a stack or parameter
    no longer declared stay as stored."""
    declared = discover(stacks_dir, hidden=True).get(stack)
    if declared is None:
        return dict(params)
    aliases = {name: param.aliases for name, param in declared.params.items()}
    return {name: aliases.get(name, {}).get(value, value) for name, value in params.items()}


def discovery(host: str) -> str:
    """How Envoy finds an upstream at `host` (`{{discovery.<port>}}`): STATIC for an address, STRICT_DNS
    for a name, every address it resolves to an endpoint (swarm: a service name resolves to each replica)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "STRICT_DNS"
    return "STATIC"


def fill(text: str, context: Mapping[str, str]) -> str:
    """Fill `{{name}}` placeholders; an unknown name is an error, never left in silently."""

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in context:
            raise ConfigError(f"unknown placeholder {{{{{key}}}}} (known: {', '.join(sorted(context))})")
        return context[key]

    return _PLACEHOLDER.sub(value, text)
