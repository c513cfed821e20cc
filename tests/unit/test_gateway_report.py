"""What a gateway's answers tell the record (versions, retries, trace ids), Envoy's counters by cluster,
shares with their intervals, and the gateway summary built from measurements made the production way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import report
from bench.analysis import stats
from bench.load.record import Figures, ProcessReport, Tally
from bench.results import LoadShape, Measurement, RunResult, StackUsage, load_run, save_run
from bench.sampling import envoy
from tests.integration.conftest import table_rows

START = 1_700_000_000.0


def tally(versions: dict[str, int], status: int = 200, attempts: int = 1, request_id: bool = True) -> Tally:
    """A window in which each version answered so many requests, as the locustfile counts them."""
    t = Tally(window=0, start=START, end=START + 10)
    for version, n in versions.items():
        for i in range(n):
            t.add(i % 10, 2.0 + i % 5, status, status >= 400, False, None, version, attempts, request_id)
    return t


def test_a_tally_keeps_versions_retries_and_trace_ids_through_json_and_merge() -> None:
    a, b = tally({"v1": 9, "v2": 1}, attempts=2), tally({"v1": 5}, request_id=False)
    again = Tally.from_json(json.loads(json.dumps(a.to_json())))
    assert again == a
    again.merge(b)
    warm = ProcessReport(measured_from=START, stopped=START + 10, warmup_requests=3, warmup_retried=2,
                         warmup_status_codes={"200": 2, "504": 1})  # fmt: skip
    other = ProcessReport(measured_from=START, stopped=START + 10, warmup_status_codes={"504": 4})
    figures = Figures.of([again], [warm, other])
    assert figures.versions == {"v1": 14, "v2": 1}
    assert (figures.retried, figures.request_ids, figures.warmup_requests, figures.warmup_retried) == (10, 10, 3, 2)
    assert figures.warmup_status_codes == {"200": 2, "504": 5}  # the warmup's codes of every process
    assert figures.version_latency["v2"].p50_ms == 2.0
    assert Figures.from_json(json.loads(json.dumps(figures.to_json()))) == figures


def test_envoy_counters_of_every_cluster_and_listener_are_kept_apart_and_summed() -> None:
    stats_json = {"stats": [
        {"name": "cluster.outbound|5000||users-pool.upstream_rq_retry", "value": 7},
        {"name": "cluster.outbound|5000||users-pool.upstream_rq_retry_overflow", "value": 1},
        {"name": "cluster.app.outlier_detection.ejections_enforced_total", "value": 2},
        {"name": "http.auth_required.rbac.denied", "value": 4},
        {"name": "http.admin.downstream_rq_total", "value": 99},  # our own reads of the admin
        {"name": "listener_manager.total_listeners_active", "value": 3},
        {"histograms": {}},
    ]}  # fmt: skip
    found = envoy.pick(stats_json)
    assert set(found) == {s["name"] for s in stats_json["stats"][:4] if "name" in s}  # type: ignore[misc]
    assert envoy.split("cluster.outbound|5000||users-pool.upstream_rq_retry") == ("outbound|5000||users-pool",
                                                                                  "upstream_rq_retry")  # fmt: skip
    assert envoy.split("http.auth_required.rbac.denied") == ("auth_required", "rbac.denied")
    counters = envoy.before_after({"cluster.a.upstream_rq_retry": 1}, {"cluster.a.upstream_rq_retry": 5,
                                                                  "cluster.b.upstream_rq_retry": 2})  # fmt: skip
    assert envoy.change(counters, "upstream_rq_retry") == 6 and envoy.change(counters, "upstream_rq_retry", "b") == 2


def test_a_share_has_a_wilson_interval_that_stays_within_0_and_1() -> None:
    found = stats.share(100, 1000)
    assert found is not None and round(found.low, 4) == 0.0829 and round(found.high, 4) == 0.1202
    none = stats.share(0, 50)
    assert none is not None and none.low == 0.0 and 0 < none.high < 0.08
    assert stats.share(0, 0) is None


def phase(experiment: str, name: str, repeat: int, figures: Figures, params: dict[str, str] | None = None,
          envoy_counters: dict[str, list[int]] | None = None) -> Measurement:  # fmt: skip
    return Measurement(label=f"gateway@{experiment}={name}", stack="gateway", role="experiment", repeat=repeat,
                       status="ok", backend="local", folder=f"gateway-{experiment}",
                       params={"experiment": experiment, "variant": name.split("+")[0], "client": "default"}
                       | (params or {}), load=LoadShape(4, 40, 10.0), figures=figures,
                       usage=StackUsage(50.0, 5.0, 100.0), envoy=envoy_counters or {})  # fmt: skip


def figures_of(t: Tally) -> Figures:
    return Figures.of([t], [ProcessReport(measured_from=START, stopped=START + 10)])


@pytest.fixture
def summary(tmp_path: Path) -> str:
    retries = {"cluster.outbound|5000||users-pool.upstream_rq_retry": [0, 300]}
    ms = []
    for r in (1, 2):
        ms += [
            phase("weights", "off", r, figures_of(tally({"v1": 1000}))),
            phase("weights", "on", r, figures_of(tally({"v1": 900, "v2": 100})), {"weights": "90/10"}),
            phase("retries", "off", r, figures_of(tally({"v1": 700}))),
            phase("retries", "on", r, figures_of(tally({"v1": 300}, attempts=2)), envoy_counters=retries),
        ]
    run = RunResult(run_id="20261126-010000", scenario="gateway", started_at="2026-11-26T01:00:00+0000",
                    backend="local", measurements=ms)  # fmt: skip
    run_dir = tmp_path / "runs" / run.run_id
    run_dir.mkdir(parents=True)
    save_run(run_dir, run)
    assert load_run(run_dir) == run  # the new fields read back as written
    return report.write_summaries(tmp_path, run_dir).read_text()


def test_the_summary_shows_each_versions_share_with_its_interval(summary: str) -> None:
    assert "# The API gateway: run 20261126-010000" in summary
    assert "## Weighted routing (`weights`)" in summary
    shares = table_rows(summary.split("## Weighted routing")[1].split("##")[0], "`on`")[1]
    assert shares[1] == "90/10" and shares[4].startswith("10.00 [")  # 200 of 2000 pooled over the repeats
    assert "v2 answered 10.00 % of 2000 requests" in summary


def test_the_summary_puts_the_clients_and_envoys_retries_side_by_side(summary: str) -> None:
    retries = summary.split("## Retries (`retries`)")[1].split("\n## ")[0]
    head = table_rows(retries)[0]
    on = table_rows(retries, "`on`")[0]
    # every repeat counted 300: one value, no [min-max]
    assert on[head.index("retried (clients, whole load)")] == on[head.index("Envoy retries")] == "300"
    assert "clients saw 600 retries in their answers' attempt counts over the whole loads (600 in" in retries
    assert "Envoy counted 600" in retries
