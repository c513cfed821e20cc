"""Load beyond one process: a locust master and 2 workers, on both backends, for real.

Locally locust's own --processes forks the workers; under compose the `user` container is
the master and `up --scale worker=2` starts two worker containers. Either way each worker
streams its own samples, the runner merges them, and nothing of the workers outlives the run.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.backends import compose
from bench.load.record import Tally
from tests.integration.conftest import measurements, only_run, run_bench

STACK = "flask_gunicorn"
LOAD = ["-u", "8", "-r", "8", "-t", "4s", "--warmup", "1s", "--repeat", "1", "--processes", "2", "--no-floor"]
WINDOW = re.compile(r"samples-(.+)-w\d+\.json")


def _measure(tmp_path: Path, backend: str) -> tuple[Path, dict[str, Any]]:
    done = run_bench("stack", STACK, *LOAD, "--backend", backend, "--results", str(tmp_path), timeout=300)
    assert done.returncode == 0, done.stderr
    run_dir, run = only_run(tmp_path)
    (stack,) = measurements(run)
    assert stack["status"] == "ok", (stack["error"], stack["log_tail"])
    return run_dir / stack["folder"] / "load", stack


def _check_two_workers_merged(load: Path, stack: dict[str, Any]) -> set[str]:
    """Two processes sent requests; the merged figures count both, warmup left out."""
    senders = {m.group(1) for p in load.iterdir() if (m := WINDOW.fullmatch(p.name))}
    assert len(senders) == 2, sorted(p.name for p in load.iterdir())
    sent = sum(Tally.from_json(json.loads(p.read_text())).requests for p in load.glob("samples-*-w*.json"))
    figures = stack["figures"]
    assert figures["requests"] == sent > 0 and figures["processes"] == 3  # the master reports too
    counted = sum(row["num_requests"] for row in json.loads((load / "locust.json").read_text()))
    assert 0 < sent < counted  # the master's own json adds up both workers, warmup included
    assert figures["failures"] == 0 and figures["status_codes"] == {"200": sent}
    return senders


def test_local_master_and_two_worker_processes(tmp_path: Path) -> None:
    load, stack = _measure(tmp_path, "local")
    _check_two_workers_merged(load, stack)


@pytest.mark.skipif(compose.unavailable_reason() is not None, reason="no Docker engine with compose here")
def test_compose_master_and_two_worker_containers(tmp_path: Path) -> None:
    load, stack = _measure(tmp_path, "compose")
    senders = _check_two_workers_merged(load, stack)
    hosts = {sender.rsplit("-", 1)[0] for sender in senders}
    assert len(hosts) == 2  # two containers, not two processes in one
    log = (load / "workers.log").read_text()
    assert "--scale worker=2" in log and "rm -f -s -v worker" in log
    project = stack["deployment"]["compose_project"]
    left = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={compose.PROJECT_LABEL}={project}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert not left.strip()
