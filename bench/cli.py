"""Command line: argparse at the edge only. Flags become a RunConfig; errors become exit codes.

Every option can also come from an environment variable (BENCH_USERS, BENCH_DURATION, ...),
as locust's own options can; a flag on the command line wins.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from bench import report, stacks
from bench.backends import BACKENDS, get_backend, resolve_backend
from bench.errors import BenchError, ConfigError, Interrupted
from bench.load import LoadSettings
from bench.results import RunResult
from bench.runner import RunConfig, run, say
from bench.stacks import ROOT

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
BREAKER_DURATION = "10s"  # seed 001: vegeta attack -duration=10s

# Named load shapes. `seed` reproduces seed 002's locust run (-u 1000 -r 100 --run-time 10s).
PRESETS: dict[str, dict[str, str]] = {
    # 4 stacks x 3 repeats x (2 s warmup + 15 s) + the floor: about 4 minutes on 2 cores
    "default": {"users": "50", "spawn_rate": "50", "duration": "15s", "warmup": "2s"},
    "quick": {"users": "10", "spawn_rate": "10", "duration": "5s", "warmup": "1s"},
    "seed": {"users": "1000", "spawn_rate": "100", "duration": "10s", "warmup": "0s"},
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        return int(args.handler(args))
    except Interrupted:
        say("ERROR: interrupted; everything of the run was torn down and what was measured is kept")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        say("ERROR: interrupted")
        return EXIT_INTERRUPTED
    except BenchError as exc:
        if args.verbose:
            traceback.print_exc()
        say(f"ERROR: {exc}")
        if exc.tip:
            say(f"TIP: {exc.tip}")
        return exc.exit_code
    finally:
        signal.signal(signal.SIGTERM, previous)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Compare Python web deployment stacks under load."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks")
    parser.set_defaults(verbose=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="the stacks, one line each").set_defaults(handler=cmd_list)
    one = sub.add_parser("stack", help="measure the named stacks")
    one.add_argument("names", nargs="+", metavar="NAME")
    _load_options(one)
    one.set_defaults(handler=cmd_run)
    every = sub.add_parser("all", help="measure every stack")
    _load_options(every)
    every.set_defaults(handler=cmd_run, names=None)
    brk = sub.add_parser("breaker", help="the circuit breaker under overload: breaker off vs a preset, same rate")
    brk.add_argument("names", nargs="?", default="fastapi_istio", metavar="STACK", help="a stack with a breaker")
    brk.add_argument(
        "--rate", default=os.environ.get("BENCH_RATE", "2x"), help="arrival rate: req/s (1500) or 2x capacity"
    )
    _load_options(brk)
    brk.set_defaults(handler=cmd_breaker)
    swp = sub.add_parser("sweep", help="step the load up to each stack's knee (p99 target, errors, throughput)")
    swp.add_argument("names", nargs="*", metavar="STACK", help="stacks to sweep (default: all)")
    swp.add_argument("--p99-target", default=os.environ.get("BENCH_P99_TARGET", "100"), help="p99 target in ms")
    swp.add_argument("--max-users", default=os.environ.get("BENCH_MAX_USERS", "1024"), help="stop doubling here")
    swp.add_argument("--step", default=os.environ.get("BENCH_STEP", "8s"), help="measured time per step")
    swp.add_argument(
        "--model",
        choices=("closed", "open"),
        default=os.environ.get("BENCH_MODEL", "closed"),
        help="closed: step locust users; open: step the arrival rate (req/s, like vegeta -rate)",
    )
    swp.add_argument("--start-rate", default=os.environ.get("BENCH_START_RATE", "100"), help="open model: first rate")
    swp.add_argument("--max-rate", default=os.environ.get("BENCH_MAX_RATE", "12800"), help="open model: stop here")
    _load_options(swp)
    swp.set_defaults(handler=cmd_sweep)
    k8s = sub.add_parser("k8s", help="render the fastapi_istio stack as Kubernetes + Istio manifests")
    k8s.add_argument("--breaker", default=os.environ.get("BENCH_BREAKER", "seed"), help="circuit breaker preset")
    k8s.add_argument("--out", type=Path, default=None, help="folder (default: stacks/fastapi_istio/k8s/)")
    k8s.set_defaults(handler=cmd_k8s)
    rep = sub.add_parser("report", help="rebuild summary.md from stored results, running nothing")
    rep.add_argument("run_dir", nargs="?", type=Path, help="a run folder (default: the latest run)")
    rep.add_argument("--results", type=Path, default=_env_path("BENCH_RESULTS", ROOT / "results"))
    rep.set_defaults(handler=cmd_report)
    return parser


def _load_options(p: argparse.ArgumentParser) -> None:
    env = os.environ.get
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=env("BENCH_PRESET", "default"),
        help="a named load shape; -u/-r/-t/--warmup override its parts (seed = seed 002's load)",
    )
    p.add_argument("-u", "--users", default=env("BENCH_USERS"), help="concurrent locust users")
    p.add_argument("-r", "--spawn-rate", default=env("BENCH_SPAWN_RATE"), help="users started per second")
    p.add_argument("-t", "--duration", default=env("BENCH_DURATION"), help="measured time: 20, 20s, 1m, 1h30m")
    p.add_argument("--warmup", default=env("BENCH_WARMUP"), help="uncounted time before measuring (e.g. 3s)")
    p.add_argument("--processes", default=env("BENCH_PROCESSES", "1"),
                   help="locust processes (locust --processes) when one cannot drive the stack")  # fmt: skip
    p.add_argument("--repeat", default=env("BENCH_REPEAT", "3"), help="measure each stack N times, interleaved")
    p.add_argument("--results", type=Path, default=_env_path("BENCH_RESULTS", ROOT / "results"), help="results folder")
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default=env("BENCH_BACKEND", "auto"),
        help="local processes, docker compose, or auto (compose when an engine answers)",
    )
    p.add_argument("--breaker", default=env("BENCH_BREAKER", "seed"), help="circuit breaker preset (fastapi_istio)")
    p.add_argument(
        "--ready-timeout", default=env("BENCH_READY_TIMEOUT", "60s"), help="deadline for a stack to be ready"
    )
    p.add_argument(
        "--pin",
        default=env("BENCH_PIN", "auto"),
        help="CPUs for stack:load, e.g. 0:1 or 0-1:2-3; auto splits the CPUs in two; off pins nothing",
    )
    p.add_argument(
        "--no-floor", action="store_true", help="skip measuring the load generator's floor (locust vs. a trivial nginx)"
    )
    p.add_argument("--uid", default=env("BENCH_UID", str(os.getuid())), help="owner of files written in containers")
    p.add_argument("--gid", default=env("BENCH_GID", str(os.getgid())), help="group of files written in containers")


def cmd_list(args: argparse.Namespace) -> int:
    found = stacks.discover()
    width = max(len(n) for n in found)
    for name, stack in found.items():
        print(f"{name:<{width}}  {stack.description}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    config = make_config(args)
    backend = get_backend(resolve_backend(args.backend, say))
    record = run(config, backend, get_backend("local") if config.floor else None)
    say(f"summary: {args.results / report.SUMMARY}")
    return _exit_code(record)


def _exit_code(record: RunResult) -> int:
    """0 only when every measurement succeeded; the failures are listed last."""
    failed = [f"{s.name} (repeat {s.repeat}): {s.error}" for s in record.stacks if s.status != "ok"]
    if failed:
        say(f"ERROR: {len(failed)} stack measurement(s) failed:\n  " + "\n  ".join(failed))
        return EXIT_FAILED
    return EXIT_OK


def cmd_breaker(args: argparse.Namespace) -> int:
    from bench.overload import parse_rate, run_breaker

    rate = parse_rate(args.rate)
    users = positive_int(args.users, "--users") if args.users else None
    args.names, args.duration = [args.names], args.duration or BREAKER_DURATION
    config = make_config(args)
    backend = get_backend(resolve_backend(args.backend, say))
    record = run_breaker(config, backend, config.stacks[0], rate, users)
    say(f"summary: {args.results / report.SUMMARY}")
    return _exit_code(record)


def cmd_sweep(args: argparse.Namespace) -> int:
    from bench.sweep import SweepSettings, run_sweep

    settings = SweepSettings(
        p99_target_ms=positive_float(args.p99_target, "--p99-target"),
        max_users=positive_int(args.max_users, "--max-users"),
        step_s=parse_duration(args.step, "--step"),
        model=args.model,
        start_rate=positive_float(args.start_rate, "--start-rate"),
        max_rate=positive_float(args.max_rate, "--max-rate"),
    )
    args.names = args.names or None
    config = make_config(args)
    record = run_sweep(config, get_backend(resolve_backend(args.backend, say)), settings)
    say(f"summary: {args.results / report.SUMMARY}")
    return _exit_code(record)


def cmd_k8s(args: argparse.Namespace) -> int:
    from bench.k8s import main_k8s

    for path in main_k8s(args.breaker, args.out):
        print(path)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    results_dir: Path = args.results
    if args.run_dir is not None:
        run_dir = Path(args.run_dir)
    else:
        runs = report.find_runs(results_dir)
        if not runs:
            raise ConfigError(f"no readable run in {results_dir / 'runs'}", tip="measure first: python -m bench all")
        run_dir = runs[-1][0]
    try:
        path = report.write_summaries(results_dir, run_dir)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read {run_dir}/run.json: {exc}") from exc
    print(path)
    return EXIT_OK


def make_config(args: argparse.Namespace) -> RunConfig:
    """Validate the flags (all of them, before anything starts) into a RunConfig."""
    preset = PRESETS[args.preset]
    load = LoadSettings(
        users=positive_int(args.users or preset["users"], "--users"),
        spawn_rate=positive_float(args.spawn_rate or preset["spawn_rate"], "--spawn-rate"),
        duration_s=parse_duration(args.duration or preset["duration"], "--duration"),
        warmup_s=parse_duration(args.warmup or preset["warmup"], "--warmup", allow_zero=True),
        processes=positive_int(args.processes, "--processes"),
    )
    chosen = stacks.select(args.names) if args.names else list(stacks.discover().values())
    return RunConfig(
        stacks=tuple(chosen),
        load=load,
        results_dir=args.results,
        breaker=args.breaker,
        repeat=positive_int(args.repeat, "--repeat"),
        preset=args.preset,
        ready_timeout=parse_duration(args.ready_timeout, "--ready-timeout"),
        floor=None if args.no_floor else stacks.floor_stack(),
        **dict(zip(("stack_cpus", "load_cpus"), parse_pin(args.pin), strict=True)),
        uid=_id(args.uid, "--uid"),
        gid=_id(args.gid, "--gid"),
    )


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_duration(text: str, flag: str, allow_zero: bool = False) -> float:
    """`20`, `20s`, `1m`, `1h30m`, `1.5s` -> seconds."""
    match = _DURATION.match(str(text).strip())
    if not str(text).strip() or not match:
        raise ConfigError(f"{flag}: cannot read {text!r} as a duration", tip="use e.g. 20, 20s, 1m or 1h30m")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0 and not allow_zero:
        raise ConfigError(f"{flag}: must be more than zero, got {text!r}")
    return total


def parse_pin(text: str) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """`auto`, `off` or `STACK:LOAD` CPU lists -> (stack CPUs, load CPUs)."""
    available = sorted(os.sched_getaffinity(0))
    if text == "off":
        return None, None
    if text == "auto":
        if len(available) < 2:
            return None, None  # one CPU: nothing to separate
        half = len(available) // 2
        return tuple(available[:half]), tuple(available[half:])
    try:
        stack, load = (_cpu_list(part) for part in text.split(":"))
    except ValueError:
        raise ConfigError(
            f"--pin: cannot read {text!r}", tip="use auto, off, or STACK:LOAD like 0:1 or 0-1:2-3"
        ) from None
    unknown = sorted(set(stack + load) - set(available))
    if unknown:
        raise ConfigError(f"--pin: CPU {unknown[0]} is not available here (available: {available})")
    return stack, load


def _cpu_list(text: str) -> tuple[int, ...]:
    cpus: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.extend(range(int(low), int(high or low) + 1))
    if not cpus:
        raise ValueError(text)
    return tuple(cpus)


def positive_int(text: str, flag: str) -> int:
    try:
        value = int(str(text))
    except ValueError:
        raise ConfigError(f"{flag}: {text!r} is not a whole number") from None
    if value <= 0:
        raise ConfigError(f"{flag}: must be at least 1, got {value}")
    return value


def positive_float(text: str, flag: str) -> float:
    try:
        value = float(str(text))
    except ValueError:
        raise ConfigError(f"{flag}: {text!r} is not a number") from None
    if value <= 0:
        raise ConfigError(f"{flag}: must be more than zero, got {text}")
    return value


def _id(text: str, flag: str) -> int:
    try:
        value = int(str(text))
    except ValueError:
        raise ConfigError(f"{flag}: {text!r} is not a numeric id") from None
    if value < 0:
        raise ConfigError(f"{flag}: must be 0 or more, got {value}")
    return value


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM gets the same orderly teardown as Ctrl-C
