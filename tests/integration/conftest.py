"""Shared helpers for tests that run the real lab end to end."""

from __future__ import annotations

import json
import os
import signal
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


def table_rows(markdown: str, first_cell: str | None = None) -> list[list[str]]:
    """The cells of every Markdown table row in `markdown` (header rows included, separators not),
    optionally only the rows whose first cell is `first_cell`."""
    rows = []
    for line in markdown.splitlines():
        if not line.startswith("|") or set(line) <= {"|", "-", " ", ":"}:
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if first_cell is None or cells[0] == first_cell:
            rows.append(cells)
    return rows


def measurements(run: dict[str, Any], role: str = "stack") -> list[dict[str, Any]]:
    """run.json's measurements of one role, in the order they were taken."""
    return [m for m in run["measurements"] if m["role"] == role]


def as_at_a_terminal() -> None:
    """preexec_fn for a lab the test will Ctrl-C: SIGINT handled as at a terminal. A suite run in the
    background starts with SIGINT ignored, every child inherits that, and Python then leaves it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
