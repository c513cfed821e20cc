"""Sample the CPU and memory a stack uses while the load runs.

A backend says how to read its stack's usage (`RunningStack.usage`: psutil over a process tree
locally, the Docker API under compose); this module samples it on a thread and turns the
readings into CPU% over the measured window and peak resident memory.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.results import StackUsage


@dataclass(frozen=True)
class Usage:
    """One reading: CPU seconds consumed so far and resident memory now, summed over the stack."""

    cpu_seconds: float
    rss_bytes: int
    per_process: Mapping[int, float] = field(default_factory=dict)  # pid -> its CPU seconds, where known (local)


def process_tree_usage(pids: Iterable[int]) -> Usage:
    """CPU time and RSS of the given processes and all their descendants, and each one's CPU time."""
    cpu = 0.0
    rss = 0
    each: dict[int, float] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            try:
                times = proc.cpu_times()
                each[proc.pid] = times.user + times.system
                cpu += each[proc.pid]
                rss += proc.memory_info().rss
            except psutil.Error:
                continue  # a worker that ended between listing and reading
    return Usage(cpu, rss, each)


def cgroup_cpu_seconds(pid: int, container_id: str) -> float | None:
    """CPU seconds used so far by the control group of process `pid` (container `container_id`'s), read from
    the host's cgroup files: exact at the moment of reading (the Docker API's figure can be up to its
    collection tick old); None where they cannot be read (another host's engine, another PID namespace, no
    permission), told by the process's cgroup not naming the container."""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="ascii") as lines:
            groups = [line.rstrip("\n").split(":", 2) for line in lines]
    except OSError:
        return None
    if not container_id or not any(container_id in path for *_, path in groups):
        return None  # the engine's pid is not this machine's process of that container
    for _, controllers, path in groups:  # cgroup v1: the cpuacct controller's hierarchy
        if "cpuacct" in controllers.split(","):
            for mount in (f"/sys/fs/cgroup/{controllers}", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct"):
                with contextlib.suppress(OSError, ValueError):
                    return int(Path(f"{mount}{path}/cpuacct.usage").read_text(encoding="ascii")) / 1e9
    for hierarchy, _, path in groups:  # cgroup v2 (or v1's unified hierarchy beside it)
        if hierarchy == "0":
            for mount in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
                with contextlib.suppress(OSError, ValueError, StopIteration):
                    stat = Path(f"{mount}{path}/cpu.stat").read_text(encoding="ascii").splitlines()
                    return int(next(v for k, v in (line.split() for line in stat) if k == "usage_usec")) / 1e6
    return None


def time_wait_count(ports: set[int]) -> int | None:
    """TCP connections in TIME_WAIT on any of `ports` (seed 003 watches these: a stack that
    closes every connection, like gunicorn's sync workers, leaves thousands behind)."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None
    return sum(
        1
        for c in conns
        if c.status == psutil.CONN_TIME_WAIT
        and ((c.laddr and c.laddr.port in ports) or (c.raddr and c.raddr.port in ports))
    )


def cpu_jiffies(cpus: Iterable[int] | None) -> tuple[int, int] | None:
    """(busy, total) clock ticks of these CPUs (all when None) since boot, from /proc/stat; every process counts."""
    wanted = None if cpus is None else {f"cpu{c}" for c in cpus}
    busy = total = 0
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            for line in stat:
                name, *values = line.split()
                if not name.startswith("cpu") or name == "cpu" or (wanted is not None and name not in wanted):
                    continue
                ticks = [int(v) for v in values[:8]]  # user nice system idle iowait irq softirq steal
                total += sum(ticks)
                busy += sum(ticks) - ticks[3] - ticks[4]
    except (OSError, ValueError):
        return None
    return (busy, total) if total else None


class Sampler:
    """Reads `read()` every `interval` s on a thread between `start()` and `stop()`; with `cpus`, also how
    busy those CPUs were in all (the stack's own use and any other work sharing them).

    Every reading keeps its wall-clock time, so the summary can cover exactly the window locust measured
    (its start-up and warmup left out, whatever they took), the CPU at its edges read between the two
    nearest readings."""

    def __init__(self, read: Callable[[], Usage], interval: float = 0.5, window_s: float = 60.0,
                 cpus: tuple[int, ...] | None = None) -> None:  # fmt: skip
        self._read = read
        self._cpus = cpus
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="usage-sampler", daemon=True)
        self._readings: list[tuple[float, float, tuple[int, int] | None]] = []  # (wall time, CPU s, jiffies)
        self._per_process: list[tuple[float, Mapping[int, float]]] = []  # (wall time, pid -> CPU s), where known
        self._peak = 0
        self._window_s = window_s
        self._window_peaks: dict[int, int] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling, with a last reading unless the loop's (the join waits for one under way) is fresh."""
        self._stop.set()
        self._thread.join()
        if not self._readings or time.time() - self._readings[-1][0] > self._interval:
            self._take()

    def summary(self, window: tuple[float, float] | None = None) -> StackUsage:
        """CPU over `window` (wall-clock start, end: locust's measured window), else over all the readings;
        peak memory over all of them."""
        readings = self._readings
        if len(readings) < 2:
            return StackUsage(0.0, 0.0, round(self._peak / 2**20, 1), len(readings))
        start, end = window if window and window[1] > window[0] else (readings[0][0], readings[-1][0])
        start, end = max(start, readings[0][0]), min(end, readings[-1][0])  # no reading outside: nothing to tell
        wall = max(end - start, 1e-9)
        cpu = max(_cpu_at(readings, end) - _cpu_at(readings, start), 0.0)
        busy = None
        jiffies = [(t, j) for t, _, j in readings if j is not None]
        if len(jiffies) >= 2:
            (_, (b0, t0)), (_, (b1, t1)) = _nearest(jiffies, start), _nearest(jiffies, end)
            busy = round(100 * (b1 - b0) / (t1 - t0), 1) if t1 > t0 else None
        windows = [round(self._window_peaks[i] / 2**20, 1) for i in sorted(self._window_peaks)]
        return StackUsage(round(100 * cpu / wall, 1), round(cpu, 3), round(self._peak / 2**20, 1), len(readings),
                          windows, busy, busiest_percent(self._per_process, start, end))  # fmt: skip

    def _loop(self) -> None:
        self._take()
        while not self._stop.wait(self._interval):
            self._take()

    def _take(self) -> None:
        try:
            usage = self._read()
        except Exception:
            return
        now = time.time()
        jiffies = cpu_jiffies(self._cpus) if self._cpus is not None else None  # unpinned: locust shares them
        self._readings.append((now, usage.cpu_seconds, jiffies))
        if usage.per_process:
            self._per_process.append((now, usage.per_process))
        self._peak = max(self._peak, usage.rss_bytes)
        window = int((now - self._readings[0][0]) / self._window_s)
        self._window_peaks[window] = max(self._window_peaks.get(window, 0), usage.rss_bytes)


def _cpu_at(readings: list[tuple[float, float, tuple[int, int] | None]], when: float) -> float:
    """The CPU seconds at `when`, on the line between the readings either side of it."""
    after = next((i for i, (t, _, _) in enumerate(readings) if t >= when), len(readings) - 1)
    (t0, c0, _), (t1, c1, _) = readings[max(after - 1, 0)], readings[after]
    return c0 if t1 <= t0 else c0 + (c1 - c0) * min(max((when - t0) / (t1 - t0), 0.0), 1.0)


def busiest_percent(readings: list[tuple[float, Mapping[int, float]]], start: float, end: float) -> float | None:
    """The busiest single process's CPU over (start, end), 100 = one core: from the readings nearest either
    edge, over the processes seen at both (a GIL-bound server caps near 100 whatever the CPUs it may use)."""
    if len(readings) < 2:
        return None
    (t0, first), (t1, last) = (min(readings, key=lambda r: abs(r[0] - edge)) for edge in (start, end))
    if t1 <= t0:
        return None
    used = [last[pid] - first[pid] for pid in first.keys() & last.keys()]
    return round(100 * max(used) / (t1 - t0), 1) if used else None


def _nearest(readings: list[tuple[float, tuple[int, int]]], when: float) -> tuple[float, tuple[int, int]]:
    return min(readings, key=lambda r: abs(r[0] - when))
