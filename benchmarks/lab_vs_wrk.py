"""The lab's load generator against wrk: same stacks, same cores, same request mix.

    .venv/bin/python -m benchmarks.lab_vs_wrk [--stacks NAME ...] [--duration 10s] [--out FILE]

Each stack is brought up once (LocalBackend, pinned as the lab pins it) and measured four
times, the load generator always on the other cores:

1. peak: closed loop, --concurrency users (locust) / connections (wrk), flat out.
   Goal from the issue: the lab reaches at least 0.9 x wrk's req/s on every stack, so the
   generator is not what limits the lab's figures.
2. moderate: --rate req/s paced over --moderate-concurrency users / connections, both with
   one schedule shared by all of them (bench/locustfile.py's Pacer, wrk_mix.lua's delay()).
   Goal: the lab's mean latency within 0.5 ms + 10 % of wrk's.

wrk's figures come from the one JSON line wrk_mix.lua's done() prints, never its human text.
A goal that is missed is reported as "no"; the exit code is non-zero only when a stack could
not be measured at all.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

from tabulate import tabulate

from bench.backends.base import BringUp
from bench.backends.local import LocalBackend
from bench.errors import BenchError, ConfigError, StackFailed
from bench.load import LocalLauncher, run_load
from bench.options import parse_duration, parse_pin, positive_int
from bench.procs import ProcessGroup, tail
from bench.results import LoadShape, write_text_atomic
from bench.stacks import ROOT, Stack, discover, select

WRK_SCRIPT = Path(__file__).with_name("wrk_mix.lua")
DEFAULT_OUT = ROOT / "results" / "lab-vs-wrk.md"
PEAK_GOAL = 0.9  # lab req/s over wrk req/s
LATENCY_GOAL_MS = 0.5  # allowed |lab mean - wrk mean| = 0.5 ms + 10 % of wrk's mean
LATENCY_GOAL_SHARE = 0.10
RATE_TOLERANCE = 0.05  # a moderate run that missed its rate by more is flagged in the notes
WRK_GRACE_S = 30.0  # beyond its own -d, before a hung wrk counts as failed
EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


def say(message: str) -> None:
    """Progress on stderr, so stdout carries only the table."""
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Settings:
    """Everything one run compares, decided before anything starts."""

    stacks: tuple[Stack, ...]
    duration_s: float
    warmup_s: float
    concurrency: int  # peak: locust users = wrk connections
    rate: float  # moderate: total req/s of each tool
    moderate_concurrency: int  # moderate: locust users = wrk connections
    out: Path
    stack_cpus: tuple[int, ...] | None
    load_cpus: tuple[int, ...] | None
    breaker: str  # preset for stacks with a circuit breaker, as the lab's default
    command: str  # as the user typed it, for the header


@dataclass(frozen=True)
class Measurement:
    """One tool's figures for one measured window."""

    requests: int
    errors: int  # locust failures, or wrk's connect/read/write/status/timeout errors
    rps: float
    mean_ms: float | None
    note: str = ""  # e.g. the generator itself ran out of CPU


@dataclass(frozen=True)
class Comparison:
    """The four measurements of one stack, or why it could not be measured."""

    stack: str
    peak_lab: Measurement | None = None
    peak_wrk: Measurement | None = None
    moderate_lab: Measurement | None = None
    moderate_wrk: Measurement | None = None
    error: str | None = None

    @property
    def ratio(self) -> float | None:
        """Lab req/s over wrk req/s at peak."""
        if not (self.peak_lab and self.peak_wrk and self.peak_wrk.rps > 0):
            return None
        return self.peak_lab.rps / self.peak_wrk.rps

    @property
    def latency_gap_ms(self) -> float | None:
        """Lab mean minus wrk mean at the moderate load."""
        lab, wrk = self.moderate_lab, self.moderate_wrk
        if not (lab and wrk and lab.mean_ms is not None and wrk.mean_ms is not None):
            return None
        return lab.mean_ms - wrk.mean_ms

    @property
    def latency_allowed_ms(self) -> float | None:
        """The goal's bound on |lab mean - wrk mean|."""
        wrk = self.moderate_wrk
        if wrk is None or wrk.mean_ms is None:
            return None
        return LATENCY_GOAL_MS + LATENCY_GOAL_SHARE * wrk.mean_ms


# --- wrk ------------------------------------------------------------------------------


def wrk_argv(url: str, connections: int, duration_s: float, cpus: tuple[int, ...] | None) -> list[str]:
    """`taskset -c CPUS wrk -t1 -c N -d Ts --latency -s wrk_mix.lua URL` (wrk takes whole seconds)."""
    pin = ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []
    seconds = max(1, math.ceil(duration_s))
    wrk = ["wrk", "-t1", "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", str(WRK_SCRIPT), url]
    return pin + wrk


def parse_wrk_summary(output: str) -> dict[str, Any]:
    """The JSON line wrk_mix.lua's done() printed; StackFailed if there is none."""
    for line in reversed(output.splitlines()):
        if line.startswith('{"wrk_mix"'):
            data: dict[str, Any] = json.loads(line)
            return data
    raise StackFailed("wrk printed no summary line (did it start?)", output[-2000:])


def wrk_measurement(summary: dict[str, Any]) -> Measurement:
    """Figures from wrk_mix.lua's summary (times there are microseconds)."""
    seconds = summary["duration_us"] / 1e6
    latency = summary.get("latency_us") or {}
    mean = latency.get("mean")
    return Measurement(
        requests=int(summary["requests"]),
        errors=sum(int(v) for v in summary["errors"].values()),
        rps=round(summary["requests"] / seconds, 1) if seconds > 0 else 0.0,
        mean_ms=None if mean is None else round(mean / 1000, 3),
    )


def run_wrk(
    url: str, connections: int, duration_s: float, rate: float, cpus: tuple[int, ...] | None, log: Path
) -> Measurement:
    """Run wrk once in its own process group (stopped TERM then KILL, even on Ctrl-C)."""
    env = dict(os.environ) | {"WRK_MIX_RATE": f"{rate:g}"}
    group = ProcessGroup()
    try:
        child = group.start("wrk", wrk_argv(url, connections, duration_s, cpus), log, cwd=ROOT, env=env)
        child.popen.wait(timeout=math.ceil(duration_s) + WRK_GRACE_S)
    except subprocess.TimeoutExpired:
        raise StackFailed(f"wrk did not finish within {WRK_GRACE_S:g} s of its run time", tail(log)) from None
    finally:
        group.stop()
    return wrk_measurement(parse_wrk_summary(log.read_text(encoding="utf-8", errors="replace")))


# --- the lab (locust) -------------------------------------------------------------------


def run_lab(url: str, load: LoadShape, out: Path, cpus: tuple[int, ...] | None,
            problem: Callable[[], str | None]) -> Measurement:  # fmt: skip
    """The lab's own load run (bench.load.run_load, FastHttpUser) -> its figures."""
    outcome = run_load(url, load, out, problem, LocalLauncher(cpus))
    if outcome.interrupted:
        raise KeyboardInterrupt
    if outcome.problem:
        raise StackFailed(outcome.problem, outcome.log_tail)
    figures = outcome.figures
    if figures is None:
        raise StackFailed(f"locust left no samples in {out} (exit code {outcome.exit_code})", outcome.log_tail)
    if figures.requests == 0:
        raise StackFailed(f"no request completed in locust's measured window (see {out})", outcome.log_tail)
    note = ""
    if figures.generator_bound:  # then the lab's peak is locust's limit, not the stack's
        note = f"locust CPU-bound ({figures.generator_cpu_percent or 0:g} % of a core)"
    return Measurement(figures.requests, figures.failures, figures.rps, figures.latency.avg_ms, note)


# --- one stack ---------------------------------------------------------------------------


def measure_stack(stack: Stack, settings: Settings, workdir: Path) -> Comparison:
    """One bring-up; lab and wrk at peak, then both at the moderate rate; always torn down."""
    params = {"breaker": settings.breaker} if stack.breaker_file else {}
    run = BringUp(workdir, params, stack_cpus=settings.stack_cpus, load_cpus=settings.load_cpus)
    peak = LoadShape(settings.concurrency, settings.concurrency, settings.duration_s, settings.warmup_s)
    users = settings.moderate_concurrency
    moderate = LoadShape(users, users, settings.duration_s, settings.warmup_s, rate=settings.rate)
    with LocalBackend().up(stack, run) as target:
        url = target.base_url

        def wrk(name: str, connections: int, rate: float) -> Measurement:
            if settings.warmup_s > 0:  # wrk cannot leave a warmup out, so it gets its own run
                run_wrk(url, connections, settings.warmup_s, rate, settings.load_cpus, workdir / f"{name}-warmup.log")
            measured = run_wrk(url, connections, settings.duration_s, rate, settings.load_cpus, workdir / f"{name}.log")
            if broken := target.problem():
                raise StackFailed(broken, target.log_tail())
            return measured

        say(f"{stack.name}: peak, lab ({settings.concurrency} users) ...")
        peak_lab = run_lab(url, peak, workdir / "peak-lab", settings.load_cpus, target.problem)
        say(f"{stack.name}: peak, wrk ({settings.concurrency} connections) ...")
        peak_wrk = wrk("peak-wrk", settings.concurrency, 0.0)
        say(f"{stack.name}: moderate {settings.rate:g} req/s, lab ({users} users) ...")
        moderate_lab = run_lab(url, moderate, workdir / "moderate-lab", settings.load_cpus, target.problem)
        say(f"{stack.name}: moderate {settings.rate:g} req/s, wrk ({users} connections) ...")
        moderate_wrk = wrk("moderate-wrk", users, settings.rate)
    return Comparison(stack.name, peak_lab, peak_wrk, moderate_lab, moderate_wrk)


def measure_all(settings: Settings, workdir: Path) -> list[Comparison]:
    """Every stack in turn; one that fails is recorded with its error and the rest still run."""
    results = []
    for stack in settings.stacks:
        try:
            LocalBackend().check([stack])
            comparison = measure_stack(stack, settings, workdir / stack.name)
        except BenchError as exc:
            say(f"ERROR: {stack.name}: {exc}")
            if isinstance(exc, StackFailed) and exc.log_tail:
                say(exc.log_tail)
            comparison = Comparison(stack.name, error=str(exc))
        results.append(comparison)
        say(", ".join(row(comparison, settings)))
    return results


# --- the report --------------------------------------------------------------------------

COLUMNS = (
    "stack", "concurrency", "lab req/s", "wrk req/s", "lab/wrk", f"goal ≥{PEAK_GOAL:g} met?",
    "lab mean ms (moderate)", "wrk mean ms", "difference", "goal met?", "notes",
)  # fmt: skip


def yes_no(met: bool | None) -> str:
    """The goal column: yes, no, or a dash when there is nothing to judge."""
    return "—" if met is None else ("yes" if met else "no")


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _rps(m: Measurement | None) -> str:
    return "—" if m is None else f"{m.rps:,.0f}"


def notes(c: Comparison, settings: Settings) -> str:
    """What a reader needs to trust (or distrust) the row: errors, missed rates, busy generators."""
    found = []
    for label, m in (("peak lab", c.peak_lab), ("peak wrk", c.peak_wrk),
                     ("moderate lab", c.moderate_lab), ("moderate wrk", c.moderate_wrk)):  # fmt: skip
        if m is None:
            continue
        if m.errors:
            found.append(f"{label}: {m.errors} errors of {m.requests}")
        if m.note:
            found.append(f"{label}: {m.note}")
    if c.ratio is not None and c.ratio > 1 / PEAK_GOAL:  # wrk is the faster generator; noise is likelier
        found.append("lab well above wrk at peak: suspect noise from other work on the machine")
    for label, m in (("lab", c.moderate_lab), ("wrk", c.moderate_wrk)):
        if m is not None and abs(m.rps - settings.rate) > RATE_TOLERANCE * settings.rate:
            found.append(f"moderate {label} reached {m.rps:g} of {settings.rate:g} req/s")
    return "; ".join(found)


def row(c: Comparison, settings: Settings) -> list[str]:
    """One table row's cells."""
    if c.error:
        cells = [c.stack, str(settings.concurrency), *["—"] * 8, f"ERROR: {c.error}"]
    else:
        ratio, gap, allowed = c.ratio, c.latency_gap_ms, c.latency_allowed_ms
        lab_mean = c.moderate_lab.mean_ms if c.moderate_lab else None
        wrk_mean = c.moderate_wrk.mean_ms if c.moderate_wrk else None
        cells = [
            c.stack, str(settings.concurrency), _rps(c.peak_lab), _rps(c.peak_wrk),
            "—" if ratio is None else f"{ratio:.2f}x",
            yes_no(None if ratio is None else ratio >= PEAK_GOAL),
            _ms(lab_mean), _ms(wrk_mean),
            "—" if gap is None or allowed is None else f"{gap:+.2f} ms (limit ±{allowed:.2f})",
            yes_no(None if gap is None or allowed is None else abs(gap) <= allowed),
            notes(c, settings),
        ]  # fmt: skip
    return [cell.replace("|", "/") for cell in cells]


def header(settings: Settings, started: datetime, load_before: tuple[float, ...]) -> list[str]:
    """Command, date, machine, pinning and the load shapes, above the table."""
    d, w = f"{settings.duration_s:g}", f"{settings.warmup_s:g}"
    return [
        "# The lab's load generator vs wrk",
        "",
        f"- Command: `{settings.command}`",
        f"- Date: {started.isoformat(timespec='seconds')}",
        f"- Machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}; "
        f"load average {' / '.join(f'{x:.2f}' for x in load_before)} (1/5/15 min) before the run "
        "(a shared machine: other work adds noise)",
        f"- Pinning (the lab's `--pin auto` split): stacks on CPU {_cpus(settings.stack_cpus)}, "
        f"load generators (locust, wrk) on CPU {_cpus(settings.load_cpus)}",
        f"- Tools: the lab's locust {_version('locust')} (bench/locustfile.py, FastHttpUser, 1 process) and "
        f"{wrk_version()} (-t1, benchmarks/wrk_mix.lua), the same 7 requests in equal shares, POST included",
        f"- Peak: closed loop, {settings.concurrency} users / connections, {w} s warmup + {d} s measured",
        f"- Moderate: {settings.rate:g} req/s from one shared schedule over {settings.moderate_concurrency} "
        f"users / connections, {w} s warmup + {d} s measured",
        f"- Goals: peak lab/wrk ≥ {PEAK_GOAL:g}; moderate |lab mean - wrk mean| ≤ {LATENCY_GOAL_MS:g} ms + "
        f"{LATENCY_GOAL_SHARE:.0%} of wrk's mean",
        "",
    ]


FOOTER = [
    "",
    "wrk times a request from its write on an open connection; locust from the call, so a",
    "reconnect (gunicorn's sync workers close every connection) is inside locust's figure only.",
]


def render(results: Sequence[Comparison], settings: Settings, started: datetime,
           load_before: tuple[float, ...]) -> str:  # fmt: skip
    """The whole Markdown report."""
    lines = header(settings, started, load_before)
    lines.append(f"Load average after the run: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}.")
    lines += ["", tabulate([row(c, settings) for c in results], headers=COLUMNS, tablefmt="github",
                           disable_numparse=True)]  # fmt: skip
    return "\n".join(lines + FOOTER) + "\n"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def wrk_version() -> str:
    """`wrk -v`'s first words, e.g. `wrk debian/4.1.0-3+b2` (recorded, never parsed)."""
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10, check=False)
    first = (done.stdout + done.stderr).strip().splitlines()
    return " ".join(first[0].split()[:2]) if first else "wrk"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def _cpus(cpus: tuple[int, ...] | None) -> str:
    return ",".join(map(str, cpus)) if cpus else "all (unpinned)"


# --- command line ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Flags; each can also come from a LAB_VS_WRK_* environment variable (the flag wins)."""

    def env(name: str, default: str) -> str:
        return os.environ.get(f"LAB_VS_WRK_{name}", default)

    p = argparse.ArgumentParser(prog="python -m benchmarks.lab_vs_wrk", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--stacks",
        nargs="+",
        default=env("STACKS", "").split() or None,
        metavar="NAME",
        help="stacks to compare (default: every stack of bench.stacks.discover())",
    )
    p.add_argument("--duration", default=env("DURATION", "10s"), help="measured time of each of the 4 runs")
    p.add_argument("--warmup", default=env("WARMUP", "2s"), help="uncounted time before each run")
    p.add_argument("--concurrency", default=env("CONCURRENCY", "32"), help="peak: users = connections")
    p.add_argument("--rate", default=env("RATE", "200"), help="moderate: req/s of each tool")
    p.add_argument(
        "--moderate-concurrency",
        default=env("MODERATE_CONCURRENCY", "4"),
        help="moderate: users = connections (few: gunicorn's sync workers block on idle ones)",
    )
    p.add_argument("--out", type=Path, default=Path(env("OUT", str(DEFAULT_OUT))), help="Markdown file to write")
    p.add_argument("--breaker", default=env("BREAKER", "seed000"), help="breaker preset (fastapi_istio), as the lab's")
    return p  # fmt: skip


def make_settings(args: argparse.Namespace, argv: Sequence[str]) -> Settings:
    """Validate every flag before anything starts."""
    stack_cpus, load_cpus = parse_pin("auto")
    rate = float(args.rate) if _is_number(args.rate) else -1.0
    if rate <= 0:
        raise ConfigError(f"--rate: must be a positive number of req/s, got {args.rate!r}")
    python = Path(sys.executable)
    shown = python.relative_to(ROOT) if python.is_relative_to(ROOT) else python
    return Settings(
        stacks=tuple(select(args.stacks) if args.stacks else discover().values()),
        duration_s=parse_duration(args.duration, "--duration"),
        warmup_s=parse_duration(args.warmup, "--warmup", allow_zero=True),
        concurrency=positive_int(args.concurrency, "--concurrency"),
        rate=rate,
        moderate_concurrency=positive_int(args.moderate_concurrency, "--moderate-concurrency"),
        out=args.out,
        stack_cpus=stack_cpus,
        load_cpus=load_cpus,
        breaker=args.breaker,
        command=shlex.join([str(shown), "-m", "benchmarks.lab_vs_wrk", *argv]),
    )


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # so every `with backend.up(...)` tears its stack down


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print the table, write it to --out; 1 if a stack could not be measured."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = make_settings(build_parser().parse_args(argv), argv)
        if shutil.which("wrk") is None:
            raise ConfigError("wrk not found", tip="install it: apt-get install -y wrk")
    except BenchError as exc:
        say(f"ERROR: {exc}" + (f"\nTIP: {exc.tip}" if exc.tip else ""))
        return exc.exit_code
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    started, load_before = datetime.now(UTC), os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="lab-vs-wrk-"))  # logs, rendered configs, locust output
    try:
        results = measure_all(settings, work)
    except KeyboardInterrupt:
        say(f"ERROR: interrupted; every stack was torn down (logs in {work})")
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    text = render(results, settings, started, load_before)
    print(text, end="")
    settings.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(settings.out, text)
    say(f"written to {settings.out}")
    failed = [c.stack for c in results if c.error]
    if failed:  # keep the logs of a failed stack for whoever looks into it
        say(f"ERROR: not measured: {', '.join(failed)}; logs and load output kept in {work}")
        return EXIT_FAILED
    shutil.rmtree(work, ignore_errors=True)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
