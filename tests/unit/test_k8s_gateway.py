"""The gateway's Kubernetes manifests: no drift, valid for Kubernetes and for Istio's CRD schemas (VirtualService,
DestinationRule, AuthorizationPolicy, RequestAuthentication), and the same numbers as the Envoy config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from bench.gateway import api_gateway, api_gateway_k8s
from bench.stacks.catalog import discover
from tests.unit.test_k8s import K8S_VERSION, istio_validator

STACK = discover(hidden=True)["gateway"]
SPEC = api_gateway.load(STACK.path / "gateway.toml")
TEXTS = api_gateway_k8s.manifest_texts(SPEC)
DOCS = [(name, doc) for name, text in TEXTS.items() for doc in yaml.safe_load_all(text)]
ISTIO_KINDS = ("VirtualService", "DestinationRule", "AuthorizationPolicy", "RequestAuthentication")


def test_committed_files_are_what_gateway_toml_renders() -> None:
    committed = {path.name: path.read_text(encoding="utf-8") for path in (STACK.path / "k8s").glob("*.yaml")}
    assert committed == TEXTS, "regenerate with: python -m bench k8s gateway"


def test_the_yaml_reads_back_as_the_objects() -> None:
    expected = api_gateway_k8s.base(SPEC) + [
        doc for variants in SPEC.experiments.values() for v in variants
        for doc in api_gateway_k8s.variant_objects(SPEC, v)
    ]
    assert [doc for _, doc in DOCS] == expected


@pytest.mark.parametrize("kind", ["Deployment", "Service"])
def test_kubernetes_objects_validate_strictly(kind: str) -> None:
    found = [doc for _, doc in DOCS if doc["kind"] == kind]
    assert len(found) == (len(SPEC.instances) if kind == "Deployment" else len(SPEC.hosts))
    for doc in found:
        assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True) == "1.37"


@pytest.mark.parametrize("kind", ISTIO_KINDS)
def test_istio_objects_validate_against_istios_crd_schema(kind: str) -> None:
    found = [(name, doc) for name, doc in DOCS if doc["kind"] == kind]
    assert found, kind
    for name, doc in found:
        assert istio_validator(kind).is_valid(doc), (name, next(istio_validator(kind).iter_errors(doc), None))


@pytest.mark.parametrize(
    ("kind", "path", "bad"),
    [
        ("AuthorizationPolicy", ["spec", "action"], "PERMIT"),  # not one of Istio's actions
        ("AuthorizationPolicy", ["spec", "rules", 0, "from", 0, "source", "ipBlocks"], "127.0.0.1/32"),  # not a list
        ("RequestAuthentication", ["spec", "jwtRules", 0, "jwksFile"], "jwt/jwks.json"),  # the lab's field, not Istio's
        ("VirtualService", ["spec", "http", 0, "retries", "attempts"], "two"),
        ("VirtualService", ["spec", "http", 0, "route", 0, "weight"], "90"),
    ],
)
def test_istio_schemas_reject_what_the_api_server_would(kind: str, path: list[Any], bad: Any) -> None:
    doc = json.loads(json.dumps(next(d for _, d in DOCS if d["kind"] == kind and _has(d, path[:-1]))))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    with pytest.raises(jsonschema.ValidationError):
        istio_validator(kind).validate(doc)


def _has(doc: Any, path: list[Any]) -> bool:
    try:
        for key in path:
            doc = doc[key]
    except (KeyError, IndexError, TypeError):
        return False
    return True


def test_manifests_and_envoy_carry_the_same_numbers() -> None:
    for variants in SPEC.experiments.values():
        for variant in variants:
            vs, *policies = api_gateway_k8s.variant_objects(SPEC, variant)
            http = vs["spec"]["http"][0]
            action = api_gateway.route_action(variant.http)
            weighted = action.get("weighted_clusters", {}).get("clusters", [])
            assert [c["weight"] for c in weighted] == [d["weight"] for d in http["route"] if len(http["route"]) > 1]
            retries = http.get("retries")
            assert action.get("retry_policy", {}).get("num_retries", 0) == (
                2 if retries is None else retries["attempts"]
            )
            assert action["timeout"] == api_gateway.istio.envoy_duration(http.get("timeout", "0s"))
            for policy in policies:
                if policy["kind"] == "RequestAuthentication":
                    rule = policy["spec"]["jwtRules"][0]
                    assert json.loads(rule["jwks"]) == json.loads((STACK.path / "jwt/jwks.json").read_text())


def test_k8s_gateway_writes_into_a_folder_and_refuses_the_breaker_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.cli import main

    assert main(["k8s", "gateway", "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(TEXTS)
    assert main(["k8s", "gateway", "--breaker", "tight"]) == 2
    assert "ERROR: k8s gateway does not take --breaker" in capsys.readouterr().err
