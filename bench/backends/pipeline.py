"""One bring-up, whatever starts the processes: ports and hosts -> one template context -> the stack's
templates rendered -> one environment of what the bring-up serves. A backend decides only how its
processes start and where their ports are (a `Layout`); everything else a stack reads of a bring-up
(the app, its health path, the parameters, the owner of the load's files) comes from here, so the
backends cannot drift apart again (under swarm a user's app was once silently replaced)."""

from __future__ import annotations

import random
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.backends.base import LOOPBACK, BringUp
from bench.stacks.catalog import Stack, discovery, fill
from bench.stacks.userapp import App
from bench.stacks.variants import param_variables, template_context

LISTEN_PORTS = (20000, 32767)  # where free ports are picked: below Linux's default ephemeral range


@dataclass(frozen=True)
class Layout:
    """Where a backend put a stack's processes, as its configs and commands must name it."""

    ports: Mapping[str, int]  # port name -> the port the stack's process listens on
    python: str  # how a command starts Python
    stack_dir: str  # the stack's folder, as its processes see it
    workdir: str  # the rendered configs and what servers write at run time (nginx's pid, temp files)
    bind_host: str  # the address servers listen on
    hosts: Mapping[str, str] = field(default_factory=dict)  # port name -> host a config reaches it at (loopback)

    def host(self, port: str) -> str:
        return self.hosts.get(port, LOOPBACK)


def context(stack: Stack, layout: Layout, params: Mapping[str, str], app: App) -> dict[str, str]:
    """What every `{{placeholder}}` of the stack's commands and templates means with these parameters, serving
    `app` (a bring-up's `run.serves(stack)`)."""
    where = {"python": layout.python, "stack_dir": layout.stack_dir, "workdir": layout.workdir,
             "bind_host": layout.bind_host}  # fmt: skip
    for name, port in layout.ports.items():
        where[f"port.{name}"] = str(port)
        where[f"host.{name}"] = layout.host(name)
        where[f"discovery.{name}"] = discovery(layout.host(name))
    return where | template_context(stack, params, where) | app.context()


def render_templates(stack: Stack, dest: Path, filled: Mapping[str, str]) -> None:
    """Each template of the stack, filled in with `filled` (a `context`), under its base name in `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in stack.templates:
        text = fill((stack.path / name).read_text(encoding="utf-8"), filled)
        (dest / Path(name).name).write_text(text, encoding="utf-8")


def environment(stack: Stack, run: BringUp) -> dict[str, str]:
    """What the stack's processes (local) or its compose file (compose, swarm) read of this bring-up: the app
    to serve and how (BENCH_APP*, the servers' factory switches), the health path, the parameters
    (BENCH_PARAM_*), who owns the files the load generator writes (BENCH_UID, BENCH_GID), and the app's fault
    switch (--inject: BENCH_FAULT_*, which the stack's services get unless one sets its own). The requests
    (--requests) and a user's locustfile reach locust through the load's own settings, alike everywhere
    (bench/load/runner.py: locust_env, locust_args)."""
    app = run.serves(stack)
    uid, gid = run.owner()
    return {
        "BENCH_APP": app.target,
        "BENCH_APP_NAME": app.name,
        "BENCH_APP_FACTORY": "true" if app.factory else "false",
        "BENCH_HEALTH_PATH": run.health(stack),
        "BENCH_UID": str(uid),
        "BENCH_GID": str(gid),
    } | app.environment() | param_variables(stack, run.params) | dict(run.faults)


def published(stack: Stack) -> list[str]:
    """The ports the host reaches: the target, and Envoy's admin where there is one."""
    return [stack.target, *(["admin"] if "admin" in stack.ports and stack.target != "admin" else [])]


def free_port() -> int:
    """A TCP port on loopback that nothing uses right now, outside the ephemeral range: a port the
    kernel hands out (bind to 0) may meanwhile become the local end of someone's outgoing connection
    (locust's, a health check's), and the server meant to listen on it fails with EADDRINUSE."""
    low, high = LISTEN_PORTS
    try:
        ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
        high = min(high, ephemeral - 1)
    except (OSError, ValueError, IndexError):
        pass
    for port in random.sample(range(low, high + 1), min(200, max(0, high + 1 - low))):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # a narrowed range: the kernel's choice
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])
