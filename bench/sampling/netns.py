"""The stack's side of TCP, read from its network namespace: counters and listen backlogs.

Locally the stack shares the host's namespace with locust, so its counters are host-wide;
under compose a container's process id leads to its own namespace (`/proc/<pid>/net/...`),
and `ss` run in that namespace (nsenter) shows the backlog the kernel keeps for each
listening socket (its Send-Q), which no config sets alone: gunicorn asks 2048, werkzeug 128,
granian 1024, nginx 511, all capped by net.core.somaxconn. Anything that cannot be read here
(no /proc, not root, no `ss`) is reported as not measured with the reason, never a crash.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field

from bench.load.record import read_tcp_counters, tcp_deltas


@dataclass
class NetnsProbe:
    """Reads one namespace: `pid` None means this process's own (the host's, locally)."""

    pid: int | None = None
    not_measured: dict[str, str] = field(default_factory=dict)

    @property
    def proc(self) -> str:
        return f"/proc/{self.pid}" if self.pid else "/proc/self"

    def counters(self) -> dict[str, int] | None:
        found = read_tcp_counters(self.proc)
        if found is None:
            self.not_measured["server_tcp"] = f"{self.proc}/net/netstat and snmp not readable"
        return found

    def somaxconn(self) -> int | None:
        try:
            with open(f"{self.proc}/root/proc/sys/net/core/somaxconn" if self.pid else "/proc/sys/net/core/somaxconn",
                      encoding="ascii") as f:  # fmt: skip
                return int(f.read().strip())
        except (OSError, ValueError) as exc:
            self.not_measured["somaxconn"] = str(exc)
            return None

    def listen_backlogs(self, ports: Mapping[str, int]) -> dict[str, int]:
        """Port name -> the backlog of the socket listening on it (ss's Send-Q for a LISTEN socket)."""
        if shutil.which("ss") is None:
            self.not_measured["listen_backlog"] = "no `ss` command (apt-get install iproute2)"
            return {}
        argv = ["ss", "-ltnH"]
        if self.pid:
            if shutil.which("nsenter") is None:
                self.not_measured["listen_backlog"] = "no `nsenter` command to enter the stack's namespace"
                return {}
            argv = ["nsenter", "-t", str(self.pid), "-n", *argv]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.not_measured["listen_backlog"] = str(exc)
            return {}
        if done.returncode != 0:
            self.not_measured["listen_backlog"] = done.stderr.strip()[-200:] or f"ss exited {done.returncode}"
            return {}
        return backlogs_from_ss(done.stdout, ports)


def backlogs_from_ss(output: str, ports: Mapping[str, int]) -> dict[str, int]:
    """`ss -ltnH` lines (State Recv-Q Send-Q Local:Port Peer:Port) -> port name -> backlog (Send-Q)."""
    by_port: dict[int, int] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] == "LISTEN" and parts[2].isdigit():
            port = parts[3].rsplit(":", 1)[-1]
            if port.isdigit():
                by_port[int(port)] = max(by_port.get(int(port), 0), int(parts[2]))
    return {name: by_port[port] for name, port in ports.items() if port in by_port}


def deltas(before: Mapping[str, int] | None, after: Mapping[str, int] | None) -> dict[str, int]:
    return tcp_deltas(before, after) if before is not None and after is not None else {}
