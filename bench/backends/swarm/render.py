"""A stack's docker-compose.yml and its swarm override (data) -> a swarm stack file. Pure: no Docker here.

What changes on the way is written in stacks/common/swarm.toml, the data every stack's override
starts from. In short: `cpuset`/`mem_limit` become `deploy.resources.limits` (swarm has no CPU
pinning), nothing is published (everything that talks to the stack runs on its attachable overlay
network; services are reached by name, `endpoint_mode: dnsrr`), bind-mounted config files become
swarm configs (the manager hands them to every node), `depends_on` becomes the deploy order,
`network_mode: service:X` becomes a service of its own, `user` (locust alone or its master) runs
on this node with `docker run` (`Master`), and `worker` is deployed with 0 replicas, to be scaled
per load. A compose key this module does not know is an error, never dropped silently.

The stack file is written with every `${VAR}` already filled in (and `$` escaped as `$$`), so the
copy kept in the run folder deploys by hand exactly as the run deployed it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.backends.docker.variables import LOCUSTFILE, interpolate, service_environment, with_switches
from bench.errors import ConfigError
from bench.stacks.catalog import ROOT, Stack

COMMON = ROOT / "stacks" / "common" / "swarm.toml"
OVERRIDE = "swarm.toml"  # beside a stack's docker-compose.yml
NETWORK = "net"  # the stack's overlay network, `<stack>_net` once deployed
USER, WORKER = "user", "worker"  # the load services of stacks/common/load.yml
OUT = "/out"  # where locust writes, in the master's container
SHIP = {"LAB_LOAD_SHIP": "1"}  # locust workers send their files to the master (bench/load/lab_load.py)
KEPT = ("image", "command", "entrypoint", "environment", "healthcheck", "user", "working_dir", "stop_signal",
        "stop_grace_period")  # fmt: skip
DROPPED = {  # compose key -> what becomes of it under swarm
    "build": "images are built before the run (bench/backends/docker/images.py) and must be on every node",
    "ports": "nothing is published: everything that talks to the stack runs on its overlay network",
    "depends_on": "the stack is deployed in that order, each step running healthy before the next",
    "profiles": "the load services are handled apart",
    "network_mode": "swarm cannot share a network namespace: the service gets its own, on the overlay",
    "cpuset": "deploy.resources.limits.cpus (as many CPUs as the set holds): limits, not pinning",
    "mem_limit": "deploy.resources.limits.memory",
    "volumes": "config files become swarm configs; the master mounts the run's load folder",
}


@dataclass(frozen=True)
class SwarmData:
    """A stack's swarm override: stacks/common/swarm.toml, keys replaced by stacks/<name>/swarm.toml."""

    version: str
    replicated: tuple[str, ...]  # the services --replicas scales
    restart: str  # deploy.restart_policy.condition
    stop_grace_period: str  # for services whose compose file sets none
    note: str  # said in the summary (what swarm changed about the stack)
    unsupported: str  # why the stack cannot run under swarm ("": it can)
    target_service: str  # the service the load, the checks and Envoy's admin port reach
    hosts: Mapping[str, str]  # host.<port> of the config templates, over [compose] hosts
    placement: Mapping[str, str]  # label, stack, load: the node label that places tasks


def swarm_data(stack: Stack) -> SwarmData:
    """The override of `stack`; an unknown key or a wrong type is a ConfigError naming the file."""
    merged = _toml(COMMON)
    own = stack.path / OVERRIDE
    if own.is_file():
        data = _toml(own)
        unknown = sorted(set(data) - set(merged) - {"target_service"})
        if unknown:
            raise ConfigError(f"{own}: unknown key {unknown[0]!r}", tip=f"keys: {', '.join(sorted(merged))}")
        merged |= {k: (merged[k] | v) if isinstance(v, dict) else v for k, v in data.items()}
    try:
        return SwarmData(
            version=str(merged["version"]),
            replicated=tuple(str(s) for s in merged["replicated"]),
            restart=str(merged["restart"]),
            stop_grace_period=str(merged["stop_grace_period"]),
            note=str(merged["note"]),
            unsupported=str(merged["unsupported"]),
            target_service=str(merged.get("target_service", stack.compose.target_service)),
            hosts={str(k): str(v) for k, v in merged["hosts"].items()},
            placement={k: str(merged["placement"][k]) for k in ("label", "stack", "load")},
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{COMMON} or {own}: missing or malformed key {exc}") from exc


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


@dataclass(frozen=True)
class Choices:
    """What one bring-up decides about its stack file."""

    replicas: int = 1  # of each `replicated` service
    stack_constraints: tuple[str, ...] = ()  # placement of the stack's services
    load_constraints: tuple[str, ...] = ()  # placement of the locust workers
    locustfiles: str = LOCUSTFILE  # the workers' -f: the master's (a user's locustfile beside the lab's)
    switches: Mapping[str, str] = field(default_factory=dict)  # the app's fault switch (--inject) in each service


@dataclass(frozen=True)
class Master:
    """The compose file's `user` service, to run with `docker run` on this node (its files land here)."""

    image: str
    user: str
    environment: Mapping[str, str]
    files: Mapping[str, str]  # host file -> path in the container (the locustfile and what it imports)
    cpus: float | None
    memory: str | None


@dataclass(frozen=True)
class Plan:
    """A rendered stack: the file, the order to deploy its services in, and the master to run beside it."""

    document: dict[str, Any]  # the stack file, as written (variables filled in, `$` escaped)
    levels: list[list[str]]  # services in deploy order: each level's dependencies are in earlier levels
    replicas: dict[str, int]  # service -> replicas (the worker: 0 until a load scales it)
    master: Master
    dropped: dict[str, str] = field(default_factory=dict)  # `service.key` -> what became of it

    def text(self) -> str:
        return "# rendered by bench/backends/swarm/render.py\n" + yaml.safe_dump(self.document, sort_keys=False)

    def upto(self, level: int) -> dict[str, Any]:
        """The stack file with the services of levels 0..`level` only (a deploy step)."""
        keep = {name for names in self.levels[: level + 1] for name in names}
        services = {k: v for k, v in self.document["services"].items() if k in keep}
        return self.document | {"services": services}


def plan(stack: Stack, env: Mapping[str, str], data: SwarmData, choices: Choices) -> Plan:
    """The swarm stack file of `stack` with `env` (BENCH_*) filled in, and how to deploy it."""
    compose_file = stack.path / stack.compose.file
    services = load_services(compose_file, env)
    if USER not in services or WORKER not in services:
        raise ConfigError(f"{compose_file}: needs the `user` and `worker` services of stacks/common/load.yml")
    configs: dict[str, str] = {}  # config key -> the file it holds
    dropped: dict[str, str] = {}
    rendered: dict[str, Any] = {}
    replicas: dict[str, int] = {}
    for name, spec in services.items():
        if name == USER:
            continue
        count = 0 if name == WORKER else choices.replicas if name in data.replicated else 1
        constraints = choices.load_constraints if name == WORKER else choices.stack_constraints
        rendered[name] = _service(name, spec, count, constraints, data, configs, dropped)
        replicas[name] = count
        if name != WORKER:
            rendered[name]["environment"] = with_switches(rendered[name], choices.switches)
    rendered[WORKER]["command"] = _worker_files(rendered[WORKER].get("command"), choices.locustfiles, compose_file)
    document = {"version": data.version, "services": rendered,
                "networks": {NETWORK: {"driver": "overlay", "attachable": True}},
                "configs": {key: {"file": path} for key, path in configs.items()}}  # fmt: skip
    return Plan(_escaped(document), _levels(services, list(rendered)), replicas, _master(services[USER]), dropped)


def _worker_files(command: Any, files: str, where: Path) -> list[str]:
    """The workers' command running `files` (the master's locustfiles: a worker needs every user class the master
    spawns); a command that does not name the lab's locustfile is an error, never left as it was."""
    flag = f"-f {LOCUSTFILE} "
    if not isinstance(command, list) or sum(flag in str(part) for part in command) != 1:
        raise ConfigError(f"{where}: the worker service's command must run `locust {flag}...` once (stacks/common/"
                          "load.yml), so a user's locustfile can be put beside it")  # fmt: skip
    return [str(part).replace(flag, f"-f {files} ") for part in command]


def load_services(compose_file: Path, env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Every service of a compose file, `extends` resolved, variables filled in, bind sources absolute."""
    try:
        document = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {compose_file}: {exc}") from exc
    raw = interpolate(document.get("services") or {}, env)
    return {name: _extended(spec, compose_file, env) for name, spec in raw.items()}


def _extended(spec: dict[str, Any], where: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """A service with its `extends` merged in (its own keys win; volumes and environment are merged)."""
    spec = dict(spec)
    spec["volumes"] = [_absolute(v, where.parent) for v in spec.get("volumes", [])]
    extends = spec.pop("extends", None)
    if extends is None:
        return spec
    base_file = (where.parent / extends["file"]).resolve()
    base = load_services(base_file, env).get(extends["service"])
    if base is None:
        raise ConfigError(f"{where}: extends {extends['service']!r}, which {base_file} does not have")
    merged = base | spec
    merged["volumes"] = _by_target([*base.get("volumes", []), *spec["volumes"]])
    merged["environment"] = service_environment(base) | service_environment(spec)
    return merged


def _absolute(volume: str, folder: Path) -> str:
    source, _, rest = volume.partition(":")
    return f"{(folder / source).resolve() if source.startswith('.') else source}:{rest}"


def _by_target(volumes: Sequence[str]) -> list[str]:
    """Later mounts replace earlier ones at the same container path, as compose merges them."""
    found = {v.split(":")[1]: v for v in volumes}
    return list(found.values())


def _service(name: str, spec: Mapping[str, Any], replicas: int, constraints: Sequence[str], data: SwarmData,
             configs: dict[str, str], dropped: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    """One compose service as a swarm service."""
    unknown = sorted(set(spec) - set(KEPT) - set(DROPPED))
    if unknown:
        raise ConfigError(f"service {name!r}: compose key {unknown[0]!r} has no swarm translation "
                          "(bench/backends/swarm/render.py)")  # fmt: skip
    out = {k: spec[k] for k in KEPT if k in spec}
    out.setdefault("stop_grace_period", data.stop_grace_period)
    out["environment"] = service_environment(spec) | (SHIP if name == WORKER else {})
    mounts = [_config(v, name, configs) for v in spec.get("volumes", []) if v.split(":")[1] != OUT]
    if mounts:
        out["configs"] = mounts
    out["networks"] = [NETWORK]
    out["deploy"] = _deploy(spec, replicas, constraints, data.restart)
    dropped |= {f"{name}.{k}": DROPPED[k] for k, v in spec.items() if k in DROPPED and v}
    return out


def _config(volume: str, service: str, configs: dict[str, str]) -> dict[str, Any]:
    """A bind-mounted file as a swarm config (the same file under one key however many services mount it)."""
    source, target = volume.split(":")[:2]
    if not Path(source).is_file():
        raise ConfigError(f"service {service!r}: {source} is mounted but is not a file; swarm hands only config "
                          "files to the nodes (a folder or volume would exist on this node only)")  # fmt: skip
    key = next((k for k, v in configs.items() if v == source), None)
    if key is None:
        key = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(target).name)
        while key in configs:
            key = f"{service}_{key}"
        configs[key] = source
    return {"source": key, "target": target, "mode": 0o444}


def _deploy(spec: Mapping[str, Any], replicas: int, constraints: Sequence[str], restart: str) -> dict[str, Any]:
    limits: dict[str, str] = {}
    if spec.get("cpuset"):
        limits["cpus"] = f"{len(cpu_list(str(spec['cpuset']))):.1f}"
    if spec.get("mem_limit"):
        limits["memory"] = str(spec["mem_limit"])
    deploy: dict[str, Any] = {"replicas": replicas, "endpoint_mode": "dnsrr",
                              "restart_policy": {"condition": restart}}  # fmt: skip
    if limits:
        deploy["resources"] = {"limits": limits}
    if constraints:
        deploy["placement"] = {"constraints": list(constraints)}
    return deploy


def cpu_list(cpuset: str) -> list[int]:
    """`0-2,5` -> [0, 1, 2, 5]."""
    cpus: list[int] = []
    for part in cpuset.split(","):
        low, _, high = part.strip().partition("-")
        cpus.extend(range(int(low), int(high or low) + 1))
    return cpus


def _master(spec: Mapping[str, Any]) -> Master:
    files = {}
    for volume in spec.get("volumes", []):
        source, target = volume.split(":")[:2]
        if target != OUT:
            files[source] = target
    return Master(image=str(spec["image"]), user=str(spec.get("user", "")),
                  environment=service_environment(spec) | SHIP, files=files,
                  cpus=float(len(cpu_list(str(spec["cpuset"])))) if spec.get("cpuset") else None,
                  memory=str(spec["mem_limit"]) if spec.get("mem_limit") else None)  # fmt: skip


def _levels(services: Mapping[str, Mapping[str, Any]], deployed: Sequence[str]) -> list[list[str]]:
    """`deployed` in depends_on order: a service's level is one more than its deepest dependency's."""
    level: dict[str, int] = {}

    def depth(name: str, seen: tuple[str, ...] = ()) -> int:
        if name in seen:
            raise ConfigError(f"depends_on cycle: {' -> '.join([*seen, name])}")
        if name not in level:
            needs = [d for d in services[name].get("depends_on") or [] if d in deployed]
            level[name] = 1 + max((depth(d, (*seen, name)) for d in needs), default=-1)
        return level[name]

    for name in deployed:
        depth(name)
    return [[n for n in deployed if level[n] == i] for i in range(max(level.values(), default=-1) + 1)]


def _escaped(value: Any) -> Any:
    """Every `$` as `$$`: `docker stack deploy` interpolates again, and the values are final already."""
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value.replace("$", "$$") if isinstance(value, str) else value
