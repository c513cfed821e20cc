"""The DestinationRule -> Envoy translation follows Istio's."""

from __future__ import annotations

import pytest

from bench.errors import ConfigError
from bench.gateway import istio
from bench.stacks.catalog import discover

BREAKER_FILE = discover()["fastapi_istio"].path / "breaker.toml"


def test_the_default_preset_is_seed_000s_rule_and_keeps_its_old_name() -> None:
    spec = istio.choose(BREAKER_FILE, "seed000")
    assert istio.choose(BREAKER_FILE, "seed") == spec
    limits = istio.envoy_circuit_breakers(spec)["thresholds"][0]
    assert limits["max_connections"] == 100
    assert limits["max_pending_requests"] == 100
    assert limits["max_requests"] == istio.UNSET  # http2MaxRequests unset -> Istio's 2^32-1
    assert limits["max_retries"] == istio.UNSET
    outlier = istio.envoy_outlier_detection(spec)
    assert outlier == {
        "enforcing_success_rate": 0,
        "consecutive_gateway_failure": 100,
        "enforcing_consecutive_gateway_failure": 100,
        "enforcing_consecutive_5xx": 0,
        "interval": "1s",
        "base_ejection_time": "600s",
        "max_ejection_percent": 10,
    }
    options = istio.envoy_protocol_options(spec)["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert options["common_http_protocol_options"] == {"max_requests_per_connection": 100}


def test_off_preset_breaks_nothing() -> None:
    spec = istio.choose(BREAKER_FILE, "off")
    limits = istio.envoy_circuit_breakers(spec)["thresholds"][0]
    assert {limits[k] for k in ("max_connections", "max_pending_requests", "max_requests")} == {istio.UNSET}
    assert istio.envoy_outlier_detection(spec) is None
    assert istio.envoy_protocol_options(spec) == {}


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as exc:
        istio.choose(BREAKER_FILE, "loose")
    assert exc.value.tip == "known presets: seed000, tight, off"


@pytest.mark.parametrize(("given", "expected"), [("1s", "1s"), ("10m", "600s"), ("100ms", "0.1s"), ("1h", "3600s")])
def test_durations(given: str, expected: str) -> None:
    assert istio.envoy_duration(given) == expected
