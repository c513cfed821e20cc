"""Every stack's server configs, rendered as a run renders them, pass the servers' own checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import istio
from bench.backends.base import BringUp
from bench.backends.local import free_port, local_context, render_templates
from bench.stacks import discover

STACKS = discover(hidden=True)
BIN = Path(sys.executable).parent


def rendered(name: str, tmp_path: Path, preset: str = istio.DEFAULT_PRESET) -> Path:
    stack = STACKS[name]
    workdir = tmp_path / "work"
    ports = {port: free_port() for port in stack.ports}
    render_templates(stack, workdir, local_context(stack, BringUp(tmp_path, {"breaker": preset}), workdir, ports))
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
    workdir = rendered("fastapi_istio", tmp_path, preset)
    done = subprocess.run([str(BIN / "envoy"), "--mode", "validate", "-c", str(workdir / "envoy.yaml"),
                           "--disable-hot-restart"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout + done.stderr
