"""The Docker engine in swarm mode, through the docker CLI: its state, joining it for a run and leaving
it, the nodes and their labels, whether every node has the lab's images, deploying and removing stacks.

Nothing here touches what a run did not create: a swarm this run did not initialise is never left,
and everything removed is found by the exact name of a stack this run deployed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.backends.docker.command import TIP, docker, last_line
from bench.errors import BenchError, MissingToolError, StackFailed

ADVERTISE = "127.0.0.1"  # a single-node swarm for the run: the manager listens on loopback only
STACK_LABEL = "com.docker.stack.namespace"  # set by `docker stack deploy` on everything of a stack
OWNER_LABEL = "bench.swarm.stack"  # on the containers the lab runs beside a stack (relay, locust master)
COMPOSE_LABEL = "com.docker.compose.project"
LEFT_BY_SWARM = ("docker_gwbridge", "ingress")  # networks a swarm creates on the engine and leaving can leave


@dataclass(frozen=True)
class Engine:
    """What `docker info` says of the engine and its swarm."""

    state: str  # inactive | active | pending | error | locked
    manager: bool
    node_id: str
    name: str  # the engine's host name
    ncpu: int


def engine() -> Engine:
    done = docker("info", "--format", "{{json .Swarm}}\t{{.Name}}\t{{.NCPU}}", timeout=20, check=False)
    if done.returncode != 0:
        raise MissingToolError(f"no Docker engine answers: {last_line(done.stderr)}", tip=TIP)
    swarm, name, ncpu = done.stdout.strip().split("\t")
    info = json.loads(swarm)
    return Engine(info.get("LocalNodeState") or "inactive", bool(info.get("ControlAvailable")),
                  info.get("NodeID") or "", name, int(ncpu or 1))  # fmt: skip


def compose_containers() -> list[str]:
    """Running containers of compose projects on this engine, as `name (project)`."""
    done = docker("ps", "--filter", f"label={COMPOSE_LABEL}", "--format",
                  f'{{{{.Names}}}} ({{{{.Label "{COMPOSE_LABEL}"}}}})', timeout=20)  # fmt: skip
    return done.stdout.split("\n")[:-1]


def networks() -> set[str]:
    return set(docker("network", "ls", "--format", "{{.Name}}").stdout.split())


@dataclass
class OwnSwarm:
    """A single-node swarm initialised for this run, and what leaving it must clean up."""

    networks_before: set[str] = field(default_factory=set)

    @classmethod
    def init(cls) -> OwnSwarm:
        before = networks()
        docker("swarm", "init", "--advertise-addr", ADVERTISE, "--listen-addr", f"{ADVERTISE}:2377")
        return cls(before)

    def leave(self) -> list[str]:
        """Leave, then remove the networks the swarm left behind; what could not be removed, said."""
        docker("swarm", "leave", "--force")
        left = [n for n in LEFT_BY_SWARM if n in networks() and n not in self.networks_before]
        problems = []
        for name in left:
            done = docker("network", "rm", name, check=False)
            if done.returncode != 0:
                problems.append(f"network {name}: {last_line(done.stderr)}")
        if engine().state != "inactive":
            problems.append("the engine is still a swarm member after `docker swarm leave --force`")
        return problems


def wait_for_compose_runs(limit_s: float, say: Callable[[str], None]) -> list[str]:
    """Wait (up to `limit_s`) until no compose container is up: leaving a swarm can drop their port
    mappings. The containers still up at the deadline (then the swarm is left anyway)."""
    up = compose_containers()
    if up:
        say(f"waiting up to {limit_s:g} s for compose containers to end before leaving the swarm: {', '.join(up)}")
    deadline = time.monotonic() + limit_s
    while up and time.monotonic() < deadline:
        time.sleep(2)
        up = compose_containers()
    return up


@dataclass(frozen=True)
class Node:
    id: str
    name: str
    role: str  # manager | worker
    labels: dict[str, str]
    ncpu: float


def nodes() -> list[Node]:
    ids = docker("node", "ls", "--format", "{{.ID}}").stdout.split()
    found = json.loads(docker("node", "inspect", *ids).stdout) if ids else []
    return [Node(n["ID"], n["Description"]["Hostname"], n["Spec"]["Role"], n["Spec"].get("Labels") or {},
                 n["Description"]["Resources"]["NanoCPUs"] / 1e9) for n in found]  # fmt: skip


def constraints(found: Sequence[Node], label: str, value: str) -> tuple[str, ...]:
    """Place on nodes labelled `label=value` when some node carries that label, else anywhere."""
    if any(n.labels.get(label) == value for n in found):
        return (f"node.labels.{label} == {value}",)
    return ()


def missing_images(images: Sequence[str], run: str, timeout: float = 90) -> dict[str, list[str]]:
    """node -> the `images` it lacks: a one-shot global service per image runs `true` on every node,
    and a node without the image rejects its task ("No such image")."""
    services = [f"bench-{run}-image-{i}" for i in range(len(images))]
    missing: dict[str, list[str]] = {}
    try:
        for service, image in zip(services, images, strict=True):
            docker("service", "create", "--detach", "--quiet", "--name", service, "--mode", "global",
                   "--restart-condition", "none", "--no-resolve-image", "--entrypoint", "true", image)  # fmt: skip
        for service, image in zip(services, images, strict=True):
            for node in _nodes_without(service, timeout):
                missing.setdefault(node, []).append(image)
    finally:
        docker("service", "rm", *services, check=False)
    return missing


def _nodes_without(service: str, timeout: float) -> list[str]:
    """The nodes whose task of a one-shot `service` could not start its image."""
    deadline = time.monotonic() + timeout
    while True:
        done = docker("service", "ps", service, "--no-trunc", "--format", "{{.Node}}\t{{.CurrentState}}\t{{.Error}}")
        rows = [line.split("\t") for line in done.stdout.splitlines()]
        settled = [r for r in rows if r[1].split()[0] in ("Complete", "Rejected", "Failed")]
        if rows and len(settled) == len(rows):
            return sorted({r[0] for r in settled if "No such image" in r[2] or r[1].startswith("Rejected")})
        if time.monotonic() > deadline:
            pending = ", ".join(f"{r[0]}: {r[1]}" for r in rows if r not in settled) or "no task yet"
            raise StackFailed(f"the image check did not finish within {timeout:g} s ({pending})")
        time.sleep(0.3)


def deploy(name: str, stack_file: Path) -> None:
    docker("stack", "deploy", "--resolve-image", "never", "--compose-file", str(stack_file), name, timeout=120)


@dataclass(frozen=True)
class Leftovers:
    """What of a stack still exists on the engine."""

    items: list[str]

    def __bool__(self) -> bool:
        return bool(self.items)


def leftovers(name: str) -> Leftovers:
    """Services, containers, networks and configs of the stack `name`, and the containers run beside it
    (services and configs exist only while the engine manages a swarm: none when it left)."""
    label = f"label={STACK_LABEL}={name}"
    found = [f"service {s}" for s in _swarm_list("service", label)]
    found += [f"container {c}" for c in docker("ps", "-aq", "--filter", label).stdout.split()]
    found += [f"container {c}" for c in docker("ps", "-aq", "--filter", f"label={OWNER_LABEL}={name}").stdout.split()]
    found += [f"network {n}" for n in docker("network", "ls", "-q", "--filter", label).stdout.split()]
    found += [f"config {c}" for c in _swarm_list("config", label)]
    return Leftovers(found)


def _swarm_list(kind: str, label: str) -> list[str]:
    done = docker(kind, "ls", "-q", "--filter", label, check=False)
    if done.returncode != 0 and "not a swarm manager" in done.stderr:
        return []
    if done.returncode != 0:
        raise StackFailed(f"docker {kind} ls failed: {last_line(done.stderr)}")
    return done.stdout.split()


def remove(name: str) -> None:
    """Start removing the stack `name` and what runs beside it (`wait_removed` waits for the end)."""
    beside = docker("ps", "-aq", "--filter", f"label={OWNER_LABEL}={name}").stdout.split()
    if beside:
        docker("rm", "-f", *beside, check=False)
    docker("stack", "rm", name, check=False)


def wait_removed(name: str, timeout: float = 60) -> Leftovers:
    """Until nothing of the stack is left, removing again what `docker stack rm` could not yet (a
    network whose last container was still stopping); what is left at the deadline."""
    deadline = time.monotonic() + timeout
    while (left := leftovers(name)) and time.monotonic() < deadline:
        if not any(item.startswith(("service", "container")) for item in left.items):
            for item in left.items:  # only networks and configs remain: remove them by id
                kind, ident = item.split()
                docker(kind, "rm", ident, check=False)
        else:
            docker("stack", "rm", name, check=False)
        time.sleep(0.5)
    return leftovers(name)


def refuse(message: str, tip: str) -> BenchError:
    """An error a user can act on (exit 2), before anything of the run started."""
    return BenchError(message, tip=tip)

__all__ = ["docker"]  # the docker CLI call, for the rest of the swarm backend
