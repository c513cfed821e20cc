"""The BENCH_* variables a stack's docker-compose.yml reads, the same under compose and swarm, and compose's
variable syntax filled in here (swarm's stack file is written with its values; compose's healthcheck probes
run with them)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.backends import pipeline
from bench.backends.base import BringUp
from bench.backends.docker import images
from bench.stacks.catalog import Stack
from bench.stacks.userapp import App

USERAPP, USERLOAD = "/userapp", "/userload"  # where --app's folder and --locustfile go in its image
LOCUSTFILE = "/bench/locustfile.py"  # the lab's, in every python image (the recorder)
WORKDIR = "/tmp/work"  # where nginx keeps its pid and temp files inside its container


def container_layout(stack: Stack, hosts: Mapping[str, str] | None = None) -> pipeline.Layout:
    """Each service in its container: the ports the stack declares, reached at the hosts its [compose] table
    names, over them `hosts` (swarm's override)."""
    return pipeline.Layout(stack.ports, python="python", stack_dir="/stack", workdir=WORKDIR, bind_host="0.0.0.0",
                           hosts=dict(stack.compose.hosts) | dict(hosts or {}))  # fmt: skip

_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's variable syntax (`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$VAR`, `$$`) over `env`."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def fill(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        given = env.get(name)
        if match.group(2) == ":-":
            return given or match.group(3)
        if match.group(2) == "-":
            return match.group(3) if given is None else given
        return given or ""

    return _VARIABLE.sub(fill, value)



def variables(stack: Stack, run: BringUp, out: Path, ncpu: int, image: str, nginx: str) -> dict[str, str]:
    """The pipeline's environment (app, health path, parameters, uid and gid) and what only a container
    needs: where the app imports from in its image, the load's folder (`out`, the generators' /out), the
    rendered configs, the CPU sets (--pin), the python image serving the app (`image`) and nginx's."""
    app = run.serves(stack)
    return pipeline.environment(stack, run) | {
        "BENCH_APP_PATH": f"{USERAPP}:/bench" if app.folder else "/bench",
        "BENCH_OUT": str(out.resolve()),
        "BENCH_CONFIG_DIR": str((run.stack_dir / "work").resolve()),
        "BENCH_STACK_CPUSET": cpuset(run.stack_cpus, ncpu),
        "BENCH_USER_CPUSET": cpuset(run.load_cpus, ncpu),
        "BENCH_PYTHON_IMAGE": image,
        "BENCH_NGINX_IMAGE": nginx,
    }


def service_environment(spec: Mapping[str, Any]) -> dict[str, str]:
    """A compose service's `environment`, in either of its forms (a table, or a list of NAME=VALUE), as a dict."""
    env = spec.get("environment") or {}
    if isinstance(env, list):
        env = dict(str(item).partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}


def with_switches(spec: Mapping[str, Any], switches: Mapping[str, str]) -> dict[str, str]:
    """A stack service's environment with the app's switches (--inject: BENCH_FAULT_*) under what it sets itself
    (the gateway's instances set their own faults)."""
    return dict(switches) | service_environment(spec)


def locustfiles(user: str | Path | None) -> str:
    """Locust's -f in a container: the lab's locustfile, and beside it the user's (--locustfile) in its image."""
    return LOCUSTFILE + (f",{USERLOAD}/{Path(user).name}" if user else "")


def cpuset(cpus: tuple[int, ...] | None, ncpu: int) -> str:
    """A container's `cpuset` from `--pin`'s CPUs; every CPU of the engine when nothing is pinned."""
    return ",".join(map(str, cpus)) if cpus else f"0-{max(ncpu, 1) - 1}"


class AppImages:
    """The python image a bring-up serves from: the lab's, or one built on it with the user's app, its
    requirements and locustfile (built once per run for each app and locustfile)."""

    def __init__(self) -> None:
        self._built: dict[tuple[str, str], str] = {}  # (app, locustfile) -> image with them

    def image(self, prepared: images.Images, run: BringUp, say: Callable[[str], None]) -> str:
        app: App | None = run.app
        if (app is None or app.own) and run.locustfile is None:
            return prepared.python
        key = (app.target if app else "", str(run.locustfile or ""))
        if key not in self._built:
            self._built[key] = images.app_image(prepared, app, run.locustfile, say)
        return self._built[key]
