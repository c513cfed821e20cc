"""The docker command as a subprocess: one call, its failure said in a line, files handed to a container's user."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from subprocess import CompletedProcess

from bench.errors import MissingToolError, StackFailed

TIP = "start the engine: dockerd & (or install docker.io)"


def docker(*args: str, timeout: float = 60, check: bool = True) -> CompletedProcess[str]:
    """One docker CLI call; a failure (when `check`) is a StackFailed with what docker said."""
    try:
        done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                              start_new_session=True)  # fmt: skip  # a Ctrl-C reaches us, not it
    except subprocess.TimeoutExpired as exc:
        raise StackFailed(f"docker {' '.join(args[:3])} did not finish within {timeout:g} s") from exc
    except OSError as exc:
        raise MissingToolError(f"docker cannot run: {exc}", tip=TIP) from exc
    if check and done.returncode != 0:
        raise StackFailed(f"docker {' '.join(args[:3])} failed: {last_line(done.stderr)}", done.stderr[-2000:])
    return done


def output(argv: Sequence[str], tip: str = TIP) -> str:
    """What a command that must work printed; its failure is a MissingToolError (the engine is not usable)."""
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise MissingToolError(f"{' '.join(argv)} failed: {done.stderr.strip()[-500:]}", tip=tip)
    return done.stdout


def quiet(argv: Sequence[str]) -> CompletedProcess[str]:
    """Run a docker command whose failure is not the run's (its caller says what it means)."""
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(list(argv), 124, "", str(exc))


def answers(argv: Sequence[str]) -> bool:
    """Whether the command runs and exits 0."""
    try:
        return subprocess.run(list(argv), capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def text(data: str | bytes | None) -> str:
    """A subprocess's output as text, whatever it was captured as."""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""


def last_line(text: str) -> str:
    """The last non-empty line of a command's output: the error to say in one line."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def hand_over(path: Path, uid: int, gid: int) -> None:
    """Hand the folder to the container's user (root can; anyone else already owns it)."""
    with contextlib.suppress(PermissionError):
        if (path.stat().st_uid, path.stat().st_gid) != (uid, gid):
            os.chown(path, uid, gid)
