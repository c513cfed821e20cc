"""Sample the CPU and memory a stack uses while the load runs.

A backend says how to read its stack's usage (`RunningStack.usage`: psutil over a process tree
locally, the Docker API under compose); this module samples it on a thread and turns the
readings into CPU% over the measured window and peak resident memory.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.results import StackUsage


@dataclass(frozen=True)
class Usage:
    """One reading: CPU seconds consumed so far and resident memory now, summed over the stack."""

    cpu_seconds: float
    rss_bytes: int


def process_tree_usage(pids: Iterable[int]) -> Usage:
    """CPU time and RSS of the given processes and all their descendants."""
    cpu = 0.0
    rss = 0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            try:
                times = proc.cpu_times()
                cpu += times.user + times.system
                rss += proc.memory_info().rss
            except psutil.Error:
                continue  # a worker that ended between listing and reading
    return Usage(cpu, rss)


def cgroup_cpu_seconds(pid: int) -> float | None:
    """CPU seconds used so far by the control group of process `pid` (a container's), read from the host's
    cgroup files: exact at the moment of reading (the Docker API's figure can be up to its collection tick
    old); None where they cannot be read (another host's engine, no permission)."""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="ascii") as lines:
            groups = [line.rstrip("\n").split(":", 2) for line in lines]
    except OSError:
        return None
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
    busy those CPUs were in all (the stack's own use and any other work sharing them)."""

    def __init__(self, read: Callable[[], Usage], interval: float = 0.5, window_s: float = 60.0,
                 cpus: tuple[int, ...] | None = None) -> None:  # fmt: skip
        self._read = read
        self._cpus = cpus
        self._jiffies: list[tuple[int, int]] = []
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="usage-sampler", daemon=True)
        self._first: tuple[float, Usage] | None = None
        self._last: tuple[float, Usage] | None = None
        self._peak = 0
        self._count = 0
        self._delay = 0.0
        self._window_s = window_s
        self._window_peaks: dict[int, int] = {}

    def start(self, delay: float = 0.0) -> None:
        """Begin sampling after `delay` s (the warmup is not part of the measurement)."""
        self._delay = delay
        self._thread.start()

    def stop(self) -> StackUsage:
        """The summary, with a last reading unless the loop's (the join waits for one under way) is fresh."""
        self._stop.set()
        self._thread.join()
        if self._last is None or time.monotonic() - self._last[0] > self._interval:
            self._take()
        return self.summary()

    def summary(self) -> StackUsage:
        if self._first is None or self._last is None:
            return StackUsage(0.0, 0.0, 0.0, 0)
        wall = max(self._last[0] - self._first[0], 1e-9)
        cpu = max(self._last[1].cpu_seconds - self._first[1].cpu_seconds, 0.0)
        windows = [round(self._window_peaks[i] / 2**20, 1) for i in sorted(self._window_peaks)]
        busy = None
        if len(self._jiffies) >= 2 and self._jiffies[-1][1] > self._jiffies[0][1]:
            (b0, t0), (b1, t1) = self._jiffies[0], self._jiffies[-1]
            busy = round(100 * (b1 - b0) / (t1 - t0), 1)
        return StackUsage(round(100 * cpu / wall, 1), round(cpu, 3), round(self._peak / 2**20, 1), self._count,
                          windows, busy)  # fmt: skip

    def _loop(self) -> None:
        if self._stop.wait(self._delay):
            return
        self._take()
        while not self._stop.wait(self._interval):
            self._take()

    def _take(self) -> None:
        try:
            usage = self._read()
        except Exception:
            return
        now = time.monotonic()
        if self._cpus is not None and (jiffies := cpu_jiffies(self._cpus)) is not None:  # unpinned: locust shares them
            self._jiffies = [self._jiffies[0], jiffies] if self._jiffies else [jiffies]
        if self._first is None:
            self._first = (now, usage)
        self._last = (now, usage)
        self._peak = max(self._peak, usage.rss_bytes)
        window = int((now - self._first[0]) / self._window_s)
        self._window_peaks[window] = max(self._window_peaks.get(window, 0), usage.rss_bytes)
        self._count += 1
