"""Command line: argparse at the edge only, built from the scenarios' declarations.

A scenario command's flags become its typed config (bench/scenarios/); measuring runs in a
session (bench/session.py); when the run folder is final the report (bench/report/) is
written from it. Errors become one line and a tip, and exit codes (EXIT_CODES, also in
`--help`):

    0    everything measured (and, with --slo, every stack met it)
    1    some measurement failed (this wins over 99: a run that could not measure a stack
         cannot vouch for its SLO)
    2    bad input or a missing tool; nothing was measured
    99   every measurement succeeded but a stack missed the --slo (k6 uses 99 for failed
         thresholds), so a CI job can gate on it
    130  interrupted (Ctrl-C or SIGTERM); what was measured is kept
"""

from __future__ import annotations

import argparse
import signal
import traceback
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar, cast

from bench import options as opt
from bench.console import progress
from bench.errors import BenchError, ConfigError, Interrupted
from bench.options import Flags, Option
from bench.results import RunResult
from bench.scenarios import SCENARIOS, Scenario, ScenarioConfig

T = TypeVar("T")
EXIT_OK, EXIT_FAILED, EXIT_REGRESSION, EXIT_SLO, EXIT_INTERRUPTED = 0, 1, 98, 99, 130  # 2: BenchError.exit_code
EXIT_CODES = (
    "exit codes: 0 everything measured (and every stack met the --slo); 1 a measurement failed; 2 bad input or a "
    "missing tool; 98 compare --fail-on-regression found a significant regression; 99 a stack missed the --slo "
    "(all measured); 130 interrupted"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = build_parser()
    verbose = False
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        args = parser.parse_args(argv)  # a value its option's parser refuses: a ConfigError, below
        verbose = args.verbose
        return int(args.handler(args))
    except Interrupted:
        progress("ERROR: interrupted; everything of the run was torn down and what was measured is kept")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        progress("ERROR: interrupted")
        return EXIT_INTERRUPTED
    except BenchError as exc:
        if verbose:
            traceback.print_exc()
        progress(f"ERROR: {exc}")
        if exc.tip:
            progress(f"TIP: {exc.tip}")
        return exc.exit_code
    finally:
        signal.signal(signal.SIGTERM, previous)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Compare Python web deployment stacks under load.", epilog=EXIT_CODES
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks")
    parser.set_defaults(verbose=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = sub.add_parser("list", help="the stacks, one line each (`all`: measured by `bench all`)")
    listing.add_argument("--params", action="store_true", help="and the parameters each accepts (--set NAME=...)")
    listing.set_defaults(handler=cmd_list)
    for scenario in SCENARIOS:
        _scenario_parser(sub, scenario)
    k8s = sub.add_parser("k8s", help="render the fastapi_istio (or gateway) stack as Kubernetes + Istio manifests")
    k8s.add_argument("stack", nargs="?", default="fastapi_istio", choices=("fastapi_istio", "gateway"),
                     help="fastapi_istio (default), or gateway: its Istio objects from gateway.toml")  # fmt: skip
    _add(k8s, opt.BREAKER, (opt.BREAKER,))
    k8s.add_argument("--out", type=Path, default=None, help="folder (default: the stack's k8s/)")
    k8s.set_defaults(handler=cmd_k8s)
    rep = sub.add_parser("report", help="rebuild summary.md, results.csv and charts from stored results, running "
                         "nothing")  # fmt: skip
    rep.add_argument("run_dir", nargs="?", type=Path, help="a run folder (default: the latest run)")
    rep.add_argument("--reindex", action="store_true", help="rebuild the history index (RESULTS/history.sqlite) "
                     "from RESULTS/runs/ instead")  # fmt: skip
    _add(rep, opt.RESULTS, (opt.RESULTS,))
    rep.set_defaults(handler=cmd_report)
    cmp = sub.add_parser("compare", help="each stack of RUN_B against RUN_A (the baseline), pyperf compare_to "
                         "style: every figure's change with its 95 %% interval and a verdict; written beside the "
                         "runs as compare-A-vs-B.md")  # fmt: skip
    cmp.add_argument("run_a", metavar="RUN_A", help="the baseline: a run id (in RESULTS/runs/) or a run folder "
                     "(with --baseline: the run judged)")  # fmt: skip
    cmp.add_argument("run_b", metavar="RUN_B", nargs="?", help="the run judged against it: a run id or a run folder")
    cmp.add_argument("--baseline", metavar="last|stable|RUN", default=None, help="pick the baseline from the history "
                     "(same scenario, load and labels): last, stable (the first run of the last segment without a "
                     "change point), or a run id; then give only the run judged")  # fmt: skip
    cmp.add_argument("--fail-on-regression", action="store_true", help="exit 98 when a figure got significantly "
                     "worse")  # fmt: skip
    _add(cmp, opt.RESULTS, (opt.RESULTS,))
    cmp.set_defaults(handler=cmd_compare)
    hist = sub.add_parser("history", help="each label's figure over the indexed runs, change points found and "
                          "confirmed (ruptures PELT + Mann-Whitney), a chart per label; written to "
                          "RESULTS/history/runs/<time>/")  # fmt: skip
    hist.add_argument("labels", nargs="*", metavar="LABEL", help="labels to show (default: every label indexed)")
    hist.add_argument("--figure", default="p99", help="the figure by its short name (p99, avg, rps, ...; default p99)")
    hist.add_argument("--since", default=None, help="only runs started on or after this date (2026-12-01)")
    _add(hist, opt.RESULTS, (opt.RESULTS,))
    hist.set_defaults(handler=cmd_history)
    return parser


def _scenario_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                     scenario: Scenario[ScenarioConfig]) -> None:  # fmt: skip
    """A scenario's flags; the shared flags it does not honour are parsed only to be refused."""
    p = sub.add_parser(scenario.command, help=scenario.help, epilog=EXIT_CODES)
    if scenario.positional is not None:
        pos = scenario.positional
        p.add_argument(pos.dest, nargs=pos.nargs, metavar=pos.metavar, help=pos.help)
    honoured = {o.dest for o in scenario.options}
    for option in scenario.options:
        _add(p, option, scenario.options)
    for option in opt.SHARED:  # parsed only to be refused with a reason (Scenario.refusal)
        if option.dest not in honoured:  # as typed: refused for being given, whatever its value
            _add(p, replace(option, help=argparse.SUPPRESS, parse=None, choices=None), ())
    p.set_defaults(handler=lambda args: cmd_scenario(scenario, args), scenario=scenario)


def _add(p: argparse.ArgumentParser, option: Option[Any], options: Sequence[Option[Any]]) -> None:
    """`option` as a flag of `p`, converted by its parser; absent from the result unless given, so that
    `flags_of` can tell given from defaulted (and read the environment with the same parser)."""
    shown = option.help if option.help == argparse.SUPPRESS else option.help + _default_shown(option, options)
    if option.switch:
        p.add_argument(*option.flags, dest=option.dest, action="store_true", default=argparse.SUPPRESS, help=shown)
        return
    p.add_argument(*option.flags, dest=option.dest, action="append" if option.many else "store",
                   default=argparse.SUPPRESS, type=option.convert, choices=option.choices, help=shown,
                   metavar=option.metavar)  # fmt: skip


def _default_shown(option: Option[Any], options: Sequence[Option[Any]]) -> str:
    """` (default: 15s from --preset default)`: what the command applies when the flag is not given."""
    if option.switch or option.many:
        return ""
    own = option.from_env() or option.default
    if own is None and any(o.dest == opt.PRESET.dest for o in options):
        preset = opt.preset_name(opt.PRESET.from_env() or opt.PRESET.default or "default")
        part = opt.PRESETS[preset].get(option.dest)
        return "" if part is None else f" (default: {part} from --preset {preset})"
    return "" if own is None else f" (default: {own.replace('%', '%%')})"


def flags_of(scenario: Scenario[ScenarioConfig], args: argparse.Namespace) -> Flags:
    """The scenario's flags, typed: a shared flag it does not honour refused, each default filled in."""
    parsed = vars(args)
    refused = scenario.refusal({o.dest for o in opt.SHARED if o.dest in parsed})
    if refused is not None:
        raise refused
    names = parsed.get("names")
    typed = {o.dest: parsed[o.dest] for o in scenario.options if o.dest in parsed}
    values, given = opt.converted(scenario.options, typed)
    return Flags(tuple([names] if isinstance(names, str) else names or ()), values, given, frozenset(typed))


def parse_flags(argv: Sequence[str]) -> tuple[Scenario[ScenarioConfig], Flags]:
    """A scenario command line -> its scenario and typed flags (what `main` would run it with)."""
    args = build_parser().parse_args(argv)
    return args.scenario, flags_of(args.scenario, args)


def value_of(args: argparse.Namespace, option: Option[T]) -> T:
    """One option's value for a command that is not a scenario."""
    values, _ = opt.converted((option,), {k: v for k, v in vars(args).items() if k == option.dest})
    return cast(T, values[option.dest])


def cmd_list(args: argparse.Namespace) -> int:
    from bench.stacks.catalog import discover

    found = discover()
    width = max(len(n) for n in found)
    for name, stack in found.items():
        print(f"{name:<{width}}  {'all' if stack.in_all else '   '}  {stack.description}")
        for param in stack.params.values() if args.params else ():
            print(f"    {param.name}={param.default}  [{param.kind_text()}]  {param.help}")
    return EXIT_OK


def cmd_scenario(scenario: Scenario[ScenarioConfig], args: argparse.Namespace) -> int:
    """Check every flag, run the scenario in a session, write the report whatever happens."""
    config = scenario.configure(flags_of(scenario, args))
    from bench.session import execute  # measuring loads only now

    results = config.placement.results_dir
    run = execute(scenario.name, lambda session: scenario.run(session, config), config.settings(), config.stacks,
                  config.placement, on_close=lambda run_dir: _write_report(results, run_dir))  # fmt: skip
    failed = [f"{m.label} (repeat {m.repeat}): {m.error}" for m in run.measurements if not m.ok]
    missed = _slo_verdicts(run)
    if failed:
        progress(f"ERROR: {len(failed)} measurement(s) failed:\n  " + "\n  ".join(failed))
        return EXIT_FAILED
    return EXIT_SLO if missed else EXIT_OK


def _slo_verdicts(run: RunResult) -> int:
    """Print each label's SLO verdict; how many missed it."""
    if run.slo is None:
        return 0
    from bench.analysis.slo import line

    missed = len(run.slo.failed)
    say = f"ERROR: {missed} of {len(run.slo.verdicts)} missed the SLO" if missed else "SLO met by every stack"
    progress(f"{say} {run.slo.text}:\n  " + "\n  ".join(line(v) for v in run.slo.verdicts))
    return missed


def _write_report(results_dir: Path, run_dir: Path) -> None:
    """The report of a finished (or interrupted) run; a rendering bug never loses the measurements."""
    from bench import report
    from bench.history.report import after_run

    after_run(results_dir, run_dir)  # indexed first, so report.html shows each label's history with this run
    try:
        path = report.write_summaries(results_dir, run_dir)
    except Exception as exc:  # run.json is already safe on disk
        progress(f"ERROR: the report could not be written ({exc!r}); run.json is kept in {run_dir}")
        progress(f"TIP: python -m bench report {run_dir}")
        return
    progress(f"summary: {path}")


def cmd_k8s(args: argparse.Namespace) -> int:
    breaker = value_of(args, opt.BREAKER)
    if args.stack == "gateway":
        if "breaker" in vars(args):
            raise ConfigError("k8s gateway does not take --breaker", tip="the gateway's policies are in "
                              "stacks/gateway/gateway.toml")  # fmt: skip
        from bench.gateway.api_gateway_k8s import main_k8s_gateway

        paths = main_k8s_gateway(args.out)
    else:
        from bench.gateway.istio_k8s import main_k8s

        paths = main_k8s(breaker, args.out)
    for path in paths:
        print(path)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from bench import report

    results_dir = value_of(args, opt.RESULTS)
    if args.reindex:
        from bench.history import store

        print(f"{store.index_path(results_dir)}: {store.rebuild(results_dir)} runs indexed")
        return EXIT_OK
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


def cmd_compare(args: argparse.Namespace) -> int:
    """Print the comparison and keep it beside RUN_B's run folder, never over an earlier one."""
    from bench.report import compare

    results_dir = value_of(args, opt.RESULTS)
    (dir_a, run_a), (dir_b, run_b) = _pair(args, results_dir)
    if dir_a.resolve() == dir_b.resolve():
        raise ConfigError(f"RUN_A and RUN_B are the same run ({dir_a})", tip="give the baseline, then another run")
    text = compare.markdown(compare.compare_runs(run_a, run_b))
    # beside the runs: the results folder holding RUN_B's runs/ folder (else --results)
    folder = dir_b.parent.parent if dir_b.parent.name == "runs" else results_dir
    path = compare.write_new(folder, f"compare-{run_a.run_id}-vs-{run_b.run_id}", text)
    print(text, end="")
    progress(f"comparison: {path}")
    worse = compare.regressions(compare.compare_runs(run_a, run_b)) if args.fail_on_regression else []
    if worse:
        progress(f"ERROR: significantly worse than {run_a.run_id}: {', '.join(worse)}")
        return EXIT_REGRESSION
    return EXIT_OK


def _pair(args: argparse.Namespace, results_dir: Path) -> tuple[tuple[Path, RunResult], tuple[Path, RunResult]]:
    """RUN_A and RUN_B as given, or (--baseline) the run judged and its baseline from the history."""
    if args.baseline is None:
        if args.run_b is None:
            raise ConfigError("RUN_B is missing", tip="give two runs, or one run and --baseline last|stable|RUN")
        return _run(args.run_a, results_dir), _run(args.run_b, results_dir)
    if args.run_b is not None:
        raise ConfigError("--baseline picks RUN_A: give only the run judged", tip=f"bench compare {args.run_b} "
                          f"--baseline {args.baseline}")  # fmt: skip
    judged = _run(args.run_a, results_dir)
    if args.baseline in ("last", "stable"):
        from bench.history import baseline

        return _run(baseline.pick(results_dir, judged[1], args.baseline), results_dir), judged
    return _run(args.baseline, results_dir), judged


def cmd_history(args: argparse.Namespace) -> int:
    """Each label's figure over the runs, with its change points; kept in RESULTS/history/runs/<time>/."""
    from bench.analysis.summary import by_name
    from bench.history import report as history
    from bench.history import store
    from bench.results import new_run_dir, write_text_atomic

    results_dir = value_of(args, opt.RESULTS)
    try:
        key = by_name(args.figure).key
    except KeyError as exc:
        raise ConfigError(str(exc.args[0]), tip="bench history --figure p99") from exc
    with store.open_index(results_dir) as db:
        found = history.histories(db, args.labels, key, args.since)
    missing = [h.label for h in found if not h.points]
    if not found or missing:
        raise ConfigError(f"no indexed run measured {', '.join(missing) or 'any label'} ({args.figure})",
                          tip="see the labels with: bench history; rebuild the index: bench report --reindex")
    _, folder = new_run_dir(results_dir / "history")  # a folder of its own per call, never over an earlier one
    charts = [c for h in found if (c := history.chart(h, folder)) is not None]
    text = history.markdown(found, charts)
    write_text_atomic(folder / "history.md", text)
    print(text, end="")
    progress(f"history: {folder / 'history.md'}")
    return EXIT_OK


def _run(text: str, results_dir: Path) -> tuple[Path, RunResult]:
    """A run given as a folder holding run.json, or as a run id under `results_dir`/runs/."""
    from bench.results import RUN_FILE, load_run

    folder = Path(text)
    if not (folder / RUN_FILE).is_file():
        folder = results_dir / "runs" / text
    if not (folder / RUN_FILE).is_file():
        known = sorted(p.parent.name for p in (results_dir / "runs").glob(f"*/{RUN_FILE}"))[-5:]
        raise ConfigError(f"run {text!r} not found: no {RUN_FILE} in {text} nor in {folder}",
                          tip=f"latest run ids in {results_dir / 'runs'}: {', '.join(known)}" if known
                          else "give a run folder, or a run id with --results RESULTS")  # fmt: skip
    try:
        return folder, load_run(folder)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"cannot read {folder / RUN_FILE}: {exc}") from exc


def _sigterm_as_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM gets the same orderly teardown as Ctrl-C
