"""The gateway's Istio objects -> Envoy translation follows Istio's, and bad configuration is one line."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.errors import ConfigError
from bench.gateway import api_gateway, jwt
from bench.stacks.catalog import discover

ROOT = Path(__file__).resolve().parents[2]
STACK = discover(hidden=True)["gateway"]
SPEC = api_gateway.load(STACK.path / "gateway.toml")
CONTEXT = {"bind_host": "127.0.0.1"} | {f"host.{p}": "127.0.0.1" for p in STACK.ports}
CONTEXT |= {f"port.{p}": str(9000 + i) for i, p in enumerate(STACK.ports)}


def variant(experiment: str, name: str) -> api_gateway.ExperimentVariant:
    return next(v for v in SPEC.experiments[experiment] if v.name == name)


def rendered(experiment: str, split: str | None = None) -> dict[str, Any]:
    """The experiment's listeners and clusters, as the envoy.yaml placeholders carry them."""
    params = {"experiment": experiment} | ({"split": split} if split else {})
    context = api_gateway.template_context(STACK.path / "gateway.toml", params, CONTEXT)
    return {"listeners": json.loads(context["gateway.listeners"]), "clusters": json.loads(context["gateway.clusters"])}


def route_of(listener: dict[str, Any]) -> dict[str, Any]:
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    route: dict[str, Any] = hcm["route_config"]["virtual_hosts"][0]["routes"][0]
    return route


def filters_of(listener: dict[str, Any]) -> dict[str, Any]:
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return {f["name"]: f.get("typed_config", {}) for f in hcm["http_filters"]}


def test_the_stack_serves_every_variant_and_names_every_instance() -> None:
    assert set(api_gateway.LISTENERS) <= set(STACK.ports) and STACK.target == api_gateway.LISTENERS[0]
    assert set(SPEC.instances) <= set(STACK.ports)
    assert {p.name for p in STACK.processes} == {*SPEC.instances, "envoy"}
    for experiment, variants in SPEC.experiments.items():
        assert variants[0].name == "off", experiment  # listener 0 answers the readiness check: never refusing


def test_the_instances_switches_agree_in_stack_toml_the_compose_file_and_gateway_toml() -> None:
    compose = yaml.safe_load((STACK.path / "docker-compose.yml").read_text())["services"]
    for proc in STACK.processes:
        if proc.name == "envoy":
            continue
        faults = {k: v for k, v in proc.env.items() if k.startswith("BENCH_FAULT_")}
        in_toml = {k: v for k, v in SPEC.instances[proc.name].env.items() if k.startswith("BENCH_FAULT_")}
        assert faults == in_toml, proc.name
        in_compose = {
            k: v for k, v in (compose[proc.name].get("environment") or {}).items() if k.startswith("BENCH_FAULT_")
        }
        assert in_compose == faults, proc.name
        assert f"0.0.0.0:{STACK.ports[proc.name]}" in compose[proc.name]["command"], proc.name
    assert compose["traced"]["environment"]["BENCH_TRACE_LOG"] == f"/trace/{api_gateway.TRACE_LOG}"
    assert "urlopen" not in str(compose["traced"]["healthcheck"])  # an HTTP probe would be logged, without a trace id
    assert (
        STACK.processes[[p.name for p in STACK.processes].index("traced")]
        .env["BENCH_TRACE_LOG"]
        .endswith(f"/{api_gateway.TRACE_LOG}")
    )


def test_one_destination_is_a_cluster_several_are_weighted_clusters_with_their_version_header() -> None:
    listeners = rendered("weights", split="70/30")["listeners"]
    off, on, split = (route_of(lst) for lst in listeners)
    assert off["route"]["cluster"] == "outbound|5000|v1|users"
    assert off["response_headers_to_add"][0]["header"] == {"key": "x-bench-version", "value": "v1"}
    weighted = on["route"]["weighted_clusters"]["clusters"]
    assert [(c["name"], c["weight"]) for c in weighted] == [
        ("outbound|5000|v1|users", 90),
        ("outbound|5000|v2|users", 10),
    ]
    assert [c["response_headers_to_add"][0]["header"]["value"] for c in weighted] == ["v1", "v2"]
    assert [c["weight"] for c in split["route"]["weighted_clusters"]["clusters"]] == [70, 30]


def test_a_subset_cluster_holds_the_instances_with_its_labels() -> None:
    clusters = {c["name"]: c for c in rendered("weights")["clusters"]}
    ports = {
        name: [
            e["endpoint"]["address"]["socket_address"]["port_value"]
            for e in c["load_assignment"]["endpoints"][0]["lb_endpoints"]
        ]
        for name, c in clusters.items()
    }
    assert ports == {
        "outbound|5000|v1|users": [int(CONTEXT["port.v1"])],
        "outbound|5000|v2|users": [int(CONTEXT["port.v2"])],
    }
    assert {c["lb_policy"] for c in clusters.values()} == {"LEAST_REQUEST"}  # Istio's default


def test_retries_follow_istios_convert_policy() -> None:
    assert api_gateway.retry_policy(None) == api_gateway.ISTIO_DEFAULT_RETRIES  # unset: Istio retries twice anyway
    assert api_gateway.retry_policy({"attempts": 0}) is None
    on = api_gateway.retry_policy({"attempts": 3, "retryOn": "5xx,503,reset", "perTryTimeout": "250ms"})
    assert on is not None
    assert (on["num_retries"], on["retry_on"], on["retriable_status_codes"]) == (
        3,
        "5xx,reset,retriable-status-codes",
        [503],
    )
    assert on["per_try_timeout"] == "0.25s" and on["retry_host_predicate"][0]["name"].endswith("previous_hosts")
    off, retrying = (route_of(lst)["route"] for lst in rendered("retries")["listeners"])
    assert "retry_policy" not in off and retrying["retry_policy"]["num_retries"] == 2


def test_an_unset_timeout_is_none_and_a_set_one_is_the_routes() -> None:
    off, on = (route_of(lst)["route"] for lst in rendered("timeouts")["listeners"])
    assert (off["timeout"], on["timeout"]) == ("0s", "0.1s")


def test_the_pool_carries_its_destination_rules_retry_budget() -> None:
    (pool,) = rendered("retries")["clusters"]
    assert pool["circuit_breakers"]["thresholds"][0]["max_retries"] == 100
    assert len(pool["load_assignment"]["endpoints"][0]["lb_endpoints"]) == 3  # two healthy, one faulty


def test_ip_blocks_become_rbac_direct_remote_ip_principals() -> None:
    off, on = rendered("allowlist")["listeners"]
    assert "envoy.filters.http.rbac" not in filters_of(off)
    rules = filters_of(on)["envoy.filters.http.rbac"]["rules"]
    assert rules["action"] == "ALLOW"
    (policy,) = rules["policies"].values()
    blocks = policy["principals"][0]["or_ids"]["ids"][0]["and_ids"]["ids"][0]["or_ids"]["ids"]
    assert [b["direct_remote_ip"] for b in blocks] == [
        {"address_prefix": "127.0.0.1", "prefix_len": 32},
        {"address_prefix": "10.201.16.0", "prefix_len": 25},
    ]


def test_request_authentication_allows_a_missing_token_and_a_required_principal_is_rbac() -> None:
    off, on, required = rendered("auth")["listeners"]
    assert list(filters_of(off)) == ["envoy.filters.http.router"]
    assert list(filters_of(on)) == ["envoy.filters.http.jwt_authn", "envoy.filters.http.router"]
    authn = filters_of(on)["envoy.filters.http.jwt_authn"]
    provider = authn["providers"]["origins-0"]
    assert provider["issuer"] == "https://bench.lab/issuer" and provider["payload_in_metadata"] == "payload"
    assert json.loads(provider["local_jwks"]["inline_string"]) == json.loads((STACK.path / "jwt/jwks.json").read_text())
    assert authn["rules"][0]["requires"] == {
        "requires_any": {"requirements": [{"provider_name": "origins-0"}, {"allow_missing": {}}]}
    }
    assert list(filters_of(required)) == [
        "envoy.filters.http.jwt_authn",
        "envoy.filters.http.rbac",
        "envoy.filters.http.router",
    ]  # authentication before authorization
    (policy,) = filters_of(required)["envoy.filters.http.rbac"]["rules"]["policies"].values()
    principal = policy["principals"][0]["or_ids"]["ids"][0]["and_ids"]["ids"][0]["or_ids"]["ids"][0]
    claims = [p["sourced_metadata"]["metadata_matcher"]["path"][1]["key"] for p in principal["and_ids"]["ids"]]
    assert claims == ["iss", "sub"]


def test_trace_ids_are_issued_and_returned_only_where_the_variant_says() -> None:
    off, on = rendered("trace")["listeners"]
    hcm = [lst["filter_chains"][0]["filters"][0]["typed_config"] for lst in (off, on)]
    assert [(h["generate_request_id"], h["always_set_request_id_in_response"]) for h in hcm] == [
        (False, False),
        (True, True),
    ]


def test_tokens_are_signed_with_the_key_set_and_the_forged_one_is_not() -> None:
    public = json.loads((STACK.path / "jwt/jwks.json").read_text())["keys"][0]
    key_dir = STACK.path / "jwt"
    claims = jwt.verify_rs256(jwt.mint("token", "iss-x", key_dir, now=1000.0), public)
    assert claims["iss"] == "iss-x" and claims["exp"] > 1000
    assert jwt.verify_rs256(jwt.mint("expired", "iss-x", key_dir, now=1000.0), public)["exp"] < 1000 - 60
    with pytest.raises(ValueError, match="does not verify"):
        jwt.verify_rs256(jwt.mint("forged", "iss-x", key_dir), public)


# --- bad configuration: one line and a tip, before anything starts ----------------------------------

BROKEN = {
    "weights not summing to 100": (
        "weight = 10, headers",
        "weight = 20, headers",
        r"route weights \[90, 20\] do not sum to 100",
    ),
    "unknown upstream": ('host = "users-pool"', 'host = "users-poool"', "unknown upstream 'users-poool'"),
    "malformed CIDR": ('"10.201.16.0/25"', '"10.201.16.0/33"', "malformed CIDR '10.201.16.0/33' in ipBlocks"),
}


def broken_stacks(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the stacks folder whose gateway.toml has `old` replaced by `new` (once)."""
    stacks = tmp_path / "stacks"
    shutil.copytree(ROOT / "stacks", stacks)
    toml = stacks / "gateway" / "gateway.toml"
    text = toml.read_text()
    assert old in text
    toml.write_text(text.replace(old, new, 1))
    return stacks


def bench(stacks: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BENCH_STACKS_DIR": str(stacks)}
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_bad_configuration_is_one_line_and_nothing_runs(case: str, tmp_path: Path) -> None:
    old, new, message = BROKEN[case]
    done = bench(broken_stacks(tmp_path, old, new), "gateway", "--backend", "local", "--results", str(tmp_path / "r"))
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1 and re.search(message, errors[0]), done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "r" / "runs").exists()


def test_a_key_file_that_is_not_a_key_set_is_one_line(tmp_path: Path) -> None:
    stacks = broken_stacks(tmp_path, 'jwksFile = "jwt/jwks.json"', 'jwksFile = "jwt/signing-key.json"')
    done = bench(stacks, "gateway", "--experiments", "auth", "--backend", "local")
    assert done.returncode == 2
    assert "signing-key.json is not a JWK set" in done.stderr and "\nTIP: a key set is JSON like" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split", "70/20"], "--split: weights '70/20' do not sum to 100"),
        (["--split", "seventy"], "--split: cannot read 'seventy' as weights"),
        (["--split", "50/30/20"], "--split: experiment 'weights' has no route of 3 weighted destinations"),
        (["--split", "70/30", "--experiments", "retries"], "--split applies to the weighted-routing experiment"),
        (["--experiments", "retries,caching"], "--experiments: unknown experiment 'caching'"),
        (["--processes", "2"], "gateway does not take --processes"),
    ],
)
def test_bad_flags_are_refused_up_front(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from bench.cli import main

    assert main(["gateway", *args, "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"ERROR: {message}" in err and "\nTIP: " in err, err
    assert not (tmp_path / "runs").exists()


def test_a_field_the_renderer_would_drop_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    text = (
        (STACK.path / "gateway.toml")
        .read_text()
        .replace('http.timeout = "100ms"', 'http.timeout = "100ms"\nhttp.mirror = { host = "users" }')
    )
    path.write_text(text)
    shutil.copytree(STACK.path / "jwt", tmp_path / "jwt")
    with pytest.raises(ConfigError, match=r"experiment.timeouts.on.http: 'mirror' is not rendered by the lab"):
        api_gateway.load(path)


def test_the_data_file_is_istios_own_field_names() -> None:
    data = tomllib.loads((STACK.path / "gateway.toml").read_text())
    http_fields = {k for e in data["experiment"].values() for v in e.values() for k in v.get("http", {})}
    assert http_fields == {"route", "retries", "timeout"}  # VirtualService HTTPRoute's own names


def test_a_route_of_100_and_0_keeps_the_lone_destinations_header() -> None:
    http = {"route": [{"destination": {"host": "users", "subset": "v1"}, "weight": 100,
                       "headers": {"response": {"set": {"x-bench-version": "v1"}}}},
                      {"destination": {"host": "users", "subset": "v2"}, "weight": 0}]}  # fmt: skip
    assert api_gateway.route_action(http)["cluster"] == "outbound|5000|v1|users"  # Istio drops weight 0
    assert api_gateway.route_headers(http)[0]["header"]["value"] == "v1"


def test_an_instance_that_is_no_port_of_the_stack_is_one_line() -> None:
    context = {k: v for k, v in CONTEXT.items() if k != "port.slow"}
    with pytest.raises(ConfigError, match="'slow' is no port of the gateway stack"):
        api_gateway.template_context(STACK.path / "gateway.toml", {"experiment": "timeouts"}, context)
