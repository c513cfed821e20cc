"""The Kubernetes manifests: no drift, valid for Kubernetes and for Istio, same breaker as Envoy's."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from bench.gateway import istio, istio_k8s
from bench.stacks.catalog import discover

STACK_DIR = discover()["fastapi_istio"].path
PRESETS = istio.load_presets(STACK_DIR / "breaker.toml")
ISTIO_SCHEMAS = Path(__file__).resolve().parent.parent / "data" / "istio"
K8S_VERSION = "1.37.0"  # the newest schema set kubernetes-validate 1.37.0 ships (offline)
INT_FORMATS = jsonschema.FormatChecker(formats=())  # the CRD's `format: int32`, which jsonschema lacks


def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


INT_FORMATS.checks("int32")(_int32)


def manifests(preset: str) -> dict[str, dict[str, Any]]:
    """kind -> rendered manifest for one preset."""
    return {doc["kind"]: doc for doc in istio_k8s.render_manifests(PRESETS[preset])}


def test_committed_files_are_what_the_seed_preset_renders() -> None:
    committed = {path.name: path.read_text(encoding="utf-8") for path in (STACK_DIR / "k8s").glob("*.yaml")}
    regenerate = "regenerate with: python -m bench k8s --breaker seed000"
    assert committed == istio_k8s.manifest_texts(PRESETS["seed000"]), regenerate


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_yaml_reads_back_as_the_manifests(preset: str) -> None:
    texts = istio_k8s.manifest_texts(PRESETS[preset])
    assert [yaml.safe_load(text) for text in texts.values()] == istio_k8s.render_manifests(PRESETS[preset])


def test_write_manifests_writes_the_four_files(tmp_path: Path) -> None:
    written = istio_k8s.write_manifests(PRESETS["tight"], tmp_path / "out")
    assert sorted(path.name for path in written) == sorted(istio_k8s.FILES.values())
    rule = yaml.safe_load((tmp_path / "out" / "destination-rule.yaml").read_text(encoding="utf-8"))
    assert rule["spec"]["trafficPolicy"]["connectionPool"]["tcp"]["maxConnections"] == 1


@pytest.mark.parametrize("kind", ["Deployment", "Service"])
def test_kubernetes_objects_validate_strictly(kind: str) -> None:
    assert kubernetes_validate.validate(manifests("seed000")[kind], K8S_VERSION, strict=True) == "1.37"


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("kind", ["DestinationRule", "VirtualService"])
def test_istio_objects_validate_against_istios_crd_schema(preset: str, kind: str) -> None:
    istio_validator(kind).validate(manifests(preset)[kind])


@pytest.mark.parametrize(
    "policy",
    [
        {"connectionPool": {"tcp": {"maxConection": 100}}},  # a misspelt field
        {"connectionPool": {"tcp": {"maxConnections": "100"}}},  # a string for an int32
        {"connectionPool": {"tcp": {"maxConnections": 2**31}}},  # beyond int32
        {"loadBalancer": None, "simple": "ROUND_ROBIN"},  # seed 000's own indentation slip
    ],
)
def test_istio_schema_rejects_what_the_api_server_would(policy: dict[str, Any]) -> None:
    rule = manifests("seed000")["DestinationRule"]
    rule["spec"]["trafficPolicy"] = policy
    with pytest.raises(jsonschema.ValidationError):
        istio_validator("DestinationRule").validate(rule)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_destination_rule_and_envoy_config_carry_the_same_numbers(preset: str) -> None:
    policy = manifests(preset)["DestinationRule"]["spec"].get("trafficPolicy", {})
    assert envoy_view_of(policy) == envoy_view_of_breaker(PRESETS[preset])


def envoy_view_of(policy: dict[str, Any]) -> dict[str, Any]:
    """Istio's documented field mapping, applied by hand to a DestinationRule's trafficPolicy."""
    pool, od = policy.get("connectionPool", {}), policy.get("outlierDetection", {})
    tcp, http = pool.get("tcp", {}), pool.get("http", {})
    view: dict[str, Any] = {
        "max_connections": tcp.get("maxConnections", istio.UNSET),
        "max_pending_requests": http.get("http1MaxPendingRequests", istio.UNSET),
        "max_requests": http.get("http2MaxRequests", istio.UNSET),
        "max_retries": http.get("maxRetries", istio.UNSET),
        "max_requests_per_connection": http.get("maxRequestsPerConnection"),
    }
    if od:
        view["consecutive_gateway_failure"] = od["consecutiveErrors"]
        view["interval"] = istio.envoy_duration(od["interval"])
        view["base_ejection_time"] = istio.envoy_duration(od["baseEjectionTime"])
        view["max_ejection_percent"] = od["maxEjectionPercent"]
    return view


def envoy_view_of_breaker(spec: istio.BreakerSpec) -> dict[str, Any]:
    """The same values, read from what bench/gateway/istio.py writes into the local Envoy config."""
    limits = istio.envoy_circuit_breakers(spec)["thresholds"][0]
    view = {key: limits[key] for key in ("max_connections", "max_pending_requests", "max_requests", "max_retries")}
    options = istio.envoy_protocol_options(spec).get("envoy.extensions.upstreams.http.v3.HttpProtocolOptions")
    view["max_requests_per_connection"] = (
        options["common_http_protocol_options"]["max_requests_per_connection"] if options else None
    )
    outlier = istio.envoy_outlier_detection(spec) or {}
    keys = ("consecutive_gateway_failure", "interval", "base_ejection_time", "max_ejection_percent")
    return view | {key: outlier[key] for key in keys if key in outlier}


def istio_validator(kind: str) -> jsonschema.Draft202012Validator:
    """A validator from Istio's CRD schema (tests/data/istio), closed to unknown fields."""
    stored = json.loads((ISTIO_SCHEMAS / f"{kind.lower()}_v1.json").read_text(encoding="utf-8"))
    schema = closed(copy.deepcopy(stored["openAPIV3Schema"]))
    # apiVersion, kind and metadata are checked by the API server itself, not by the CRD schema.
    schema["properties"] |= {
        "apiVersion": {"const": stored["apiVersion"]},
        "kind": {"const": stored["kind"]},
        "metadata": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
    }
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    return jsonschema.Draft202012Validator(schema, format_checker=INT_FORMATS)


def closed(schema: Any) -> Any:
    """Add `additionalProperties: false` to every object schema that lists its properties."""
    if isinstance(schema, dict):
        open_ = "additionalProperties" in schema or schema.get("x-kubernetes-preserve-unknown-fields")
        if "properties" in schema and not open_:
            schema["additionalProperties"] = False
        for value in schema.values():
            closed(value)
    elif isinstance(schema, list):
        for value in schema:
            closed(value)
    return schema
