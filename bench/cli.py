"""Command line: argparse at the edge only, built from the scenarios' declarations.

A scenario command's flags become its typed config (bench/scenarios/); measuring runs in a
session (bench/session.py); when the run folder is final the report (bench/report/) is
written from it. Errors become one line and a tip, and exit codes: 0 all measured, 1 some
measurement failed, 2 bad input or a missing tool, 130 interrupted.
"""

from __future__ import annotations

import argparse
import signal
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from bench import options as opt
from bench.console import progress
from bench.errors import BenchError, ConfigError, Interrupted
from bench.options import Option
from bench.scenarios import SCENARIOS, Scenario, ScenarioConfig

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        return int(args.handler(args))
    except Interrupted:
        progress("ERROR: interrupted; everything of the run was torn down and what was measured is kept")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        progress("ERROR: interrupted")
        return EXIT_INTERRUPTED
    except BenchError as exc:
        if args.verbose:
            traceback.print_exc()
        progress(f"ERROR: {exc}")
        if exc.tip:
            progress(f"TIP: {exc.tip}")
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
    for scenario in SCENARIOS:
        _scenario_parser(sub, scenario)
    k8s = sub.add_parser("k8s", help="render the fastapi_istio (or gateway) stack as Kubernetes + Istio manifests")
    k8s.add_argument("stack", nargs="?", default="fastapi_istio", choices=("fastapi_istio", "gateway"),
                     help="fastapi_istio (default), or gateway: its Istio objects from gateway.toml")  # fmt: skip
    _add(k8s, opt.BREAKER)
    k8s.add_argument("--out", type=Path, default=None, help="folder (default: the stack's k8s/)")
    k8s.set_defaults(handler=cmd_k8s)
    rep = sub.add_parser("report", help="rebuild summary.md, results.csv and charts from stored results, running "
                         "nothing")  # fmt: skip
    rep.add_argument("run_dir", nargs="?", type=Path, help="a run folder (default: the latest run)")
    _add(rep, opt.RESULTS)
    rep.set_defaults(handler=cmd_report)
    return parser


def _scenario_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                     scenario: Scenario[ScenarioConfig]) -> None:  # fmt: skip
    """A scenario's flags; the shared flags it does not honour are parsed only to be refused."""
    p = sub.add_parser(scenario.command, help=scenario.help)
    if scenario.positional is not None:
        pos = scenario.positional
        p.add_argument(pos.dest, nargs=pos.nargs, metavar=pos.metavar, help=pos.help)
    else:
        p.set_defaults(names=None)
    honoured = {o.dest for o in scenario.options}
    for option in scenario.options:
        _add(p, option)
    for option in opt.SHARED:  # parsed only to be refused with a reason (Scenario.refusal)
        if option.dest in honoured:
            continue
        if option.switch:
            p.add_argument(*option.flags, dest=option.dest, action="store_true", help=argparse.SUPPRESS)
        else:
            p.add_argument(*option.flags, dest=option.dest, default=None, help=argparse.SUPPRESS)
    p.set_defaults(handler=lambda args: cmd_scenario(scenario, args))


def _add(p: argparse.ArgumentParser, option: Option) -> None:
    if option.switch:
        p.add_argument(*option.flags, dest=option.dest, action="store_true", help=option.help)
        return
    p.add_argument(*option.flags, dest=option.dest, default=opt.default_of(option), choices=option.choices,
                   help=option.help, metavar=option.metavar)  # fmt: skip


def cmd_list(args: argparse.Namespace) -> int:
    from bench.stacks import discover

    found = discover()
    width = max(len(n) for n in found)
    for name, stack in found.items():
        print(f"{name:<{width}}  {stack.description}")
    return EXIT_OK


def cmd_scenario(scenario: Scenario[ScenarioConfig], args: argparse.Namespace) -> int:
    """Check every flag, run the scenario in a session, write the report whatever happens."""
    values = vars(args)
    refused = scenario.refusal(values)
    if refused is not None:
        raise refused
    config = scenario.configure(values)
    from bench.session import execute  # measuring loads only now

    results = config.placement.results_dir
    run = execute(scenario.name, lambda session: scenario.run(session, config), config.settings(), config.stacks,
                  config.placement, on_close=lambda run_dir: _write_report(results, run_dir))  # fmt: skip
    failed = [f"{m.label} (repeat {m.repeat}): {m.error}" for m in run.measurements if not m.ok]
    if failed:
        progress(f"ERROR: {len(failed)} measurement(s) failed:\n  " + "\n  ".join(failed))
        return EXIT_FAILED
    return EXIT_OK


def _write_report(results_dir: Path, run_dir: Path) -> None:
    """The report of a finished (or interrupted) run; a rendering bug never loses the measurements."""
    from bench import report

    try:
        path = report.write_summaries(results_dir, run_dir)
    except Exception as exc:  # run.json is already safe on disk
        progress(f"ERROR: the report could not be written ({exc!r}); run.json is kept in {run_dir}")
        progress(f"TIP: python -m bench report {run_dir}")
        return
    progress(f"summary: {path}")


def cmd_k8s(args: argparse.Namespace) -> int:
    if args.stack == "gateway":
        if args.breaker != opt.default_of(opt.BREAKER):
            raise ConfigError("k8s gateway does not take --breaker", tip="the gateway's policies are in "
                              "stacks/gateway/gateway.toml")  # fmt: skip
        from bench.k8s_gateway import main_k8s_gateway

        paths = main_k8s_gateway(args.out)
    else:
        from bench.k8s import main_k8s

        paths = main_k8s(args.breaker, args.out)
    for path in paths:
        print(path)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from bench import report

    results_dir = opt.results_dir(args.results)
    if args.run_dir is not None:
        run_dir = Path(args.run_dir)
    else:
        runs = report.find_runs(results_dir)
        if not runs:
            raise ConfigError(f"no readable run in {results_dir / 'runs'}", tip="measure first: python -m bench all")
        run_dir = runs[-1]
    try:
        path = report.write_summaries(results_dir, run_dir)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read {run_dir}/run.json: {exc}") from exc
    print(path)
    return EXIT_OK


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM gets the same orderly teardown as Ctrl-C
