"""`python -m bench stack <all four> --backend compose` against a real Docker engine.

Checks real figures for every stack, that the `user` container's files belong to --uid/--gid,
and that no container, network or volume of the run's compose projects survives it.
Skipped only when no Docker engine answers (CI starts one).
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.backends import compose
from bench.stacks.catalog import discover
from tests.integration.conftest import measurements, only_run, run_bench
from tests.integration.test_interrupts import interrupt_when

UID = GID = 4321
RUNNER_FILES = {"locust.log"}  # written by the runner on the host, not by the user container
LOAD = ["--preset", "quick", "-t", "1s", "--warmup", "0.5s", "--repeat", "1", "--backend", "compose", "--uid", str(UID),
        "--gid", str(GID)]  # fmt: skip

_reason = compose.unavailable_reason()
pytestmark = pytest.mark.skipif(_reason is not None, reason=f"no Docker engine with compose here: {_reason}")


@dataclass(frozen=True)
class Measured:
    run_dir: Path
    run: dict[str, Any]
    stderr: str
    wall_s: float


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Measured:
    results = tmp_path_factory.mktemp("compose-results")
    started = time.monotonic()
    done = run_bench("stack", *discover(), *LOAD, "--results", str(results), timeout=420)
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    run_dir, run = only_run(results)
    return Measured(run_dir, run, done.stderr, wall)


def test_every_stack_has_real_figures_under_compose(measured: Measured) -> None:
    assert measured.run["backend"] == "compose"
    stacks = measurements(measured.run)
    assert [m["label"] for m in stacks] == list(discover())
    for m in stacks:
        f = m["figures"]
        assert m["backend"] == "compose", m["label"]
        assert m["status"] == "ok", (m["label"], m["error"], m["log_tail"])
        assert f["requests"] > 0 and f["rps"] > 0 and f["latency"]["avg_ms"] > 0, m["label"]
        assert m["deployment"]["image_prep_s"], m["deployment"]
        # --pin auto (the default) honoured as the containers' cpusets: stack and locust apart
        assert (m["deployment"]["cpuset_stack"], m["deployment"]["cpuset_user"]) == ("0", "1"), m["deployment"]


def test_the_floor_is_measured_on_the_same_path(measured: Measured) -> None:
    (floor,) = measurements(measured.run, "floor")
    assert floor["status"] == "ok" and floor["backend"] == "compose"
    stack = measurements(measured.run)[0]["deployment"]
    for key in ("cpuset_stack", "cpuset_user", "image_python", "image_nginx"):  # the same containers' settings
        assert floor["deployment"][key] == stack[key], key
    assert floor["figures"]["rps"] > 0
    assert "images ready in" in measured.stderr


def test_the_user_containers_files_belong_to_uid_gid(measured: Measured) -> None:
    folders = [measured.run_dir / m["folder"] / "load" for m in measurements(measured.run)]
    assert len(folders) == len(discover())
    written = [path for folder in folders for path in folder.iterdir() if path.name not in RUNNER_FILES]
    assert any(p.name.startswith("samples") for p in written)
    owners = {p: (p.stat().st_uid, p.stat().st_gid) for p in written}
    wrong = [f"{p}: {owner}" for p, owner in owners.items() if owner != (UID, GID)]
    assert not wrong, wrong


@pytest.mark.parametrize(
    "listing",
    [["ps", "-aq"], ["network", "ls", "-q"], ["volume", "ls", "-q"]],
    ids=["containers", "networks", "volumes"],
)
def test_nothing_of_the_run_survives(measured: Measured, listing: list[str]) -> None:
    projects = [m["deployment"]["compose_project"] for m in measured.run["measurements"]]
    assert len(projects) == len(discover()) + 2  # and the floor, at the start and again at the end (noise guard)
    for project in projects:
        out = subprocess.run(
            ["docker", *listing, "--filter", f"label={compose.PROJECT_LABEL}={project}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert not out.strip(), f"{project}: {out}"


def test_ctrl_c_during_a_load_keeps_what_locust_measured_and_leaves_no_container(tmp_path: Path) -> None:
    """Locust runs in the project's generator container (`docker exec`, which passes no signal on): the runner
    signals it there, so its partial window is written and kept; then every container of the project goes."""

    def loading(lines: list[str]) -> bool:
        return any(line.startswith("    loading ") for line in lines)

    argv = ["stack", "flask_gunicorn", "-u", "8", "-r", "8", "-t", "8s", "--warmup", "0.5s", "--repeat", "1",
            "--no-floor", "--backend", "compose"]  # fmt: skip
    _, run = interrupt_when(argv, tmp_path, loading, delay=3.5)
    (partial,) = run["measurements"]
    assert partial["status"] == "interrupted" and partial["figures"]["requests"] > 0
    project = partial["deployment"]["compose_project"]
    left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={compose.PROJECT_LABEL}={project}"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert not left.strip(), left


def test_inject_makes_the_lab_app_fail_and_wait_in_its_container(tmp_path: Path) -> None:
    """--inject delay=30ms,errors=100% reaches the app's fault switch in its container: every request but /health
    (never faulted) waits 30 ms and is answered 500. Recorded in the settings; the label stays the stack's."""
    done = run_bench("stack", "flask_gunicorn", *LOAD, "--no-floor", "--inject", "delay=30ms,errors=100%",
                     "--results", str(tmp_path), timeout=300)  # fmt: skip
    run_dir, run = only_run(tmp_path)
    (m,) = measurements(run)
    assert run["settings"]["inject"] == {"BENCH_FAULT_DELAY_MS": "30", "BENCH_FAULT_ERROR_RATE": "1"}, done.stderr
    assert m["label"] == "flask_gunicorn" and not [k for k in m["params"] if "fault" in k or "inject" in k]
    rows = json.loads((run_dir / m["folder"] / "load" / "locust.json").read_text())
    health = [r for r in rows if r["name"] == "/health"]
    work = [r for r in rows if r["name"] != "/health"]
    assert len(work) >= 5 and sum(r["num_requests"] for r in work) > 0, rows
    for r in work:
        assert r["num_failures"] == r["num_requests"] and r["min_response_time"] >= 30, r
    assert all(r["num_failures"] == 0 for r in health), health
    f = m["figures"]
    assert f["status_codes"]["500"] == f["failures"] > 0 and set(f["status_codes"]) <= {"200", "500"}
