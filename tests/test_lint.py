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


# Where the lab's own code lives; tests/ is not scanned, so a function only the tests call is listed in the
# whitelist with that reason rather than passing unseen.
DEAD_CODE_PATHS = ["bench", "apps", "benchmarks"]
# 60 is vulture's confidence for an unused function, class, method, attribute or variable (unused imports are
# 90 and ruff's already); registered by a decorator means used: routes, error handlers, locust listeners/tasks.
VULTURE = ["--min-confidence", "60", "--ignore-decorators", "@app.*,@events.*,@task"]
WHITELIST = "tests/vulture_whitelist.py"


def vulture(paths: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "vulture"), *paths, WHITELIST, *VULTURE], cwd=ROOT, capture_output=True,
                          text=True)  # fmt: skip


def test_vulture_finds_no_dead_code() -> None:
    done = vulture(DEAD_CODE_PATHS)
    assert done.returncode == 0, (
        f"{done.stdout}{done.stderr}\nDelete what is dead; list what is used only dynamically in {WHITELIST}."
    )


def test_vulture_finds_a_function_nothing_calls(tmp_path: Path) -> None:
    """The check can fail: a planted function nobody calls is reported by name and line."""
    planted = tmp_path / "planted.py"
    planted.write_text("def used() -> int:\n    return 1\n\n\ndef never_called() -> int:\n    return used()\n")
    done = vulture([str(planted)])
    assert done.returncode == 3, done.stdout + done.stderr  # vulture's exit code for dead code found
    assert done.stdout == f"{planted}:5: unused function 'never_called' (60% confidence)\n"
