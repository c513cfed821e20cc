"""Every scenario honours each flag it declares and refuses every shared flag it does not; nothing
is accepted and dropped. The CLI builds itself from the scenarios without loading measuring or
rendering code."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from bench import options as opt
from bench.cli import main, parse_flags
from bench.errors import ConfigError
from bench.options import Flags
from bench.scenarios import SCENARIOS, Scenario, ScenarioConfig
from bench.scenarios.base import SETTING, as_setting, interleaved

ROOT = Path(__file__).resolve().parents[2]


def _tiny_apps() -> tuple[Path, Path]:
    """Two folders, each with the same tiny ASGI app (tiny:app): --app-dir picks one."""
    folders = tuple(Path(tempfile.mkdtemp(prefix="tiny-app-")) for _ in range(2))
    for folder in folders:
        (folder / "tiny.py").write_text("async def app(scope, receive, send):\n    pass\n")
    return folders[0], folders[1]


TINY = _tiny_apps()
# A valid value other than the default for every flag any scenario declares.
OTHER = {
    "preset": "quick", "users": "7", "spawn_rate": "3", "duration": "7s", "warmup": "3s", "repeat": "2",
    "processes": "2", "backend": "local", "ready_timeout": "9s", "pin": "off", "uid": "4321", "gid": "4321",
    "no_floor": True, "breaker": "tight", "results": "/tmp/elsewhere", "rate": "300", "p99_target": "50",
    "max_users": "64", "step": "3s", "model": "open", "start_rate": "50", "max_rate": "800", "max_in_flight": "500",
    "set": ["workers=1,2"], "wait": "50ms", "slo": "p99<50ms,errors<1%", "replicas": "2", "existing_swarm": True,
    "app": "apps.fastapi_app:app", "app_dir": str(TINY[1]), "interface": "asgi", "health": "/ready",
    "requests": str(ROOT / "tests" / "data" / "apps" / "pypi.toml"), "requirements": str(ROOT / "requirements.txt"),
    "locustfile": str(ROOT / "bench" / "load" / "locustfile.py"),
    "experiments": "retries,auth", "split": "70/30", "inject": "delay=2ms,errors=1%",
    "precision": "5%", "target_rps": "2000", "min_answers": "500",
}  # fmt: skip
SWARM_ONLY = {"replicas", "existing_swarm"}  # accepted with --backend swarm only
IDS = [s.command for s in SCENARIOS]


def argv(scenario: Scenario[ScenarioConfig], **changed: Any) -> list[str]:
    """`<command> [fastapi_istio]` plus each option of `changed` (by dest) as typed on the command line."""
    names = changed.pop("names", ["fastapi_istio"] if scenario.command in ("stack", "sweep") else [])
    out = [scenario.command, *names]
    for dest, value in changed.items():
        flag = next(o for o in (*scenario.options, *opt.SHARED) if o.dest == dest).flags[-1]
        out += [flag] if value is True else [part for v in value for part in (flag, v)] if isinstance(
            value, list) else [flag, value]  # fmt: skip
    return out


def values(scenario: Scenario[ScenarioConfig], **changed: Any) -> Flags:
    """The typed flags the CLI gives the scenario for `python -m bench <command>` plus `changed`."""
    parsed, flags = parse_flags(argv(scenario, **changed))
    assert parsed is scenario
    return flags


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_every_declared_flag_changes_the_config(scenario: Scenario[ScenarioConfig]) -> None:
    for option in scenario.options:
        assert option.dest in OTHER, f"add a value for {option.dest} to OTHER"
        # --max-in-flight bounds the open model only: the sweep takes it with --model open, stack/all with --rate;
        # --app's flags go with it
        context = {"model": "open"} if option.dest == "max_in_flight" and scenario.command == "sweep" else {}
        context |= {"rate": "50%"} if option.dest == "max_in_flight" and scenario.command in ("stack", "all") else {}
        if option.dest == "app_dir":  # the same app found in another folder
            context = {"app": "tiny:app", "app_dir": str(TINY[0]), "requests": OTHER["requests"]}
        elif option.dest in ("interface", "health", "requirements"):
            context = {"app": OTHER["app"], "requests": OTHER["requests"]}
        elif option.dest == "app":
            context = {"requests": OTHER["requests"]}
        context |= {"backend": "swarm"} if option.dest in SWARM_ONLY else {}
        base = scenario.configure(values(scenario, **context))
        changed = scenario.configure(values(scenario, **(context | {option.dest: OTHER[option.dest]})))
        if option.dest == "interface":  # it confirms what the app says it is: honoured when it is what applied
            assert changed.workload.app is not None and changed.workload.app.interface == OTHER["interface"]
            continue
        assert changed != base, f"`{scenario.command} {option.shown}` is accepted but changes nothing"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_every_shared_flag_not_declared_is_refused(scenario: Scenario[ScenarioConfig]) -> None:
    honoured = {o.dest for o in scenario.options}
    refused = [o for o in opt.SHARED if o.dest not in honoured]
    for option in refused:
        with pytest.raises(ConfigError) as error:
            values(scenario, **{option.dest: OTHER[option.dest]})
        assert str(error.value) == f"{scenario.command} does not take {option.shown}"
        assert error.value.tip
    assert scenario.refusal(set()) is None


def test_the_decided_refusals(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for argv in (["sweep", "-t", "5s"], ["sweep", "-t", "soon"], ["sweep", "--warmup", "1s"],
                 ["sweep", "--repeat", "2"], ["sweep", "--no-floor"], ["breaker", "--preset", "quick"]):  # fmt: skip
        assert main([*argv, "--results", str(tmp_path)]) == 2, argv
        err = capsys.readouterr().err
        refused = err.split(f"ERROR: {argv[0]} does not take ")[1].splitlines()[0]
        assert argv[1] in refused.split("/") and "\nTIP: " in err, err
    assert not (tmp_path / "runs").exists()  # refused before anything started


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_settings_record_only_what_applied(scenario: Scenario[ScenarioConfig]) -> None:
    settings = scenario.configure(values(scenario)).settings()
    honoured = {o.dest for o in scenario.options}
    recorded_as = {"duration": "duration_s", "warmup": "warmup_s", "repeat": "repeat", "users": "users",
                   "preset": "preset", "processes": "processes", "no_floor": "floor"}  # fmt: skip
    for dest, key in recorded_as.items():
        if dest not in honoured:
            assert key not in settings, f"{scenario.command} records {key!r} but does not take {dest}"


def test_the_closed_model_sweep_refuses_the_in_flight_bound() -> None:
    sweep = next(s for s in SCENARIOS if s.command == "sweep")
    with pytest.raises(ConfigError, match="--max-in-flight applies to the open model only"):
        sweep.configure(values(sweep, max_in_flight="100"))


def test_breaker_repeats_are_real_and_sweep_steps_have_their_own_length() -> None:
    breaker = next(s for s in SCENARIOS if s.command == "breaker")
    config = breaker.configure(values(breaker, repeat="3"))
    assert config.settings()["repeat"] == 3 and config.settings()["presets"] == ["off", "seed000"]
    sweep = next(s for s in SCENARIOS if s.command == "sweep")
    assert sweep.configure(values(sweep, step="5s")).settings()["sweep"]["step_s"] == 5.0


def test_configs_are_typed_dataclasses() -> None:
    for scenario in SCENARIOS:
        config = scenario.configure(values(scenario))
        assert {f.name for f in fields(config)} >= {"stacks", "placement"}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_settings_derive_from_every_field_of_the_config(scenario: Scenario[ScenarioConfig]) -> None:
    """A field added to a config reaches run.json without a line of its own: under its name (or the key its
    metadata names), or its parts merged in; None (did not apply) is left out."""
    repeat = any(o.dest == opt.REPEAT.dest for o in scenario.options)  # capacity: its own help and default
    config = scenario.configure(values(scenario, **({"repeat": "2"} if repeat else {})))
    settings = config.settings()
    for f in fields(config):
        how = f.metadata.get(SETTING, {})
        value = getattr(config, f.name)
        if how.get("merged"):
            assert set(as_setting(value)) - set(how["without"]) <= set(settings), f.name
        elif value is None or value == {}:
            assert (how.get("key") or f.name) not in settings
        else:
            assert settings[how.get("key") or f.name] == (how.get("form") or as_setting)(value), f.name
    assert settings.get("repeat") == (2 if repeat else None) and settings["stacks"] == [s.name for s in config.stacks]
    assert all(settings[key] == value for key, value in config.recorded.items())


def test_the_cli_loads_no_measuring_or_rendering_code() -> None:
    """`bench list` and `--help` stay quick: locust, the backends, pandas, tabulate and matplotlib
    load only when a command needs them (benchmarks/startup.py times it)."""
    heavy = ("matplotlib", "pandas", "tabulate", "numpy", "locust", "gevent", "docker", "psutil", "markdown_it",
             "selenium", "scipy", "bench.session", "bench.backends", "bench.load.runner", "bench.report")  # fmt: skip
    code = "import sys, bench.cli; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    found = [m for m in loaded.stdout.split() if m.startswith(heavy)]
    assert found == []


def test_repeats_alternate_direction_so_no_item_always_follows_another() -> None:
    order = ["ABC"[i] + str(r) for r, i in interleaved(3, "ABC")]
    assert order == ["A1", "B1", "C1", "C2", "B2", "A2", "A3", "B3", "C3"]
    assert interleaved(1, "AB") == [(1, 0), (1, 1)]
