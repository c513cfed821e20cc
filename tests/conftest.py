"""After the whole suite: prove no server, locust or envoy process and no container of it lives on."""

from __future__ import annotations

import os
import shutil
import subprocess

import psutil
import pytest


def _leftover_processes() -> list[str]:
    """Processes started by a lab run (they all inherit BENCH_RUN_ID) that are still alive."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.pid != os.getpid() and "BENCH_RUN_ID" in proc.environ():
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
             '{{.ID}} {{.Names}} {{.Label "com.docker.compose.project"}}'],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line for line in done.stdout.splitlines() if line.split()[-1:] and line.split()[-1].startswith("bench-")]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    left = _leftover_processes() + _leftover_containers()
    if left:
        print("\nLEFT BEHIND by the test suite (a teardown is broken):\n  " + "\n  ".join(left))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
