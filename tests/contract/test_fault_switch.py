"""The apps' fault switch and trace log (apps/users.py): off unless the environment asks, and when on,
both apps fail, delay and log alike, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from apps.users import Fault, FaultSwitch, TraceLog
from tests.contract.conftest import APP_NAMES, Server, running_servers

INJECTED = {"error": "injected_fault", "detail": "failed on purpose (BENCH_FAULT_ERROR_RATE=1)"}
PATHS = ["/", "/metadata", "/users_name/0", "/users_name/abc", "/nope"]  # ok, 422 and 404 answers alike
DELAY_MS = 300


def test_the_switch_is_off_without_its_variables() -> None:
    switch = FaultSwitch.from_env({})
    assert not switch.on
    assert switch.decide("/users_name/0", draw=lambda: 0.0) is None
    assert TraceLog.from_env({}) is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BENCH_FAULT_ERROR_RATE": "half"}, "BENCH_FAULT_ERROR_RATE='half' is not a number"),
        ({"BENCH_FAULT_ERROR_RATE": "1.5"}, "BENCH_FAULT_ERROR_RATE='1.5' is outside 0-1"),
        ({"BENCH_FAULT_STATUS": "404"}, "BENCH_FAULT_STATUS='404' is outside 500-599"),
        ({"BENCH_FAULT_DELAY_MS": "-1"}, "BENCH_FAULT_DELAY_MS='-1' is outside 0-600000"),
    ],
)
def test_a_bad_value_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultSwitch.from_env(env)


def test_each_request_is_decided_by_the_rates() -> None:
    switch = FaultSwitch.from_env({"BENCH_FAULT_ERROR_RATE": "0.25", "BENCH_FAULT_DELAY_MS": "50",
                                   "BENCH_FAULT_DELAY_RATE": "0.5", "BENCH_FAULT_STATUS": "503"})  # fmt: skip
    draws = iter([0.4, 0.2])  # delayed (0.4 < 0.5), then failed (0.2 < 0.25)
    assert switch.decide("/", draw=lambda: next(draws)) == Fault(0.05, 503)
    draws = iter([0.6, 0.2])  # not delayed, failed
    assert switch.decide("/", draw=lambda: next(draws)) == Fault(0.0, 503)
    assert switch.decide("/", draw=lambda: 0.9) is None
    assert switch.decide("/health", draw=lambda: 0.0) is None  # liveness is never faulted


def test_the_running_apps_never_inject_by_default(servers: dict[str, Server]) -> None:
    for server in servers.values():
        for _ in range(20):
            for path in PATHS:
                assert server.request("GET", path).status < 500, (server.name, path)


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    folder = tmp_path_factory.mktemp("failing")
    switches = {"BENCH_FAULT_ERROR_RATE": "1", "BENCH_FAULT_DELAY_MS": str(DELAY_MS),
                "BENCH_TRACE_LOG": str(folder / "trace.log")}  # fmt: skip
    with running_servers(APP_NAMES, folder, switches) as started:
        yield started


def test_when_on_both_apps_fail_alike_after_the_delay(failing: dict[str, Server]) -> None:
    for path in PATHS:
        answers = []
        for server in failing.values():
            started = time.monotonic()
            reply = server.request("GET", path, headers={"x-request-id": f"id-{server.name}"})
            waited_ms = (time.monotonic() - started) * 1000
            assert waited_ms >= DELAY_MS, (server.name, path, waited_ms)  # the delay is applied, at least
            assert reply.headers["content-type"].startswith("application/json")
            answers.append((reply.status, reply.json()))
        assert answers == [(500, INJECTED)] * len(failing), path
    for server in failing.values():
        assert server.request("GET", "/health").json() == {"health": "ok"}  # liveness keeps answering


def test_when_on_both_apps_log_each_request_with_its_trace_ids(failing: dict[str, Server]) -> None:
    log = failing["flask"].log_path.parent / "trace.log"
    before = log.read_text().splitlines() if log.exists() else []
    for server in failing.values():
        server.request("GET", "/users_name/1", headers={"x-request-id": "abc-123", "traceparent": "00-tp-01"})
        server.request("GET", "/health")
    lines = log.read_text().splitlines()[len(before) :]
    fields = [line.split()[1:] for line in lines]
    expected_failed = ["GET", "/users_name/1", "500", "x-request-id=abc-123", "traceparent=00-tp-01"]
    assert fields == [expected_failed, ["GET", "/health", "200", "x-request-id=-", "traceparent=-"]] * 2
