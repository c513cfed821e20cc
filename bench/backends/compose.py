"""Stacks under docker compose: the stack folder's docker-compose.yml, one project per run.

Each bring-up gets its own compose project (bench-<run-id>-<stack>-<n>), its configs
rendered from the stack's templates with a compose context, free loopback ports for what
the host must reach, and CPU sets that keep the stack and the load generator on separate
cores. Locust runs in an idle container of the project's `user` service (started while the
stack gets ready), one `docker exec` per load. `down -v --remove-orphans` runs after each
stack on a thread of its own, while the next stack comes up (never during a load; first,
where a compose file fixes a subnet), and the run's end waits for it, so nothing of the run
survives it.
Works with Compose v2 (`docker compose`) and docker-compose v1.29 (no `up --wait` there,
so readiness is polled here with a deadline).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import yaml

from bench.backends import pipeline
from bench.backends.base import LOOPBACK, BringUp, RunningStack, wait_until_ok
from bench.backends.docker import images
from bench.backends.docker.command import answers, hand_over, last_line, output, quiet, text
from bench.backends.docker.stats import EngineStats, labelled
from bench.backends.docker.teardowns import Teardowns
from bench.backends.docker.variables import (
    AppImages,
    container_layout,
    interpolate,
    locustfiles,
    variables,
    with_switches,
)
from bench.backends.pipeline import free_port
from bench.console import progress
from bench.errors import MissingToolError, StackFailed
from bench.load.runner import CLIENT_SWITCHES, locust_args, locust_env
from bench.options import Placement
from bench.procs import Child
from bench.results import LoadShape
from bench.stacks.catalog import ROOT, Stack
from bench.stacks.userapp import App, own_app

CONFIG_DIR = "compose"  # the rendered default configs committed in each stack folder
USER_SERVICE = "user"  # the load generator: locust alone, or the master of `worker`s
WORKER_SERVICE = "worker"  # locust workers (--processes N under compose: `up --scale worker=N`)
LOAD_SERVICES = (USER_SERVICE, WORKER_SERVICE)
MASTER_WAIT_S = 60  # how long the master waits for its workers to connect
OUT = "/out"  # the generator containers' mount of the bring-up's folder
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
TIP = "start the engine: dockerd & (or install docker.io docker-compose)"
_counter = itertools.count(1)
_services: dict[tuple[str, int], list[str]] = {}  # (compose file, its mtime) -> its services
_STARTS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="generators")  # idle generator containers


@functools.cache  # asked by the backend choice and by the check: each answer costs a process start
def compose_command() -> list[str] | None:
    """`docker compose` when the v2 plugin answers, else `docker-compose` (v1), else None."""
    if shutil.which("docker") and answers(["docker", "compose", "version"]):
        return ["docker", "compose"]
    if shutil.which("docker-compose") and answers(["docker-compose", "version"]):
        return ["docker-compose"]
    return None


def unavailable_reason() -> str | None:
    """None when compose can be used here, else why not (for the `auto` message)."""
    if shutil.which("docker") is None:
        return "no docker command"
    try:
        done = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "docker info did not answer"
    if done.returncode != 0:
        return "no Docker engine answers"
    if compose_command() is None:
        return "no compose command (docker compose or docker-compose)"
    return None


def compose_context(stack: Stack, params: Mapping[str, str], app: App | None = None) -> dict[str, str]:
    """What `{{placeholders}}` in the stack's templates mean under compose (`app`: the stack's own when None)."""
    return pipeline.context(stack, container_layout(stack), params, app or own_app(stack.app, stack.interface))


def render_configs(stack: Stack, params: Mapping[str, str], dest: Path) -> None:
    """Render the stack's templates for compose into `dest` (mounted as BENCH_CONFIG_DIR)."""
    pipeline.render_templates(stack, dest, compose_context(stack, params))


def run_file(stack: Stack, dest: Path, switches: Mapping[str, str] | None = None) -> tuple[Path, dict[str, Any]]:
    """The stack's compose file as a run uses it, in `dest`, and the healthchecks it left out (service -> test);
    `switches` (--inject: the app's fault switch) in the environment of each of the stack's services.

    Docker runs a healthcheck in the service's container every interval for as long as it runs, loads
    included: about 0.1 s of CPU a second for a python probe (0.02 s for `true`), on the stack's own CPUs.
    So the run's copy has none, and `depends_on` is start order only; the run runs each test itself while
    the stack comes up (`_Project.wait_healthy`), and never after. By hand the file keeps its checks.
    Relative paths stay the stack folder's (`--project-directory`)."""
    source = stack.path / stack.compose.file
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise StackFailed(f"cannot read {source}: {exc}") from exc
    checks = {}
    for name, service in (document.get("services") or {}).items():
        if test := (service.pop("healthcheck", None) or {}).get("test"):
            checks[name] = test
        if isinstance(service.get("depends_on"), dict):
            service["depends_on"] = list(service["depends_on"])
        if switches and name not in _load_services(stack):
            service["environment"] = with_switches(service, switches)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "docker-compose.yml"
    header = f"# {os.path.relpath(source, ROOT)} as this run used it, without healthchecks (bench/backends/compose.py)"
    path.write_text(header + "\n" + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path, checks


def probe_argv(test: Any) -> list[str] | None:
    """A compose healthcheck `test` as the argv `docker exec` runs (None: NONE, or nothing to run)."""
    if isinstance(test, str):
        return ["sh", "-c", test]
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        return ["sh", "-c", " ".join(test[1:])]
    return list(test[1:] if test[0] == "CMD" else test)


def project_name(stack_dir: Path, n: int) -> str:
    """bench-<run-id>-<stack folder>-<n>, in the characters both compose versions accept."""
    raw = f"bench-{stack_dir.parent.name}-{stack_dir.name}-{n}".lower()
    return re.sub(r"[^a-z0-9_-]+", "-", raw)


class Generators:
    """A project's load generator containers: one per locust service (`user`, a stack's other clients), started
    idle (the `user` one while the stack comes up, others at their first load) and kept for the bring-up; each
    load runs locust in one with `docker exec`, about a second less per load than a fresh `compose run --rm`
    container. Their /out is the bring-up's folder."""

    def __init__(self, compose: Sequence[str], env: Mapping[str, str], project: str, log: Path) -> None:
        self.compose, self.env, self.project, self.log = tuple(compose), dict(env), project, log
        self.started: dict[str, Future[None]] = {}  # service -> its start, begun

    def name(self, service: str) -> str:
        """The container's name, which the `worker`s of a distributed load resolve on the project network."""
        return f"{self.project}-{service}".replace("_", "-")

    def start(self, service: str) -> None:
        """Begin starting the service's container (on a thread), if it is not started yet."""
        if service not in self.started:
            self.started[service] = _STARTS.submit(self._start, service)

    def ensure(self, service: str) -> str:
        """The service's container, up (StackFailed if it cannot start)."""
        self.start(service)
        self.started[service].result()
        return self.name(service)

    def _start(self, service: str) -> None:
        done = _compose_call([*self.compose, "run", "-d", "--no-deps", "-T", "--name", self.name(service), service,
                              "sleep", "infinity"], dict(os.environ) | self.env, self.log)  # fmt: skip
        if done.returncode != 0:
            raise StackFailed(f"the {service} container did not start: {last_line(done.stderr)}", done.stderr[-2000:])

    def remove(self) -> None:
        """Every generator container, at once (what locust wrote is in the results folder), once each has started
        or failed to."""
        if self.started:
            wait(self.started.values())
            names = [self.name(service) for service in self.started]
            done = quiet(["docker", "rm", "-f", *names])
            with open(self.log, "a", encoding="utf-8") as out:
                out.write(f"$ docker rm -f {' '.join(names)}  -> {done.returncode}\n{done.stderr}\n")
            self.started.clear()


@dataclass(frozen=True)
class ComposeLauncher:
    """Locust in the project's container of its locust service, writing into the bring-up's folder.

    With `processes` > 1 that locust is a master, and the `worker` containers (`up --scale worker=N`,
    on the same CPU set) find it by its container's name on the project network.
    """

    compose: tuple[str, ...]  # the compose command with -p and -f
    env: Mapping[str, str]  # the project's BENCH_* variables
    uid: int
    gid: int
    generators: Generators
    folder: Path  # the bring-up's folder, mounted at /out in the generator containers
    service: str = USER_SERVICE  # another client's locust service ([clients] in stack.toml)

    def command(self, settings: LoadShape, base_url: str, out: Path) -> tuple[list[str], dict[str, str]]:
        """`docker exec -e ... <container> python -m locust ...`, its pid kept where `stop` finds it; the
        variables' values travel in the environment of `docker exec` (the client switches too)."""
        out.mkdir(parents=True, exist_ok=True)
        hand_over(out, self.uid, self.gid)  # the container user writes here, nobody else
        inner = f"{OUT}/{out.resolve().relative_to(self.folder.resolve())}"
        env = locust_env(settings, inner)
        files = locustfiles(settings.locustfile)
        args = locust_args(base_url, replace(settings, processes=1), inner, files, master=settings.processes > 1)
        if settings.processes > 1:
            args += ["--master", "--expect-workers", str(settings.processes),
                     "--expect-workers-max-wait", str(MASTER_WAIT_S)]  # fmt: skip
        flags = [flag for k in [*env, *CLIENT_SWITCHES] for flag in ("-e", k)]
        argv = ["docker", "exec", *flags, self.generators.name(self.service), "sh", "-c",
                f'echo $$ > {_pid_file(out)} && exec "$@"', "locust", "python", "-m", "locust", *args]  # fmt: skip
        return argv, dict(os.environ) | env | {"BENCH_OUT": str(out.resolve())}

    @contextmanager
    def around(self, settings: LoadShape, out: Path) -> Iterator[None]:
        """The generator container up; with `processes` > 1, `up --scale worker=N` before the master starts
        (they wait for its name), removed after."""
        self.generators.ensure(self.service)
        if settings.processes <= 1:
            yield
            return
        env = dict(os.environ) | dict(self.env) | locust_env(settings, OUT) | {
            "BENCH_OUT": str(out.resolve()), "BENCH_MASTER_HOST": self.generators.name(self.service)}  # fmt: skip
        scale = f"{WORKER_SERVICE}={settings.processes}"
        up = ["up", "-d", "--no-deps", "--no-build", "--force-recreate", "--scale", scale, WORKER_SERVICE]
        started = _compose_call([*self.compose, *up], env, out / "workers.log")
        try:
            if started.returncode != 0:
                raise StackFailed(f"locust workers did not start: {last_line(started.stderr)}", started.stderr[-2000:])
            yield
        finally:
            _compose_call([*self.compose, "logs", "--no-color", WORKER_SERVICE], env, out / "workers.log")
            _compose_call([*self.compose, "rm", "-f", "-s", "-v", WORKER_SERVICE], env, out / "workers.log")

    def stop(self, child: Child, grace: float, out: Path) -> None:
        """SIGTERM to this load's locust in its container (`docker exec` passes no signal on; its pid file may
        be a moment away when the load has only just started), then wait for it."""
        pid = _pid_file(out)
        wait = f'for i in $(seq 50); do [ -s {pid} ] && exec kill -TERM "$(cat {pid})"; sleep 0.1; done'
        quiet(["docker", "exec", self.generators.name(self.service), "sh", "-c", wait])  # it may have just ended
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.popen.wait(timeout=grace)


class ComposeBackend:
    """Brings each stack up as its own compose project; images are prepared once per run."""

    name = "compose"

    def __init__(self) -> None:
        self._compose: list[str] | None = None
        self._images: images.Images | None = None
        self._ncpu = 1
        self._app_images = AppImages()  # the lab's python image, or one with the user's app
        self._teardowns = Teardowns("compose")  # projects going down while the next stack comes up

    def check(self, stacks: list[Stack]) -> None:
        reason = unavailable_reason()
        if reason is not None:
            raise MissingToolError(f"the compose backend cannot run: {reason}", tip=TIP)
        for stack in stacks:
            if not (stack.path / stack.compose.file).is_file():
                raise MissingToolError(f"stack {stack.name!r} has no {stack.compose.file}")
        if self._images is None:  # once per run: later checks (the floor) reuse them
            self._compose = compose_command()
            self._ncpu = int(output(["docker", "info", "--format", "{{.NCPU}}"], TIP).strip() or "1")
            self._images = images.prepare(progress)

    @contextmanager
    def run_scope(self, placement: Placement) -> Iterator[None]:
        """At the end, every project of the run is down (the last ones go down on the teardown thread)."""
        try:
            yield
        finally:
            if pending := self._teardowns.pending():
                progress(f"waiting for {pending} compose project(s) to go down")
            self._settle(shielded=True)  # a Ctrl-C while waiting must not leave a project behind

    def _settle(self, shielded: bool = False) -> None:
        """Wait until the projects being taken down are gone (one that was not is said; the run goes on)."""
        for problem in self._teardowns.wait(shielded):
            progress(f"WARNING: a compose project was not taken down cleanly: {problem}")

    @contextmanager
    def up(self, stack: Stack, bring_up: BringUp) -> Iterator[RunningStack]:
        if self._compose is None or self._images is None:
            self.check([stack])
        assert self._compose is not None and self._images is not None
        run = bring_up
        project = _unused_project(run.stack_dir)
        logs = run.stack_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        pipeline.render_templates(stack, run.stack_dir / "work", compose_context(stack, run.params, run.serves(stack)))
        published = {name: free_port() for name in pipeline.published(stack)}
        env = self._env(stack, run, published)
        if _fixed_addresses(stack):  # its networks cannot exist twice on one engine: the last project goes first
            self._settle()
        compose_file, checks = run_file(stack, run.stack_dir / "work", run.faults)
        argv = [*self._compose, "-p", project, "--project-directory", str(stack.path), "-f", str(compose_file)]
        session = _Project(project, stack, argv, env, logs)
        try:  # the project name is fixed before anything starts, so `finally` can always take it down
            session.start(run.ready_timeout)
            session.generators.start(USER_SERVICE)  # while the stack gets ready
            target = self._target(stack, session, published)
            session.wait_healthy(checks, run.ready_timeout)  # every service, as depends_on waited for them
            _wait_ready(target.base_url + run.health(stack), session, run.ready_timeout)
            target.deployment |= session.limits()
            self._settle()  # the previous stack went down while this one came up: not during this load
            yield target
        finally:
            self._teardowns.submit(session.down)

    def _env(self, stack: Stack, run: BringUp, ports: Mapping[str, int]) -> dict[str, str]:
        """The pipeline's variables for the compose file (the generators' /out: the bring-up's folder, each load
        writes in a folder of it) and the loopback ports published for the host."""
        assert self._images is not None
        image = self._app_images.image(self._images, run, progress)
        env = variables(stack, run, run.stack_dir, self._ncpu, image, self._images.nginx)
        return env | {f"BENCH_PORT_{name.upper()}": str(port) for name, port in ports.items()}

    def _target(self, stack: Stack, session: _Project, published: Mapping[str, int]) -> RunningStack:
        assert self._images is not None and self._compose is not None
        env = session.env
        deployment = {
            "compose": " ".join(self._compose),
            "compose_project": session.name,
            "cpuset_stack": env["BENCH_STACK_CPUSET"],
            "cpuset_user": env["BENCH_USER_CPUSET"],
            "ports": ", ".join(f"{k}={v}" for k, v in published.items()),
            **self._images.deployment(),
        }
        launcher = ComposeLauncher(tuple(session.argv), dict(env), int(env["BENCH_UID"]), int(env["BENCH_GID"]),
                                   session.generators, Path(env["BENCH_OUT"]))  # fmt: skip
        clients = {name: replace(launcher, service=client.compose_service)
                   for name, client in stack.clients.items() if client.compose_service}  # fmt: skip
        return RunningStack.on_loopback(
            stack,
            published,
            usage=session.usage,
            problem=session.problem,
            log_tail=session.log_tail,
            deployment=deployment,
            launcher=launcher,
            load_url=f"http://{stack.compose.target_service}:{stack.ports[stack.target]}",
            netns_pids=session.netns_pids,
            listen_ports=dict(stack.ports),  # inside the containers, each in its own namespace
            scope="stack netns",
            memory_state=session.memory_state,
            load_urls={name: f"http://{_service_of(stack, name)}:{port}" for name, port in stack.ports.items()},
            clients=clients,
        )


class _Project:
    """One compose project: start, watch (docker SDK), log, take down."""

    def __init__(self, name: str, stack: Stack, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.stack = stack
        self.argv = argv
        self.env = env
        self.logs = logs
        self.services: list[str] = []
        self.load_services = _load_services(stack)
        self._client: Any = None
        self.generators = Generators(argv, env, name, logs / "compose.log")
        self.stats = EngineStats(self.containers)
        self.usage, self.memory_state = self.stats.usage, self.stats.memory_state

    def compose(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run one compose command; its output is appended to logs/compose.log."""
        return _compose_call([*self.argv, *args], dict(os.environ) | self.env, self.logs / "compose.log", timeout)

    def start(self, timeout: float) -> None:
        self.services = [s for s in self._all_services() if s not in self.load_services]
        started = self.compose("up", "-d", "--no-build", *self.services, timeout=timeout + 60)
        if started.returncode != 0:
            raise StackFailed(f"compose up failed: {last_line(started.stderr)}", self.log_tail() or started.stderr)

    def _all_services(self) -> list[str]:
        """Every service of the compose file, as compose reads it (once per file and version of it)."""
        path = self.stack.path / self.stack.compose.file
        key = (str(path), path.stat().st_mtime_ns if path.exists() else 0)
        if key not in _services:
            listed = self.compose("config", "--services")
            if listed.returncode != 0:
                raise StackFailed(f"compose config failed for {self.name}", listed.stderr[-2000:])
            _services[key] = listed.stdout.split()
        return _services[key]

    def wait_healthy(self, checks: Mapping[str, Any], timeout: float) -> None:
        """Run each service's healthcheck test in its container until it passes, once, while the stack comes up
        (StackFailed at the deadline or when a container dies)."""
        deadline = time.monotonic() + timeout
        env = dict(os.environ) | self.env
        for service, test in checks.items():
            argv = probe_argv(interpolate(test, env))
            if argv is None or service in self.load_services:
                continue
            while True:
                if dead := self.problem():
                    raise StackFailed(f"a container died during start: {dead}", self.log_tail())
                found = [c for c in self.containers() if c.labels.get(SERVICE_LABEL) == service]
                if found and quiet(["docker", "exec", found[0].id, *argv]).returncode == 0:
                    break
                if time.monotonic() > deadline:
                    raise StackFailed(f"service {service} not healthy after {timeout:g} s", self.log_tail())
                time.sleep(0.2)

    def containers(self) -> list[Any]:
        """The project's stack containers (not the load generator)."""
        if self._client is None:
            import docker  # the SDK is only needed under compose

            self._client = docker.from_env()
        return labelled(self._client, f"{PROJECT_LABEL}={self.name}",
                        lambda labels: labels.get(SERVICE_LABEL) not in self.load_services)  # fmt: skip

    def problem(self) -> str | None:
        """Which stack container died, if one did."""
        dead = []
        for container in self.containers():
            state = container.attrs.get("State", {})
            if container.status in ("exited", "dead") or state.get("Restarting"):
                oom = ", out of memory" if state.get("OOMKilled") else ""
                dead.append(
                    f"{container.labels.get(SERVICE_LABEL)} {container.status} (code {state.get('ExitCode')}{oom})"
                )
        return ", ".join(dead) or None

    def netns_pids(self) -> list[int | None]:
        """One process id per network namespace of the stack (a sidecar shares its app's)."""
        seen: dict[str, int] = {}
        for container in self.containers():
            pid = int(container.attrs.get("State", {}).get("Pid") or 0)
            mode = str(container.attrs.get("HostConfig", {}).get("NetworkMode", ""))
            if pid and not mode.startswith("container:"):
                seen[container.id] = pid
        return list(seen.values())

    def limits(self) -> dict[str, str]:
        """The CPU and memory limits the engine applied to each stack container."""
        found = {}
        for container in self.containers():
            host = container.attrs.get("HostConfig", {})
            service = container.labels.get(SERVICE_LABEL)
            memory = int(host.get("Memory") or 0)
            found[f"limits_{service}"] = (
                f"cpuset={host.get('CpusetCpus') or 'all'} "
                f"cpus={int(host.get('NanoCpus') or 0) / 1e9 or 'unlimited'} "
                f"mem={f'{memory // 2**20}MiB' if memory else 'unlimited'}"
            )
        return found

    def log_tail(self) -> str:
        done = self.compose("logs", "--no-color", "--tail", "20", *self.services, timeout=30)
        return (done.stdout + done.stderr).strip()

    def down(self) -> str | None:
        """Keep the containers' logs, then remove everything of the project; what went wrong, if anything."""
        self.generators.remove()
        with contextlib.suppress(Exception):
            done = self.compose("logs", "--no-color", *self.services, timeout=30)
            (self.logs / "containers.log").write_text(done.stdout + done.stderr, encoding="utf-8")
        try:
            for _ in range(3):  # on the teardown thread: no Ctrl-C reaches it, a failed `down` is tried again
                done = self.compose("down", "-v", "--remove-orphans", "-t", "1", timeout=120)  # measured already
                if done.returncode == 0:
                    return None
            return f"compose down failed for {self.name}: {last_line(done.stderr)}"
        finally:
            if self._client is not None:
                self._client.close()


def _fixed_addresses(stack: Stack) -> bool:
    """Whether the stack's compose file fixes a network's subnet (the gateway's clients network does)."""
    try:
        text = (stack.path / stack.compose.file).read_text(encoding="utf-8")
    except OSError:
        return False
    return re.search(r"^[^#]*\bsubnet\s*:", text, re.MULTILINE) is not None


def _compose_call(argv: list[str], env: dict[str, str], log: Path, timeout: float = 120) -> CompletedProcess[str]:
    """Run one compose command, appending what it printed to `log`."""
    try:
        # own session: a Ctrl-C at the terminal reaches us, and we still run `down` after it
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired as exc:
        done = subprocess.CompletedProcess(argv, 124, text(exc.stdout), text(exc.stderr) + "\n(timed out)")
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(argv[argv.index('-f') + 2 :])}  -> {done.returncode}\n{done.stdout}{done.stderr}\n")
    return done


def _wait_ready(url: str, session: _Project, timeout: float) -> None:
    def died() -> None:
        if dead := session.problem():
            raise StackFailed(f"a container died during start: {dead}", session.log_tail())

    wait_until_ok(url, timeout, died, session.log_tail, interval=0.2)


def _service_of(stack: Stack, port: str) -> str:
    """The service serving a named port on the project network (loopback in a config: the target's namespace)."""
    host = stack.compose.hosts.get(port, LOOPBACK)
    return stack.compose.target_service if host == LOOPBACK else host


def _load_services(stack: Stack) -> set[str]:
    """The locust services: `user`, `worker`, and the stack's other clients; never started with the stack."""
    return {*LOAD_SERVICES, *(c.compose_service for c in stack.clients.values() if c.compose_service)}


def _unused_project(stack_dir: Path) -> str:
    """A project name no container on the engine carries yet (runs in parallel never collide)."""
    while True:
        name = project_name(stack_dir, next(_counter))
        if not output(["docker", "ps", "-aq", "--filter", f"label={PROJECT_LABEL}={name}"], TIP).strip():
            return name


def _pid_file(out: Path) -> str:
    """Where the locust of the load writing into `out` keeps its pid, in its generator container."""
    return f"/tmp/locust-{re.sub(r'[^A-Za-z0-9_.-]+', '_', str(out.resolve()))}.pid"


def write_default_configs() -> None:
    """Rewrite stacks/<name>/compose/* : the configs a by-hand `docker compose up` mounts."""
    from bench.stacks.catalog import discover

    for stack in discover(hidden=True).values():
        if stack.templates:
            render_configs(stack, {}, stack.path / CONFIG_DIR)  # every parameter at its default


if __name__ == "__main__":
    write_default_configs()
