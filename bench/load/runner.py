"""Drive headless locust against a running stack and read its machine-readable output.

Locust runs as a subprocess (its gevent patching must not touch this process). The
figures come from the tallies bench/load/locustfile.py streams (bench/load/record.py: percentiles
within 0.005 ms below 100 ms, warmup left out, status codes); locust's own --csv and
--json-file files are kept beside them for cross-checks.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bench.load.lab_load import LabLoad, variable
from bench.load.record import Figures, ProcessReport, Tally
from bench.procs import Child, ProcessGroup, tail
from bench.results import LoadShape
from bench.stacks.catalog import ROOT

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
SAMPLES_PREFIX = "samples"  # each locust process writes samples-<host>-<pid>[-w<N>].json
CLIENT_SWITCHES = (variable("headers"),)  # what run_load's `client_env` may set (bench/load/lab_load.py)


@dataclass(frozen=True)
class LoadOutcome:
    """The figures, and why the load ended early if it did."""

    figures: Figures | None
    exit_code: int | None
    problem: str | None = None  # the stack broke during the load
    interrupted: bool = False
    log_tail: str = ""


def locust_args(base_url: str, settings: LoadShape, out: str, locustfile: str, master: bool = False) -> list[str]:
    """Locust's arguments: headless, machine-readable output under `out` (as locust sees it).

    A process running alone quits itself when the measured window is over (LabLoad.duration_s), so
    its -t is only a bound, a second later; a master (`--processes`, or `master`) ends at -t.
    """
    alone = settings.processes == 1 and not master
    run_time = max(1, math.ceil(settings.warmup_s + settings.duration_s)) + (1 if alone else 0)
    return [
        "-f", locustfile,  # with a user's own locustfile: "lab,user" (the lab's recorder beside their users)
        "--headless",
        "-u", str(settings.users),
        "-r", f"{settings.spawn_rate:g}",
        "-t", f"{run_time}s",
        "--host", base_url,
        "--csv", f"{out}/locust",
        "--csv-full-history",
        "--json-file", f"{out}/locust",
        "--only-summary",
        "--loglevel", "WARNING",
        "--stop-timeout", "2",
        *(["--processes", str(settings.processes)] if settings.processes > 1 else []),
    ]  # fmt: skip


def lab_load(settings: LoadShape, out: str) -> LabLoad:
    """What each locust process of this load is told (bench/load/lab_load.py), writing under `out` as it sees it."""
    return LabLoad(
        samples=f"{out}/{SAMPLES_PREFIX}",
        warmup_s=settings.warmup_s,
        duration_s=settings.duration_s,
        wait_s=settings.wait_s,
        # each locust process paces its share of the total arrival rate, with its share of the bound
        process_rate=settings.rate / settings.processes if settings.rate else 0.0,
        process_max_in_flight=max(1, settings.max_in_flight // settings.processes),
        mix=settings.mix,
        own_users=not settings.locustfile,  # a user's locustfile brings its own users
    )


def locust_env(settings: LoadShape, out: str) -> dict[str, str]:
    """The environment the locustfile reads (bench/load/lab_load.py), and unbuffered output."""
    return lab_load(settings, out).to_env() | {"PYTHONUNBUFFERED": "1"}


@dataclass(frozen=True)
class LocalLauncher:
    """Locust as a child process of this machine (the local backend's way)."""

    cpus: tuple[int, ...] | None = None  # pin locust apart from the stack
    locustfile: Path | None = None  # another locustfile than the lab's (benchmarks/ price the lab's against it)
    source: str | None = None  # the address locust's sockets bind to (a stack's other client: 127.0.0.2)

    def command(self, settings: LoadShape, base_url: str, out: Path) -> tuple[list[str], dict[str, str]]:
        """The argv and environment that run locust writing into `out`."""
        files = str(self.locustfile or LOCUSTFILE) + (f",{settings.locustfile}" if settings.locustfile else "")
        args = locust_args(base_url, settings, str(out), files)
        prefix = ["taskset", "-c", ",".join(map(str, self.cpus))] if self.cpus else []
        env = dict(os.environ) | locust_env(settings, str(out))
        if self.source:
            env[variable("source_address")] = self.source
        return [*prefix, sys.executable, "-m", "locust", *args], env

    @contextmanager
    def around(self, settings: LoadShape, out: Path) -> Iterator[None]:
        """Nothing to start: locust's own --processes forks the workers beside the master."""
        yield

    def stop(self, child: Child, grace: float, out: Path) -> None:
        """Nothing to do: the SIGTERM to the child's group reaches locust itself."""


class Launcher(Protocol):
    """How a backend starts locust: locally, or in the stack's `user` container (+ `worker`s)."""

    def command(self, settings: LoadShape, base_url: str, out: Path) -> tuple[list[str], dict[str, str]]: ...

    def around(self, settings: LoadShape, out: Path) -> contextlib.AbstractContextManager[None]:
        """Whatever must be up while the command runs (a container to run it in, `settings.processes` workers)."""
        ...

    def stop(self, child: Child, grace: float, out: Path) -> None:
        """Ask the locust of the load writing into `out`, still running, to stop (SIGTERM: it writes its files)
        where signalling `child` cannot reach it, and wait up to `grace` s for it."""
        ...


def run_load(
    base_url: str,
    settings: LoadShape,
    out: Path,
    problem: Callable[[], str | None] = lambda: None,
    launcher: Launcher = LocalLauncher(),
    client_env: Mapping[str, str] | None = None,
) -> LoadOutcome:
    """Run locust until it ends, the stack breaks (`problem()` says why) or Ctrl-C.

    `client_env` sets the locustfile's client switches (LAB_LOAD_HEADERS: bench/load/lab_load.py);
    under compose they reach locust in its container as `docker exec -e` flags (bench/backends/compose.py).
    In every case locust is stopped with SIGTERM first, which makes it write its files,
    so what was measured up to that moment is kept.
    """
    out.mkdir(parents=True, exist_ok=True)
    argv, env = launcher.command(settings, base_url, out)
    env |= dict(client_env or {})
    group = ProcessGroup()
    broken: str | None = None
    interrupted = False
    exit_code = None
    try:
        with launcher.around(settings, out):
            try:
                child = group.start("locust", argv, out / "locust.log", cwd=ROOT, env=env)
                limit = time.monotonic() + settings.warmup_s + settings.duration_s + 60
                while child.exited() is None and broken is None:
                    broken = problem()
                    if time.monotonic() > limit:
                        broken = "locust did not stop within 60 s of its run time"
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        child.popen.wait(timeout=0.2)  # back at once when locust ends
            finally:
                if group.children and child.exited() is None:
                    launcher.stop(child, 15.0, out)
                exit_code = child.exited() if group.children else None
                group.stop(grace=15.0)  # SIGTERM: locust writes its json/csv and our samples
    except KeyboardInterrupt:  # keep going to the teardown and return what was measured
        interrupted = True
    return LoadOutcome(read_samples(out), exit_code, broken, interrupted, tail(out / "locust.log"))


def read_samples(out: Path) -> Figures | None:
    """Figures from every locust process's streamed windows; None when locust left none.

    Window files are read one at a time and folded into running totals, so the runner's
    memory stays flat however long the run was. A process that died still left the windows
    it had finished.
    """
    reports = [ProcessReport.from_json(data) for data in _files(out, window=False)]
    windows = (Tally.from_json(data) for data in _files(out, window=True))
    figures = Figures.of(windows, reports)
    return figures if figures.requests or reports else None


def _files(out: Path, window: bool) -> Iterator[dict[str, Any]]:
    """The JSON of each window file (`-w<N>.json`), or of each process report."""
    for path in sorted(out.glob(f"{SAMPLES_PREFIX}-*.json")):
        if path.stem.rsplit("-", 1)[-1].startswith("w") != window:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a process killed while writing: its temp file never replaced the real one
        if isinstance(data, dict):
            yield data


def main(argv: list[str]) -> int:
    """`python -m bench.load FOLDER...`: merge samples gathered from workers anywhere, print the figures."""
    if not argv:
        print("usage: python -m bench.load FOLDER  (holding samples-*.json from every worker)", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    found = read_samples(folder)
    if found is None:
        print(f"ERROR: no samples-*.json in {folder}", file=sys.stderr)
        return 1
    shown = {k: v for k, v in found.to_json().items() if k not in ("per_second", "per_window")}
    print(json.dumps(shown, indent=2))
    return 0

