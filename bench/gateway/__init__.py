"""Istio's objects rendered the way Istio renders them: for the lab's Envoy and as Kubernetes manifests.

api_gateway.py (the gateway stack's gateway.toml: hosts, routes, policies per experiment) and istio.py
(a DestinationRule circuit breaker) turn Istio's field names into Envoy config; api_gateway_k8s.py and
istio_k8s.py write the same objects for a real cluster; jwt.py makes the clients' tokens. The gateway's scenario and
its report are bench/scenarios/gateway.py and bench/report/gateway.py, as every scenario's are.
"""
