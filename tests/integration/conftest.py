"""Shared helpers for tests that run the real lab end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_bench(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`python -m bench ARGS` as a user runs it, in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def only_run(results: Path) -> tuple[Path, dict[str, Any]]:
    """The single run folder under `results` and its run.json."""
    runs = sorted((results / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0], json.loads((runs[0] / "run.json").read_text())
