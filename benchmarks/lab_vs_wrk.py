"""The lab's load generator against wrk and against vanilla locust: how far to trust its figures.

    .venv/bin/python -m benchmarks.lab_vs_wrk [--stacks NAME ...] [--pairs 3] [--duration 6s] [--out FILE]

Everything runs pinned as the lab pins it (stack on one CPU set, generators on the other) and
every comparison is interleaved, A B A B, `--pairs` times, reported as median [min-max] with
the load average before and after, since this machine drifts between minutes.

1. The generator's own cost, against the floor nginx (answers from memory):
   - peak: the lab's locustfile against a vanilla FastHttpUser (benchmarks/vanilla_locustfile.py)
     at --concurrency users: the lab's per-request recording must stay within 10 % of vanilla;
     the vanilla rate is locust's own ceiling on this core.
   - latency at concurrency 1: the lab against wrk, on the floor with keep-alive and on a floor
     that closes every connection; the difference between the two is each tool's reconnect cost
     (wrk starts its clock on an open socket, locust before it connects).
2. Each stack, brought up once:
   - peak: closed loop, --concurrency users / connections. Goal: lab/wrk >= 0.9.
   - moderate: --rate req/s (the lab's open model; wrk_mix.lua's shared schedule over
     --moderate-concurrency connections). Goal: the lab's mean within 0.5 ms + 10 % of wrk's,
     where the server keeps connections open; where it closes them the measured reconnect cost
     is shown apart and taken out before the goal is judged.

wrk's figures come from the one JSON line wrk_mix.lua's done() prints. A goal missed is
"no"; the exit code is non-zero only when something could not be measured at all.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType

from tabulate import tabulate

from bench.backends.base import BringUp, RunningStack
from bench.backends.local import LocalBackend
from bench.errors import BenchError, ConfigError, StackFailed
from bench.options import parse_duration, parse_pin, positive_float, positive_int
from bench.results import LoadShape, write_text_atomic
from bench.stacks.catalog import ROOT, Stack, discover, floor_stack, load_stack, select
from benchmarks import generators as gen
from benchmarks.generators import Sample

DEFAULT_OUT = ROOT / "results" / "lab-vs-wrk.md"
PEAK_GOAL = 0.9  # lab req/s over wrk req/s
VANILLA_GOAL = 0.9  # lab locustfile req/s over vanilla FastHttpUser req/s (within 10 %)
LATENCY_GOAL_MS = 0.5  # allowed |lab mean - wrk mean| = 0.5 ms + 10 % of wrk's mean
LATENCY_GOAL_SHARE = 0.10
EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


def say(message: str) -> None:
    """Progress on stderr, so stdout carries only the report."""
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Settings:
    """Everything one run compares, decided before anything starts."""

    stacks: tuple[Stack, ...]
    pairs: int
    duration_s: float
    warmup_s: float
    concurrency: int  # peak: locust users = wrk connections
    rate: float  # moderate: total req/s of each tool
    moderate_concurrency: int  # moderate: wrk connections (the lab's open model opens what it needs)
    out: Path
    stack_cpus: tuple[int, ...] | None
    load_cpus: tuple[int, ...] | None
    breaker: str  # preset for stacks with a circuit breaker, as the lab's default
    command: str  # as the user typed it, for the header

    def load(self, users: int, rate: float | None = None) -> LoadShape:
        if rate:
            return LoadShape.open(rate, self.duration_s, self.warmup_s)
        return LoadShape(users, users, self.duration_s, self.warmup_s)


@dataclass
class Series:
    """One tool's samples of one measurement, one per pair."""

    samples: list[Sample] = field(default_factory=list)

    def values(self, pick: Callable[[Sample], float | None]) -> list[float]:
        return [v for s in self.samples if (v := pick(s)) is not None]


@dataclass
class StackResult:
    stack: str
    closes_connections: bool | None = None
    peak: dict[str, Series] = field(default_factory=lambda: {"lab": Series(), "wrk": Series()})
    moderate: dict[str, Series] = field(default_factory=lambda: {"lab": Series(), "wrk": Series()})
    error: str | None = None


@dataclass
class GeneratorCost:
    peak: dict[str, Series] = field(default_factory=lambda: {"lab": Series(), "vanilla": Series()})
    keepalive: dict[str, Series] = field(default_factory=lambda: {"lab": Series(), "wrk": Series()})
    closing: dict[str, Series] = field(default_factory=lambda: {"lab": Series(), "wrk": Series()})
    error: str | None = None

    def reconnect_ms(self, tool: str) -> float | None:
        """What a reconnect adds to `tool`'s mean: closing floor minus keep-alive floor, median of pairs."""
        return _median_of_differences(self.closing[tool], self.keepalive[tool])


# --- measuring -----------------------------------------------------------------------------


@contextmanager
def up(stack: Stack, settings: Settings, workdir: Path) -> Iterator[RunningStack]:
    params = {"breaker": settings.breaker} if stack.breaker_file else {}
    bring_up = BringUp(workdir, params, stack_cpus=settings.stack_cpus, load_cpus=settings.load_cpus)
    with LocalBackend().up(stack, bring_up) as running:
        yield running


def closing_floor(folder: Path) -> Stack:
    """The floor nginx, told to close every connection after its answer (keepalive_timeout 0)."""
    source = floor_stack()
    shutil.copytree(source.path, folder, dirs_exist_ok=True)
    conf = folder / "nginx.conf"
    conf.write_text(conf.read_text(encoding="utf-8").replace("http {", "http {\n    keepalive_timeout 0;", 1),
                    encoding="utf-8")  # fmt: skip
    return load_stack(folder / "stack.toml")


def measure_generator(settings: Settings, work: Path) -> GeneratorCost:
    """Against the floor: lab vs vanilla at peak, lab vs wrk at concurrency 1, keep-alive and closing."""
    cost = GeneratorCost()
    closing = closing_floor(work / "floor-closing")
    one = settings.load(1)
    for i in range(1, settings.pairs + 1):
        say(f"generator cost, pair {i}/{settings.pairs}: floor nginx ...")
        with up(floor_stack(), settings, work / f"floor-{i}") as floor:
            url, d = floor.base_url, work / f"floor-{i}"
            peak = settings.load(settings.concurrency)
            cost.peak["lab"].samples.append(gen.locust_json(url, peak, d / "peak-lab", settings.load_cpus, False))
            cost.peak["vanilla"].samples.append(gen.locust_json(url, peak, d / "peak-vanilla", settings.load_cpus,
                                                                True))  # fmt: skip
            cost.keepalive["lab"].samples.append(gen.lab(url, one, d / "c1-lab", settings.load_cpus))
            cost.keepalive["wrk"].samples.append(_wrk(url, 1, 0.0, settings, d / "c1-wrk"))
        with up(closing, settings, work / f"closing-{i}") as floor:
            url, d = floor.base_url, work / f"closing-{i}"
            cost.closing["lab"].samples.append(gen.lab(url, one, d / "c1-lab", settings.load_cpus))
            cost.closing["wrk"].samples.append(_wrk(url, 1, 0.0, settings, d / "c1-wrk"))
    return cost


def measure_stack(stack: Stack, settings: Settings, workdir: Path) -> StackResult:
    """One bring-up; lab and wrk at peak, then at the moderate rate, interleaved, --pairs times."""
    result = StackResult(stack.name)
    with up(stack, settings, workdir) as running:
        url = running.base_url
        result.closes_connections = closes_connections(url + stack.health_path)

        def wrk(name: str, connections: int, rate: float) -> Sample:
            measured = _wrk(url, connections, rate, settings, workdir / name)
            if broken := running.problem():
                raise StackFailed(broken, running.log_tail())
            return measured

        for i in range(1, settings.pairs + 1):
            say(f"{stack.name}: pair {i}/{settings.pairs}: peak lab, peak wrk, moderate lab, moderate wrk ...")
            peak = settings.load(settings.concurrency)
            result.peak["lab"].samples.append(gen.lab(url, peak, workdir / f"peak-lab-{i}", settings.load_cpus,
                                                      running.problem, settings.stack_cpus))  # fmt: skip
            result.peak["wrk"].samples.append(wrk(f"peak-wrk-{i}", settings.concurrency, 0.0))
            moderate = settings.load(1, rate=settings.rate)
            result.moderate["lab"].samples.append(gen.lab(url, moderate, workdir / f"moderate-lab-{i}",
                                                          settings.load_cpus, running.problem))  # fmt: skip
            result.moderate["wrk"].samples.append(wrk(f"moderate-wrk-{i}", settings.moderate_concurrency,
                                                      settings.rate))  # fmt: skip
    return result


def _wrk(url: str, connections: int, rate: float, settings: Settings, folder: Path) -> Sample:
    """wrk after a warmup run of its own (wrk cannot leave a warmup out of its figures)."""
    folder.mkdir(parents=True, exist_ok=True)
    if settings.warmup_s > 0:
        gen.wrk(url, connections, settings.warmup_s, rate, settings.load_cpus, folder / "warmup.log")
    return gen.wrk(url, connections, settings.duration_s, rate, settings.load_cpus, folder / "wrk.log",
                   settings.stack_cpus)


def closes_connections(url: str) -> bool:
    """Whether the server closes the connection after an HTTP/1.1 answer (gunicorn's sync workers do)."""
    host, _, rest = url.removeprefix("http://").partition("/")
    name, _, port = host.partition(":")
    conn = http.client.HTTPConnection(name, int(port), timeout=5)
    try:
        conn.request("GET", "/" + rest)
        response = conn.getresponse()
        response.read()
        return bool(response.will_close)
    finally:
        conn.close()


def measure_all(settings: Settings, work: Path) -> tuple[GeneratorCost, list[StackResult]]:
    """The generator's cost, then every stack; one that fails is recorded and the rest still run."""
    try:
        LocalBackend().check([floor_stack()])
        cost = measure_generator(settings, work / "generator")
    except BenchError as exc:
        say(f"ERROR: generator cost: {exc}")
        cost = GeneratorCost(error=str(exc))
    results = []
    for stack in settings.stacks:
        try:
            LocalBackend().check([stack])
            result = measure_stack(stack, settings, work / stack.name)
        except BenchError as exc:
            say(f"ERROR: {stack.name}: {exc}")
            if isinstance(exc, StackFailed) and exc.log_tail:
                say(exc.log_tail)
            result = StackResult(stack.name, error=str(exc))
        results.append(result)
    return cost, results


# --- the report ----------------------------------------------------------------------------


def spread(values: Sequence[float], fmt: str = "{:,.0f}") -> str:
    """`median [min-max]`, or a dash."""
    if not values:
        return "—"
    mid = fmt.format(statistics.median(values))
    return mid if len(values) == 1 else f"{mid} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


def _ratios(a: Series, b: Series, pick: Callable[[Sample], float | None]) -> list[float]:
    return [x / y for x, y in zip(a.values(pick), b.values(pick), strict=False) if y]


def _differences(a: Series, b: Series) -> list[float]:
    return [x - y for x, y in zip(a.values(_mean), b.values(_mean), strict=False)]


def _median_of_differences(a: Series, b: Series) -> float | None:
    found = _differences(a, b)
    return statistics.median(found) if found else None


def _rps(s: Sample) -> float:
    return s.rps


def _mean(s: Sample) -> float | None:
    return s.mean_ms


def yes_no(met: bool | None) -> str:
    return "—" if met is None else ("yes" if met else "no")


def generator_section(cost: GeneratorCost) -> list[str]:
    if cost.error:
        return ["## The generator's own cost", "", f"Not measured: {cost.error}", ""]
    ratio = _ratios(cost.peak["lab"], cost.peak["vanilla"], _rps)
    keep_gap, close_gap = _differences(cost.keepalive["lab"], cost.keepalive["wrk"]), _differences(
        cost.closing["lab"], cost.closing["wrk"])  # fmt: skip
    rows = [
        ["peak req/s, lab locustfile vs vanilla FastHttpUser", spread(cost.peak["lab"].values(_rps)),
         spread(cost.peak["vanilla"].values(_rps)), spread(ratio, "{:.2f}") + "x",
         f"≥ {VANILLA_GOAL:g}: {yes_no(statistics.median(ratio) >= VANILLA_GOAL if ratio else None)}"],
        ["mean ms at concurrency 1, keep-alive: lab vs wrk", spread(cost.keepalive["lab"].values(_mean), "{:.3f}"),
         spread(cost.keepalive["wrk"].values(_mean), "{:.3f}"), spread(keep_gap, "{:+.3f}") + " ms", ""],
        ["mean ms at concurrency 1, server closes: lab vs wrk", spread(cost.closing["lab"].values(_mean), "{:.3f}"),
         spread(cost.closing["wrk"].values(_mean), "{:.3f}"), spread(close_gap, "{:+.3f}") + " ms", ""],
        ["reconnect cost (closing minus keep-alive)", _ms(cost.reconnect_ms("lab")), _ms(cost.reconnect_ms("wrk")),
         "", "lab's clock includes the connect, wrk's does not"],
    ]  # fmt: skip
    table = tabulate(rows, headers=["against the floor nginx", "lab", "vanilla / wrk", "lab vs the other", "goal"],
                     tablefmt="github", disable_numparse=True)  # fmt: skip
    ceiling = statistics.median(cost.peak["vanilla"].values(_rps)) if cost.peak["vanilla"].samples else None
    note = (f"Locust's own ceiling on this core: about {ceiling:,.0f} req/s (vanilla FastHttpUser against nginx "
            "answering from memory). A stack figure near it is the generator's limit, not the stack's.")
    return ["## The generator's own cost", "", table, "", note if ceiling else "", ""]


def stack_row(r: StackResult, cost: GeneratorCost, settings: Settings) -> list[str]:
    if r.error:
        return [r.stack, "—", *["—"] * 9, f"ERROR: {r.error}"]
    ratio = _ratios(r.peak["lab"], r.peak["wrk"], _rps)
    gaps = _differences(r.moderate["lab"], r.moderate["wrk"])
    wrk_mean = r.moderate["wrk"].values(_mean)
    reconnect = None
    if r.closes_connections and cost.reconnect_ms("lab") is not None:
        reconnect = (cost.reconnect_ms("lab") or 0.0) - (cost.reconnect_ms("wrk") or 0.0)
    gap = statistics.median(gaps) if gaps else None
    left = None if gap is None else gap - (reconnect or 0.0)
    limit = LATENCY_GOAL_MS + LATENCY_GOAL_SHARE * statistics.median(wrk_mean) if wrk_mean else None
    return [
        r.stack, yes_no(r.closes_connections), spread(r.peak["lab"].values(_rps)), spread(r.peak["wrk"].values(_rps)),
        spread(ratio, "{:.2f}") + "x", yes_no(statistics.median(ratio) >= PEAK_GOAL if ratio else None),
        spread(r.moderate["lab"].values(_mean), "{:.2f}"), spread(wrk_mean, "{:.2f}"), spread(gaps, "{:+.2f}"),
        "—" if reconnect is None else f"{reconnect:+.2f}",
        "—" if left is None or limit is None else f"{left:+.2f} (limit ±{limit:.2f})",
        yes_no(None if left is None or limit is None else abs(left) <= limit) + _notes(r, settings),
    ]  # fmt: skip


def _notes(r: StackResult, settings: Settings) -> str:
    found = []
    for name, series in (("peak lab", r.peak["lab"]), ("moderate lab", r.moderate["lab"])):
        busy = sum(s.generator_busy for s in series.samples)
        if busy:
            found.append(f"{name}: locust CPU-bound in {busy} of {len(series.samples)}")
    errors = sum(s.errors for part in (r.peak, r.moderate) for series in part.values() for s in series.samples)
    if errors:
        found.append(f"{errors} errors")
    return "; " + "; ".join(found) if found else ""


STACK_HEAD = ["stack", "closes connections", "peak lab req/s", "peak wrk req/s", "lab/wrk", f"≥ {PEAK_GOAL:g}?",
              "moderate lab mean ms", "wrk mean ms", "lab - wrk ms", "reconnect cost ms", "less reconnect",
              "goal met?"]  # fmt: skip


def render(cost: GeneratorCost, results: Sequence[StackResult], settings: Settings, started: datetime,
           load_before: tuple[float, ...]) -> str:  # fmt: skip
    """The whole Markdown report."""
    d, w = f"{settings.duration_s:g}", f"{settings.warmup_s:g}"
    lines = [
        "# The lab's load generator vs wrk and vanilla locust",
        "",
        f"- Command: `{settings.command}`",
        f"- Date: {started.isoformat(timespec='seconds')}; load average {_load(load_before)} (1/5/15 min) before, "
        f"{_load(os.getloadavg())} after",
        f"- Machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        f"- Pinning (the lab's `--pin auto`): stacks on CPU {_cpus(settings.stack_cpus)}, load generators "
        f"(locust, wrk) on CPU {_cpus(settings.load_cpus)}",
        f"- Tools: locust {_version('locust')} (bench/load/locustfile.py and benchmarks/vanilla_locustfile.py, "
        f"FastHttpUser, 1 process) and {wrk_version()} (-t1, benchmarks/wrk_mix.lua), the same 7 requests",
        f"- Every measurement: {w} s warmup + {d} s, {settings.pairs} interleaved pairs, median [min-max]; peak at "
        f"{settings.concurrency} users / connections; moderate at {settings.rate:g} req/s",
        f"- Goals: lab/vanilla ≥ {VANILLA_GOAL:g}; peak lab/wrk ≥ {PEAK_GOAL:g}; moderate |lab mean - wrk mean| "
        f"≤ {LATENCY_GOAL_MS:g} ms + {LATENCY_GOAL_SHARE:.0%} of wrk's, less the measured reconnect cost where the "
        "server closes connections",
        "",
        *generator_section(cost),
        "## Each stack",
        "",
        tabulate([stack_row(r, cost, settings) for r in results], headers=STACK_HEAD, tablefmt="github",
                 disable_numparse=True),
        "",
        "wrk times a request from its write on an open connection; locust from the call, so where the server "
        "closes every connection the reconnect is inside locust's figure only: the generator section measures it.",
        "",
        *peak_section(results, settings),
    ]
    return "\n".join(lines) + "\n"


FULL_PCT = 90.0  # a CPU this busy (every process on it) is the loop's limit
PEAK_HEAD = ["stack", "lab/wrk", "stack CPU busy, lab / wrk", "generator CPU busy, lab / wrk",
             "stack CPU ms per request, lab / wrk", "what limits the lab's peak"]  # fmt: skip


def peak_section(results: Sequence[StackResult], settings: Settings) -> list[str]:
    """At peak, how busy each side's CPUs were under each tool, and what follows for the lab's figure."""
    rows = [peak_row(r, settings) for r in results if not r.error]
    if not rows:
        return []
    return ["## What limits each peak", "",
            f"Medians of the pairs: how busy the stack's CPU {_cpus(settings.stack_cpus)} and the generator's CPU "
            f"{_cpus(settings.load_cpus)} were (every process on them, /proc/stat) during the measured window, and "
            f"the stack CPU time per answered request. A CPU at {FULL_PCT:g} % or more is the loop's limit.", "",
            tabulate(rows, headers=PEAK_HEAD, tablefmt="github", disable_numparse=True), ""]  # fmt: skip


def peak_row(r: StackResult, settings: Settings) -> list[str]:
    lab, wrk = r.peak["lab"], r.peak["wrk"]
    ratio = _ratios(lab, wrk, _rps)
    stack = [_median(lab.values(_stack_busy)), _median(wrk.values(_stack_busy))]
    load = [_median(lab.values(_load_busy)), _median(wrk.values(_load_busy))]
    ncpu = len(settings.stack_cpus) if settings.stack_cpus else os.cpu_count() or 1
    cost = [None if b is None or not series.samples else 10 * b * ncpu / statistics.median(series.values(_rps))
            for b, series in zip(stack, (lab, wrk), strict=True)]  # fmt: skip
    # one locust process (or wrk thread) fills one CPU: on a set of n CPUs that reads as 100/n %
    one_cpu = 100 / (len(settings.load_cpus) if settings.load_cpus else os.cpu_count() or 1)
    bound = sum(s.generator_busy for s in lab.samples) * 2 > len(lab.samples)  # locust said so in most pairs
    verdict = limit_of(Busy(stack[0], stack[1], load[0], cost[0], cost[1]), one_cpu, bound)
    return [r.stack, spread(ratio, "{:.2f}") + "x", _pair(stack, "{:.0f} %"), _pair(load, "{:.0f} %"),
            _pair(cost, "{:.2f}"), verdict]  # fmt: skip


@dataclass(frozen=True)
class Busy:
    """Medians over the pairs at peak: the stack's CPU busy % under each tool, locust's CPU busy % (wrk's is
    shown in the table, never judged), stack CPU ms per request."""

    lab_stack: float | None
    wrk_stack: float | None
    lab_load: float | None
    lab_cost: float | None
    wrk_cost: float | None


def limit_of(b: Busy, one_cpu: float, locust_bound: bool) -> str:
    """What the CPUs say limits the lab's peak (the loop is as fast as its busiest side allows)."""
    if b.lab_stack is None or b.wrk_stack is None or b.lab_load is None:
        return "—"
    if locust_bound or b.lab_load >= FULL_PCT * one_cpu / 100:
        return "locust's CPU is full: the generator's limit" + ("" if b.lab_stack >= FULL_PCT else ", not the stack's")
    if b.lab_stack >= FULL_PCT:
        if b.lab_cost is not None and b.wrk_cost is not None and b.lab_cost > 1.05 * b.wrk_cost:
            return (f"the stack's CPU is full; it spends {b.lab_cost / b.wrk_cost:.2f}x the CPU per request "
                    "under locust: the stack's work per request differs, not the generator's speed")
        return "the stack's CPU is full: the stack's limit"
    if b.wrk_stack >= FULL_PCT:
        return ("the stack's CPU is full under wrk, not under locust, and locust's is not full either: between "
                "an answer and the next request, locust's users take time that neither CPU shows as busy")
    return "neither tool fills either CPU: the closed loop's own latency limits both"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _pair(values: list[float | None], fmt: str) -> str:
    return " / ".join("—" if v is None else fmt.format(v) for v in values)


def _stack_busy(s: Sample) -> float | None:
    return s.stack_busy_pct


def _load_busy(s: Sample) -> float | None:
    return s.load_busy_pct


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:+.3f} ms"


def _load(values: Sequence[float]) -> str:
    return " / ".join(f"{x:.2f}" for x in values)


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
    import subprocess

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


# --- command line --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Flags; each can also come from a LAB_VS_WRK_* environment variable (the flag wins)."""

    def env(name: str, default: str) -> str:
        return os.environ.get(f"LAB_VS_WRK_{name}", default)

    p = argparse.ArgumentParser(prog="python -m benchmarks.lab_vs_wrk", description=__doc__.split("\n\n")[0])
    p.add_argument("--stacks", nargs="+", default=env("STACKS", "").split() or None, metavar="NAME",
                   help="stacks to compare (default: every stack)")
    p.add_argument("--pairs", default=env("PAIRS", "3"), help="interleaved pairs of each comparison")
    p.add_argument("--duration", default=env("DURATION", "6s"), help="measured time of each run")
    p.add_argument("--warmup", default=env("WARMUP", "1s"), help="uncounted time before each run")
    p.add_argument("--concurrency", default=env("CONCURRENCY", "32"), help="peak: users = connections")
    p.add_argument("--rate", default=env("RATE", "200"), help="moderate: req/s of each tool")
    p.add_argument("--moderate-concurrency", default=env("MODERATE_CONCURRENCY", "4"),
                   help="moderate: wrk's connections (few: gunicorn's sync workers block on idle ones)")
    p.add_argument("--out", type=Path, default=Path(env("OUT", str(DEFAULT_OUT))), help="Markdown file to write")
    p.add_argument("--breaker", default=env("BREAKER", "seed000"), help="breaker preset (fastapi_istio), as the lab's")
    return p  # fmt: skip


def make_settings(args: argparse.Namespace, argv: Sequence[str]) -> Settings:
    """Validate every flag before anything starts."""
    stack_cpus, load_cpus = parse_pin("auto")
    python = Path(sys.executable)
    shown = python.relative_to(ROOT) if python.is_relative_to(ROOT) else python
    return Settings(
        stacks=tuple(select(args.stacks) if args.stacks else discover().values()),
        pairs=positive_int(args.pairs, "--pairs"),
        duration_s=parse_duration(args.duration, "--duration"),
        warmup_s=parse_duration(args.warmup, "--warmup", allow_zero=True),
        concurrency=positive_int(args.concurrency, "--concurrency"),
        rate=positive_float(args.rate, "--rate"),
        moderate_concurrency=positive_int(args.moderate_concurrency, "--moderate-concurrency"),
        out=args.out,
        stack_cpus=stack_cpus,
        load_cpus=load_cpus,
        breaker=args.breaker,
        command=shlex.join([str(shown), "-m", "benchmarks.lab_vs_wrk", *argv]),
    )


def _sigterm_as_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # so every `with backend.up(...)` tears its stack down


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print the report, write it to --out; 1 if something could not be measured."""
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
        cost, results = measure_all(settings, work)
    except KeyboardInterrupt:
        say(f"ERROR: interrupted; every stack was torn down (logs in {work})")
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    text = render(cost, results, settings, started, load_before)
    print(text, end="")
    settings.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(settings.out, text)
    say(f"written to {settings.out}")
    failed = [r.stack for r in results if r.error] + (["generator cost"] if cost.error else [])
    if failed:  # keep the logs of what failed for whoever looks into it
        say(f"ERROR: not measured: {', '.join(failed)}; logs and load output kept in {work}")
        return EXIT_FAILED
    shutil.rmtree(work, ignore_errors=True)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
