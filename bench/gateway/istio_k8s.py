"""Kubernetes manifests for running the fastapi_istio stack on a real cluster with Istio.

The same breaker preset that bench/gateway/istio.py turns into Envoy cluster config becomes the
DestinationRule's `spec.trafficPolicy` here, so the cluster and the local stack carry one
circuit breaker. The four objects are seed 000's Deployment, Service, DestinationRule and
VirtualService with its names kept (fast-api-pod, fast-api-server, subset svc) and its YAML
indentation fixed.

The YAML is written by a small emitter of our own rather than PyYAML: PyYAML is only a test
dependency, and a fixed emitter keeps the committed files byte-stable across library versions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.errors import ConfigError
from bench.gateway.istio import DEFAULT_PRESET, BreakerSpec, choose
from bench.stacks.catalog import discover

STACK = "fastapi_istio"
APP = "fast-api-pod"  # seed 000's Deployment name and `app` label
SERVICE = "fast-api-server"  # seed 000's Service, DestinationRule and VirtualService name
SUBSET = "svc"  # the `version` label the DestinationRule's one subset selects
PORT = 5000  # seed 000's containerPort
ISTIO_API = "networking.istio.io/v1"
# The lab's one Python image (dockerfiles/python.Dockerfile, built by `python -m bench.backends.docker.images`):
# apps/ under /bench, gunicorn and uvicorn on PATH. A remote cluster needs it pushed to a registry.
DEFAULT_IMAGE = "bench/python:latest"
REPLICAS = 3  # seed 000's
# Seed 000's command without --reload (a file watcher has no place in a measured pod).
COMMAND = f"gunicorn apps.fastapi_app:app --bind 0.0.0.0:{PORT} -w 4 -k uvicorn_worker.UvicornWorker".split()
RESOURCES = {"cpu": "500m", "memory": "300Mi"}  # requests = limits: a fixed CPU share, as the seed wants
SIDECAR_ANNOTATIONS = {
    "sidecar.istio.io/inject": "true",
    "sidecar.istio.io/proxyCPU": "128m",
    "sidecar.istio.io/proxyMemory": "128Mi",
    # The seed's "{'concurrency':'4'}" made the number a string; ProxyConfig wants an integer.
    "proxy.istio.io/config": "concurrency: 4",
}
FILES = {  # kind -> file name under the output folder
    "Deployment": "deployment.yaml",
    "Service": "service.yaml",
    "DestinationRule": "destination-rule.yaml",
    "VirtualService": "virtual-service.yaml",
}
_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./-]*$")  # strings YAML reads back as the same string
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"}


def render_manifests(spec: BreakerSpec, image: str = DEFAULT_IMAGE, replicas: int = REPLICAS) -> list[dict[str, Any]]:
    """Deployment, Service, DestinationRule and VirtualService for one breaker preset."""
    return [deployment(image, replicas), service(), destination_rule(spec), virtual_service()]


def deployment(image: str = DEFAULT_IMAGE, replicas: int = REPLICAS) -> dict[str, Any]:
    """Seed 000's Deployment: gunicorn + 4 uvicorn workers, with an Istio sidecar injected."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": APP, "labels": {"app": APP}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": APP}},
            "template": {
                "metadata": {"labels": {"app": APP, "version": SUBSET}, "annotations": dict(SIDECAR_ANNOTATIONS)},
                "spec": {"containers": [_container(image)]},
            },
        },
    }


def _container(image: str) -> dict[str, Any]:
    """The app container; its port is named `http` like the Service's."""
    return {
        "name": "fast-api-container",
        "image": image,
        "imagePullPolicy": "IfNotPresent",  # images loaded into kind/minikube are never pulled
        "command": list(COMMAND),
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "resources": {"limits": dict(RESOURCES), "requests": dict(RESOURCES)},
        "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 5},
    }


def service() -> dict[str, Any]:
    """A ClusterIP Service; the port name `http` tells Istio the protocol."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": SERVICE},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": APP},
            "ports": [{"name": "http", "port": PORT, "targetPort": PORT, "protocol": "TCP"}],
        },
    }


def destination_rule(spec: BreakerSpec) -> dict[str, Any]:
    """The circuit breaker: the preset's trafficPolicy (none at all for `off`) and subset svc."""
    body: dict[str, Any] = {"host": SERVICE}
    policy = spec.traffic_policy()
    if policy:
        body["trafficPolicy"] = policy
    body["subsets"] = [{"name": SUBSET, "labels": {"version": SUBSET}}]
    return {"apiVersion": ISTIO_API, "kind": "DestinationRule", "metadata": {"name": SERVICE}, "spec": body}


def virtual_service() -> dict[str, Any]:
    """Route 100% of the Service's HTTP traffic to subset svc."""
    route = {"destination": {"host": SERVICE, "subset": SUBSET}, "weight": 100}
    return {
        "apiVersion": ISTIO_API,
        "kind": "VirtualService",
        "metadata": {"name": SERVICE},
        "spec": {"hosts": [SERVICE], "http": [{"route": [route]}]},
    }


def manifest_texts(spec: BreakerSpec, image: str = DEFAULT_IMAGE, replicas: int = REPLICAS) -> dict[str, str]:
    """File name -> YAML text, each with a header saying it is generated and from what."""
    header = (
        f"# Generated by `python -m bench k8s --breaker {spec.name}` (bench/gateway/istio_k8s.py) from\n"
        f"# stacks/{STACK}/breaker.toml; do not edit by hand: change the preset and regenerate.\n"
    )
    return {FILES[doc["kind"]]: header + to_yaml(doc) for doc in render_manifests(spec, image, replicas)}


def write_manifests(
    spec: BreakerSpec, out_dir: Path, image: str = DEFAULT_IMAGE, replicas: int = REPLICAS
) -> list[Path]:
    """Write the four manifests into `out_dir` (created if missing); returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in manifest_texts(spec, image, replicas).items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main_k8s(breaker_name: str = DEFAULT_PRESET, out_dir: Path | None = None, image: str = DEFAULT_IMAGE) -> list[Path]:
    """`python -m bench k8s`: render the named preset of fastapi_istio's breaker file.

    `out_dir` defaults to the stack's own k8s/ folder, whose committed files are the seed preset.
    """
    stack = discover()[STACK]
    if not stack.breaker_file:
        raise ConfigError(f"stack {STACK!r} names no breaker file in its stack.toml")
    spec = choose(stack.path / stack.breaker_file, breaker_name)
    return write_manifests(spec, out_dir or stack.path / "k8s", image)


def to_yaml(doc: Mapping[str, Any]) -> str:
    """Block-style YAML for plain data (mappings, lists, str, int, bool)."""
    return "\n".join(_block(doc)) + "\n"


def _block(value: Mapping[str, Any] | Sequence[Any]) -> list[str]:
    """Lines of a non-empty mapping or list, indented relative to column 0."""
    if isinstance(value, Mapping):
        return [line for key, item in value.items() for line in _entry(_scalar(key) + ":", item)]
    return [line for item in value for line in _list_item(item)]


def _entry(head: str, item: Any) -> list[str]:
    """`key: value`, or `key:` with the nested block indented under it."""
    if _nested(item):
        return [head, *("  " + line for line in _block(item))]
    return [f"{head} {_inline(item)}"]


def _list_item(item: Any) -> list[str]:
    """`- value`; a nested block's first line shares the dash, the rest align under it."""
    if _nested(item):
        first, *rest = _block(item)
        return ["- " + first, *("  " + line for line in rest)]
    return ["- " + _inline(item)]


def _nested(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple) and len(value) > 0


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list | tuple):
        return "[]"
    return _scalar(value)


def _scalar(value: Any) -> str:
    """A scalar YAML reads back unchanged: strings that could be read as anything else are quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):  # no floats: YAML 1.1 readers take `1e-05` for a string
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"cannot write {type(value).__name__} {value!r} as YAML")
    if _PLAIN.match(value) and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value)  # a JSON string is a valid double-quoted YAML scalar
