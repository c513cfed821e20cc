"""How a stack is brought up: one module per backend, chosen by name (`--backend`)."""

from __future__ import annotations

from collections.abc import Callable

from bench.backends.base import Backend, BringUp, RunningStack
from bench.errors import ConfigError

BACKENDS = ("auto", "local", "compose", "swarm")

__all__ = ["BACKENDS", "Backend", "BringUp", "RunningStack", "get_backend", "resolve_backend"]


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
