"""Istio's objects rendered the way Istio renders them for Envoy: the DestinationRule circuit breaker.

(bench/gateway/istio_k8s.py writes the same objects as Kubernetes manifests.) A stack's breaker file
(breaker.toml) holds named presets of `spec.trafficPolicy` in Istio's own field names. This
module turns one preset into the Envoy cluster fields Istio would generate
(istio/istio pilot/pkg/networking/core/cluster_traffic_policy.go):

- tcp.maxConnections            -> circuit_breakers.thresholds[0].max_connections
- http.http1MaxPendingRequests  -> max_pending_requests
- http.http2MaxRequests         -> max_requests
- http.maxRetries               -> max_retries
  (unset: 2^32-1, Istio's own default, not Envoy's 1024/3)
- http.maxRequestsPerConnection -> HttpProtocolOptions.common_http_protocol_options
- outlierDetection.consecutiveErrors (deprecated: gateway errors 502/503/504)
                                -> consecutive_gateway_failure; consecutive5xxErrors -> consecutive_5xx
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ConfigError

UNSET = 2**32 - 1  # what Istio writes for a threshold the DestinationRule leaves unset
DEFAULT_PRESET = "seed000"  # seed 000's DestinationRule
PRESET_ALIASES = {"seed": DEFAULT_PRESET}  # the name it had before: `--breaker seed` still works
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class BreakerSpec:
    """One preset: `connectionPool` and `outlierDetection` exactly as the TOML gives them."""

    name: str
    connection_pool: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    outlier_detection: Mapping[str, Any] = field(default_factory=dict)

    def traffic_policy(self) -> dict[str, Any]:
        """The DestinationRule's `spec.trafficPolicy` for this preset (empty when `off`)."""
        policy: dict[str, Any] = {}
        if self.connection_pool:
            policy["connectionPool"] = {k: dict(v) for k, v in self.connection_pool.items()}
        if self.outlier_detection:
            policy["outlierDetection"] = dict(self.outlier_detection)
        return policy


def load_presets(path: Path) -> dict[str, BreakerSpec]:
    """Read every preset of a breaker file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read breaker file {path}: {exc}") from exc
    return {
        name: BreakerSpec(
            name=name,
            connection_pool=raw.get("connectionPool", {}),
            outlier_detection=raw.get("outlierDetection", {}),
        )
        for name, raw in data.items()
    }


def choose(path: Path, name: str) -> BreakerSpec:
    """The preset called `name`; an unknown name lists the known ones."""
    presets = load_presets(path)
    name = PRESET_ALIASES.get(name, name)
    if name not in presets:
        raise ConfigError(f"breaker preset {name!r} not found", tip=f"known presets: {', '.join(presets)}")
    return presets[name]


def envoy_circuit_breakers(spec: BreakerSpec) -> dict[str, Any]:
    """Envoy `circuit_breakers` for the cluster, with Istio's defaults for unset fields."""
    tcp = spec.connection_pool.get("tcp", {})
    http = spec.connection_pool.get("http", {})
    return {
        "thresholds": [
            {
                "max_connections": int(tcp.get("maxConnections", UNSET)),
                "max_pending_requests": int(http.get("http1MaxPendingRequests", UNSET)),
                "max_requests": int(http.get("http2MaxRequests", UNSET)),
                "max_retries": int(http.get("maxRetries", UNSET)),
                "track_remaining": True,
            }
        ]
    }


def envoy_outlier_detection(spec: BreakerSpec) -> dict[str, Any] | None:
    """Envoy `outlier_detection`, or None when the rule has none (Envoy then never ejects)."""
    od = spec.outlier_detection
    if not od:
        return None
    out: dict[str, Any] = {"enforcing_success_rate": 0}  # Istio disables success-rate ejection
    if "consecutiveErrors" in od:  # deprecated field: only 502/503/504 count (istio/api#617)
        out["consecutive_gateway_failure"] = int(od["consecutiveErrors"])
        out["enforcing_consecutive_gateway_failure"] = 100
        out["enforcing_consecutive_5xx"] = 0
    if "consecutiveGatewayErrors" in od:
        out["consecutive_gateway_failure"] = int(od["consecutiveGatewayErrors"])
        out["enforcing_consecutive_gateway_failure"] = 100 if od["consecutiveGatewayErrors"] else 0
    if "consecutive5xxErrors" in od:
        out["consecutive_5xx"] = int(od["consecutive5xxErrors"])
        out["enforcing_consecutive_5xx"] = 100 if od["consecutive5xxErrors"] else 0
    for istio_key, envoy_key in (("interval", "interval"), ("baseEjectionTime", "base_ejection_time")):
        if istio_key in od:
            out[envoy_key] = envoy_duration(str(od[istio_key]))
    if "maxEjectionPercent" in od:
        out["max_ejection_percent"] = int(od["maxEjectionPercent"])
    return out


def envoy_protocol_options(spec: BreakerSpec) -> dict[str, Any]:
    """`typed_extension_protocol_options` carrying maxRequestsPerConnection (1.40 has no
    cluster-level field for it any more); empty when the rule leaves it unset."""
    per_conn = spec.connection_pool.get("http", {}).get("maxRequestsPerConnection")
    if not per_conn:
        return {}
    return {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "common_http_protocol_options": {"max_requests_per_connection": int(per_conn)},
            "explicit_http_config": {"http_protocol_options": {}},
        }
    }


def template_context(spec: BreakerSpec) -> dict[str, str]:
    """The `breaker.*` placeholders of envoy.yaml, as JSON (which YAML reads as is)."""
    return {
        "breaker.name": spec.name,
        "breaker.circuit_breakers": json.dumps(envoy_circuit_breakers(spec)),
        "breaker.outlier_detection": json.dumps(envoy_outlier_detection(spec)),
        "breaker.protocol_options": json.dumps(envoy_protocol_options(spec)),
    }


def envoy_duration(text: str) -> str:
    """Istio duration (`1s`, `10m`, `100ms`) -> Envoy JSON duration (`600s`)."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ConfigError(f"bad duration {text!r} in breaker spec (use e.g. 1s, 10m, 100ms)")
    seconds = float(match.group(1)) * _SECONDS[match.group(2)]
    return f"{seconds:g}s"
