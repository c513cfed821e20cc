"""Both users-API apps as real gunicorn servers on free 127.0.0.1 ports, for the session.

Flask runs on gunicorn's threaded worker, FastAPI on the uvicorn worker: the same
servers a deployment would use, so the contract is checked over real HTTP. The
client is http.client from the stdlib, one connection per request.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.backends.local import free_port

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
START_DEADLINE_S = 20.0
STOP_GRACE_S = 5.0
APP_NAMES = ("flask", "fastapi")

# gunicorn arguments after "-b HOST:PORT"; one worker, so one users table per app.
# --no-control-socket: gunicorn >= 25.1 otherwise binds $HOME/.gunicorn/gunicorn.ctl
# (or $XDG_RUNTIME_DIR), one path shared by every gunicorn on the machine, so the
# two test servers and any other gunicorn would take it from each other.
GUNICORN_ARGS: Mapping[str, list[str]] = {
    "flask": ["--no-control-socket", "-w", "1", "--threads", "4", "apps.flask_app:app"],
    "fastapi": ["--no-control-socket", "-w", "1", "-k", "uvicorn_worker.UvicornWorker", "apps.fastapi_app:app"],
}


@dataclass(frozen=True)
class Reply:
    """One HTTP response, fully read."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (None for an empty body, as HEAD gets)."""
        return json.loads(self.body) if self.body else None


@dataclass
class Server:
    """A running app server and how to talk to it."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Reply:
        """Send one request on a fresh connection; redirects are not followed."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            response = conn.getresponse()
            reply_headers = {name.lower(): value for name, value in response.getheaders()}
            return Reply(response.status, reply_headers, response.read())
        finally:
            conn.close()

    def log(self) -> str:
        """Everything the server wrote so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace")


def app_env(switches: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the apps' switches (BENCH_FAULT_*, BENCH_TRACE_LOG), plus `switches`:
    a developer's shell that happens to set one must not turn the fault switch on under the contract."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_FAULT_") and k != "BENCH_TRACE_LOG"}
    return kept | dict(switches or {})


def start_server(name: str, log_dir: Path, switches: Mapping[str, str] | None = None) -> Server:
    port = free_port()
    log_path = log_dir / f"{name}.log"
    command = [sys.executable, "-m", "gunicorn", "-b", f"{HOST}:{port}", *GUNICORN_ARGS[name]]
    with log_path.open("wb") as log:
        # Own session, so teardown can signal gunicorn and its workers as one group.
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env=app_env(switches),
        )  # fmt: skip
    return Server(name, port, process, log_path)


def wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"{server.name} server exited with {server.process.returncode}:\n{server.log()}")
        try:
            if server.request("GET", "/health", timeout=1.0).status == 200:
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.1)
    pytest.fail(f"{server.name} server not healthy within {START_DEADLINE_S} s:\n{server.log()}")


def stop_server(server: Server) -> None:
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(timeout=STOP_GRACE_S)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()


@contextmanager
def running_servers(names: Sequence[str], log_dir: Path,
                    switches: Mapping[str, str] | None = None) -> Iterator[dict[str, Server]]:  # fmt: skip
    """The apps, started together (startup overlaps), stopped on leaving; `switches` set the apps'
    environment switches (the fault switch, the trace log), which are off otherwise."""
    started: dict[str, Server] = {}
    try:
        for name in names:
            started[name] = start_server(name, log_dir, switches)
        for server in started.values():
            wait_healthy(server)
        yield started
    finally:
        for server in started.values():
            stop_server(server)


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """Both apps for the contract session."""
    with running_servers(APP_NAMES, tmp_path_factory.mktemp("servers")) as started:
        yield started


@pytest.fixture(params=APP_NAMES)
def server(request: pytest.FixtureRequest, servers: dict[str, Server]) -> Server:
    """Each app in turn."""
    return servers[request.param]
