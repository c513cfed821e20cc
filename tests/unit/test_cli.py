"""cli.main with bad input: one clear line, a TIP where there is an obvious fix, no traceback."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench import options as opt
from bench.cli import build_parser, main, parse_flags, value_of
from bench.options import parse_duration
from bench.scenarios import SCENARIOS

COMMANDS = ["list", "all", "stack", "breaker", "sweep", "capacity", "layers", "gateway", "k8s", "report", "compare"]


def test_unknown_stack_lists_the_known_ones(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["stack", "flask_gunicron", "--results", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "ERROR: stack 'flask_gunicron' not found" in err
    assert "TIP: known stacks: flask, flask_gunicorn, flask_gunicorn_nginx, fastapi_istio" in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # refused before anything started


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["-u", "-5"], "--users: must be at least 1, got -5"),
        (["-u", "many"], "--users: 'many' is not a whole number"),
        (["-t", "0"], "--duration: must be more than zero"),
        (["-t", "soon"], "--duration: cannot read 'soon' as a duration"),
        (["-r", "0"], "--spawn-rate: must be more than zero"),
        (["--repeat", "0"], "--repeat: must be at least 1"),
    ],
)
def test_bad_values_are_refused_up_front(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["stack", "flask", "--results", str(tmp_path), *flags])
    assert code == 2
    assert f"ERROR: {message}" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["all", "--userz", "3"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --userz" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("20", 20.0), ("20s", 20.0), ("1m", 60.0), ("1h30m", 5400.0), ("1.5s", 1.5), ("2m5s", 125.0), ("50ms", 0.05)],
)
def test_durations_read_like_locusts(text: str, seconds: float) -> None:
    assert parse_duration(text, "-t") == seconds


SEED_STACKS = ["flask", "flask_gunicorn", "flask_gunicorn_nginx", "fastapi_istio"]


def test_list_names_every_stack_and_marks_those_of_bench_all(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [row[0] for row in rows][:4] == SEED_STACKS
    assert [row[0] for row in rows if row[1] == "all"] == SEED_STACKS
    assert {"fastapi", "uvicorn", "flask_gunicorn_gthread", "fastapi_nginx", "granian_wsgi", "granian_asgi"} <= {
        row[0] for row in rows}  # fmt: skip


def test_list_params_shows_what_set_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--params"]) == 0
    out = capsys.readouterr().out
    gunicorn = out.split("flask_gunicorn ")[1].split("\nflask_gunicorn_nginx")[0]
    assert "    worker_class=sync  [sync|gthread]  " in gunicorn
    assert "    workers=4  [int 1-64]  gunicorn worker processes" in gunicorn


def test_report_without_runs_says_how_to_get_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["report", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "ERROR: no readable run in" in err
    assert "TIP: measure first" in err


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)], ids=["top", *COMMANDS])
def test_every_help_page_renders(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """argparse reads % in help text as a format: one unescaped % made `python -m bench --help` a traceback."""
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    assert "usage: python -m bench" in capsys.readouterr().out


# --- every option's default: shown by --help, applied by the command -------------------------------------------

_SHOWN = re.compile(r"\(default: (\S+?)(?: from --preset \S+)?\)")


def _applied(config: Any, dest: str) -> Any:
    """Where a scenario's config holds what an option set (the first of its places this config has)."""
    placement = config.placement
    where: dict[str, tuple[Callable[[Any], Any], ...]] = {
        "users": (lambda c: c.load.users, lambda c: c.users),
        "spawn_rate": (lambda c: c.load.spawn_rate,),
        "duration": (lambda c: c.load.duration_s, lambda c: c.duration_s),
        "warmup": (lambda c: c.load.warmup_s, lambda c: c.warmup_s),
        "wait": (lambda c: c.load.wait_s,),
        "processes": (lambda c: c.load.processes, lambda c: c.processes),
        "repeat": (lambda c: c.repeat,),
        "preset": (lambda c: c.preset,),
        "breaker": (lambda c: c.breaker if c.__class__.__name__ == "MeasureConfig" else c.presets[-1],
                    lambda c: next(v.params["breaker"] for v in c.variants if "breaker" in v.params)),
        "max_in_flight": (lambda c: c.max_in_flight,),
        "rate": (lambda c: c.rate,),
        "backend": (lambda _: placement.backend,),
        "results": (lambda _: placement.results_dir,),
        "ready_timeout": (lambda _: placement.ready_timeout,),
        "pin": (lambda _: (placement.stack_cpus, placement.load_cpus),),
        "uid": (lambda _: placement.uid,),
        "gid": (lambda _: placement.gid,),
        "replicas": (lambda _: placement.replicas,),
        **{dest: (lambda c, d=dest: getattr(c.sweep, d),) for dest in ("max_users", "model", "start_rate", "max_rate")},
        "p99_target": (lambda c: c.sweep.p99_target_ms,),
        "step": (lambda c: c.sweep.step_s,),
        "slo": (lambda c: c.sweep.slo,),
        "precision": (lambda c: c.sweep.precision,),
        "min_answers": (lambda c: c.sweep.min_answers,),
    }
    for place in where[dest]:
        try:
            return place(config)
        except (AttributeError, StopIteration):
            continue
    raise AssertionError(f"{type(config).__name__} holds no {dest}")


NEEDS_APP = {"app_dir", "health"}  # applied only beside --app: checked as the value the scenario receives
APPLIES_WITH = {("sweep", "max_in_flight"): ["--model", "open"],  # the bound of the open model only
                **{(command, "max_in_flight"): ["--rate", "200"] for command in ("stack", "all")}}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices)


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "list"])
def test_help_shows_the_default_each_command_applies(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("BENCH_")]:
        monkeypatch.delenv(name)
    sub = _subparsers()[command]
    scenario = next((s for s in SCENARIOS if s.command == command), None)
    if scenario is None:  # k8s, report, compare: the value their handler reads
        args = sub.parse_args(["a", "b"] if command == "compare" else [])
        for action in (a for a in sub._actions if a.option_strings and a.help != argparse.SUPPRESS):
            shown = _SHOWN.search(action.help or "")
            option = next((o for o in opt.SHARED if o.dest == action.dest), None)
            if option is not None:
                assert shown is not None, f"{command} {action.option_strings}: no default shown"
                assert value_of(args, option) == option.convert(shown.group(1))
        return
    names = ["fastapi_istio"] if command == "stack" else []
    _, flags = parse_flags([command, *names])
    config = scenario.configure(flags)
    checked = 0
    for option in scenario.options:
        action = next(a for a in sub._actions if a.dest == option.dest)
        shown = _SHOWN.search(action.help or "")
        if option.switch or option.many or (option.default is None and shown is None):
            assert flags.of(option) in (False, [], None), option.dest  # nothing applies unless given
            continue
        assert shown is not None, f"{command} {option.shown}: --help shows no default, yet {flags.of(option)!r} applies"
        value = option.convert(shown.group(1).replace("%%", "%"))  # argparse shows %% as %
        assert flags.of(option) == value, option.dest
        if (command, option.dest) in APPLIES_WITH:
            _, beside = parse_flags([command, *names, *APPLIES_WITH[command, option.dest]])
            assert _applied(scenario.configure(beside), option.dest) == value, f"{command} {option.shown}"
        elif option.dest not in NEEDS_APP:
            assert _applied(config, option.dest) == value, f"{command} {option.shown}"
        checked += 1
    assert checked >= 5


def test_durations_default_per_command() -> None:
    """-t differs per command, and --help says so."""
    pages = {command: _subparsers()[command].format_help() for command in ("stack", "breaker", "layers", "gateway")}
    assert "(default: 15s from --preset default)" in " ".join(pages["stack"].split())
    assert "1h30m (default: 10s)" in " ".join(pages["breaker"].split())
    assert "1h30m (default: 3s)" in " ".join(pages["layers"].split())
    assert "1h30m (default: 5s)" in " ".join(pages["gateway"].split())


def test_environment_variables_are_read_by_the_same_parser_and_the_command_line_wins(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("BENCH_USERS", "7")
    monkeypatch.setenv("BENCH_DURATION", "1m")
    monkeypatch.setenv("BENCH_PRESET", "quick")
    _, flags = parse_flags(["stack", "flask"])
    assert flags.load is not None
    assert (flags.load.users, flags.load.duration_s, flags.load.spawn_rate, flags.load.warmup_s) == (7, 60.0, 10, 1.0)
    assert flags.has(opt.USERS) and not flags.has(opt.SPAWN_RATE)
    _, flags = parse_flags(["stack", "flask", "-u", "9", "-t", "2s"])
    assert flags.load is not None and (flags.load.users, flags.load.duration_s) == (9, 2.0)
    assert "(default: 7)" in " ".join(_subparsers()["stack"].format_help().split())
    monkeypatch.setenv("BENCH_DURATION", "soon")
    assert main(["stack", "flask", "--results", str(tmp_path)]) == 2
    assert "ERROR: --duration: cannot read 'soon' as a duration" in capsys.readouterr().err
