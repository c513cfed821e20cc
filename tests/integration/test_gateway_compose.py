"""`python -m bench gateway --backend compose`: the allow-list against client containers on the project's own
network, one inside the allowed CIDR and one outside it; nothing of the run survives. Skipped only when no
Docker engine answers (CI starts one)."""

from __future__ import annotations

import subprocess

import pytest

from bench.backends import compose
from tests.integration.conftest import measurements, only_run, run_bench

USERS = 4
_reason = compose.unavailable_reason()
pytestmark = pytest.mark.skipif(_reason is not None, reason=f"no Docker engine with compose here: {_reason}")


def test_the_allow_list_refuses_the_container_outside_its_cidr(tmp_path_factory: pytest.TempPathFactory) -> None:
    results = tmp_path_factory.mktemp("gateway-compose")
    # two experiments: two bring-ups of a stack whose clients network has a fixed subnet, one after the other
    done = run_bench("gateway", "--experiments", "trace,allowlist", "-t", "1s", "--warmup", "0", "--repeat", "1", "-u",
                     str(USERS), "--backend", "compose", "--results", str(results), timeout=400)  # fmt: skip
    assert done.returncode == 0, done.stderr
    _, run = only_run(results)
    found = measurements(run, "experiment")
    assert [m["label"] for m in found][:2] == ["gateway@trace=off", "gateway@trace=on"]
    assert all(m["status"] == "ok" for m in found), [(m["label"], m["error"]) for m in found]
    phases = {m["label"].removeprefix("gateway@allowlist="): m for m in found if "@allowlist=" in m["label"]}
    assert list(phases) == ["off", "on", "on+outside"]
    for m in phases.values():
        assert m["status"] == "ok" and m["backend"] == "compose", (m["label"], m["error"], m["log_tail"])
    assert set(phases["off"]["figures"]["status_codes"]) == set(phases["on"]["figures"]["status_codes"]) == {"200"}
    refused = phases["on+outside"]
    assert set(refused["figures"]["status_codes"]) == {"403"}
    denied = sum(after - before for name, (before, after) in refused["envoy"].items() if name.endswith(".rbac.denied"))
    assert abs(denied - refused["figures"]["requests"]) <= USERS
    project = refused["deployment"]["compose_project"]
    for listing in (["ps", "-aq"], ["network", "ls", "-q"], ["volume", "ls", "-q"]):
        out = subprocess.run(["docker", *listing, "--filter", f"label={compose.PROJECT_LABEL}={project}"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert not out.strip(), (listing, out)
