"""Stacks as local processes on free loopback ports: real flask, gunicorn, nginx, envoy."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.backends import pipeline
from bench.backends.base import LOOPBACK, BringUp, RunningStack, wait_until_ok
from bench.backends.pipeline import Layout, free_port, render_templates
from bench.errors import MissingToolError, StackFailed
from bench.load.runner import LocalLauncher
from bench.options import Placement
from bench.procs import ProcessGroup, tail
from bench.sampling.metrics import Usage, process_tree_usage, time_wait_count
from bench.stacks.catalog import ROOT, Stack, fill
from bench.stacks.userapp import App

# binaries installed with the Python dependencies (envoy, gunicorn) live next to python
_PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

__all__ = ["LocalBackend", "free_port", "local_context", "render_templates"]  # free_port, render_templates: tests


class LocalBackend:
    """Runs each process of `stack.toml` as a child in its own process group."""

    name = "local"

    def check(self, stacks: list[Stack]) -> None:
        for stack in stacks:
            for proc in stack.processes:
                if proc.binary.startswith("{{"):
                    continue  # the running Python itself
                if shutil.which(proc.binary, path=_PATH) is None:
                    raise MissingToolError(
                        f"{proc.binary!r} not found, needed by stack {stack.name!r}",
                        tip=proc.install_tip or None,
                    )

    def run_scope(self, placement: Placement) -> contextlib.AbstractContextManager[None]:
        """Nothing held beyond each stack's own bring-up."""
        return contextlib.nullcontext()

    @contextmanager
    def up(self, stack: Stack, bring_up: BringUp) -> Iterator[RunningStack]:
        run = bring_up
        ports = {name: stack.local_ports.get(name) or free_port() for name in stack.ports}
        workdir = run.stack_dir / "work"
        context = local_context(stack, run, workdir, ports)
        render_templates(stack, workdir, context)
        group = ProcessGroup()
        logs = run.stack_dir / "logs"
        try:  # the group is recorded before any start, so a failed start still tears down
            env = _env(run.serves(stack), pipeline.environment(stack, run))
            for proc in stack.processes:
                argv = [fill(part, context) for part in proc.command]
                own = env | {k: fill(v, context) for k, v in proc.env.items()}  # a process's own switches
                group.start(proc.name, argv, logs / f"{proc.name}.log", cwd=ROOT, env=own, cpus=run.stack_cpus)
                if proc.ready_port:
                    _wait_tcp(ports[proc.ready_port], group, run.ready_timeout)
            target = _target(stack, ports, group)
            target.launcher = LocalLauncher(run.load_cpus)
            target.clients = {name: LocalLauncher(run.load_cpus, source=client.local_source)
                              for name, client in stack.clients.items()}  # fmt: skip
            pinning = f"stack on CPUs {_cpus(run.stack_cpus)}, locust on CPUs {_cpus(run.load_cpus)}"
            target.deployment["pinning"] = pinning
            _wait_http(target.base_url + run.health(stack), group, run.ready_timeout)
            yield target
        finally:
            group.stop()


def local_context(stack: Stack, run: BringUp, workdir: Path, ports: dict[str, int]) -> dict[str, str]:
    """The pipeline's context for processes on this host: every port on loopback, the running Python."""
    layout = Layout(ports, python=sys.executable, stack_dir=str(stack.path), workdir=str(workdir), bind_host=LOOPBACK)
    return pipeline.context(stack, layout, run.params, run.serves(stack))


def _target(stack: Stack, ports: dict[str, int], group: ProcessGroup) -> RunningStack:
    def problem() -> str | None:
        dead = group.dead()
        if not dead:
            return None
        return ", ".join(f"{c.name} exited with code {c.exited()}" for c in dead)

    def usage() -> Usage:
        return process_tree_usage(c.pid for c in group.children if c.exited() is None)

    return RunningStack.on_loopback(
        stack,
        ports,
        usage=usage,
        time_wait=lambda: time_wait_count(set(ports.values())),
        problem=problem,
        log_tail=lambda: _tails(group),
        listen_ports=dict(ports),
        deployment={"ports": ", ".join(f"{k}={v}" for k, v in ports.items())},
        load_urls={name: f"http://{LOOPBACK}:{port}" for name, port in ports.items()},
    )


def _cpus(cpus: tuple[int, ...] | None) -> str:
    return ",".join(map(str, cpus)) if cpus else "all"


def _env(app: App, bring_up: dict[str, str]) -> dict[str, str]:
    """The servers' environment: this one's, the pipeline's (`bring_up`), the lab's folder on the path (your app's
    folder first)."""
    env = dict(os.environ) | bring_up
    env["PATH"] = _PATH
    folders = [str(app.folder) if app.folder else None, str(ROOT), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, folders))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _wait_tcp(port: int, group: ProcessGroup, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        _fail_if_dead(group)
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise StackFailed(f"port {port} not open after {timeout:g} s", _tails(group))
        time.sleep(0.05)


def _wait_http(url: str, group: ProcessGroup, timeout: float) -> None:
    wait_until_ok(url, timeout, lambda: _fail_if_dead(group), lambda: _tails(group))


def _fail_if_dead(group: ProcessGroup) -> None:
    dead = group.dead()
    if dead:
        child = dead[0]
        raise StackFailed(f"{child.name} exited with code {child.exited()} during start", _tails(group))


def _tails(group: ProcessGroup) -> str:
    return "\n".join(f"--- {c.name} ({c.log_path})\n{tail(c.log_path)}" for c in group.children)
