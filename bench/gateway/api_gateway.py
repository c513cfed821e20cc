"""The API gateway's Istio objects, rendered for Envoy the way Istio renders them.

(bench/gateway/api_gateway_k8s.py writes the same objects as Kubernetes manifests.) The gateway stack's
gateway.toml holds, in Istio's field names: the upstream instances, the hosts they make up (a
Service and its DestinationRule each), and per experiment its variants: a VirtualService http
route, and the AuthorizationPolicy and RequestAuthentication that apply. One experiment becomes
one Envoy config, each variant on a listener of its own (LISTENERS), so an experiment's `off` and
`on` run side by side through the same upstream processes. Istio's translation, as followed here
(istio/istio pilot/pkg/networking/core/route/route.go and retry/retry.go, cluster_traffic_policy.go,
pilot/pkg/security/authz/model, pilot/pkg/security/authn/policy_applier.go):

- route[].destination host + subset -> cluster `outbound|PORT|SUBSET|HOST` (LEAST_REQUEST, Istio's
  default); one destination -> `cluster`, several -> `weighted_clusters` (weights sum to 100,
  weight 0 dropped); a destination's headers.response.set -> its response_headers_to_add
- retries unset -> Istio's default policy (2 retries on connect-failure, refused-stream,
  unavailable, cancelled, retriable-status-codes; another host each time, up to 5 host
  selections); attempts 0 -> none; retryOn's numbers -> retriable_status_codes
- timeout unset -> 0s (Istio switches Envoy's 15 s default off), else the route's timeout
- DestinationRule trafficPolicy -> the cluster's circuit breakers etc. (bench/gateway/istio.py)
- AuthorizationPolicy -> the RBAC filter, action ALLOW or DENY: a rule's from[] ORed, a source's
  fields ANDed, a field's values ORed; ipBlocks -> direct_remote_ip (the TCP peer), and
  requestPrincipals -> the token's iss/sub, which jwt_authn puts in its metadata
- RequestAuthentication jwtRules -> jwt_authn providers `origins-N` (payload in metadata), each
  required as {that provider OR allow_missing}: a bad token gets 401, no token passes on

Lab additions, not Istio's: a variant's `clients` (who loads it), `requestId` (whether the gateway
issues x-request-id; Istio's sidecars always do), `jwksFile` (a file for Istio's inline `jwks`),
and instrumentation on every route: `x-envoy-attempt-count` and (when issued) `x-request-id` in
the answers, so the clients can count retries and trace ids.
"""

from __future__ import annotations

import ipaddress
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.errors import ConfigError
from bench.gateway import istio, jwt

LISTENERS = ("gateway", "gateway_1", "gateway_2")  # stack ports of the variants' listeners, in order
SERVICE_PORT = 5000  # the Services' port in the manifests (seed 000's containerPort), in cluster names
APPS = ("flask", "fastapi")  # the users API's two apps (apps/)
TRACE_LOG = "trace.log"  # the traced instance's log, in the bring-up's work folder (stack.toml, compose)
CLIENTS = ("default", "outside", *jwt.TOKEN_KINDS)  # who a variant can be loaded as (bench/scenarios/gateway.py)
NO_TIMEOUT = "0s"
_TYPES = "type.googleapis.com/envoy.extensions"
ISTIO_DEFAULT_RETRIES: dict[str, Any] = {  # retry.go DefaultPolicy(): the policy of a route that names none
    "num_retries": 2,
    "retry_on": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
    "retry_host_predicate": [{
        "name": "envoy.retry_host_predicates.previous_hosts",
        "typed_config": {"@type": f"{_TYPES}.retry.host.previous_hosts.v3.PreviousHostsPredicate"},
    }],
    "host_selection_retry_max_attempts": 5,
}  # fmt: skip
_ROUTE_KEYS = {"route", "retries", "timeout"}
_DESTINATION_KEYS = {"destination", "weight", "headers"}
_RETRY_KEYS = {"attempts", "perTryTimeout", "retryOn"}
_SOURCE_KEYS = {"ipBlocks", "requestPrincipals"}
_JWT_KEYS = {"issuer", "jwksFile", "forwardOriginalToken"}
_VARIANT_KEYS = {"http", "authorizationPolicy", "requestAuthentication", "requestId", "clients"}


@dataclass(frozen=True)
class Instance:
    """One upstream process (local) or service (compose), named as the stack port it listens on."""

    name: str
    app: str  # flask | fastapi
    labels: Mapping[str, str]
    env: Mapping[str, str]  # its switches (the fault switch), as stack.toml and the compose file set them


@dataclass(frozen=True)
class Host:
    """A Service the gateway routes to, with its DestinationRule's subsets and traffic policy."""

    name: str
    instances: tuple[str, ...]
    subsets: tuple[Mapping[str, Any], ...] = ()
    traffic_policy: Mapping[str, Any] = field(default_factory=dict)

    def members(self, subset: str | None, instances: Mapping[str, Instance]) -> list[str]:
        """The instances behind the host, or behind one of its subsets (those carrying its labels)."""
        if subset is None:
            return list(self.instances)
        labels = next(s.get("labels", {}) for s in self.subsets if s["name"] == subset)
        return [i for i in self.instances if all(instances[i].labels.get(k) == v for k, v in labels.items())]


@dataclass(frozen=True)
class ExperimentVariant:
    """One side of an experiment (`off`, `on`, ...), on a listener of its own: a VirtualService http route and
    the policies that apply. (A row a run measures is bench/stacks/variants.py's `Variant`.)"""

    experiment: str
    name: str
    http: Mapping[str, Any]
    authorization_policy: Mapping[str, Any] | None = None
    request_authentication: Mapping[str, Any] | None = None
    request_id: bool = True
    clients: tuple[str, ...] = ("default",)

    @property
    def weights(self) -> list[int]:
        """The route's weights, in order (one destination: [100])."""
        return [int(d.get("weight", 100)) for d in self.http["route"]]


@dataclass(frozen=True)
class GatewaySpec:
    """Everything gateway.toml holds, checked."""

    path: Path
    instances: Mapping[str, Instance]
    hosts: Mapping[str, Host]
    experiments: Mapping[str, tuple[ExperimentVariant, ...]]

    def variants(self, experiment: str, split: Sequence[int] | None = None) -> tuple[ExperimentVariant, ...]:
        """The experiment's variants; with `split`, one more: the weighted variant with these weights."""
        if experiment not in self.experiments:
            raise ConfigError(f"experiment {experiment!r} not found in {self.path}",
                              tip=f"known experiments: {', '.join(self.experiments)}")  # fmt: skip
        found = self.experiments[experiment]
        if split is None:
            return found
        weighted = next((v for v in found if len(v.http["route"]) > 1), None)
        if weighted is None or len(weighted.weights) != len(split):
            raise ConfigError(f"--split: experiment {experiment!r} has no route of {len(split)} weighted destinations",
                              tip="give one weight per destination of its weighted route, e.g. 70/30")  # fmt: skip
        route = [dict(d, weight=w) for d, w in zip(weighted.http["route"], split, strict=True)]
        split_variant = replace(weighted, name="split", http=dict(weighted.http, route=route))
        return _fit(experiment, (*found, split_variant), self.path)


def load(path: Path) -> GatewaySpec:
    """Read and check gateway.toml; anything wrong is one ConfigError naming the file and the place."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read gateway file {path}: {exc}") from exc
    instances = {name: _instance(name, raw, path) for name, raw in data.get("instances", {}).items()}
    hosts = {name: _host(name, raw, instances, path) for name, raw in data.get("hosts", {}).items()}
    experiments = {
        experiment: _fit(experiment, tuple(_variant(experiment, name, raw, hosts, path) for name, raw in found.items()),
                         path)
        for experiment, found in data.get("experiment", {}).items()
    }  # fmt: skip
    if not experiments:
        raise ConfigError(f"{path}: no [experiment.NAME.VARIANT] tables")
    return GatewaySpec(path, instances, hosts, experiments)


def parse_split(text: str) -> tuple[int, ...]:
    """`70/30` -> (70, 30): weights for the weighted route's destinations, in order, summing to 100."""
    try:
        weights = tuple(int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigError(
            f"--split: cannot read {text!r} as weights", tip="use e.g. 70/30 (v1/v2, summing to 100)"
        ) from None
    if len(weights) < 2 or any(w < 0 for w in weights) or sum(weights) != 100:
        raise ConfigError(f"--split: weights {text!r} do not sum to 100", tip="use e.g. 70/30 (v1/v2)")
    return weights


# --- checking the file ------------------------------------------------------------------------------


def _fit(experiment: str, variants: tuple[ExperimentVariant, ...], path: Path) -> tuple[ExperimentVariant, ...]:
    if len(variants) > len(LISTENERS):
        raise ConfigError(f"{path}: experiment {experiment!r} has {len(variants)} variants; the gateway has "
                          f"{len(LISTENERS)} listeners (stack ports {', '.join(LISTENERS)})")  # fmt: skip
    return variants


def _instance(name: str, raw: Mapping[str, Any], path: Path) -> Instance:
    app = str(raw.get("app", ""))
    if app not in APPS:
        raise ConfigError(f"{path}: instances.{name}: app {app!r} is not one of the lab's",
                          tip=f"apps: {', '.join(APPS)}")  # fmt: skip
    return Instance(name, app, dict(raw.get("labels", {})), {k: str(v) for k, v in raw.get("env", {}).items()})


def _host(name: str, raw: Mapping[str, Any], instances: Mapping[str, Instance], path: Path) -> Host:
    unknown = [i for i in raw.get("instances", []) if i not in instances]
    if unknown or not raw.get("instances"):
        raise ConfigError(f"{path}: hosts.{name}: unknown or no instances {unknown}",
                          tip=f"instances: {', '.join(instances)}")  # fmt: skip
    host = Host(name, tuple(raw["instances"]), tuple(raw.get("subsets", [])), dict(raw.get("trafficPolicy", {})))
    for subset in host.subsets:
        if not host.members(subset["name"], instances):
            raise ConfigError(f"{path}: hosts.{name}: subset {subset['name']!r} selects no instance")
    return host


def _variant(experiment: str, name: str, raw: Mapping[str, Any], hosts: Mapping[str, Host],
             path: Path) -> ExperimentVariant:
    where = f"{path}: experiment.{experiment}.{name}"
    _known_keys(raw, _VARIANT_KEYS, where)
    variant = ExperimentVariant(experiment, name, raw.get("http", {}), raw.get("authorizationPolicy"),
                                raw.get("requestAuthentication"), bool(raw.get("requestId", True)),
                                tuple(raw.get("clients", ["default"])))  # fmt: skip
    _check_http(variant.http, hosts, where)
    if variant.authorization_policy is not None:
        _check_authorization(variant.authorization_policy, f"{where}.authorizationPolicy")
    if variant.request_authentication is not None:
        _check_authentication(variant.request_authentication, path.parent, f"{where}.requestAuthentication")
    bad = [c for c in variant.clients if c not in CLIENTS]
    if bad:
        raise ConfigError(f"{where}: unknown client {bad[0]!r}", tip=f"clients: {', '.join(CLIENTS)}")
    return variant


def _known_keys(raw: Mapping[str, Any], known: set[str], where: str) -> None:
    """Refuse a field the renderer does not translate, rather than dropping it silently."""
    extra = sorted(set(raw) - known)
    if extra:
        raise ConfigError(
            f"{where}: {extra[0]!r} is not rendered by the lab", tip=f"fields: {', '.join(sorted(known))}"
        )


def _check_http(http: Mapping[str, Any], hosts: Mapping[str, Host], where: str) -> None:
    _known_keys(http, _ROUTE_KEYS, f"{where}.http")
    route = http.get("route")
    if not route:
        raise ConfigError(f"{where}.http: no route")
    for d in route:
        _known_keys(d, _DESTINATION_KEYS, f"{where}.http.route")
        host, subset = d["destination"].get("host"), d["destination"].get("subset")
        if host not in hosts:
            raise ConfigError(f"{where}: unknown upstream {host!r}", tip=f"hosts: {', '.join(hosts)}")
        if subset is not None and subset not in [s["name"] for s in hosts[host].subsets]:
            raise ConfigError(f"{where}: host {host!r} has no subset {subset!r}")
    weights = [d.get("weight") for d in route]
    if len(route) > 1 and (None in weights or sum(weights) != 100):
        raise ConfigError(f"{where}: route weights {weights} do not sum to 100",
                          tip="Istio requires the weights of several destinations to sum to 100")  # fmt: skip
    retries = http.get("retries", {})
    _known_keys(retries, _RETRY_KEYS, f"{where}.http.retries")
    for key in ("perTryTimeout",):
        if key in retries:
            _duration(retries[key], f"{where}.http.retries.{key}")
    if "timeout" in http:
        _duration(http["timeout"], f"{where}.http.timeout")


def _check_authorization(policy: Mapping[str, Any], where: str) -> None:
    _known_keys(policy, {"action", "rules"}, where)
    if policy.get("action", "ALLOW") not in ("ALLOW", "DENY"):
        raise ConfigError(f"{where}: action {policy['action']!r} is not rendered by the lab", tip="ALLOW or DENY")
    for rule in policy.get("rules", []):
        _known_keys(rule, {"from"}, f"{where}.rules")
        for source in (f["source"] for f in rule.get("from", [])):
            _known_keys(source, _SOURCE_KEYS, f"{where}.rules.from.source")
            for block in source.get("ipBlocks", []):
                _cidr(block, where)
            for principal in source.get("requestPrincipals", []):
                if principal != "*" and ("*" in principal or "/" not in principal):
                    raise ConfigError(f"{where}: request principal {principal!r} is not rendered by the lab",
                                      tip='use "*" (any) or "ISSUER/SUBJECT"')  # fmt: skip


def _check_authentication(authn: Mapping[str, Any], folder: Path, where: str) -> None:
    _known_keys(authn, {"jwtRules"}, where)
    for rule in authn.get("jwtRules", []):
        _known_keys(rule, _JWT_KEYS, f"{where}.jwtRules")
        if not rule.get("issuer") or not rule.get("jwksFile"):
            raise ConfigError(f"{where}.jwtRules: an issuer and a jwksFile are needed (the lab fetches no keys)")
        jwt.load_key_set(folder / rule["jwksFile"])


def _cidr(text: str, where: str) -> tuple[str, int]:
    """An ipBlocks entry (`10.0.0.0/8` or one address) as Envoy's CidrRange; ConfigError when malformed."""
    try:
        network = ipaddress.ip_network(str(text), strict=False)
    except ValueError:
        raise ConfigError(
            f"{where}: malformed CIDR {text!r} in ipBlocks", tip="use e.g. 10.0.0.0/8 or 127.0.0.1"
        ) from None
    return str(network.network_address), network.prefixlen


def _duration(text: Any, where: str) -> str:
    try:
        return istio.envoy_duration(str(text))
    except ConfigError:
        raise ConfigError(f"{where}: bad duration {text!r}", tip="use e.g. 100ms, 2s, 1m") from None


# --- rendering for Envoy ------------------------------------------------------------------------------


def template_context(path: Path, params: Mapping[str, str], context: Mapping[str, str]) -> dict[str, str]:
    """The `gateway.*` placeholders of the stack's envoy.yaml for the experiment in `params`
    (default: the file's first), as JSON; `context` gives each instance's host and port."""
    spec = load(path)
    missing = [name for name in (*spec.instances, *LISTENERS) if f"port.{name}" not in context]
    if missing:
        raise ConfigError(f"{path}: {missing[0]!r} is no port of the gateway stack",
                          tip="each instance and listener is a [ports] entry of stack.toml")  # fmt: skip
    experiment = params.get("experiment") or next(iter(spec.experiments))
    split = parse_split(params["split"]) if params.get("split") else None
    variants = spec.variants(experiment, split)
    listeners = [listener(spec, v, port, context) for v, port in zip(variants, LISTENERS, strict=False)]
    keys = list(dict.fromkeys(key for v in variants for key in _cluster_keys(v)))  # each cluster once, in order
    return {
        "gateway.experiment": experiment,
        "gateway.listeners": json.dumps(listeners),
        "gateway.clusters": json.dumps([cluster(spec, host, subset, context) for host, subset in keys]),
    }


def cluster_name(host: str, subset: str | None) -> str:
    """Istio's name for the cluster of a host (and subset)."""
    return f"outbound|{SERVICE_PORT}|{subset or ''}|{host}"


def _cluster_keys(variant: ExperimentVariant) -> list[tuple[str, str | None]]:
    return [(d["destination"]["host"], d["destination"].get("subset")) for d in variant.http["route"]]


def cluster(spec: GatewaySpec, host_name: str, subset: str | None, context: Mapping[str, str]) -> dict[str, Any]:
    """One upstream cluster: the host's (or subset's) instances, its DestinationRule's traffic policy."""
    host = spec.hosts[host_name]
    name = cluster_name(host_name, subset)
    policy = istio.BreakerSpec(name, host.traffic_policy.get("connectionPool", {}),
                               host.traffic_policy.get("outlierDetection", {}))  # fmt: skip
    endpoints = [{"endpoint": {"address": {"socket_address": {
        "address": context[f"host.{member}"], "port_value": int(context[f"port.{member}"])}}}}
        for member in host.members(subset, spec.instances)]  # fmt: skip
    out: dict[str, Any] = {
        "name": name,
        "type": "STRICT_DNS",  # compose reaches instances by service name; an IP resolves to itself
        "dns_lookup_family": "V4_ONLY",
        "connect_timeout": "10s",  # Istio's default connectTimeout
        "lb_policy": "LEAST_REQUEST",  # Istio's default load balancer
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": endpoints}]},
        "circuit_breakers": istio.envoy_circuit_breakers(policy),
    }
    if (outlier := istio.envoy_outlier_detection(policy)) is not None:
        out["outlier_detection"] = outlier
    if options := istio.envoy_protocol_options(policy):
        out["typed_extension_protocol_options"] = options
    return out


def listener(spec: GatewaySpec, variant: ExperimentVariant, port: str, context: Mapping[str, str]) -> dict[str, Any]:
    """A listener on stack port `port` serving one variant."""
    prefix = f"{variant.experiment}_{variant.name}"
    return {
        "name": prefix,
        "address": {"socket_address": {"address": context["bind_host"], "port_value": int(context[f"port.{port}"])}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": connection_manager(spec, variant, prefix),
        }]}],
    }  # fmt: skip


def connection_manager(spec: GatewaySpec, variant: ExperimentVariant, prefix: str) -> dict[str, Any]:
    """The HTTP connection manager: request ids, the route, and the filters the policies call for."""
    filters = []
    if variant.request_authentication is not None:
        filters.append(jwt_filter(variant.request_authentication, spec.path.parent))
    if variant.authorization_policy is not None:
        filters.append(
            rbac_filter(variant.authorization_policy, f"ns[default]-policy[{variant.experiment}-{variant.name}]")
        )
    filters.append(
        {"name": "envoy.filters.http.router", "typed_config": {"@type": f"{_TYPES}.filters.http.router.v3.Router"}}
    )
    return {
        "@type": f"{_TYPES}.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": prefix,
        "generate_request_id": variant.request_id,
        "always_set_request_id_in_response": variant.request_id,  # lab: the clients count trace ids
        "route_config": {"name": prefix, "virtual_hosts": [{
            "name": prefix, "domains": ["*"],
            "include_attempt_count_in_response": True,  # lab: the clients count retries
            "routes": [{"match": {"prefix": "/"}, "route": route_action(variant.http),
                        "response_headers_to_add": route_headers(variant.http)}],
        }]},
        "http_filters": filters,
    }  # fmt: skip


def _kept(http: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The route's destinations Envoy gets: Istio drops those of weight 0 (a lone destination stays)."""
    return [d for d in http["route"] if len(http["route"]) == 1 or d.get("weight", 0) > 0]


def route_action(http: Mapping[str, Any]) -> dict[str, Any]:
    """VirtualService HTTPRoute -> Envoy RouteAction: destinations, timeout, retry policy."""
    destinations = _kept(http)
    action: dict[str, Any] = {}
    if len(destinations) == 1:
        action["cluster"] = cluster_name(
            destinations[0]["destination"]["host"], destinations[0]["destination"].get("subset")
        )
    else:
        action["weighted_clusters"] = {"clusters": [
            {"name": cluster_name(d["destination"]["host"], d["destination"].get("subset")), "weight": d["weight"],
             "response_headers_to_add": _headers_to_add(d)} for d in destinations]}  # fmt: skip
    action["timeout"] = _duration(http["timeout"], "timeout") if "timeout" in http else NO_TIMEOUT
    retry = retry_policy(http.get("retries"))
    if retry is not None:
        action["retry_policy"] = retry
    return action


def route_headers(http: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A single destination's response headers, which Istio sets on the route itself."""
    kept = _kept(http)
    return _headers_to_add(kept[0]) if len(kept) == 1 else []


def _headers_to_add(destination: Mapping[str, Any]) -> list[dict[str, Any]]:
    sets = destination.get("headers", {}).get("response", {}).get("set", {})
    return [{"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"} for k, v in sets.items()]


def retry_policy(retries: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Istio's retry.ConvertPolicy: its default when unset, none for attempts 0, else the default overridden."""
    if retries is None:
        return dict(ISTIO_DEFAULT_RETRIES)
    if int(retries.get("attempts", 0)) <= 0:
        return None
    policy = dict(ISTIO_DEFAULT_RETRIES, num_retries=int(retries["attempts"]))
    if retries.get("retryOn"):
        parts = [p.strip() for p in str(retries["retryOn"]).split(",") if p.strip()]
        codes = [int(p) for p in parts if p.isdigit()]
        words = [p for p in parts if not p.isdigit()]
        if codes and "retriable-status-codes" not in words:
            words.append("retriable-status-codes")
        policy["retry_on"] = ",".join(words)
        if codes:
            policy["retriable_status_codes"] = codes
    if "perTryTimeout" in retries:
        policy["per_try_timeout"] = _duration(retries["perTryTimeout"], "perTryTimeout")
    return policy


def rbac_filter(policy: Mapping[str, Any], name: str) -> dict[str, Any]:
    """AuthorizationPolicy -> Envoy's RBAC filter, one Envoy policy per rule."""
    policies = {f"{name}-rule[{i}]": {"permissions": [{"any": True}], "principals": [_principal(rule)]}
                for i, rule in enumerate(policy.get("rules", []))}  # fmt: skip
    return {"name": "envoy.filters.http.rbac", "typed_config": {
        "@type": f"{_TYPES}.filters.http.rbac.v3.RBAC",
        "rules": {"action": policy.get("action", "ALLOW"), "policies": policies}}}  # fmt: skip


def _principal(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A rule's `from` entries ORed; each source's fields ANDed; each field's values ORed."""
    sources = [f["source"] for f in rule.get("from", [])]
    if not sources:
        return {"any": True}
    return {"or_ids": {"ids": [{"and_ids": {"ids": _source_principals(s)}} for s in sources]}}


def _source_principals(source: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = []
    if source.get("ipBlocks"):
        blocks = [_cidr(b, "ipBlocks") for b in source["ipBlocks"]]
        found.append({"or_ids": {"ids": [{"direct_remote_ip": {"address_prefix": a, "prefix_len": n}}
                                         for a, n in blocks]}})  # fmt: skip
    if source.get("requestPrincipals"):
        found.append({"or_ids": {"ids": [_request_principal(p) for p in source["requestPrincipals"]]}})
    return found


def _request_principal(value: str) -> dict[str, Any]:
    """`*` (any token's iss and sub) or `ISSUER/SUBJECT`, matched in jwt_authn's payload metadata."""
    issuer, _, subject = value.rpartition("/")

    def claim(name: str, text: str) -> dict[str, Any]:
        match = {"safe_regex": {"regex": ".+"}} if text == "*" else {"exact": text}
        matcher = {"filter": "envoy.filters.http.jwt_authn", "path": [{"key": "payload"}, {"key": name}],
                   "value": {"string_match": match}}  # fmt: skip
        # Istio still writes the same matcher as Principal.metadata, which Envoy 1.40 deprecates
        return {"sourced_metadata": {"metadata_matcher": matcher}}

    if value == "*":
        return {"and_ids": {"ids": [claim("iss", "*"), claim("sub", "*")]}}
    return {"and_ids": {"ids": [claim("iss", issuer), claim("sub", subject)]}}


def jwt_filter(authn: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """RequestAuthentication -> Envoy's jwt_authn filter, the way Istio requires each provider."""
    providers, requirements = {}, []
    for i, rule in enumerate(authn.get("jwtRules", [])):
        name = f"origins-{i}"
        providers[name] = {
            "issuer": rule["issuer"],
            "local_jwks": {"inline_string": json.dumps(jwt.load_key_set(folder / rule["jwksFile"]))},
            "forward": bool(rule.get("forwardOriginalToken", False)),
            "payload_in_metadata": "payload",
        }
        requirements.append({"requires_any": {"requirements": [{"provider_name": name}, {"allow_missing": {}}]}})
    requires = requirements[0] if len(requirements) == 1 else {"requires_all": {"requirements": requirements}}
    return {"name": "envoy.filters.http.jwt_authn", "typed_config": {
        "@type": f"{_TYPES}.filters.http.jwt_authn.v3.JwtAuthentication",
        "providers": providers,
        "rules": [{"match": {"prefix": "/"}, "requires": requires}],
        "bypass_cors_preflight": True}}  # fmt: skip
