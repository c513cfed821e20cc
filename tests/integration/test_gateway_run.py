"""`python -m bench gateway` for real: one Envoy per experiment in front of real gunicorn/uvicorn upstreams,
real locust; every gateway behaviour provoked and checked on what the clients and Envoy counted."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import measurements, only_run, run_bench, table_rows
from tests.integration.test_failures import leftovers
from tests.integration.test_interrupts import interrupt_when

USERS = 4
# Short phases. Envoy's counters are read around the whole load, so they are compared with what the clients
# counted over the whole load too (the warmup's answers included), exactly up to the requests in flight at the end.
LOAD = ["-t", "1s", "--warmup", "0.5s", "--repeat", "1", "-u", str(USERS), "--backend", "local"]


@dataclass(frozen=True)
class Measured:
    run: dict[str, Any]
    summary: str
    wall_s: float

    def phase(self, experiment: str, name: str) -> dict[str, Any]:
        (found,) = [m for m in measurements(self.run, "experiment") if m["label"] == f"gateway@{experiment}={name}"]
        assert found["status"] == "ok", (found["label"], found["error"], found["log_tail"])
        return found


def envoy(m: dict[str, Any], counter: str) -> int:
    """A counter's growth during the phase, summed over clusters (or listeners)."""
    return sum(after - before for name, (before, after) in m["envoy"].items() if name.endswith("." + counter))


def whole(m: dict[str, Any], code: str) -> int:
    """Answers with this status over the whole load, as the clients counted them (warmup and window)."""
    f = m["figures"]
    return int(f["status_codes"].get(code, 0)) + int(f["warmup_status_codes"].get(code, 0))


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Measured:
    results = tmp_path_factory.mktemp("gateway-results")
    started = time.monotonic()
    done = run_bench("gateway", *LOAD, "--split", "70/30", "--results", str(results), timeout=400)
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    _, run = only_run(results)
    assert leftovers(run["run_id"]) == []
    return Measured(run, (results / "summary.md").read_text(), wall)


def within(share: float, expected: float, n: int) -> bool:
    """A measured share agrees with the asked one: within 4.5 binomial standard deviations (and 1 point)."""
    return abs(share - expected) <= 4.5 * math.sqrt(expected * (1 - expected) / n) + 0.01


def test_every_experiment_ran_each_phase_on_its_own_listener(measured: Measured) -> None:
    labels = [m["label"].removeprefix("gateway@") for m in measurements(measured.run, "experiment")]
    assert labels == ["weights=off", "weights=on", "weights=split", "retries=off", "retries=on", "timeouts=off",
                      "timeouts=on", "allowlist=off", "allowlist=on", "allowlist=on+outside", "trace=off", "trace=on",
                      "auth=off", "auth=on+token", "auth=on+expired", "auth=on+forged", "auth=on",
                      "auth=required+token", "auth=required"]  # fmt: skip
    for section in ("Weighted routing", "Retries", "Timeouts", "IP allow-list", "Trace ids", "Client authentication"):
        assert f"## {section}" in measured.summary


def test_weighted_routing_shares_follow_the_weights(measured: Measured) -> None:
    for name, v2_share in (("off", 0.0), ("on", 0.10), ("split", 0.30)):
        f = measured.phase("weights", name)["figures"]
        n = sum(f["versions"].values())
        assert n == f["requests"] > 30  # every answer said which version served it (a busy machine measures fewer)
        assert within(f["versions"].get("v2", 0) / n, v2_share, n), (name, f["versions"])
    assert measured.phase("weights", "split")["params"]["weights"] == "70/30"
    rows = table_rows(measured.summary.split("## Weighted routing")[1].split("\n## ")[0], "`on`")
    assert rows[1][1] == "90/10" and "[" in rows[1][4]  # the share table: weights asked, share [95 % CI]


def test_retries_turn_the_faulty_instances_errors_into_successes_and_both_sides_count_them(measured: Measured) -> None:
    off, on = measured.phase("retries", "off"), measured.phase("retries", "on")
    assert off["figures"]["status_codes"].get("500", 0) > 0  # the fault switch answered, nothing retried it
    assert off["figures"]["retried"] == envoy(off, "upstream_rq_retry") == 0
    codes = on["figures"]["status_codes"]
    assert codes.get("500", 0) <= 0.01 * on["figures"]["requests"]  # another host answered instead
    seen = on["figures"]["retried"] + on["figures"]["warmup_retried"]
    counted = envoy(on, "upstream_rq_retry")
    assert on["figures"]["retried"] > 0 and abs(counted - seen) <= USERS, (seen, counted)  # in flight at the end
    assert envoy(on, "upstream_rq_retry_overflow") == 0  # the DestinationRule's budget of 100 held


def test_a_route_timeout_cuts_the_slow_answers_and_envoy_counts_each(measured: Measured) -> None:
    off, on = measured.phase("timeouts", "off"), measured.phase("timeouts", "on")
    assert "504" not in off["figures"]["status_codes"] and envoy(off, "upstream_rq_timeout") == 0
    assert off["figures"]["latency"]["max_ms"] >= 300  # the slow instance's injected delay reached the clients
    assert on["figures"]["status_codes"].get("504", 0) > 0
    assert abs(envoy(on, "upstream_rq_timeout") - whole(on, "504")) <= USERS


def test_the_allow_list_refuses_the_other_address_with_403(measured: Measured) -> None:
    allowed, refused = measured.phase("allowlist", "on"), measured.phase("allowlist", "on+outside")
    assert set(measured.phase("allowlist", "off")["figures"]["status_codes"]) == {"200"}
    assert set(allowed["figures"]["status_codes"]) == {"200"} and envoy(allowed, "rbac.denied") == 0
    assert set(refused["figures"]["status_codes"]) == {"403"}
    assert abs(envoy(refused, "rbac.denied") - whole(refused, "403")) <= USERS


def test_every_request_reaches_the_app_with_a_trace_id(measured: Measured) -> None:
    off, on = measured.phase("trace", "off"), measured.phase("trace", "on")
    assert off["figures"]["request_ids"] == 0 and off["counts"]["trace_log_lines"] == 0
    f, counts = on["figures"], on["counts"]
    assert f["request_ids"] == f["requests"] > 0
    answered = f["requests"] + f["warmup_requests"]
    assert counts["trace_log_with_id"] == counts["trace_log_lines"]
    assert answered <= counts["trace_log_lines"] <= answered + USERS  # at most the requests in flight at the end


def test_jwt_checked_with_istios_semantics_under_both_policies(measured: Measured) -> None:
    expected = {"off": "200", "on+token": "200", "on+expired": "401", "on+forged": "401", "on": "200",
                "required+token": "200", "required": "403"}  # fmt: skip
    for name, code in expected.items():
        assert set(measured.phase("auth", name)["figures"]["status_codes"]) == {code}, name
    forged = measured.phase("auth", "on+forged")
    assert abs(envoy(forged, "jwt_authn.denied") - whole(forged, "401")) <= USERS
    required = measured.phase("auth", "required")
    assert abs(envoy(required, "rbac.denied") - whole(required, "403")) <= USERS


def test_the_whole_gateway_run_is_short(measured: Measured) -> None:
    assert measured.wall_s < 180, f"took {measured.wall_s:.0f} s"


def test_an_interrupted_gateway_run_keeps_its_finished_experiments(tmp_path: Path) -> None:
    def tracing(lines: list[str]) -> bool:
        return any(line.startswith("[gateway@trace=on]") for line in lines)

    _, run = interrupt_when(["gateway", "--experiments", "allowlist,trace", "-t", "3s", "--warmup", "0", "--repeat",
                             "1", "-u", "2", "--backend", "local"], tmp_path, tracing, delay=2.5)  # fmt: skip
    phases = {m["label"]: m for m in measurements(run, "experiment")}
    assert list(phases) == ["gateway@allowlist=off", "gateway@allowlist=on", "gateway@allowlist=on+outside",
                            "gateway@trace=off", "gateway@trace=on"]  # fmt: skip
    assert [m["status"] for m in phases.values()] == ["ok", "ok", "ok", "ok", "interrupted"]
    assert phases["gateway@trace=on"]["figures"]["requests"] > 0  # what the partial phase measured is kept
    summary = (tmp_path / "summary.md").read_text()
    assert table_rows(summary.split("## IP allow-list")[1], "`on+outside`")[0][4] == (
        f"403: {phases['gateway@allowlist=on+outside']['figures']['requests']}"
    )
    assert "- `gateway@trace=on` (repeat 1): **interrupted**" in summary
