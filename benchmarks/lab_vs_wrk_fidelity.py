"""Why a stack spends more CPU per request under the lab's locust than under wrk: one variable at a time.

    .venv/bin/python -m benchmarks.lab_vs_wrk_fidelity [--stack flask_gunicorn_gthread] [--pairs 3]
        [--variants lab,lab-bare,wrk,wrk-locust] [--duration 6s] [--concurrency 32]

One bring-up of the stack (pinned as benchmarks/lab_vs_wrk pins it: stack on one CPU set, generator
on the other), then rounds: every variant once per round, the order rotated by one each round, so
each variant's runs interleave with the others'. A variant is a generator and the bytes it sends:

- lab: bench/load/locustfile.py as the lab runs it (its headers: User-Agent, Accept-Encoding,
  Accept on the POST);
- lab-bare: the same locustfile without those three headers, the bytes wrk sends
  (benchmarks/lab_vs_wrk_bare_locustfile.py);
- wrk: benchmarks/wrk_mix.lua with wrk's own bytes;
- wrk-locust: the same script sending locust's bytes, header for header (WRK_MIX_SHAPE=locust);
- wrk@RATE: wrk's own bytes paced at RATE req/s in all (wrk_mix.lua's shared schedule), e.g. the
  lab's rate, to see whether the CPU per request follows the rate rather than the generator.

For each run: the tool's req/s over its measured window, and the server's CPU per request two ways
over that same window: its own processes' CPU time (user + system of every process of the stack,
psutil) and how busy its CPU set was (every process on it, /proc/stat, what lab_vs_wrk reports).
It prints a Markdown table of medians [min-max] and each variant's ratio to the first one's,
pair by pair, with the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tabulate import tabulate

from bench.backends.base import BringUp, RunningStack
from bench.backends.local import LocalBackend
from bench.errors import BenchError, StackFailed
from bench.load.runner import LocalLauncher, run_load
from bench.options import parse_duration, parse_pin, positive_int
from bench.procs import ProcessGroup
from bench.results import LoadShape
from bench.stacks.catalog import ROOT, load_stack
from benchmarks import generators as gen

BARE_LOCUSTFILE = Path(__file__).with_name("lab_vs_wrk_bare_locustfile.py")
SAMPLE_EVERY_S = 0.1
KNOWN = ("lab", "lab-bare", "wrk", "wrk-locust")
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Run:
    """One variant's measured window."""

    variant: str
    rps: float
    server_ms: float  # the stack's own processes' CPU ms per answered request
    softirq_ms: float  # the kernel's softirq time on the stack's CPUs, ms per answered request
    cpuset_ms: float | None  # the stack's CPU set busy (every process on it), ms per answered request
    generator_busy_pct: float | None  # the generator's CPU set, % busy


class CpuLog:
    """The stack's processes' CPU seconds and its CPU set's softirq ticks (/proc/stat: the kernel's network
    work done on those CPUs, charged to no process), read every SAMPLE_EVERY_S with the wall-clock time."""

    def __init__(self, running: RunningStack, cpus: tuple[int, ...] | None) -> None:
        self._running = running
        self._cpus = {f"cpu{c}" for c in cpus} if cpus else None
        self.rows: list[tuple[float, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> CpuLog:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            self.rows.append((time.time(), self._running.usage().cpu_seconds, self._softirq_s()))
            if self._stop.wait(SAMPLE_EVERY_S):
                break

    def _softirq_s(self) -> float:
        ticks = 0
        with open("/proc/stat", encoding="ascii") as stat:
            for line in stat:
                name, *values = line.split()
                if name.startswith("cpu") and name != "cpu" and (self._cpus is None or name in self._cpus):
                    ticks += int(values[6])  # user nice system idle iowait irq softirq
        return ticks / TICKS_PER_S

    def per_s(self, start: float | None, end: float | None) -> tuple[float, float]:
        """(the processes' CPU s, softirq s) per second, from the first reading at or after `start` to the last
        at or before `end`."""
        rows = [r for r in self.rows if (start is None or r[0] >= start) and (end is None or r[0] <= end)]
        if len(rows) < 2 or rows[-1][0] <= rows[0][0]:
            raise StackFailed("too few CPU readings in the measured window")
        span = rows[-1][0] - rows[0][0]
        return (rows[-1][1] - rows[0][1]) / span, (rows[-1][2] - rows[0][2]) / span


def run_variant(variant: str, running: RunningStack, args: Options, out: Path) -> Run:
    """One measured window of `variant` against the running stack."""
    out.mkdir(parents=True, exist_ok=True)
    with CpuLog(running, args.stack_cpus) as cpu, gen.BusyLog(gen.Pins(args.stack_cpus, args.load_cpus)) as ticks:
        if variant.startswith("lab"):
            rps, window = _locust(variant, running, args, out)
        else:
            rps, window = _wrk(variant, running.base_url, args, out)
    stack_pct, load_pct = ticks.busy(*window)
    ncpu = len(args.stack_cpus) if args.stack_cpus else os.cpu_count() or 1
    cpuset = None if stack_pct is None or not rps else 10 * stack_pct * ncpu / rps
    server, softirq = cpu.per_s(*window)
    return Run(variant, rps, 1000 * server / rps, 1000 * softirq / rps, cpuset, load_pct)


def _locust(variant: str, running: RunningStack, args: Options, out: Path) -> tuple[float, tuple[float | None, ...]]:
    launcher = LocalLauncher(args.load_cpus, locustfile=BARE_LOCUSTFILE if variant == "lab-bare" else None)
    load = LoadShape(args.concurrency, args.concurrency, args.duration_s, args.warmup_s)
    outcome = run_load(running.base_url, load, out, running.problem, launcher)
    if outcome.interrupted:
        raise KeyboardInterrupt
    if outcome.problem or outcome.figures is None or not outcome.figures.requests:
        raise StackFailed(outcome.problem or f"locust answered nothing (see {out})", outcome.log_tail)
    return outcome.figures.rps, gen.measured_window(out)


def _wrk(variant: str, url: str, args: Options, out: Path) -> tuple[float, tuple[float | None, ...]]:
    """wrk after a warmup run of its own; the window is its whole measured run."""
    rate = float(variant.partition("@")[2] or 0)
    env = dict(os.environ) | {"WRK_MIX_RATE": f"{rate:g}", "WRK_MIX_SHAPE": "locust" if variant == "wrk-locust"
                              else "wrk"}  # fmt: skip
    result = 0.0
    for name, seconds in (("warmup", args.warmup_s), ("wrk", args.duration_s)):
        if seconds <= 0:
            continue
        group, log = ProcessGroup(), out / f"{name}.log"
        started = time.time()
        try:
            child = group.start("wrk", gen.wrk_argv(url, args.concurrency, seconds, args.load_cpus), log,
                                cwd=ROOT, env=env)  # fmt: skip
            child.popen.wait(timeout=seconds + gen.WRK_GRACE_S)
        finally:
            group.stop()
        ended = time.time()
        result = gen.wrk_sample(gen.parse_wrk_summary(log.read_text(encoding="utf-8", errors="replace"))).rps
    return result, (started, ended)


@dataclass(frozen=True)
class Options:
    stack: str
    variants: tuple[str, ...]
    pairs: int
    duration_s: float
    warmup_s: float
    concurrency: int
    stack_cpus: tuple[int, ...] | None
    load_cpus: tuple[int, ...] | None
    params: dict[str, str]


@contextmanager
def up(args: Options, work: Path) -> Iterator[RunningStack]:
    stack = load_stack(ROOT / "stacks" / args.stack / "stack.toml")
    LocalBackend().check([stack])
    bring_up = BringUp(work, args.params, stack_cpus=args.stack_cpus, load_cpus=args.load_cpus)
    with LocalBackend().up(stack, bring_up) as running:
        yield running


def measure(args: Options, work: Path) -> list[list[Run]]:
    """Rounds of every variant, the order rotated by one each round."""
    rounds: list[list[Run]] = []
    with up(args, work / "stack") as running:
        for i in range(args.pairs):
            order = args.variants[i % len(args.variants):] + args.variants[:i % len(args.variants)]
            runs = {}
            for variant in order:
                say(f"round {i + 1}/{args.pairs}: {variant} ...")
                runs[variant] = run_variant(variant, running, args, work / f"r{i + 1}-{variant}")
                say(f"  {runs[variant]}")
            rounds.append([runs[v] for v in args.variants])
    return rounds


def spread(values: Sequence[float], fmt: str) -> str:
    if not values:
        return "—"
    mid = fmt.format(statistics.median(values))
    return mid if len(values) == 1 else f"{mid} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


def table(rounds: list[list[Run]], variants: Sequence[str]) -> str:
    """One row per variant: medians [min-max] over the rounds, and its ratio to the first variant, round by round."""
    rows = []
    for j, variant in enumerate(variants):
        runs = [r[j] for r in rounds]
        ratio = [r[j].server_ms / r[0].server_ms for r in rounds]
        cpuset = [r.cpuset_ms for r in runs if r.cpuset_ms is not None]
        busy = [r.generator_busy_pct for r in runs if r.generator_busy_pct is not None]
        rows.append([variant, spread([r.rps for r in runs], "{:,.0f}"), spread([r.server_ms for r in runs], "{:.3f}"),
                     spread(ratio, "{:.2f}") + "x", spread([r.softirq_ms for r in runs], "{:.3f}"),
                     spread(cpuset, "{:.3f}"), spread(busy, "{:.0f}") + " %"])  # fmt: skip
    head = ["variant", "req/s", "server CPU ms/request (its processes)", f"vs {variants[0]}",
            "softirq ms/request (stack CPUs)", "stack CPU set busy ms/request", "generator CPU busy"]  # fmt: skip
    return tabulate(rows, headers=head, tablefmt="github", disable_numparse=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.lab_vs_wrk_fidelity", description=__doc__.split("\n\n")[0])
    p.add_argument("--stack", default="flask_gunicorn_gthread")
    p.add_argument("--variants", default=",".join(KNOWN), help=f"comma-separated: {', '.join(KNOWN)}, wrk@RATE")
    p.add_argument("--pairs", default="3", help="rounds (each variant once per round)")
    p.add_argument("--duration", default="6s")
    p.add_argument("--warmup", default="1s")
    p.add_argument("--concurrency", default="32", help="locust users = wrk connections")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a stack parameter")
    return p


def options(argv: Sequence[str]) -> Options:
    a = build_parser().parse_args(argv)
    variants = tuple(v.strip() for v in a.variants.split(",") if v.strip())
    unknown = [v for v in variants if v not in KNOWN and not v.startswith("wrk@")]
    if unknown or not variants:
        raise SystemExit(f"ERROR: unknown variant {unknown}; known: {', '.join(KNOWN)}, wrk@RATE")
    stack_cpus, load_cpus = parse_pin("auto")
    return Options(a.stack, variants, positive_int(a.pairs, "--pairs"), parse_duration(a.duration, "--duration"),
                   parse_duration(a.warmup, "--warmup", allow_zero=True), positive_int(a.concurrency, "--concurrency"),
                   stack_cpus, load_cpus, dict(p.split("=", 1) for p in a.param))  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = options(argv)
    started, before = datetime.now(UTC), os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="lab-vs-wrk-fidelity-"))
    try:
        rounds = measure(args, work)
    except BenchError as exc:
        say(f"ERROR: {exc} (logs in {work})")
        return 1
    after = os.getloadavg()
    command = shlex.join([".venv/bin/python", "-m", "benchmarks.lab_vs_wrk_fidelity", *argv])
    print(f"`{command}` — {started:%Y-%m-%d %H:%M} UTC, stack {args.stack}, stack CPUs {args.stack_cpus}, "
          f"generator CPUs {args.load_cpus}, {args.pairs} rounds, {args.warmup_s:g} s warmup + "
          f"{args.duration_s:g} s, {args.concurrency} users/connections, load average "
          f"{' / '.join(f'{x:.2f}' for x in before)} before, {' / '.join(f'{x:.2f}' for x in after)} after\n")
    print(table(rounds, args.variants))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
