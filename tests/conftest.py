"""After the whole suite: prove no server, locust or envoy process and no container of it lives on.

Only what this checkout started counts (its processes run in this folder, its compose projects
were read from its stacks/), so another checkout's run on the same machine is not mistaken for ours.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import psutil
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _leftover_processes() -> list[str]:
    """Processes started by a lab run (they all inherit BENCH_RUN_ID) that are still alive."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.pid != os.getpid() and "BENCH_RUN_ID" in proc.environ() and proc.cwd() == ROOT:
                found.append(f"pid {proc.pid}: {' '.join(proc.info['cmdline'] or [])[:160]}")
        except psutil.Error:
            continue
    return found


def _leftover_containers() -> list[str]:
    """Containers of compose projects the lab created (project names start with `bench-`)."""
    if shutil.which("docker") is None:
        return []
    try:
        done = subprocess.run(
            ["docker", "ps", "-a", "--filter", "label=com.docker.compose.project", "--format",
             '{{.ID}} {{.Names}} {{.Label "com.docker.compose.project.working_dir"}} '
             '{{.Label "com.docker.compose.project"}}'],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return []
    ours = [line.split() for line in done.stdout.splitlines() if len(line.split()) == 4]
    return [" ".join(f) for f in ours if f[3].startswith("bench-") and f[2].startswith(os.path.join(ROOT, "stacks"))]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    left = _leftover_processes() + _leftover_containers()
    if left:
        print("\nLEFT BEHIND by the test suite (a teardown is broken):\n  " + "\n  ".join(left))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
