"""`python -m bench breaker`: the Envoy circuit breaker off and on under the same real overload."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import only_run, run_bench


def test_breaker_503s_are_counted_by_envoy_and_by_locust_alike(tmp_path: Path) -> None:
    done = run_bench("breaker", "--rate", "2x", "-t", "4s", "--backend", "local", "--results", str(tmp_path))
    assert done.returncode == 0, done.stderr
    _, run = only_run(tmp_path)
    assert run["settings"]["scenario"] == "breaker"
    phases = {s["phase"]: s for s in run["stacks"]}
    assert list(phases) == ["capacity", "breaker off", "breaker seed"]
    capacity, off, seed = phases.values()
    assert capacity["status"] == "ok" and capacity["rps"] > 0
    for phase in (off, seed):
        assert phase["status"] == "ok"
        assert phase["offered_rps"] == round(2 * capacity["rps"], 1)
        assert phase["requests"] > 0

    def overflow(result: dict[str, object]) -> int:
        before, after = result["envoy"]["cluster.app.upstream_rq_pending_overflow"]  # type: ignore[index]
        return int(after) - int(before)

    assert off["breaker"] == "off" and off["overloaded"] == 0 and overflow(off) == 0
    assert seed["breaker"] == "seed"
    assert seed["overloaded"] > 0  # 2x capacity queues far more than 100 pending requests
    assert seed["status_codes"]["503"] >= seed["overloaded"]
    # every breaker 503 locust saw is one Envoy counted as a pending overflow (in-flight at stop: 1 %)
    assert abs(seed["overloaded"] - overflow(seed)) <= max(2, 0.01 * overflow(seed))
    summary = (tmp_path / "summary.md").read_text()
    assert "## Circuit breaker under overload" in summary
    assert f"| `seed` | {seed['offered_rps']:.0f} |" in summary
    assert "seed 001 (`seed`, published)" in summary
