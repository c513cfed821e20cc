"""The one interface every backend offers, and what a running stack looks like to the rest."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bench.errors import StackFailed
from bench.load.runner import Launcher, LocalLauncher
from bench.options import Placement
from bench.sampling.metrics import Usage
from bench.stacks.catalog import Stack
from bench.stacks.userapp import App, own_app

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class BringUp:
    """Where one bring-up of a stack keeps its files, and the choices that shape it."""

    stack_dir: Path  # results/runs/<run-id>/<label>[-r<repeat>]/ : logs, rendered configs, load output
    params: Mapping[str, str] = field(default_factory=dict)  # stack parameters (the breaker preset, ...)
    ready_timeout: float = 60.0
    uid: int | None = None  # owner of files the load generator writes (compose)
    gid: int | None = None
    stack_cpus: tuple[int, ...] | None = None  # CPUs the stack may use (None: all)
    load_cpus: tuple[int, ...] | None = None  # CPUs the load generator may use
    app: App | None = None  # what it serves (None: the stack's own, the lab's users API)
    health_path: str | None = None  # readiness path (None: the stack's)
    locustfile: Path | None = None  # a user's own locustfile (compose bakes it into the app's image)
    replicas: int = 1  # swarm: tasks of the stack's app service (--replicas, or a row's @replicas=N)
    faults: Mapping[str, str] = field(default_factory=dict)  # --inject: the apps' fault switch, BENCH_FAULT_*

    def serves(self, stack: Stack) -> App:
        return self.app or own_app(stack.app, stack.interface)

    def health(self, stack: Stack) -> str:
        """The readiness path: the run's (--health), else the stack's."""
        return self.health_path or stack.health_path

    def owner(self) -> tuple[int, int]:
        """uid, gid of the files the load generator writes (--uid, --gid; else this process's)."""
        return (self.uid if self.uid is not None else os.getuid(), self.gid if self.gid is not None else os.getgid())


@dataclass
class RunningStack:
    """A stack that is up: where to send load, and how to watch it."""

    base_url: str
    admin_url: str | None = None  # Envoy admin, for stacks with a sidecar
    usage: Callable[[], Usage] = field(default=lambda: Usage(0.0, 0))  # CPU and memory now
    problem: Callable[[], str | None] = field(default=lambda: None)  # "gunicorn exited 1" etc.
    log_tail: Callable[[], str] = field(default=lambda: "")
    deployment: dict[str, str] = field(default_factory=dict)  # facts recorded with the result (ports, pinning)
    launcher: Launcher = field(default_factory=LocalLauncher)  # how locust is started against it
    time_wait: Callable[[], int | None] = field(default=lambda: None)  # TCP TIME_WAIT count, if known
    load_url: str = ""  # base URL as the load generator sees it (default: base_url)
    # The stack's network namespaces, one process id each (None: this process's own, the host's),
    # and the ports listening in them, by name: where its TCP counters and listen backlogs are read.
    netns_pids: Callable[[], list[int | None]] = field(default=lambda: _own_namespace())
    listen_ports: dict[str, int] = field(default_factory=dict)
    scope: str = "host-wide"  # host-wide: the stack shares the host's counters with locust
    memory_state: Callable[[], dict[str, float]] = field(default=lambda: {})  # compose: oom_kills, limit_pct, ...
    # The base URL of each named port as the load generator reaches it (local: every port on loopback;
    # compose: the ports the stack's services serve on the project network), for a stack that serves
    # variants of itself on several ports (the gateway's listeners).
    load_urls: Mapping[str, str] = field(default_factory=dict)
    clients: Mapping[str, Launcher] = field(default_factory=dict)  # stack.toml [clients]: locust as another client
    # CPUs the stack may use in all when it is not pinned to --pin's set (swarm: its tasks' CPU limits)
    cpus: int | None = None
    not_measured: dict[str, str] = field(default_factory=dict)  # signal -> why the backend cannot read it


    @classmethod
    def on_loopback(cls, stack: Stack, ports: Mapping[str, int], **watch: Any) -> RunningStack:
        """A stack whose target (and Envoy's admin, where it has one) this host reaches on these loopback ports."""
        admin = f"http://{LOOPBACK}:{ports['admin']}" if "admin" in ports else None
        return cls(base_url=f"http://{LOOPBACK}:{ports[stack.target]}", admin_url=admin, **watch)


def _own_namespace() -> list[int | None]:
    return [None]


class Backend(Protocol):
    """Brings stacks up and down. `up` tears down in `finally`, even on Ctrl-C."""

    name: str

    def check(self, stacks: list[Stack]) -> None:
        """Raise MissingToolError before anything starts if a tool is missing."""
        ...

    def run_scope(self, placement: Placement) -> AbstractContextManager[None]:
        """What the backend holds for the whole run (swarm: the swarm), released at its end however it ends."""
        ...

    def up(self, stack: Stack, bring_up: BringUp) -> AbstractContextManager[RunningStack]:
        """Start the stack, wait until it is ready, yield it, always tear it down."""
        ...


def wait_until_ok(url: str, timeout: float, died: Callable[[], None], log_tail: Callable[[], str],
                  interval: float = 0.1) -> None:  # fmt: skip
    """Poll `url` until it answers 200, else StackFailed with the logs' tail.

    `died()` raises StackFailed as soon as whatever serves `url` has exited.
    """
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        died()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            raise StackFailed(f"{url} not ready after {timeout:g} s ({last})", log_tail())
        time.sleep(interval)
