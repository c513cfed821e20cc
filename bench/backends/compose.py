"""Stacks under docker compose (not built yet: only the engine probe `auto` needs)."""

from __future__ import annotations

import shutil
import subprocess


def unavailable_reason() -> str | None:
    """None when compose can be used here, else why not (for the `auto` message)."""
    if shutil.which("docker") is None:
        return "no docker command"
    try:
        done = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "docker info did not answer"
    if done.returncode != 0:
        return "no Docker engine answers"
    return "the compose backend is not built yet"
