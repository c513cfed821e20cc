"""One workload through every backend's bring-up, asserted where each backend consumes it (issue 20).

The same --app, --health, --requests, --locustfile and --uid/--gid go through the local, compose and swarm
pipelines, and each value is looked for where the backend hands it on: the command the local backend starts,
the compose file as `docker-compose config` fills it in, the swarm stack file and its locust master, each
launcher's `-f`, and the readiness path. No engine is needed; the compose file is read by the real compose
command where one is installed. Building the user's app image is replaced by a record of what it was asked
to build (the image build itself is an integration test: tests/integration/test_your_app.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.backends import pipeline
from bench.backends.base import BringUp
from bench.backends.compose import ComposeBackend, ComposeLauncher, Generators, compose_command, run_file
from bench.backends.docker import images
from bench.backends.docker.variables import USERLOAD, interpolate
from bench.backends.local import _env, local_context
from bench.backends.swarm import SwarmBackend, SwarmLauncher, render
from bench.backends.swarm.engine import Engine
from bench.errors import ConfigError
from bench.load.runner import LOCUSTFILE, LocalLauncher
from bench.results import LoadShape
from bench.stacks.catalog import Stack, discover, fill
from bench.stacks.userapp import App, Request, mix_json, parse_inject

STACK = "flask_gunicorn"
APP_IMAGE = "bench/userapp:contract"
UID, GID = 4321, 4322
MIX = (Request("GET", "/work", 3, "/work"),)


@pytest.fixture
def workload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Stack, BringUp, LoadShape, list[Any]]:
    """flask_gunicorn serving the user's cal:app (from tmp_path), ready at /h, loaded with their mix and their
    locustfile, locust's files owned by 4321:4322; the app image builds recorded in the list."""
    (tmp_path / "mine.py").write_text("from locust import HttpUser\n")
    app = App("cal:app", "wsgi", flask=True, folder=tmp_path)
    run = BringUp(tmp_path / "run" / STACK, uid=UID, gid=GID, app=app, health_path="/h",
                  locustfile=tmp_path / "mine.py")  # fmt: skip
    load = LoadShape(users=2, spawn_rate=2, duration_s=1, mix=mix_json(MIX), locustfile=str(tmp_path / "mine.py"))
    built: list[Any] = []

    def build(base: images.Images, app: App | None, locustfile: Path | None, say: Any) -> str:
        built.append((app, locustfile))
        return APP_IMAGE

    monkeypatch.setattr(images, "app_image", build)
    return discover()[STACK], run, load, built


def _lab_images() -> images.Images:
    return images.Images(python="bench/python:lab", nginx="bench/nginx:lab", base="debian", arch="x86_64")


def _after(flag: str, argv: list[str]) -> str:
    return argv[argv.index(flag) + 1]


def test_local_starts_your_app_from_its_folder_and_loads_it_with_your_mix_and_locustfile(
    workload: tuple[Stack, BringUp, LoadShape, list[Any]],
) -> None:
    stack, run, load, _ = workload
    assert run.app is not None and run.app.folder is not None
    context = local_context(stack, run, run.stack_dir / "work", {"app": 20001})
    (app_process,) = stack.processes
    argv = [fill(part, context) for part in app_process.command]
    assert argv[-1] == "cal:app" and "127.0.0.1:20001" in argv  # gunicorn serves your app
    env = _env(run.app, pipeline.environment(stack, run))
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(run.app.folder)  # imported from your folder first
    assert run.health(stack) == "/h"  # what readiness polls: base_url + this
    locust, locust_env = LocalLauncher().command(load, "http://127.0.0.1:20001", run.stack_dir / "load")
    assert _after("-f", locust) == f"{LOCUSTFILE},{load.locustfile}"  # the lab's recorder beside your users
    sent = {"method": "GET", "path": "/work", "weight": 3, "name": "/work", "json": None, "body": None, "headers": {},
            "expect": []}  # fmt: skip
    assert json.loads(locust_env["LAB_LOAD_MIX"]) == [sent]


def _compose_env(stack: Stack, run: BringUp) -> dict[str, str]:
    backend = ComposeBackend()
    backend._images, backend._ncpu = _lab_images(), 2
    return backend._env(stack, run, {"app": 20001})


def _filled_by_compose(stack: Stack, run: BringUp, env: dict[str, str]) -> dict[str, Any]:
    """The run's compose file as the installed compose command fills it in with the bring-up's variables."""
    command = compose_command()
    if command is None:
        pytest.skip("no compose command (docker compose or docker-compose)")
    path, _ = run_file(stack, run.stack_dir / "work", run.faults)  # as the bring-up writes it
    argv = [*command, "-p", "contract", "--project-directory", str(stack.path), "-f", str(path), "config"]
    done = subprocess.run(argv, env=dict(os.environ) | env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    services: dict[str, Any] = yaml.safe_load(done.stdout)["services"]
    return services


def test_compose_serves_your_app_from_its_image_and_loads_it_with_your_mix_and_locustfile(
    workload: tuple[Stack, BringUp, LoadShape, list[Any]],
) -> None:
    stack, run, load, built = workload
    env = _compose_env(stack, run)
    assert built == [(run.app, run.locustfile)]  # one image with your app, its requirements and locustfile
    services = _filled_by_compose(stack, run, env)
    app = services["app"]
    assert app["image"] == APP_IMAGE and app["command"][-1] == "cal:app"
    assert app["environment"]["PYTHONPATH"] == "/userapp:/bench"  # your folder in the image, first
    assert services["user"]["user"] == f"{UID}:{GID}"  # locust's files owned by --uid:--gid
    _, checks = run_file(stack, run.stack_dir / "work")  # the checks compose's bring-up runs itself, once
    assert "http://127.0.0.1:5901/h'" in interpolate(checks["app"], env)[-1]
    assert run.health(stack) == "/h"  # then readiness from the host: base_url + this
    launcher = ComposeLauncher(("compose",), env, UID, GID, Generators(["compose"], env, "p", run.stack_dir / "log"),
                               run.stack_dir)  # fmt: skip
    locust, locust_env = launcher.command(load, "http://app:5901", run.stack_dir / "load")
    assert _after("-f", locust) == f"/bench/locustfile.py,{USERLOAD}/mine.py"
    assert locust_env["LAB_LOAD_MIX"] == load.mix and "LAB_LOAD_MIX" in locust  # `docker exec -e LAB_LOAD_MIX`


def _swarm_plan(stack: Stack, run: BringUp) -> render.Plan:
    backend = SwarmBackend()
    backend._images, backend._engine = _lab_images(), Engine("active", True, "node-id", "node", 2)
    return backend._plan(stack, render.swarm_data(stack), run, "bench-contract-1")


def test_swarm_serves_your_app_from_its_image_and_loads_it_with_your_mix_and_locustfile(
    workload: tuple[Stack, BringUp, LoadShape, list[Any]],
) -> None:
    stack, run, load, built = workload
    plan = _swarm_plan(stack, run)
    app = plan.document["services"]["app"]
    assert app["image"] == APP_IMAGE and app["command"][-1] == "cal:app"
    assert built == [(run.app, run.locustfile)]
    assert app["environment"]["PYTHONPATH"] == "/userapp:/bench"
    assert "http://127.0.0.1:5901/h'" in app["healthcheck"]["test"][-1]  # swarm runs it: a task runs once healthy
    assert run.health(stack) == "/h"  # then readiness through the relay: base_url + this
    assert plan.master.image == APP_IMAGE and plan.master.user == f"{UID}:{GID}"
    worker = plan.document["services"]["worker"]  # every user class the master spawns must exist in its workers
    assert worker["image"] == APP_IMAGE and f"-f /bench/locustfile.py,{USERLOAD}/mine.py --worker" in worker[
        "command"][2]  # fmt: skip
    launcher = SwarmLauncher("bench-contract-1", plan.master, "bench-contract-1_worker", *run.owner())
    locust, _ = launcher.command(load, "http://app:5901", run.stack_dir / "load")
    assert _after("--user", locust) == f"{UID}:{GID}" and _after("-f", locust) == (
        f"/bench/locustfile.py,{USERLOAD}/mine.py")  # fmt: skip
    assert f"LAB_LOAD_MIX={load.mix}" in locust


FAULTS = {"BENCH_FAULT_DELAY_MS": "2", "BENCH_FAULT_ERROR_RATE": "0.01"}  # --inject delay=2ms,errors=1%


@pytest.mark.parametrize(
    ("text", "switches"),
    [
        ("delay=2ms,errors=1%", FAULTS),
        (" delay = 0.5s , delayed=10%, status=503,errors=0.25", {"BENCH_FAULT_DELAY_MS": "500",
         "BENCH_FAULT_DELAY_RATE": "0.1", "BENCH_FAULT_STATUS": "503", "BENCH_FAULT_ERROR_RATE": "0.25"}),
        ("errors=100%", {"BENCH_FAULT_ERROR_RATE": "1"}),
        ("", {}),
    ],
)
def test_inject_reads_as_the_apps_fault_switch(text: str, switches: dict[str, str]) -> None:
    assert parse_inject(text) == switches


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("delay=2", "--inject: delay='2' is not a duration up to 600s (2ms, 0.5s)"),
        ("errors=150%", "--inject: errors='150%' is not a share 0-100% (1%, 0.01)"),
        ("status=404", "--inject: status='404' is not an HTTP status 500-599"),
        ("colour=red", "--inject: cannot read 'colour=red'"),
        ("delay=2ms,delay=3ms", "--inject: delay given twice"),
    ],
)
def test_inject_refuses_what_it_cannot_read(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_inject(text)


def test_the_fault_switch_reaches_the_lab_app_in_every_backend(tmp_path: Path) -> None:
    """--inject's variables in the app's environment wherever it runs: local's process, compose's and swarm's app
    service (never the load generator's)."""
    stack = discover()[STACK]
    run = BringUp(tmp_path / "run" / STACK, faults=FAULTS)
    assert FAULTS.items() <= _env(run.serves(stack), pipeline.environment(stack, run)).items()  # local
    compose_env = _compose_env(stack, run)
    services = _filled_by_compose(stack, run, compose_env)
    assert FAULTS.items() <= services["app"]["environment"].items()
    assert not {k for k in services["user"].get("environment", {}) if k.startswith("BENCH_FAULT_")}
    plan = _swarm_plan(stack, run)
    assert FAULTS.items() <= plan.document["services"]["app"]["environment"].items()
    assert not {k for k in plan.document["services"]["worker"]["environment"] if k.startswith("BENCH_FAULT_")}


def test_a_service_that_sets_its_own_fault_keeps_it(tmp_path: Path) -> None:
    """The gateway's instances fail on purpose by their own settings; --inject is under them, never over them."""
    gateway = discover(hidden=True)["gateway"]
    own = {name: dict(s.get("environment") or {}) for name, s in yaml.safe_load(
        (gateway.path / gateway.compose.file).read_text())["services"].items()}  # fmt: skip
    failing = next(name for name, env in own.items() if env.get("BENCH_FAULT_ERROR_RATE") == "1")
    path, _ = run_file(gateway, tmp_path, {"BENCH_FAULT_ERROR_RATE": "0.01", "BENCH_FAULT_DELAY_MS": "2"})
    services = yaml.safe_load(path.read_text())["services"]
    assert services[failing]["environment"]["BENCH_FAULT_ERROR_RATE"] == "1"
    assert services[failing]["environment"]["BENCH_FAULT_DELAY_MS"] == "2"


def test_inject_with_your_app_is_refused_up_front(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Only the lab's app reads the fault switch: with --app it would change nothing, so it is refused."""
    from bench.cli import main

    (tmp_path / "cal.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    (tmp_path / "mix.toml").write_text('[[request]]\npath = "/"\n')
    app = ["--app", "cal:app", "--app-dir", str(tmp_path), "--requests", str(tmp_path / "mix.toml")]
    code = main(["stack", "flask_gunicorn", *app, "--inject", "errors=1%", "--results", str(tmp_path / "results")])
    assert code == 2
    assert "ERROR: --inject switches the lab's own app's faults, not your app's" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()
