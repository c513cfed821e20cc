"""How a stack is brought up: one module per backend, chosen by name (`--backend`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bench.backends.base import Backend, BringUp, RunningStack
from bench.errors import ConfigError
from bench.userapp import Workload

BACKENDS = ("auto", "local", "compose", "swarm")
# What a backend does not honour of a user's workload, and the flags that ask for it: refused before anything
# starts (swarm once served the lab's own users API in place of the user's app, and reported it). Every
# backend honours them all now, through the one bring-up (bench/backends/pipeline.py); tests/unit/
# test_backend_contract.py checks that each one does.
UNHONOURED: Mapping[str, tuple[str, ...]] = {}

__all__ = ["BACKENDS", "Backend", "BringUp", "RunningStack", "get_backend", "refuse_unhonoured", "resolve_backend"]


def get_backend(name: str) -> Backend:
    """The backend called `name` (not `auto`: cli.py resolves that first)."""
    if name == "local":
        from bench.backends.local import LocalBackend

        return LocalBackend()
    if name == "compose":
        from bench.backends.compose import ComposeBackend

        return ComposeBackend()
    if name == "swarm":
        from bench.backends.swarm import SwarmBackend

        return SwarmBackend()
    raise ConfigError(f"unknown backend {name!r}", tip=f"choose one of: {', '.join(BACKENDS)}")


def resolve_backend(name: str, say: Callable[[str], None]) -> str:
    """`auto` -> `compose` when a Docker engine and compose answer, else `local`; says which."""
    if name != "auto":
        return name
    from bench.backends import compose

    reason = compose.unavailable_reason()
    if reason is None:
        say("backend auto: a Docker engine answers, using docker compose")
        return "compose"
    say(f"backend auto: using local processes ({reason})")
    return "local"


def refuse_unhonoured(backend: str, workload: Workload) -> None:
    """ConfigError when `backend` would not serve or send what `workload` asks for (its flags named)."""
    given = {"--app": workload.app is not None, "--health": workload.health is not None,
             "--locustfile": workload.locustfile is not None, "--requests": bool(workload.mix)}  # fmt: skip
    refused = [flag for flag in UNHONOURED.get(backend, ()) if given[flag]]
    if refused:
        raise ConfigError(f"--backend {backend} does not honour {', '.join(refused)} yet (it would measure the "
                          "lab's own users API instead)", tip="use --backend compose or --backend local for your "
                          "own app")  # fmt: skip
