"""Read Envoy's own counters from its admin interface (`/stats?format=json`), never its text."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

CLUSTER = "app"  # the upstream cluster of stacks/fastapi_istio/envoy.yaml
# What the circuit breaker and outlier detection did, as Envoy counts it.
COUNTERS = (
    f"cluster.{CLUSTER}.upstream_rq_total",
    f"cluster.{CLUSTER}.upstream_rq_pending_overflow",
    f"cluster.{CLUSTER}.upstream_cx_overflow",
    f"cluster.{CLUSTER}.upstream_rq_retry_overflow",
    f"cluster.{CLUSTER}.upstream_rq_5xx",
    f"cluster.{CLUSTER}.upstream_cx_total",
    f"cluster.{CLUSTER}.outlier_detection.ejections_enforced_total",
    f"cluster.{CLUSTER}.outlier_detection.ejections_active",
)


def read_counters(admin_url: str, timeout: float = 5.0) -> dict[str, int]:
    """The COUNTERS now (0 for one Envoy has not created yet)."""
    with urllib.request.urlopen(f"{admin_url}/stats?format=json", timeout=timeout) as response:
        stats = json.loads(response.read())
    return pick(stats)


def pick(stats: dict[str, Any]) -> dict[str, int]:
    """COUNTERS out of Envoy's JSON stats document ({"stats": [{"name", "value"}, ...]})."""
    values = {s["name"]: s["value"] for s in stats.get("stats", []) if "name" in s and "value" in s}
    return {name: int(values.get(name, 0)) for name in COUNTERS}


def deltas(before: dict[str, int], after: dict[str, int]) -> dict[str, list[int]]:
    """name -> [before, after] for the run's record."""
    return {name: [before.get(name, 0), after.get(name, 0)] for name in COUNTERS}
