"""Read Envoy's own counters from its admin interface (`/stats?format=json`), never its text.

Every upstream cluster's counters are read, whatever the clusters are called (the breaker's
sidecar has one, `app`; the gateway one per upstream service), and every listener's HTTP
filter counters (RBAC, JWT authentication), named by the listener's stat prefix.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

# What the circuit breaker, outlier detection, retries and timeouts did, per cluster.
CLUSTER_COUNTERS = (
    "upstream_rq_total",
    "upstream_rq_pending_overflow",
    "upstream_cx_overflow",
    "upstream_rq_retry",
    "upstream_rq_retry_success",
    "upstream_rq_retry_overflow",
    "upstream_rq_retry_limit_exceeded",
    "upstream_rq_timeout",
    "upstream_rq_per_try_timeout",
    "upstream_rq_5xx",
    "upstream_cx_total",
    "outlier_detection.ejections_enforced_total",
    "outlier_detection.ejections_active",
)
# What the HTTP filters decided, per listener (`http.<stat_prefix>.<counter>`).
HTTP_COUNTERS = ("downstream_rq_total", "rbac.allowed", "rbac.denied", "jwt_authn.allowed", "jwt_authn.denied")
_SCOPES = {"cluster": CLUSTER_COUNTERS, "http": HTTP_COUNTERS}
_ADMIN_PREFIX = "http.admin."  # the admin interface's own requests (our reads) are not the load's


def read_counters(admin_url: str, timeout: float = 5.0) -> dict[str, int]:
    """Every counter of interest now, by its full name (`cluster.app.upstream_rq_total`)."""
    with urllib.request.urlopen(f"{admin_url}/stats?format=json", timeout=timeout) as response:
        stats = json.loads(response.read())
    return pick(stats)


def pick(stats: dict[str, Any]) -> dict[str, int]:
    """The counters of interest out of Envoy's JSON stats document ({"stats": [{"name", "value"}, ...]})."""
    found = {}
    for stat in stats.get("stats", []):
        name, value = stat.get("name"), stat.get("value")
        if isinstance(name, str) and value is not None and split(name) is not None:
            found[name] = int(value)
    return found


def split(name: str) -> tuple[str, str] | None:
    """`cluster.users-pool.upstream_rq_retry` -> ("users-pool", "upstream_rq_retry"); `http.weights_0.rbac.denied`
    -> ("weights_0", "rbac.denied"); None for a stat that is not one of interest."""
    kind, _, rest = name.partition(".")
    if name.startswith(_ADMIN_PREFIX):
        return None
    for counter in _SCOPES.get(kind, ()):
        if rest.endswith("." + counter):
            return rest[: -len(counter) - 1], counter
    return None


def before_after(before: dict[str, int], after: dict[str, int]) -> dict[str, list[int]]:
    """name -> [before, after] for the run's record (0 for a counter one side lacks)."""
    return {name: [before.get(name, 0), after.get(name, 0)] for name in sorted({*before, *after})}


def change(counters: dict[str, list[int]], counter: str, scope: str | None = None) -> int:
    """How much `counter` grew during a load, in one scope (a cluster, a listener) or summed over all."""
    total = 0
    for name, (before, after) in counters.items():
        found = split(name)
        if found is not None and found[1] == counter and scope in (None, found[0]):
            total += after - before
    return total
