"""Each "limited by" rule of bench/analysis/rules.toml provoked for real, and a negative control where none fires.

The causes are made, not mocked: a listen backlog of 1 under 200 users, the tight circuit
breaker, locust flat out against nginx answering from memory, a CPU hog on the stack's CPU,
a private network namespace with 100 ephemeral ports, an app keeping 1 MB per request in 200 MB
containers, an app that answers every fourth request with a 500 once warm.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.backends import compose
from tests.integration.conftest import ROOT, measurements, only_run, run_bench

SHORT = ["-t", "3s", "--warmup", "1s", "--repeat", "1", "--no-floor"]


@dataclass(frozen=True)
class Judged:
    run: dict[str, Any]
    summary: str

    def rules(self, label: str) -> list[str]:
        (m,) = [m for m in measurements(self.run) if m["label"] == label]
        assert m["status"] == "ok", m["error"]
        return [v["rule"] for v in m["limited_by"]]


def judge(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Judged:
    done = run_bench("stack", *args, *SHORT, "--results", str(tmp_path), env=env)
    assert done.returncode == 0, done.stderr
    _, run = only_run(tmp_path)
    return Judged(run, (tmp_path / "summary.md").read_text())


@pytest.fixture(scope="module")
def under_200_users(tmp_path_factory: pytest.TempPathFactory) -> Judged:
    stacks = ["flask_gunicorn@backlog=1", "fastapi_istio@breaker=tight", "floor"]
    return judge(tmp_path_factory.mktemp("loaded"), *stacks, "-u", "200", "-r", "200", "--backend", "local")


def test_a_full_listen_queue_is_named_with_its_evidence(under_200_users: Judged) -> None:
    assert "listen_queue" in under_200_users.rules("flask_gunicorn@backlog=1")
    (m,) = [m for m in measurements(under_200_users.run) if m["label"] == "flask_gunicorn@backlog=1"]
    assert m["signals"]["listen_backlog"]["app"] == 1  # read from the listening socket itself
    assert m["signals"]["server_tcp"]["listen_overflows"] > 0 and m["signals"]["scope"] == "host-wide"
    assert "listen queue overflowing: SYNs dropped, the latency is retransmission" in under_200_users.summary


def test_a_refusing_breaker_and_a_saturated_generator(under_200_users: Judged) -> None:
    assert under_200_users.rules("fastapi_istio@breaker=tight")[0] == "breaker"
    assert "generator" in under_200_users.rules("floor")


def test_a_busy_stack_is_named(tmp_path: Path) -> None:
    """16 users flat out keep gunicorn's 4 workers on their one CPU busy (under 200 users the connection
    churn left it at 65 % in one CI run: the listen-queue case above, not this one)."""
    judged = judge(tmp_path, "flask_gunicorn", "-u", "16", "-r", "16", "--backend", "local")
    assert "cpu" in judged.rules("flask_gunicorn")


def test_moderate_load_finds_nothing(tmp_path: Path) -> None:
    judged = judge(tmp_path, "flask_gunicorn", "-u", "4", "-r", "4", "--wait", "50ms", "--backend", "local")
    assert judged.rules("flask_gunicorn") == []  # rules that always fire would fail here
    assert "- `flask_gunicorn`: none found" in judged.summary


BROKEN_APP = """
import itertools

_seen = itertools.count(1)


def app(environ, start_response):
    seen = next(_seen) if environ["PATH_INFO"] != "/health" else 0
    if seen > 20 and seen % 4 == 0:  # each worker's first answers are right: the check before the load passes
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return [b"failed on purpose"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""


def test_an_app_answering_500_is_named(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(BROKEN_APP)
    mix = tmp_path / "mix.toml"
    mix.write_text('[[request]]\npath = "/"\n')
    judged = judge(tmp_path / "results", "flask_gunicorn", "-u", "4", "-r", "4", "--backend", "local",
                   "--app", "broken:app", "--app-dir", str(tmp_path), "--requests", str(mix))  # fmt: skip
    assert judged.rules("flask_gunicorn")[0] == "app_errors"
    (m,) = measurements(judged.run)
    assert 15 < 100 * m["figures"]["failures"] / m["figures"]["requests"] < 35  # one in four, on every worker
    assert "app errors: the application answered 5xx" in judged.summary


@pytest.fixture
def cpu_hog() -> Iterator[None]:
    """Other work on the stack's CPU (CPU 0 under --pin auto on 2 CPUs), stopped by its pid."""
    hog = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 or shutil.which("taskset") is None, reason="needs 2 CPUs")
def test_other_work_on_the_stacks_cpu_is_named(tmp_path: Path, cpu_hog: None) -> None:
    judged = judge(tmp_path, "flask_gunicorn", "-u", "8", "-r", "8", "--backend", "local")
    assert "cpu_shared" in judged.rules("flask_gunicorn")


def _in_100_ports(tmp_path: Path, users: int) -> dict[str, Any]:
    """flask_gunicorn_gthread (keep-alive) under `users` in a network namespace of its own with 100 ephemeral
    ports: nothing else on the machine is touched."""
    results = tmp_path / f"results-{users}"
    script = (f'ip link set lo up && sysctl -q -w net.ipv4.ip_local_port_range="40000 40099" && '
              f'exec {sys.executable} -m bench stack flask_gunicorn_gthread -u {users} -r {users} {" ".join(SHORT)} '
              f"--backend local --results {results}")  # fmt: skip
    done = subprocess.run(["unshare", "-n", "sh", "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=180)  # fmt: skip
    assert done.returncode in (0, 1), done.stderr  # 1: requests failed, as they must when ports run out
    _, run = only_run(results)
    (m,) = measurements(run)
    assert m["figures"]["port_range"] == 100
    return m


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare")
def test_ports_filling_up_is_a_risk_and_running_out_of_them_a_limit(tmp_path: Path) -> None:
    """90 keep-alive users hold 90 of 100 ports and every connect succeeds: a risk, not the headline.
    140 users need 140: 40 of them cannot connect (no local port), and that is the limit named."""
    healthy = _in_100_ports(tmp_path, 90)
    assert healthy["figures"]["ports_in_use"] >= 80 and healthy["figures"]["status_codes"].get("0", 0) == 0
    assert "ports" not in [v["rule"] for v in healthy["limited_by"]]
    assert "ports_filling" in [v["rule"] for v in healthy["risks"]]
    starved = _in_100_ports(tmp_path, 140)
    assert starved["figures"]["status_codes"].get("0", 0) > 0, starved["figures"]["status_codes"]
    assert starved["limited_by"][0]["rule"] == "ports", starved["limited_by"]


LEAKING_APP = """
_kept = []


def app(environ, start_response):
    if environ["PATH_INFO"] != "/health":
        _kept.append(b"x" * (1 << 20))  # 1 MB written and kept per request: the worker grows with the load
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""


@pytest.mark.skipif(compose.unavailable_reason() is not None, reason="no Docker engine with compose here")
def test_a_memory_limit_under_compose_is_named(tmp_path: Path) -> None:
    """An app whose workers keep 1 MB per request, in containers limited to 200 MB: it reaches the limit
    within a second of load, whatever the stack's own working set (about 113 MB for flask_gunicorn here,
    which a fixed limit just under it made either unable to start or not quite full)."""
    (tmp_path / "leaking.py").write_text(LEAKING_APP)
    mix = tmp_path / "mix.toml"
    mix.write_text('[[request]]\npath = "/"\n')
    judged = judge(tmp_path / "results", "flask_gunicorn", "-u", "8", "-r", "8", "--backend", "compose",
                   "--app", "leaking:app", "--app-dir", str(tmp_path), "--requests", str(mix),
                   env={"BENCH_STACK_MEM": "200m"})  # fmt: skip
    (m,) = measurements(judged.run)
    assert m["signals"]["scope"] == "stack netns" and m["signals"]["memory"]["limit_hits"] > 0
    assert m["limited_by"][0]["rule"] in ("memory", "memory_peak", "oom"), m["limited_by"]
    assert "memory limit: " in judged.summary
