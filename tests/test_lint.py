"""ruff and mypy (strict) over the lab's code, as part of the one test command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_ruff_finds_nothing() -> None:
    done = subprocess.run(
        [str(BIN / "ruff"), "check", "bench", "apps", "tests"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_finds_nothing() -> None:
    env = dict(os.environ)
    venv = ROOT / ".venv"
    if venv.is_symlink():  # the environment shared by clones (scripts/setup): its mypy cache beside it
        shared = venv.resolve()
        env["MYPY_CACHE_DIR"] = str(shared.parent / f"mypy-cache-{shared.name}")  # checked by content, not mtime
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
