"""The engine's view of a stack's containers: found by label, their CPU and memory read in parallel."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.sampling.metrics import Usage, cgroup_cpu_seconds


def labelled(client: Any, label: str, keep: Callable[[Mapping[str, str]], bool]) -> list[Any]:
    """The containers carrying `label` whose labels `keep` accepts. docker-py's containers.list() inspects every
    container it lists, and one removed in between (a load generator's one-off container going away) made it
    raise NotFound in the middle of a load: the list is read without inspecting, and a container gone by the
    time it is read is left out."""
    import docker

    found = []
    for summary in client.api.containers(all=True, filters={"label": label}):
        if keep(summary.get("Labels") or {}):
            with contextlib.suppress(docker.errors.NotFound):
                found.append(client.containers.get(summary["Id"]))
    return found


class EngineStats:
    """The engine's stats of a stack's containers (`containers()`), read in parallel: the engine answers each
    one-shot read on its next collection tick (about 1 s), so one container after another would take that long
    per container, at every usage sample and again at the end of each load. A snapshot younger than
    `max_age_s` is reused."""

    def __init__(self, containers: Callable[[], list[Any]]) -> None:
        self._containers = containers
        self._snapshot: tuple[float, list[tuple[Any, dict[str, Any]]]] | None = None

    def read(self, max_age_s: float = 0.0) -> list[tuple[Any, dict[str, Any]]]:
        """(container, its engine stats) for each container."""
        if self._snapshot is not None and time.monotonic() - self._snapshot[0] <= max_age_s:
            return self._snapshot[1]
        containers = self._containers()
        with ThreadPoolExecutor(max_workers=max(1, len(containers))) as pool:
            read = list(pool.map(lambda c: c.stats(stream=False, one_shot=True), containers))
        self._snapshot = (time.monotonic(), list(zip(containers, read, strict=True)))
        return self._snapshot[1]

    def usage(self) -> Usage:
        """CPU seconds and memory in use of the containers together; CPU from the container's cgroup where this
        host can read it (exact now; the engine's reads of several containers can differ by half a second,
        which on a short load moved the CPU % by a quarter), else the engine's."""
        cpu, memory = 0.0, 0
        for container, stats in self.read():
            pid = int(container.attrs.get("State", {}).get("Pid") or 0)
            exact = cgroup_cpu_seconds(pid, container.id) if pid else None
            cpu += exact if exact is not None else int(stats.get("cpu_stats", {}).get("cpu_usage", {}).get(
                "total_usage", 0)) / 1e9  # fmt: skip
            memory += memory_in_use(stats.get("memory_stats", {}))
        return Usage(cpu, memory)

    def memory_state(self) -> dict[str, float]:
        """OOM kills, memory limit hits and the fullest container's share of its limit, now and at its peak,
        from the usage sampler's last reading when it was taken as the load ended."""
        readings = []
        for container, read in self.read(max_age_s=2.0):
            container.reload()
            readings.append((bool(container.attrs.get("State", {}).get("OOMKilled")), read.get("memory_stats", {})))
        return memory_state(readings)


def memory_state(readings: Iterable[tuple[bool, Mapping[str, Any]]]) -> dict[str, float]:
    """(OOM-killed, the Docker API's memory_stats) of each container -> OOM kills, limit hits (cgroup v1
    failcnt), the fullest container's share of its limit in use now (`limit_pct`) and at its peak
    (`peak_pct`: cgroup v1's max_usage, page cache included, so 100 means it reached its limit)."""
    oom, hits, fullest, peak = 0, 0, 0.0, 0.0
    for killed, stats in readings:
        oom += killed
        hits += int(stats.get("failcnt", 0) or 0)
        limit = int(stats.get("limit", 0) or 0)
        if limit:
            fullest = max(fullest, 100 * memory_in_use(stats) / limit)
            peak = max(peak, 100 * int(stats.get("max_usage", 0) or 0) / limit)
    return {"oom_kills": oom, "limit_hits": hits, "limit_pct": round(fullest, 1), "peak_pct": round(peak, 1)}


def memory_in_use(stats: Mapping[str, Any]) -> int:
    """Memory in use as `docker stats` counts it: usage without the inactive page cache."""
    usage = int(stats.get("usage", 0))
    detail = stats.get("stats", {})
    inactive = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    return max(usage - int(inactive), 0)

