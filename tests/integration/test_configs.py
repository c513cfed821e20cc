"""Every stack's server configs, rendered as a run renders them, pass the servers' own checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.backends.base import BringUp
from bench.backends.local import free_port, local_context, render_templates
from bench.gateway import api_gateway, istio
from bench.stacks.catalog import discover

STACKS = discover(hidden=True)
BIN = Path(sys.executable).parent


def rendered(name: str, tmp_path: Path, params: dict[str, str] | None = None) -> Path:
    """The stack's templates as a local run renders them (`params` set, the others at their defaults)."""
    stack = STACKS[name]
    workdir = tmp_path / "work"
    ports = {port: free_port() for port in stack.ports}
    bring_up = BringUp(tmp_path, params or {})
    render_templates(stack, workdir, local_context(stack, bring_up, workdir, ports))
    return workdir


@pytest.mark.parametrize("name", [n for n, s in STACKS.items() if "nginx.conf" in s.templates])
def test_nginx_accepts_the_config(name: str, tmp_path: Path) -> None:
    workdir = rendered(name, tmp_path)
    done = subprocess.run(["nginx", "-t", "-p", str(workdir), "-c", str(workdir / "nginx.conf"), "-e", "stderr"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr


@pytest.mark.parametrize("preset", list(istio.load_presets(STACKS["fastapi_istio"].path / "breaker.toml")))
def test_envoy_validates_the_config_for_every_breaker_preset(preset: str, tmp_path: Path) -> None:
    workdir = rendered("fastapi_istio", tmp_path, {"breaker": preset})
    done = subprocess.run([str(BIN / "envoy"), "--mode", "validate", "-c", str(workdir / "envoy.yaml"),
                           "--disable-hot-restart"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout + done.stderr


GATEWAY = api_gateway.load(STACKS["gateway"].path / "gateway.toml")


@pytest.mark.parametrize("experiment", [*GATEWAY.experiments, "weights+split"])
def test_envoy_validates_the_gateway_config_of_every_experiment(experiment: str, tmp_path: Path) -> None:
    name, _, split = experiment.partition("+")
    workdir = rendered("gateway", tmp_path, params={"experiment": name} | ({"split": "70/30"} if split else {}))
    done = subprocess.run([str(BIN / "envoy"), "--mode", "validate", "-c", str(workdir / "envoy.yaml"),
                           "--disable-hot-restart"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout + done.stderr
    assert "deprecated" not in (done.stdout + done.stderr).lower()  # Istio's own Principal.metadata is, in 1.40
