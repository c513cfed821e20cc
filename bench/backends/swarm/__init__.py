"""Stacks on Docker swarm mode (`--backend swarm`): each stack a swarm stack, the load from inside it.

A run either initialises a single-node swarm on an engine that is not in one (refused while compose
containers are up: leaving a swarm can drop their port mappings) and leaves it at the end, removing
what leaving leaves behind; or, with --existing-swarm only, deploys into the swarm the engine already
manages and leaves that swarm as it was. Every node must hold the lab's images (checked first).

Each bring-up renders the stack's docker-compose.yml and its swarm override into a stack file
(render.py), deploys it in depends_on order, and starts a relay container on the stack's overlay
network, published on loopback, through which the runner polls readiness, checks the answers and
reads Envoy's counters (relay.py). Locust runs on the overlay too: the master with `docker run` on
this node (writing into the run's folder), the workers as the stack's `worker` service, scaled to
--processes for each load and placed by node label, sending their files to the master.
Everything of a stack is removed when it is torn down; the run's end waits until it is gone.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from bench.backends import pipeline
from bench.backends.base import BringUp, RunningStack, wait_until_ok
from bench.backends.docker import images
from bench.backends.docker.command import hand_over
from bench.backends.docker.teardowns import Teardowns
from bench.backends.docker.variables import AppImages, container_layout, locustfiles, variables
from bench.backends.swarm import engine, render
from bench.backends.swarm.engine import OWNER_LABEL, docker
from bench.backends.swarm.tasks import Deployed, cpu_budget, facts
from bench.console import progress
from bench.errors import ConfigError, MissingToolError, StackFailed
from bench.load.runner import locust_args, locust_env
from bench.options import Placement
from bench.procs import Child
from bench.results import LoadShape
from bench.stacks.catalog import Stack
from bench.stacks.userapp import App, own_app

LOAD_SERVICES = (render.USER, render.WORKER)
RELAY = Path(__file__).with_name("relay.py")
RELAY_PORT = 8000  # the relay's first listening port in its container (one per relayed port)
MASTER_WAIT_S = 60  # how long the master waits for its workers to connect
LEAVE_WAIT_S = 120.0  # how long to wait for compose containers to end before leaving the swarm
TIP = "start the engine: dockerd & (or install docker.io)"


class SwarmBackend:
    """Brings each stack up as a swarm stack; the swarm lives as long as the run (`run_scope`)."""

    name = "swarm"

    def __init__(self) -> None:
        self._images: images.Images | None = None
        self._engine: engine.Engine | None = None
        self._constraints: dict[str, tuple[str, ...]] = {"stack": (), "load": ()}
        self._nodes: list[engine.Node] = []
        self._scope: str | None = None  # what the run did to the engine's swarm (None: no scope yet)
        self._removing: list[str] = []  # stacks torn down whose removal the run's end waits for
        self._teardowns = Teardowns("swarm")
        self._app_images = AppImages()  # the lab's python image, or one with the user's app (as compose builds it)

    def check(self, stacks: list[Stack]) -> None:
        if shutil.which("docker") is None:
            raise MissingToolError("the swarm backend cannot run: no docker command", tip=TIP)
        if docker("stack", "--help", check=False).returncode != 0:
            raise MissingToolError("this docker client has no `docker stack` command", tip="install docker.io")
        self._engine = engine.engine()
        if self._engine.state == "inactive" and self._scope is None:
            _refuse_if_compose_runs()  # early, before images are prepared; again right before `swarm init`
        for stack in stacks:
            if not (stack.path / stack.compose.file).is_file():
                raise MissingToolError(f"stack {stack.name!r} has no {stack.compose.file}")
            data = render.swarm_data(stack)  # a malformed override is refused before anything starts
            if data.unsupported:
                raise ConfigError(f"stack {stack.name!r} cannot run under swarm: {data.unsupported}")
        if self._images is None:
            self._images = images.prepare(progress)

    @contextmanager
    def run_scope(self, placement: Placement) -> Iterator[None]:
        """The swarm for the run: joined (--existing-swarm) or initialised; at the end everything the run
        created removed, and a swarm it initialised left."""
        own = self._enter(placement.existing_swarm)
        try:
            self._place()
            self._check_images()
            yield
        finally:
            problems = self._wait_removed()
            if own is not None:
                problems += self._leave(own)
            if problems:
                raise StackFailed("the swarm backend could not clean up: " + "; ".join(problems),
                                  tip="remove them by hand (docker service ls, docker network ls, docker config ls, "
                                  "docker swarm leave --force)")  # fmt: skip

    def _enter(self, existing: bool) -> engine.OwnSwarm | None:
        state = engine.engine()
        if state.state == "active" and not existing:
            raise ConfigError(f"this Docker engine is already a swarm member (node {state.name}, "
                              f"{'manager' if state.manager else 'worker'}); --backend swarm deploys into a swarm "
                              "it did not create only when asked",
                              tip="add --existing-swarm to deploy into it (everything the run creates is removed, "
                              "the swarm stays), or leave it first: docker swarm leave")  # fmt: skip
        if state.state == "active":
            if not state.manager:
                raise ConfigError(f"--existing-swarm: node {state.name} is a swarm worker; stacks deploy from a "
                                  "manager", tip="run the lab on a manager node (docker node ls)")  # fmt: skip
            self._scope = f"existing swarm (--existing-swarm), deployed from manager {state.name}"
            return None
        if existing:
            raise ConfigError("--existing-swarm: this Docker engine is not in a swarm",
                              tip="leave the flag out: a single-node swarm is initialised for the run and left "
                              "afterwards; or join one first (docker swarm join)")  # fmt: skip
        if state.state != "inactive":
            raise StackFailed(f"the engine's swarm is {state.state}", tip="see docker info; docker swarm leave --force")
        _refuse_if_compose_runs()
        own = engine.OwnSwarm.init()
        self._scope = f"single-node swarm initialised for this run on {state.name} (on 127.0.0.1), left after it"
        progress(f"swarm: initialised a single-node swarm for this run on {state.name}; it is left at the end")
        return own

    def _place(self) -> None:
        """Node labels -> where the stack's services and the locust workers go (see stacks/common/swarm.toml)."""
        self._nodes = engine.nodes()
        place = render.swarm_data(_any_stack()).placement
        self._constraints = {role: engine.constraints(self._nodes, place["label"], place[role])
                             for role in ("stack", "load")}  # fmt: skip
        if len(self._nodes) > 1 and not all(self._constraints.values()):
            progress(f"WARNING: {len(self._nodes)} swarm nodes, but none labelled {place['label']}={place['stack']} "
                     f"and {place['label']}={place['load']}: the stack and the load may share nodes (see README)")

    def _check_images(self) -> None:
        assert self._images is not None
        wanted = [self._images.python, self._images.nginx]
        missing = engine.missing_images(wanted, os.environ.get("BENCH_RUN_ID") or str(os.getpid()))
        if missing:
            lacking = "; ".join(f"{node} lacks {', '.join(found)}" for node, found in sorted(missing.items()))
            raise engine.refuse(f"swarm nodes without the lab's images: {lacking}",
                                tip=f"on this node: docker save {' '.join(wanted)} | ssh NODE docker load (see "
                                "README: several machines)")  # fmt: skip

    def _wait_removed(self) -> list[str]:
        problems = self._teardowns.wait(shielded=True)  # a Ctrl-C while waiting must not leave a stack behind
        for name in self._removing:
            for _ in range(3):  # a Ctrl-C while waiting must not leave the stack behind
                try:
                    left = engine.wait_removed(name)
                    break
                except KeyboardInterrupt:
                    continue
            if left:
                problems.append(f"stack {name}: {', '.join(left.items)}")
        self._removing.clear()
        return problems

    def _leave(self, own: engine.OwnSwarm) -> list[str]:
        still = engine.wait_for_compose_runs(LEAVE_WAIT_S, progress)
        if still:
            progress(f"WARNING: leaving the swarm while compose containers are up: {', '.join(still)}")
        problems = own.leave()
        progress("swarm: left the swarm initialised for this run" + (": " + "; ".join(problems) if problems else ""))
        return problems

    @contextmanager
    def up(self, stack: Stack, bring_up: BringUp) -> Iterator[RunningStack]:
        if self._scope is None or self._images is None or self._engine is None:
            raise StackFailed("the swarm backend was used outside its run scope (session.execute enters it)")
        run = bring_up
        name = _unused_name(run.stack_dir)
        data = render.swarm_data(stack)
        work = run.stack_dir / "work"
        plan = self._plan(stack, data, run, name)
        logs = run.stack_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        deployed: Deployed | None = None
        relayed = pipeline.published(stack)
        ports: dict[str, int] = {}
        image = self._images.python
        try:  # the name is fixed before anything is created, so `finally` can always remove it
            deployed = Deployed(name, LOAD_SERVICES, self._engine.name)
            _deploy(name, plan, work, deployed, run.ready_timeout, lambda: ports.update(
                start_relay(name, {p: (data.target_service, stack.ports[p]) for p in relayed}, image)))  # fmt: skip
            target = self._target(stack, data, name, plan, deployed, run, ports)
            wait_until_ok(target.base_url + run.health(stack), run.ready_timeout, _died(deployed), deployed.log_tail)
            yield target
        finally:
            self._tear_down(name, deployed, logs)

    def _plan(self, stack: Stack, data: render.SwarmData, run: BringUp, name: str) -> render.Plan:
        """The pipeline's configs rendered into work/ and the stack file (work/swarm-stack.yml) deployed from them."""
        work = run.stack_dir / "work"
        pipeline.render_templates(stack, work, swarm_context(stack, data, run.params, run.serves(stack)))
        choices = render.Choices(run.replicas, self._constraints["stack"], self._constraints["load"],
                                 locustfiles(run.locustfile), run.faults)  # fmt: skip
        plan = render.plan(stack, self._env(stack, run, name), data, choices)
        (work / "swarm-stack.yml").write_text(plan.text(), encoding="utf-8")
        return plan

    def _env(self, stack: Stack, run: BringUp, name: str) -> dict[str, str]:
        """The pipeline's variables for the compose file, as under compose (the load's folder: the master's
        /out; the python image: the user's app built on the lab's, as compose builds it), and the master's name."""
        assert self._images is not None and self._engine is not None
        image = self._app_image(run)
        env = variables(stack, run, run.stack_dir / "load", self._engine.ncpu, image, self._images.nginx)
        return env | {"BENCH_MASTER_HOST": master_name(name)}

    def _app_image(self, run: BringUp) -> str:
        """The image serving the app; one with the user's app is built on this node, so every other node must
        have been handed it (refused before deploying if one lacks it)."""
        assert self._images is not None
        image = self._app_images.image(self._images, run, progress)
        if image != self._images.python and len(self._nodes) > 1:
            missing = engine.missing_images([image], os.environ.get("BENCH_RUN_ID") or str(os.getpid()))
            if missing:
                raise ConfigError(f"swarm nodes without your app's image {image}: {', '.join(sorted(missing))}",
                                  tip=f"on this node: docker save {image} | ssh NODE docker load; or run on a "
                                  "single-node swarm")  # fmt: skip
        return image

    def _target(self, stack: Stack, data: render.SwarmData, name: str, plan: render.Plan, deployed: Deployed,
                run: BringUp, ports: Mapping[str, int]) -> RunningStack:  # fmt: skip
        assert self._images is not None
        tasks = deployed.tasks()
        ncpu = {n.name: n.ncpu for n in self._nodes}
        uid, gid = run.owner()
        launcher = SwarmLauncher(name, plan.master, f"{name}_{render.WORKER}", uid, gid)
        remote = [t.name for t in tasks if t.node != self._engine_name()]
        return RunningStack.on_loopback(
            stack,
            ports,
            usage=deployed.usage,
            problem=deployed.problem,
            log_tail=deployed.log_tail,
            deployment=self._facts(data, name, deployed) | self._images.deployment(),
            launcher=launcher,
            load_url=f"http://{data.target_service}:{stack.ports[stack.target]}",
            netns_pids=deployed.netns_pids,
            listen_ports=dict(stack.ports),
            scope="stack netns",
            memory_state=deployed.memory_state,
            cpus=cpu_budget(deployed, tasks, lambda node: ncpu.get(node, 1.0)),
            not_measured=_not_measured(remote, len(tasks)),
        )

    def _engine_name(self) -> str:
        assert self._engine is not None
        return self._engine.name

    def _facts(self, data: render.SwarmData, name: str, deployed: Deployed) -> dict[str, str]:
        found = facts(deployed, deployed.tasks())
        found |= {
            "swarm": self._scope or "",
            "swarm_stack": name,
            "pinning": "none: swarm has no CPU pinning; each task has CPU and memory limits instead (limits_*)",
            "reached_via": "the stack's overlay network only: readiness, response checks and Envoy's admin through a "
                           "relay container on it (published on loopback, like kubectl port-forward); locust's master "
                           f"on {self._engine_name()} (docker run) and its workers (service) on it too",
            "placement_stack": " and ".join(self._constraints["stack"]) or "any node",
            "placement_load": " and ".join(self._constraints["load"]) or "any node",
            "swarm_nodes": ", ".join(f"{n.name} ({n.role})" for n in self._nodes),
        }
        if data.note:
            found["swarm_note"] = data.note
        return found

    def _tear_down(self, name: str, deployed: Deployed | None, logs: Path) -> None:
        """Keep the services' logs and remove everything of the stack, on a thread of its own while the next
        stack deploys; the run's end waits for it (and for the removal to be complete)."""
        self._removing.append(name)
        self._teardowns.submit(functools.partial(_remove, name, deployed, logs))


def _remove(name: str, deployed: Deployed | None, logs: Path) -> str | None:
    """The services' logs kept, then the stack and what runs beside it removed; what went wrong, if anything."""
    try:
        if deployed is not None:
            with contextlib.suppress(Exception):
                (logs / "containers.log").write_text(deployed.log_tail(lines=2000), encoding="utf-8")
            deployed.close()
        engine.remove(name)
    except Exception as exc:  # reported at the run's end, with what is left
        return f"removing stack {name}: {exc}"
    return None


def _refuse_if_compose_runs() -> None:
    busy = engine.compose_containers()
    if busy:
        projects = sorted({container.rsplit(" ", 1)[-1].strip("()") for container in busy})
        raise engine.refuse(
            f"--backend swarm would initialise a swarm on this engine while {len(busy)} compose container(s) are "
            f"up, of {', '.join(projects)}; leaving a swarm can drop their port mappings",
            tip="wait until that compose run ends (docker ps), or init a swarm yourself (docker swarm init) and "
            "pass --existing-swarm")  # fmt: skip


def swarm_context(stack: Stack, data: render.SwarmData, params: Mapping[str, str], app: App | None = None
                  ) -> dict[str, str]:  # fmt: skip
    """The pipeline's context in containers, with the override's hosts (fastapi_istio: the app service's name,
    not loopback); `app`: the stack's own when None."""
    layout = container_layout(stack, data.hosts)
    return pipeline.context(stack, layout, params, app or own_app(stack.app, stack.interface))


def _deploy(name: str, plan: render.Plan, work: Path, deployed: Deployed, timeout: float,
            first_deployed: Callable[[], None]) -> None:  # fmt: skip
    """Deploy level by level (depends_on), each running healthy before the next is added; `first_deployed`
    runs once the first step created the stack's network, while its tasks start."""
    import yaml

    for level, services in enumerate(plan.levels):
        step = work / f"swarm-stack-{level}.yml"
        step.write_text(yaml.safe_dump(plan.upto(level), sort_keys=False), encoding="utf-8")
        engine.deploy(name, step)
        if level == 0:
            first_deployed()
        deployed.wait_running(services, plan.replicas, timeout)


def _died(deployed: Deployed) -> Callable[[], None]:
    def died() -> None:
        if dead := deployed.problem():
            raise StackFailed(f"a task ended during start: {dead}", deployed.log_tail())

    return died


def _not_measured(remote: list[str], total: int) -> dict[str, str]:
    found = {"cpus_busy": "swarm has no CPU pinning (limits instead), so the stack has no CPUs of its own to watch"}
    if remote:
        found["remote_tasks"] = (f"{len(remote)} of {total} tasks run on other nodes ({', '.join(remote)}): their "
                                 "CPU, memory, TCP counters and listen backlogs are not read (this node's Docker API "
                                 "sees only its own containers)")  # fmt: skip
    return found


_counter = itertools.count(1)


def _unused_name(stack_dir: Path) -> str:
    """bench-<run id>-<n>: short (service names stay under 63 characters), never one of this run's earlier
    stacks (their removal may still be under way), nor anything on the engine."""
    for n in _counter:
        name = f"bench-{stack_dir.parent.name}-{n}".lower()
        if not engine.leftovers(name):
            return name
    raise AssertionError("unreachable")


def _any_stack() -> Stack:
    from bench.stacks.catalog import floor_stack

    return floor_stack()


def master_name(stack: str) -> str:
    return f"{stack}-master"


def start_relay(stack: str, routes: Mapping[str, tuple[str, int]], image: str) -> dict[str, int]:
    """A relay container on the stack's overlay, one loopback port per route: port name -> host port."""
    inner = {port: RELAY_PORT + i for i, port in enumerate(routes)}
    argv = ["run", "-d", "--rm", "--name", f"{stack}-relay", "--network", f"{stack}_{render.NETWORK}",
            "--label", f"{OWNER_LABEL}={stack}", "-v", f"{RELAY}:/relay.py:ro"]  # fmt: skip
    argv += [flag for port in routes for flag in ("-p", f"127.0.0.1::{inner[port]}")]
    argv += [image, "python", "/relay.py", *(f"{inner[p]}={svc}:{port}" for p, (svc, port) in routes.items())]
    docker(*argv)
    found = {}
    for port in routes:
        shown = docker("port", f"{stack}-relay", f"{inner[port]}/tcp").stdout.split()[0]
        found[port] = int(shown.rsplit(":", 1)[1])
    return found


@dataclass(frozen=True)
class SwarmLauncher:
    """Locust on the stack's overlay: the master with `docker run` on this node, writing into the run's load
    folder (owned by uid:gid), and the stack's `worker` service scaled to --processes for the load."""

    stack: str
    master: render.Master
    worker_service: str
    uid: int
    gid: int

    def command(self, settings: LoadShape, base_url: str, out: Path) -> tuple[list[str], dict[str, str]]:
        """`docker run ... python -m locust --master ...`; the CLI forwards the runner's SIGTERM to it."""
        out.mkdir(parents=True, exist_ok=True)
        hand_over(out, self.uid, self.gid)
        env = dict(self.master.environment) | locust_env(settings, render.OUT) | render.SHIP
        args = locust_args(base_url, replace(settings, processes=1), render.OUT, locustfiles(settings.locustfile),
                           master=True)  # fmt: skip
        args += ["--master", "--expect-workers", str(settings.processes),
                 "--expect-workers-max-wait", str(MASTER_WAIT_S)]  # fmt: skip
        argv = ["docker", "run", "--rm", "--name", master_name(self.stack), "--network",
                f"{self.stack}_{render.NETWORK}", "--label", f"{OWNER_LABEL}={self.stack}",
                "--user", f"{self.uid}:{self.gid}", "-v", f"{out.resolve()}:{render.OUT}"]  # fmt: skip
        argv += [flag for source, target in self.master.files.items() for flag in ("-v", f"{source}:{target}:ro")]
        argv += ["--cpus", f"{self.master.cpus:g}"] if self.master.cpus else []
        argv += ["--memory", self.master.memory] if self.master.memory else []
        argv += [flag for k, v in env.items() for flag in ("-e", f"{k}={v}")]
        return [*argv, self.master.image, "python", "-m", "locust", *args], dict(os.environ)

    def stop(self, child: Child, grace: float, out: Path) -> None:
        """Nothing to do: `docker run` forwards the SIGTERM sent to its group to the master."""

    @contextmanager
    def around(self, settings: LoadShape, out: Path) -> Iterator[None]:
        """The workers up before the master starts (they wait for its name), scaled back to 0 after."""
        _wait_gone(master_name(self.stack))  # the previous load's master, if there was one
        env = locust_env(settings, render.OUT) | render.SHIP
        flags = [flag for k, v in env.items() for flag in ("--env-add", f"{k}={v}")]
        log = out / "workers.log"
        try:
            done = docker("service", "update", "--detach", "--no-resolve-image", "--replicas",
                          str(settings.processes), *flags, self.worker_service, check=False)  # fmt: skip
            _append(log, f"$ docker service update --replicas {settings.processes} {self.worker_service}", done)
            if done.returncode != 0:
                raise StackFailed(f"locust workers did not start: {done.stderr.strip()[-300:]}")
            yield
        finally:
            _append(log, "$ docker service logs", docker("service", "logs", "--no-task-ids", self.worker_service,
                                                        timeout=30, check=False))  # fmt: skip
            _append(log, "$ docker service scale 0", docker("service", "update", "--detach", "--replicas", "0",
                                                           self.worker_service, check=False))  # fmt: skip


def _wait_gone(container: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while docker("ps", "-aq", "--filter", f"name=^/{container}$").stdout.strip() and time.monotonic() < deadline:
        time.sleep(0.2)


def _append(log: Path, title: str, done: object) -> None:
    stdout, stderr = getattr(done, "stdout", ""), getattr(done, "stderr", "")
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"{title} -> {getattr(done, 'returncode', '?')}\n{stdout}{stderr}\n")


__all__ = ["SwarmBackend", "SwarmLauncher", "swarm_context"]
