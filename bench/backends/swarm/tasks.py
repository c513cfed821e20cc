"""A deployed stack as the engine sees it (Docker SDK): its tasks on every node, and its containers on
this one (CPU, memory, network namespaces: what the rest of the lab samples while the load runs).

The manager knows every task wherever it runs; only this node's containers can be measured, so what
runs elsewhere is said, never guessed (`remote`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.backends.docker.stats import EngineStats, labelled
from bench.backends.swarm.engine import STACK_LABEL, docker
from bench.console import progress
from bench.errors import StackFailed

SERVICE_LABEL = "com.docker.swarm.service.name"
ENDED = ("failed", "rejected", "complete", "shutdown", "orphaned", "remove")
# moby/moby#48783: now and then a task whose configs are mounted fails to start with "unable to remount dir
# as readonly: ... device or resource busy" (the engine's own tmpfs, not the stack). Seen here once in a CI
# run; a fresh task of the service starts. Only this error is retried, and only at bring-up.
TRANSIENT_START = "unable to remount dir as readonly"
START_RETRIES = 2


@dataclass(frozen=True)
class Task:
    service: str  # without the stack's prefix: app, sidecar, ...
    slot: int
    node: str  # host name of the node it runs on
    state: str  # new ... running, failed, complete, ...
    error: str
    id: str = ""

    @property
    def name(self) -> str:
        return f"{self.service}.{self.slot}"


class Deployed:
    """The stack `name` once deployed: its tasks, and its containers on this node (not the load's)."""

    def __init__(self, name: str, load_services: tuple[str, ...], this_node: str) -> None:
        import docker as sdk  # only under swarm

        self.name = name
        self.load_services = load_services
        self.this_node = this_node
        self.client: Any = sdk.from_env()
        self._node_names: dict[str, str] = {}
        self._services: list[Any] | None = None  # once deployed, the stack's services do not change
        self.stats = EngineStats(self.containers)  # this node's containers
        self.usage, self.memory_state = self.stats.usage, self.stats.memory_state

    def services(self, fresh: bool = False) -> list[Any]:
        if fresh or self._services is None:
            found = self.client.services.list(filters={"label": f"{STACK_LABEL}={self.name}"})
            self._services = [s for s in found if self.short(s.name) not in self.load_services]
        return self._services

    def short(self, service: str) -> str:
        return service.removeprefix(f"{self.name}_")

    def tasks(self, fresh: bool = False) -> list[Task]:
        """The current task of every slot of the stack's services (older attempts left out): one API call."""
        names = {s.id: self.short(s.name) for s in self.services(fresh)}
        latest: dict[tuple[str, int], dict[str, Any]] = {}
        for t in self.client.api.tasks(filters={"service": list(names)}) if names else []:
            key = (names.get(t["ServiceID"], "?"), int(t.get("Slot") or 0))
            if key not in latest or t["Version"]["Index"] > latest[key]["Version"]["Index"]:
                latest[key] = t
        return [Task(s, slot, self._node(t.get("NodeID", "")), t["Status"]["State"], t["Status"].get("Err", ""),
                     t.get("ID", "")) for (s, slot), t in sorted(latest.items())]  # fmt: skip

    def _node(self, node_id: str) -> str:
        if node_id and node_id not in self._node_names:
            self._node_names[node_id] = self.client.nodes.get(node_id).attrs["Description"]["Hostname"]
        return self._node_names.get(node_id, "-")

    def wait_running(self, services: list[str], replicas: Mapping[str, int], timeout: float) -> None:
        """Until every task of `services` runs (swarm reports running once a healthcheck passed);
        StackFailed at the first task that ended, or at the deadline, with the services' logs."""
        deadline = time.monotonic() + timeout
        replaced: set[str] = set()  # tasks that failed to start for the engine's own reason, started again
        retries: dict[str, int] = {}
        while True:
            tasks = [t for t in self.tasks(fresh=True) if t.service in services]
            ended = [t for t in tasks if t.state in ENDED and t.id not in replaced
                     and not (t.service in retries and t.state == "shutdown")]  # fmt: skip  # what --force replaces
            again = [t for t in ended if TRANSIENT_START in t.error and retries.get(t.service, 0) < START_RETRIES]
            if ended and len(again) == len(ended):
                for service in sorted({t.service for t in again}):
                    retries[service] = retries.get(service, 0) + 1
                    progress(f"    {service}: a task did not start ({TRANSIENT_START}: moby/moby#48783, the "
                             "engine's fault); starting it again")  # fmt: skip
                    docker("service", "update", "--force", "--detach", f"{self.name}_{service}")
                replaced |= {t.id for t in again}
                ended = []
            if ended:
                t = ended[0]
                raise StackFailed(f"task {t.name} on {t.node} {t.state}: {t.error or 'no error given'}",
                                  self.log_tail(services))  # fmt: skip
            running = {s: sum(t.service == s and t.state == "running" for t in tasks) for s in services}
            if all(running[s] >= replicas[s] for s in services):
                return
            if time.monotonic() > deadline:
                states = ", ".join(f"{t.name} {t.state}" for t in tasks) or "no task yet"
                raise StackFailed(f"not running after {timeout:g} s ({states})", self.log_tail(services))
            time.sleep(0.3)

    def problem(self) -> str | None:
        """Which task of the stack is no longer running, if one is not."""
        gone = [f"{t.name} on {t.node} {t.state}" + (f" ({t.error})" if t.error else "")
                for t in self.tasks() if t.state != "running"]  # fmt: skip
        return ", ".join(gone) or None

    def containers(self) -> list[Any]:
        """The stack's containers on this node (every node's are on the manager's list only as tasks)."""
        return labelled(self.client, f"{STACK_LABEL}={self.name}",
                        lambda labels: self.short(labels.get(SERVICE_LABEL, "")) not in self.load_services)  # fmt: skip

    def netns_pids(self) -> list[int | None]:
        """One process id per container on this node (each task has its own network namespace)."""
        pids = [int(c.attrs.get("State", {}).get("Pid") or 0) for c in self.containers()]
        return [pid for pid in pids if pid]

    def limits(self) -> dict[str, tuple[float, int]]:
        """service -> (CPUs, memory bytes) each of its tasks may use, as the service spec sets them."""
        found = {}
        for service in self.services():
            limits = service.attrs["Spec"]["TaskTemplate"].get("Resources", {}).get("Limits", {})
            found[self.short(service.name)] = (limits.get("NanoCPUs", 0) / 1e9, int(limits.get("MemoryBytes", 0)))
        return found

    def log_tail(self, services: list[str] | None = None, lines: int = 20) -> str:
        names = services or [self.short(s.name) for s in self.services()]
        out = []
        for service in names:
            done = docker("service", "logs", "--no-task-ids", "--tail", str(lines), f"{self.name}_{service}",
                          timeout=30, check=False)  # fmt: skip
            out.append((done.stdout + done.stderr).strip())
        return "\n".join(text for text in out if text)

    def close(self) -> None:
        self.client.close()


def facts(deployed: Deployed, tasks: list[Task]) -> dict[str, str]:
    """What a measurement records of where its stack ran: replicas and nodes per service, the limits."""
    found: dict[str, str] = {}
    by_service: dict[str, list[Task]] = {}
    for t in tasks:
        by_service.setdefault(t.service, []).append(t)
    found["replicas"] = ", ".join(f"{s}={len(ts)}" for s, ts in by_service.items())
    found["nodes"] = ", ".join(sorted({t.node for t in tasks}))
    found["tasks"] = ", ".join(f"{t.name}@{t.node}" for t in tasks)
    for service, (cpus, memory) in deployed.limits().items():
        shown_cpus = f"{cpus:g}" if cpus else "unlimited"
        shown_memory = f"{memory // 2**20}MiB" if memory else "unlimited"
        found[f"limits_{service}"] = f"cpus={shown_cpus} mem={shown_memory} each task (swarm limits, not pinning)"
    return found


def cpu_budget(deployed: Deployed, tasks: list[Task], ncpu: Callable[[str], float]) -> int:
    """CPUs the stack may use in all: on each node the sum of its tasks' limits, at most the node's CPUs."""
    limits = deployed.limits()
    per_node: dict[str, float] = {}
    for t in tasks:
        cpus = limits.get(t.service, (0.0, 0))[0] or ncpu(t.node)
        per_node[t.node] = per_node.get(t.node, 0.0) + cpus
    return max(1, math.ceil(sum(min(total, ncpu(node)) for node, total in per_node.items())))
