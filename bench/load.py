"""Drive headless locust against a running stack and read its machine-readable output.

Locust runs as a subprocess (its gevent patching must not touch this process). The
figures come from the raw samples bench/locustfile.py writes (exact percentiles, warmup
left out, status codes); locust's own --csv/--json-file files are kept beside them.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bench import histogram
from bench.procs import ProcessGroup, tail
from bench.stacks import ROOT

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
PERCENTILES = (50, 90, 95, 99)
SAMPLES_PREFIX = "samples"  # each locust process writes samples-<host>-<pid>.json
GENERATOR_BUSY_PERCENT = 90.0  # locust's own warning threshold, of the one core it runs on


@dataclass(frozen=True)
class LoadSettings:
    """The load shape: locust's own -u / -r / -t, plus the uncounted warmup."""

    users: int
    spawn_rate: float
    duration_s: float
    warmup_s: float = 0.0
    wait_s: float = 0.0
    rate: float | None = None  # total arrival rate (open model); None: closed loop
    processes: int = 1  # locust processes (--processes) when one cannot drive the stack


@dataclass(frozen=True)
class LoadFigures:
    """What one measured window gave."""

    requests: int
    failures: int
    avg_ms: float | None
    min_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    rps: float
    measured_s: float
    status_codes: dict[str, int]
    per_second: list[list[int]] = field(default_factory=list)  # [second, requests, failures]
    generator_cpu_percent: float | None = None  # locust's own CPU over the window (100 = one core)
    generator_cpu_warnings: int = 0  # times locust's own CPU monitor saw > 90 %
    overloaded: int = 0  # 503s with x-envoy-overloaded: made by the circuit breaker, not the app
    offered_rps: float | None = None  # the open-model arrival rate asked for, if any
    ok_latency: dict[str, float | None] = field(default_factory=dict)  # successful requests only
    per_window: list[dict[str, float | int | None]] = field(default_factory=list)  # drift, a minute each

    @property
    def generator_bound(self) -> bool:
        """The load generator, not the stack, may have set the pace."""
        busy = self.generator_cpu_percent is not None and self.generator_cpu_percent >= GENERATOR_BUSY_PERCENT
        return busy or self.generator_cpu_warnings > 0


@dataclass(frozen=True)
class LoadOutcome:
    """The figures, and why the load ended early if it did."""

    figures: LoadFigures | None
    exit_code: int | None
    problem: str | None = None  # the stack broke during the load
    interrupted: bool = False
    log_tail: str = ""


def locust_args(base_url: str, settings: LoadSettings, out: str, locustfile: str) -> list[str]:
    """Locust's arguments: headless, machine-readable output under `out` (as locust sees it)."""
    run_time = max(1, math.ceil(settings.warmup_s + settings.duration_s))
    return [
        "-f", locustfile,
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


def locust_env(settings: LoadSettings, out: str) -> dict[str, str]:
    """What the locustfile reads from its environment (see bench/locustfile.py)."""
    return {
        "BENCH_SAMPLES": f"{out}/{SAMPLES_PREFIX}",
        "BENCH_WARMUP": f"{settings.warmup_s:g}",
        "BENCH_WAIT": f"{settings.wait_s:g}",
        # each locust process paces its share of the total arrival rate
        "BENCH_RATE": f"{settings.rate / settings.processes:g}" if settings.rate else "0",
        "PYTHONUNBUFFERED": "1",
    }


@dataclass(frozen=True)
class LocalLauncher:
    """Locust as a child process of this machine (the local backend's way)."""

    cpus: tuple[int, ...] | None = None  # pin locust apart from the stack

    def command(self, settings: LoadSettings, base_url: str, out: Path) -> tuple[list[str], dict[str, str]]:
        """The argv and environment that run locust writing into `out`."""
        args = locust_args(base_url, settings, str(out), str(LOCUSTFILE))
        prefix = ["taskset", "-c", ",".join(map(str, self.cpus))] if self.cpus else []
        return [*prefix, sys.executable, "-m", "locust", *args], dict(os.environ) | locust_env(settings, str(out))

    @contextmanager
    def workers(self, settings: LoadSettings, out: Path) -> Iterator[None]:
        """Nothing to start: locust's own --processes forks the workers beside the master."""
        yield


class Launcher(Protocol):
    """How a backend starts locust: locally, or in the stack's `user` container (+ `worker`s)."""

    def command(self, settings: LoadSettings, base_url: str, out: Path) -> tuple[list[str], dict[str, str]]: ...

    def workers(self, settings: LoadSettings, out: Path) -> contextlib.AbstractContextManager[None]:
        """Whatever must run beside the command for `settings.processes` workers, for its duration."""
        ...


def run_load(
    base_url: str,
    settings: LoadSettings,
    out: Path,
    problem: Callable[[], str | None] = lambda: None,
    launcher: Launcher = LocalLauncher(),
) -> LoadOutcome:
    """Run locust until it ends, the stack breaks (`problem()` says why) or Ctrl-C.

    In every case locust is stopped with SIGTERM first, which makes it write its files,
    so what was measured up to that moment is kept.
    """
    out.mkdir(parents=True, exist_ok=True)
    argv, env = launcher.command(settings, base_url, out)
    group = ProcessGroup()
    broken: str | None = None
    interrupted = False
    exit_code = None
    try:
        with launcher.workers(settings, out):
            try:
                child = group.start("locust", argv, out / "locust.log", cwd=ROOT, env=env)
                limit = time.monotonic() + settings.warmup_s + settings.duration_s + 60
                while child.exited() is None and broken is None:
                    broken = problem()
                    if time.monotonic() > limit:
                        broken = "locust did not stop within 60 s of its run time"
                    time.sleep(0.2)
            finally:
                exit_code = child.exited() if group.children else None
                group.stop(grace=15.0)  # SIGTERM: locust writes its json/csv and our samples
    except KeyboardInterrupt:  # keep going to the teardown and return what was measured
        interrupted = True
    return LoadOutcome(read_samples(out), exit_code, broken, interrupted, tail(out / "locust.log"))


def read_samples(out: Path) -> LoadFigures | None:
    """Figures from every locust process's streamed windows; None when locust left none.

    Each window file is read and folded into running totals one at a time, so the runner's
    memory stays flat however long the run was. A process that died still left the
    windows it had finished.
    """
    notes: list[dict[str, Any]] = []
    total, windows = Totals(), dict[int, Totals]()
    for path in sorted(out.glob(f"{SAMPLES_PREFIX}-*.json")):
        data = _read_json(path)
        if data is None:
            continue  # a process killed while writing: its temp file never replaced the real one
        if "window" in data:
            total.add(data)
            windows.setdefault(int(data["window"]), Totals()).add(data)
        else:
            notes.append(data)
    if not total.files and not notes:
        return None
    return figures(total, notes, [windows[i] for i in sorted(windows)])


@dataclass
class Totals:
    """Window files folded together: histograms and counters add up."""

    files: int = 0
    ok: Counter[int] = field(default_factory=Counter)
    failed: Counter[int] = field(default_factory=Counter)
    failures: int = 0
    overloaded: int = 0
    sum_ms: float = 0.0
    min_ms: float | None = None
    max_ms: float | None = None
    codes: Counter[str] = field(default_factory=Counter)
    seconds: Counter[tuple[int, int]] = field(default_factory=Counter)  # (second, 0|1 failed) -> n
    start: float | None = None
    end: float | None = None

    def add(self, w: dict[str, Any]) -> None:
        self.files += 1
        self.ok.update(histogram.merge([w.get("ok_hist", {})]))
        self.failed.update(histogram.merge([w.get("failed_hist", {})]))
        self.failures += int(w.get("failures", 0))
        self.overloaded += int(w.get("overloaded", 0))
        self.sum_ms += float(w.get("sum_ms", 0.0))
        if w.get("min_ms") is not None:
            self.min_ms = min(self.min_ms if self.min_ms is not None else w["min_ms"], w["min_ms"])
            self.max_ms = max(self.max_ms or 0.0, w["max_ms"])
        self.codes.update({str(k): int(v) for k, v in w.get("status_codes", {}).items()})
        for second, count, failed in w.get("per_second", []):
            self.seconds[(int(second), 0)] += int(count)
            self.seconds[(int(second), 1)] += int(failed)
        self.start = min(self.start if self.start is not None else w["start"], w["start"])
        self.end = max(self.end if self.end is not None else w["end"], w["end"])

    @property
    def requests(self) -> int:
        return sum(self.ok.values()) + sum(self.failed.values())

    def latency(self, hist: Counter[int] | None = None) -> dict[str, float | None]:
        """avg, max and percentiles: of all requests, or of one histogram (the successful)."""
        both = hist if hist is not None else self.ok + self.failed
        summary = {f"p{p}_ms": _rounded(histogram.percentile(both, p)) for p in PERCENTILES}
        if hist is None:
            summary["avg_ms"] = _rounded(self.sum_ms / self.requests) if self.requests else None
            summary["max_ms"] = _rounded(self.max_ms)
        else:
            summary["max_ms"] = histogram.value(max(hist)) if hist else None
        return summary


def figures(total: Totals, notes: list[dict[str, Any]], windows: list[Totals]) -> LoadFigures:
    """LoadFigures from the folded windows and each process's closing note."""
    starts = [n["measured_from"] for n in notes if n.get("measured_from")] or [total.start or 0.0]
    stops = [n["stopped"] for n in notes if n.get("stopped")] or [total.end or 0.0]
    measured = max(max(stops) - min(starts), 0.0)
    cpu = [n["generator_cpu_seconds"] for n in notes if n.get("generator_cpu_seconds") is not None]
    lat = total.latency()
    last = max((s for s, _ in total.seconds), default=-1)
    return LoadFigures(
        requests=total.requests,
        failures=total.failures,
        avg_ms=lat["avg_ms"],
        min_ms=_rounded(total.min_ms),
        p50_ms=lat["p50_ms"],
        p90_ms=lat["p90_ms"],
        p95_ms=lat["p95_ms"],
        p99_ms=lat["p99_ms"],
        max_ms=lat["max_ms"],
        rps=round(total.requests / measured, 1) if measured > 0 else 0.0,
        measured_s=round(measured, 2),
        status_codes=dict(sorted(total.codes.items())),
        per_second=[[s, total.seconds[(s, 0)], total.seconds[(s, 1)]] for s in range(last + 1)],
        # the busiest process decides whether the generator was the limit (each has one core)
        generator_cpu_percent=_share(max(cpu) if cpu else None, measured),
        generator_cpu_warnings=sum(len(n.get("generator_cpu_warnings") or []) for n in notes),
        overloaded=total.overloaded,
        offered_rps=sum(n.get("offered_rps") or 0 for n in notes) or None,
        ok_latency=total.latency(total.ok),
        per_window=[_window_row(i, w) for i, w in enumerate(windows)],
    )


def _window_row(index: int, w: Totals) -> dict[str, float | int | None]:
    """One streamed window (a minute by default) as a drift-table row."""
    span = (w.end or 0.0) - (w.start or 0.0)
    lat = w.latency()
    return {"window": index, "requests": w.requests, "failures": w.failures,
            "rps": round(w.requests / span, 1) if span > 0 else 0.0,
            "avg_ms": lat["avg_ms"], "p50_ms": lat["p50_ms"], "p99_ms": lat["p99_ms"]}  # fmt: skip


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _share(cpu_seconds: float | None, wall: float) -> float | None:
    if cpu_seconds is None or wall <= 0:
        return None
    return round(100 * float(cpu_seconds) / wall, 1)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def locust_totals(out: Path) -> tuple[int, int] | None:
    """(requests, failures) as locust's own --json-file counted them, for cross-checks."""
    try:
        rows = json.loads((out / "locust.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return sum(r["num_requests"] for r in rows), sum(r["num_failures"] for r in rows)


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
    shown = {k: v for k, v in asdict(found).items() if k not in ("per_second", "per_window")}
    shown["generator_bound"] = found.generator_bound
    print(json.dumps(shown, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
