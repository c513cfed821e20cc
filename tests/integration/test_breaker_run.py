"""`python -m bench breaker`: the Envoy circuit breaker off and on under the same real overload."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import only_run, run_bench, table_rows


def test_breaker_503s_are_counted_by_envoy_and_by_locust_alike(tmp_path: Path) -> None:
    done = run_bench("breaker", "--rate", "2x", "-t", "2s", "--repeat", "2", "--backend", "local",
                     "--results", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    _, run = only_run(tmp_path)
    assert run["scenario"] == "breaker" and run["settings"]["repeat"] == 2
    order = [(m["role"], m["params"]["breaker"], m["repeat"]) for m in run["measurements"]]
    assert order == [("capacity", "off", 1), ("overload", "off", 1), ("overload", "seed000", 1),
                     ("overload", "seed000", 2), ("overload", "off", 2)]  # repeats interleaved, every other backwards
    capacity, *overload = (m | m["figures"] for m in run["measurements"])
    assert capacity["status"] == "ok" and capacity["rps"] > 0
    ok_rps = capacity["rps"] * (capacity["requests"] - capacity["failures"]) / capacity["requests"]  # successful only
    for phase in overload:
        assert phase["status"] == "ok"
        assert phase["offered_rps"] == round(2 * ok_rps, 1)
        assert phase["requests"] > 0

    def overflow(result: dict[str, object]) -> int:
        before, after = result["envoy"]["cluster.app.upstream_rq_pending_overflow"]  # type: ignore[index]
        return int(after) - int(before)

    for off in (m for m in overload if m["params"]["breaker"] == "off"):
        assert off["label"] == "fastapi_istio@breaker=off" and off["overloaded"] == 0 and overflow(off) == 0
    for seed in (m for m in overload if m["params"]["breaker"] == "seed000"):
        assert seed["label"] == "fastapi_istio@breaker=seed000"
        assert seed["overloaded"] > 0  # 2x capacity queues far more than 100 pending requests
        assert seed["status_codes"]["503"] >= seed["overloaded"]
        # every breaker 503 locust saw in the window is one Envoy counted as a pending overflow; Envoy counts the
        # whole load, so it may also have refused requests whose 503 reached locust only after the window's end,
        # which locust counts as sent and unanswered (`unfinished`; no warmup here). On a busy machine locust reads
        # its answers late: one run here counted 104 fewer than Envoy's 2369, beyond the old 1 % bound.
        assert seed["overloaded"] <= overflow(seed) <= seed["overloaded"] + seed["unfinished"], seed
    summary = (tmp_path / "summary.md").read_text()
    assert "## Circuit breaker under overload" in summary
    # the offered rate is the same in every repeat: one value, no [min-max]
    assert table_rows(summary, "`seed000`")[0][1] == f"{seed['offered_rps']:.0f}"
    assert table_rows(summary, "seed 001 (`seed000`, published)")
