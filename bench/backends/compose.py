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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import yaml

from bench import images
from bench.backends.base import BringUp, RunningStack, Teardowns, wait_until_ok
from bench.backends.local import free_port
from bench.console import progress
from bench.errors import MissingToolError, StackFailed
from bench.load import CLIENT_SWITCHES, locust_args, locust_env
from bench.metrics import Usage, cgroup_cpu_seconds
from bench.options import Placement
from bench.procs import Child
from bench.results import LoadShape
from bench.stacks import ROOT, Stack, discovery, render
from bench.userapp import App
from bench.variants import environment as params_environment
from bench.variants import template_context

LOOPBACK = "127.0.0.1"
WORKDIR = "/tmp/work"  # where nginx keeps its pid and temp files inside its container
CONFIG_DIR = "compose"  # the rendered default configs committed in each stack folder
USER_SERVICE = "user"  # the load generator: locust alone, or the master of `worker`s
WORKER_SERVICE = "worker"  # locust workers (--processes N under compose: `up --scale worker=N`)
LOAD_SERVICES = (USER_SERVICE, WORKER_SERVICE)
MASTER_WAIT_S = 60  # how long the master waits for its workers to connect
OUT = "/out"  # the generator containers' mount of the bring-up's folder
LOCUSTFILE = "/bench/locustfile.py"
USERAPP, USERLOAD = "/userapp", "/userload"  # where --app's folder and --locustfile go in its image
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
TIP = "start the engine: dockerd & (or install docker.io docker-compose)"
_counter = itertools.count(1)
_services: dict[tuple[str, int], list[str]] = {}  # (compose file, its mtime) -> its services
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_STARTS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="generators")  # idle generator containers


@functools.cache  # asked by the backend choice and by the check: each answer costs a process start
def compose_command() -> list[str] | None:
    """`docker compose` when the v2 plugin answers, else `docker-compose` (v1), else None."""
    if shutil.which("docker") and _answers(["docker", "compose", "version"]):
        return ["docker", "compose"]
    if shutil.which("docker-compose") and _answers(["docker-compose", "version"]):
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


def compose_context(stack: Stack, params: Mapping[str, str]) -> dict[str, str]:
    """What `{{placeholders}}` in the stack's templates mean under compose."""
    context = {"python": "python", "stack_dir": "/stack", "workdir": WORKDIR, "bind_host": "0.0.0.0"}
    for name, port in stack.ports.items():
        context[f"port.{name}"] = str(port)
        context[f"host.{name}"] = stack.compose.hosts.get(name, LOOPBACK)
        context[f"discovery.{name}"] = discovery(context[f"host.{name}"])
    return context | template_context(stack, params, context)


def render_configs(stack: Stack, params: Mapping[str, str], dest: Path) -> None:
    """Render the stack's templates for compose into `dest` (mounted as BENCH_CONFIG_DIR)."""
    dest.mkdir(parents=True, exist_ok=True)
    context = compose_context(stack, params)
    for name in stack.templates:
        text = render((stack.path / name).read_text(encoding="utf-8"), context)
        (dest / Path(name).name).write_text(text, encoding="utf-8")


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's variable syntax (`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$VAR`, `$$`) over `env`."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def fill(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        given = env.get(name)
        if match.group(2) == ":-":
            return given or match.group(3)
        if match.group(2) == "-":
            return match.group(3) if given is None else given
        return given or ""

    return _VARIABLE.sub(fill, value)


def run_file(stack: Stack, dest: Path) -> tuple[Path, dict[str, Any]]:
    """The stack's compose file as a run uses it, in `dest`, and the healthchecks it left out (service -> test).

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


def cpuset(cpus: tuple[int, ...] | None, ncpu: int) -> str:
    """A container's `cpuset` from `--pin`'s CPUs; every CPU of the engine when nothing is pinned."""
    return ",".join(map(str, cpus)) if cpus else f"0-{max(ncpu, 1) - 1}"


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
            raise StackFailed(f"the {service} container did not start: {_last_line(done.stderr)}", done.stderr[-2000:])

    def remove(self) -> None:
        """Every generator container, at once (what locust wrote is in the results folder), once each has started
        or failed to."""
        if self.started:
            wait(self.started.values())
            names = [self.name(service) for service in self.started]
            done = _quiet(["docker", "rm", "-f", *names])
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
        _hand_over(out, self.uid, self.gid)  # the container user writes here, nobody else
        inner = f"{OUT}/{out.resolve().relative_to(self.folder.resolve())}"
        env = locust_env(settings, inner)
        files = LOCUSTFILE + (f",{USERLOAD}/{Path(settings.locustfile).name}" if settings.locustfile else "")
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
                raise StackFailed(f"locust workers did not start: {_last_line(started.stderr)}", started.stderr[-2000:])
            yield
        finally:
            _compose_call([*self.compose, "logs", "--no-color", WORKER_SERVICE], env, out / "workers.log")
            _compose_call([*self.compose, "rm", "-f", "-s", "-v", WORKER_SERVICE], env, out / "workers.log")

    def stop(self, child: Child, grace: float, out: Path) -> None:
        """SIGTERM to this load's locust in its container (`docker exec` passes no signal on; its pid file may
        be a moment away when the load has only just started), then wait for it."""
        pid = _pid_file(out)
        wait = f'for i in $(seq 50); do [ -s {pid} ] && exec kill -TERM "$(cat {pid})"; sleep 0.1; done'
        _quiet(["docker", "exec", self.generators.name(self.service), "sh", "-c", wait])  # it may have just ended
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.popen.wait(timeout=grace)


class ComposeBackend:
    """Brings each stack up as its own compose project; images are prepared once per run."""

    name = "compose"

    def __init__(self) -> None:
        self._compose: list[str] | None = None
        self._images: images.Images | None = None
        self._ncpu = 1
        self._app_images: dict[tuple[str, str], str] = {}  # (app, locustfile) -> image with them
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
            self._ncpu = int(_run(["docker", "info", "--format", "{{.NCPU}}"]).strip() or "1")
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
        render_configs(stack, run.params, run.stack_dir / "work")
        published = {name: free_port() for name in _published(stack)}
        env = self._env(stack, run, published)
        if _fixed_addresses(stack):  # its networks cannot exist twice on one engine: the last project goes first
            self._settle()
        compose_file, checks = run_file(stack, run.stack_dir / "work")
        argv = [*self._compose, "-p", project, "--project-directory", str(stack.path), "-f", str(compose_file)]
        session = _Project(project, stack, argv, env, logs)
        try:  # the project name is fixed before anything starts, so `finally` can always take it down
            session.start(run.ready_timeout)
            session.generators.start(USER_SERVICE)  # while the stack gets ready
            target = self._target(stack, session, published)
            session.wait_healthy(checks, run.ready_timeout)  # every service, as depends_on waited for them
            _wait_ready(target.base_url + (run.health_path or stack.health_path), session, run.ready_timeout)
            target.deployment |= session.limits()
            self._settle()  # the previous stack went down while this one came up: not during this load
            yield target
        finally:
            self._teardowns.submit(session.down)

    def _env(self, stack: Stack, run: BringUp, published: Mapping[str, int]) -> dict[str, str]:
        assert self._images is not None
        env = {
            "BENCH_UID": str(run.uid if run.uid is not None else os.getuid()),
            "BENCH_GID": str(run.gid if run.gid is not None else os.getgid()),
            "BENCH_OUT": str(run.stack_dir.resolve()),  # the generators' /out; each load writes in a folder of it
            "BENCH_CONFIG_DIR": str((run.stack_dir / "work").resolve()),
            "BENCH_STACK_CPUSET": cpuset(run.stack_cpus, self._ncpu),  # --pin, honoured as cpusets
            "BENCH_USER_CPUSET": cpuset(run.load_cpus, self._ncpu),
            "BENCH_PYTHON_IMAGE": self._app_image(run),
            "BENCH_NGINX_IMAGE": self._images.nginx,
        }
        env |= params_environment(stack, run.params)  # BENCH_PARAM_WORKERS=4, ... for the compose file
        env |= _app_environment(run.serves(stack), run.health_path or stack.health_path)
        return env | {f"BENCH_PORT_{name.upper()}": str(port) for name, port in published.items()}

    def _app_image(self, run: BringUp) -> str:
        """The lab's python image, or one built on it with the user's app, dependencies and locustfile."""
        assert self._images is not None
        app = run.app
        if (app is None or app.own) and run.locustfile is None:
            return self._images.python
        key = (app.target if app else "", str(run.locustfile or ""))
        if key not in self._app_images:
            self._app_images[key] = images.app_image(self._images, app, run.locustfile, progress)
        return self._app_images[key]

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
        return RunningStack(
            base_url=f"http://{LOOPBACK}:{published[stack.target]}",
            admin_url=f"http://{LOOPBACK}:{published['admin']}" if "admin" in published else None,
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
            raise StackFailed(f"compose up failed: {_last_line(started.stderr)}", self.log_tail() or started.stderr)

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
                if found and _quiet(["docker", "exec", found[0].id, *argv]).returncode == 0:
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
            return f"compose down failed for {self.name}: {_last_line(done.stderr)}"
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


def _app_environment(app: App, health: str) -> dict[str, str]:
    """What the compose files read of the app they serve: target, factory, import path, readiness path."""
    path = f"{USERAPP}:/bench" if app.folder else "/bench"
    return {"BENCH_APP": app.target, "BENCH_APP_NAME": app.name, "BENCH_APP_FACTORY": "true" if app.factory else
            "false", "BENCH_APP_PATH": path, "BENCH_HEALTH_PATH": health}  # fmt: skip


def _compose_call(argv: list[str], env: dict[str, str], log: Path, timeout: float = 120) -> CompletedProcess[str]:
    """Run one compose command, appending what it printed to `log`."""
    try:
        # own session: a Ctrl-C at the terminal reaches us, and we still run `down` after it
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired as exc:
        done = subprocess.CompletedProcess(argv, 124, _text(exc.stdout), _text(exc.stderr) + "\n(timed out)")
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


def _published(stack: Stack) -> list[str]:
    """The ports the host reaches: the target, and Envoy's admin where there is one."""
    return [stack.target, *(["admin"] if "admin" in stack.ports and stack.target != "admin" else [])]


def _unused_project(stack_dir: Path) -> str:
    """A project name no container on the engine carries yet (runs in parallel never collide)."""
    while True:
        name = project_name(stack_dir, next(_counter))
        if not _run(["docker", "ps", "-aq", "--filter", f"label={PROJECT_LABEL}={name}"]).strip():
            return name


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


def _hand_over(path: Path, uid: int, gid: int) -> None:
    """Hand the folder to the container's user (root can; anyone else already owns it)."""
    with contextlib.suppress(PermissionError):
        if (path.stat().st_uid, path.stat().st_gid) != (uid, gid):
            os.chown(path, uid, gid)


def _answers(argv: Sequence[str]) -> bool:
    try:
        return subprocess.run(list(argv), capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _run(argv: Sequence[str]) -> str:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise MissingToolError(f"{' '.join(argv)} failed: {done.stderr.strip()[-500:]}", tip=TIP)
    return done.stdout


def _pid_file(out: Path) -> str:
    """Where the locust of the load writing into `out` keeps its pid, in its generator container."""
    return f"/tmp/locust-{re.sub(r'[^A-Za-z0-9_.-]+', '_', str(out.resolve()))}.pid"


def _quiet(argv: Sequence[str]) -> CompletedProcess[str]:
    """Run a docker command whose failure is not the run's (its caller says what it means)."""
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(list(argv), 124, "", str(exc))


def _text(data: str | bytes | None) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def write_default_configs() -> None:
    """Rewrite stacks/<name>/compose/* : the configs a by-hand `docker compose up` mounts."""
    from bench.stacks import discover

    for stack in discover(hidden=True).values():
        if stack.templates:
            render_configs(stack, {}, stack.path / CONFIG_DIR)  # every parameter at its default


if __name__ == "__main__":
    write_default_configs()
