"""Child processes in their own process groups, so stopping one stops everything it spawned.

Every process the lab starts (servers, locust) goes through `ProcessGroup`: it is recorded
before it can fail, and `stop()` sends SIGTERM to each group, waits, then SIGKILLs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Child:
    """A started process and the file its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exited(self) -> int | None:
        """The exit code if the process has ended, else None."""
        return self.popen.poll()


class ProcessGroup:
    """The processes of one stack (or one load run); stopped together, in reverse order."""

    def __init__(self) -> None:
        self.children: list[Child] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        cpus: Collection[int] | None = None,
    ) -> Child:
        """Start `argv` in a new session with stdout and stderr appended to `log_path`.

        `cpus` pins the process (and everything it forks) to those CPUs from its first
        instruction, so gunicorn's workers inherit the pinning too.
        """
        pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: Ctrl-C reaches us, not it
                preexec_fn=pin,
            )
        child = Child(name, popen, log_path)
        self.children.append(child)
        return child

    def dead(self) -> list[Child]:
        """Children that have exited."""
        return [c for c in self.children if c.exited() is not None]

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM every group (last started first), wait up to `grace` s, then SIGKILL."""
        for child in reversed(self.children):
            _signal_group(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in reversed(self.children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            # the leader may be gone while its workers linger: kill the whole group anyway
            _signal_group(child.pid, signal.SIGKILL)
            child.popen.wait()
        self.children.clear()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a log file (empty if it does not exist)."""
    try:
        data = path.read_bytes()[-16384:]
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])
