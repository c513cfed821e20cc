"""One session: a run folder, its run.json, and the measurements a scenario takes in it.

Every scenario (bench/scenarios/) measures through this API: bring a stack up and check its
answers (`up`), load it once (`load`), and keep each measurement the moment it exists
(`record`: run.json is rewritten after every one). `measure` does all three for the common
case. Data flows one way: stack description -> backend up -> load + sampling -> run.json.
Nothing here renders: the caller of `open` is told when the run folder is final (`on_close`),
and the report (bench/report/) reads that folder.

One measurement failing is recorded and the scenario goes on; Ctrl-C or SIGTERM tears the
running stack down, keeps every finished measurement and the partial one (marked
`interrupted`), sets the run's status and raises Interrupted (exit 130).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.analysis.diagnosis import judge
from bench.analysis.summary import ok_due_latency, ok_latency, ok_rps
from bench.backends import get_backend, resolve_backend
from bench.backends.base import Backend, BringUp, RunningStack
from bench.console import progress
from bench.errors import Interrupted, MissingToolError, StackFailed
from bench.load.runner import SAMPLES_PREFIX, run_load
from bench.options import Placement
from bench.results import (
    LoadShape,
    Measurement,
    Role,
    RunResult,
    Signals,
    StackInfo,
    folder_of,
    new_run_dir,
    now_iso,
    save_run,
)
from bench.sampling import envoy, machine, netns
from bench.sampling.metrics import Sampler
from bench.sampling.netns import NetnsProbe
from bench.stacks.catalog import Stack, floor_stack
from bench.stacks.userapp import Workload
from bench.stacks.variants import resolve

FLOOR_MAX_S = 5.0  # the floor needs only a few seconds of the same load shape


def execute(scenario: str, measure: Callable[[Session], None], settings: dict[str, Any], stacks: Sequence[Stack],
            placement: Placement, on_close: Callable[[Path], None] = lambda _: None) -> RunResult:  # fmt: skip
    """Run one scenario's `measure` in a new session; `on_close(run_dir)` runs however it ends."""
    backend = get_backend(resolve_backend(placement.backend, progress))
    backend.check(list(stacks))
    # the backend's run scope (swarm: the swarm) outlives the session, so the report is written before it ends
    with backend.run_scope(placement), Session.open(scenario, settings, stacks, backend, placement,
                                                    on_close) as session:  # fmt: skip
        measure(session)
    return session.run


@dataclass
class Session:
    """The run being measured."""

    run: RunResult
    run_dir: Path
    backend: Backend
    placement: Placement
    workload: Workload = field(default_factory=Workload)  # what the stacks serve and the checks before load

    @property
    def stack_cpus(self) -> int | None:
        """How many CPUs the stack may use: the pinned set, else the machine's."""
        return len(self.placement.stack_cpus) if self.placement.stack_cpus else os.cpu_count()

    @classmethod
    @contextmanager
    def open(cls, scenario: str, settings: dict[str, Any], stacks: Sequence[Stack], backend: Backend,
             placement: Placement, on_close: Callable[[Path], None]) -> Iterator[Session]:  # fmt: skip
        """A fresh run folder and run.json; on leaving, the run's status, then `on_close`.

        Ctrl-C inside becomes Interrupted, after everything measured so far is written.
        """
        run_id, run_dir = new_run_dir(placement.results_dir)
        known = {s.name: StackInfo(s.description, dict(s.reference)) for s in stacks}
        run = RunResult(run_id=run_id, scenario=scenario, started_at=now_iso(), backend=backend.name,
                        settings=settings, machine=machine.describe(), stacks=known)  # fmt: skip
        session = cls(run, run_dir, backend, placement)
        session.save()
        # every child inherits the run id, so leftovers of a run can be found by it (tests do)
        os.environ["BENCH_RUN_ID"] = run_id
        progress(f"run {run_id}: {scenario}, backend {backend.name}, results in {run_dir}")
        try:
            yield session
            run.status = "failed" if any(not m.ok for m in run.measurements) else "complete"
        except KeyboardInterrupt as exc:
            run.status = "interrupted"
            raise Interrupted() from exc
        except BaseException:
            run.status = "failed"  # an error that stopped the whole run: what was measured is still kept
            raise
        finally:
            run.finished_at = now_iso()
            run.machine["load_average_end"] = machine.load_average()
            session.save()
            on_close(run_dir)

    def save(self) -> None:
        save_run(self.run_dir, self.run)

    def new(self, stack: Stack, role: Role, load: LoadShape, label: str | None = None, repeat: int = 1,
            params: Mapping[str, str] | None = None, folder: str | None = None) -> Measurement:  # fmt: skip
        """A measurement that says `failed` until a load succeeds; `params` recorded with every default."""
        label = label or stack.name
        return Measurement(label=label, stack=stack.name, role=role, repeat=repeat, backend=self.backend.name,
                           folder=folder or folder_of(label), params=resolve(stack, params or {}),
                           load=load)  # fmt: skip

    def record(self, m: Measurement) -> Measurement:
        """Keep one measurement now; an interrupted one ends the run (after it is saved)."""
        self.run.measurements.append(m)
        self.save()
        _announce(m)
        if m.status == "interrupted":
            raise KeyboardInterrupt
        return m

    @contextmanager
    def up(self, stack: Stack, params: Mapping[str, str], folder: str,
           replicas: int | None = None) -> Iterator[RunningStack]:  # fmt: skip
        """The stack up on the run's backend (`replicas` of its app service under swarm, else the run's) and
        answering correctly, torn down on leaving; StackFailed when it cannot start or answers wrongly."""
        started = time.monotonic()
        p, w = self.placement, self.workload
        bring_up = BringUp(self.run_dir / folder, params, p.ready_timeout, p.uid, p.gid, p.stack_cpus, p.load_cpus,
                           app=w.app, health_path=w.health, locustfile=w.locustfile,
                           replicas=replicas or p.replicas, faults=w.inject)  # fmt: skip
        with self.backend.up(stack, bring_up) as running:
            progress(f"[{stack.name}] ready in {time.monotonic() - started:.1f} s")
            if stack.verify:
                w.check(running.base_url, own=w.app is None)
            yield running

    def load(self, running: RunningStack, m: Measurement, out: Path,
             client_env: Mapping[str, str] | None = None) -> None:  # fmt: skip
        """Load a running stack once with `m.load`, filling `m` (Envoy's counters too, if it has them);
        `client_env`: the locustfile's client switches (extra headers), see bench/load.run_load."""
        assert m.load is not None
        load = m.load
        m.deployment |= running.deployment
        before = _envoy_counters(running)
        probes = _probes(running)
        tcp_before = [p.counters() for p in probes]
        who = f"offering {load.rate:g} req/s" if load.rate else f"loading {load.users} users"  # open: no users
        progress(f"    {who} for {load.duration_s:g} s (+{load.warmup_s:g} s warmup) ...")
        # a stack not pinned to --pin's CPUs (swarm: limits) has no CPU set whose business to watch
        sampler = Sampler(running.usage, cpus=self.placement.stack_cpus if running.cpus is None else None)
        out = fresh(out)
        sampler.start()
        try:
            outcome = run_load(running.load_url or running.base_url, load, out, running.problem, running.launcher,
                               client_env)  # fmt: skip
        finally:
            sampler.stop()
            m.usage = sampler.summary()  # kept if the load could not run; over its window below if it did
        m.figures, m.time_wait = outcome.figures, running.time_wait()
        m.usage = sampler.summary(m.figures.window() if m.figures else None)  # over locust's measured window
        if before is not None and (after := _envoy_counters(running)) is not None:
            m.envoy = envoy.before_after(before, after)
        m.signals = _signals(running, probes, tcp_before)
        m.limited_by, m.risks = judge(m, running.cpus or self.stack_cpus)
        if outcome.interrupted:
            m.status, m.error = "interrupted", "interrupted during the load; figures cover the time until then"
        elif outcome.problem:
            m.status, m.error = "failed", f"stack broke during the load: {outcome.problem}"
            m.log_tail = running.log_tail()
        elif m.figures is None or m.figures.requests == 0:
            m.status, m.error, m.log_tail = "failed", "locust recorded no requests", outcome.log_tail
        elif (wrong := mostly_failed(m)) is not None:
            m.status, m.error, m.log_tail = "failed", wrong, outcome.log_tail
        else:
            m.status = "ok"

    def measure(self, stack: Stack, role: Role, load: LoadShape, label: str | None = None, repeat: int = 1,
                params: Mapping[str, str] | None = None, folder: str | None = None,
                replicas: int | None = None) -> Measurement:  # fmt: skip
        """Bring one stack up, check it, load it once, record the measurement (failed ones too)."""
        m = self.new(stack, role, load, label, repeat, params, folder)
        progress(f"[{m.label}{'' if repeat == 1 else f' #{repeat}'}] starting")
        interrupted = False
        try:
            with self.up(stack, m.params, m.folder, replicas) as running:
                self.load(running, m, self.run_dir / m.folder / "load")
        except StackFailed as exc:
            m.status, m.error, m.log_tail = "failed", str(exc), exc.log_tail
        except KeyboardInterrupt:
            interrupted = True
            if m.status != "ok":
                m.status, m.error = "interrupted", m.error or "interrupted before its load finished"
        self.record(m)
        if interrupted:
            raise KeyboardInterrupt
        return m

    def measure_floor(self, load: LoadShape, role: Role = "floor") -> Measurement | None:
        """The same load shape against a trivial nginx, on the run's backend (under compose: an nginx
        container loaded from the same locust container image, networks and CPU sets as the stacks):
        what locust itself adds to every figure. `floor_end`: the same again when the run ends, so a
        machine that changed speed in between shows (bench/analysis/noise.py).

        Optional: when the floor cannot run here, the run goes on without it and says why.
        """
        floor = floor_stack()
        try:
            self.backend.check([floor])
        except MissingToolError as exc:
            progress(f"WARNING: load generator floor not measured: {exc}" + (f" ({exc.tip})" if exc.tip else ""))
            return None
        short = LoadShape(**{**load.__dict__, "duration_s": min(load.duration_s, FLOOR_MAX_S)})
        # its own folder: a row labelled `floor` (the floor measured as a stack) writes to `floor`
        return self.measure(floor, role, short, folder="floor_start" if role == "floor" else folder_of(role))


def fresh(out: Path) -> Path:
    """`out`, or `out-2`, `out-3`, ... when an earlier load of this run left its samples there (a search trying
    one rate twice, a label named like another's folder): a load reads every samples file in its folder, so the
    folder must hold this load's only, or two loads' requests would be counted as one."""
    candidate, n = out, 1
    while any(candidate.glob(f"{SAMPLES_PREFIX}-*.json")):
        n += 1
        candidate = out.with_name(f"{out.name}-{n}")
    return candidate


def _probes(running: RunningStack) -> list[NetnsProbe]:
    try:
        return [NetnsProbe(pid) for pid in running.netns_pids()]
    except Exception as exc:  # no Docker API: the signals degrade to "not measured"
        probe = NetnsProbe(-1)
        probe.not_measured["server_tcp"] = f"the stack's namespaces could not be found: {exc}"
        return [probe]


def _signals(running: RunningStack, probes: list[NetnsProbe], before: list[dict[str, int] | None]) -> Signals:
    """The stack's side of the load: TCP counter deltas, listen backlogs, somaxconn, memory state."""
    server: dict[str, int] = {}
    backlogs: dict[str, int] = {}
    caps: list[int] = []
    for probe, start in zip(probes, before, strict=True):
        for name, value in netns.deltas(start, probe.counters() if probe.pid != -1 else None).items():
            server[name] = server.get(name, 0) + value
        if probe.pid != -1:
            backlogs |= probe.listen_backlogs(running.listen_ports)
            caps += [cap] if (cap := probe.somaxconn()) is not None else []
    not_measured = {k: v for p in probes for k, v in p.not_measured.items()} | running.not_measured
    try:
        memory = running.memory_state()
    except Exception as exc:
        memory, not_measured["memory"] = {}, f"the containers' memory state could not be read: {exc}"
    if not memory and "memory" not in not_measured and running.scope == "host-wide":
        not_measured["memory"] = "no memory limit outside containers"
    return Signals(running.scope, server, backlogs, min(caps) if caps else None, memory, not_measured)


# Roles whose requests are all meant to succeed (`stack`/`all` rows, their peaks and the floors): a gateway's
# experiments deny some clients on purpose, a breaker's overload 503s and a sweep's broken steps are what those
# measure (Envoy's own 503s are left out below for the same reason).
_SERVING_ROLES = ("stack", "floor", "floor_end", "peak")


def mostly_failed(m: Measurement) -> str | None:
    """Why a load whose requests mostly failed is no measurement of the stack serving (a wrong app, a wrong
    path, a stack refusing), or None. Its figures stay recorded; it is not `ok`."""
    f = m.figures
    if f is None or not f.requests or m.role not in _SERVING_ROLES or 2 * (f.failures - f.overloaded) <= f.requests:
        return None
    codes = ", ".join(f"HTTP {code}: {n}" if code != "0" else f"no answer: {n}"
                      for code, n in sorted(f.status_codes.items(), key=lambda kv: -kv[1]) if not code.startswith("2"))
    return (f"most requests failed: {f.failures} of {f.requests} ({codes}); the figures are kept but measure no "
            "stack serving its load (a wrong path or app, or a stack refusing work?)")


def _envoy_counters(running: RunningStack) -> dict[str, int] | None:
    if not running.admin_url:
        return None
    try:
        return envoy.read_counters(running.admin_url)
    except OSError as exc:
        progress(f"    WARNING: Envoy admin did not answer ({exc}); its counters are not recorded")
        return None


def _announce(m: Measurement) -> None:
    if m.ok and m.figures is not None and m.usage is not None:
        f = m.figures  # successful answers, as the summary's headline: under the open model timed from due
        due = ok_due_latency(f)
        lat, timed = (ok_latency(f), "") if due is None else (due, " from due")
        progress(f"    ok: {ok_rps(f):.0f} req/s, avg{timed} {lat.avg_ms or 0:.2f} ms, p99{timed} "
                 f"{lat.p99_ms or 0:.2f} ms, {f.failures} failures of {f.requests}, stack CPU {m.usage.cpu_percent}%")
        return
    progress(f"    {m.status.upper()}: {m.error}")
    if m.log_tail:
        progress("    last log lines:\n" + "\n".join("      " + line for line in m.log_tail.splitlines()))
