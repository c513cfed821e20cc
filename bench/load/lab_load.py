"""What the locustfile is told: one record, written by the runner and read by the locustfile.

bench/load/runner.py turns a load shape into a `LabLoad` and its environment (`to_env`); bench/load/locustfile.py,
in every locust process, reads it back (`from_env`). Each variable is named after its field with the
prefix LAB_LOAD_, which no flag of the CLI uses: `BENCH_DURATION=1m` is what a person gives the CLI,
`LAB_LOAD_DURATION_S=60` what one locust process is told. Standard library only: this file ships
beside the locustfile wherever it runs (the lab's Python image, the containers' mounts, swarm configs),
as bench/load/record.py does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

PREFIX = "LAB_LOAD_"


@dataclass(frozen=True)
class LabLoad:
    """The settings of one locust process (a master's, a worker's or one running alone)."""

    samples: str = ""  # path prefix of the files it writes: PREFIX-<host>-<pid>-w<N>.json, PREFIX-<host>-<pid>.json
    warmup_s: float = 0.0  # from the first request, not counted
    duration_s: float = 0.0  # measured after the warmup; alone, the process quits then (0: locust's -t ends it)
    wait_s: float = 0.0  # each user's wait between requests (0: closed loop, flat out)
    process_rate: float = 0.0  # this process's share of the arrival rate, req/s (open model); 0: closed loop
    process_max_in_flight: int = 10_000  # this process's share of the open model's bound on requests in flight
    mix: str = ""  # the requests to send, as JSON (bench/stacks/userapp.py); "": the lab's users API
    own_users: bool = True  # False beside a user's own locustfile (`-f lab,theirs`): theirs send, the lab records
    window_s: float = 60.0  # seconds per streamed window
    ship: bool = False  # a worker sends its files to the master over locust's connection (swarm: other nodes)
    # client switches, for a stack that tells clients apart (the gateway):
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request (a bearer token)
    source_address: str = ""  # the local address every client socket binds to (127.0.0.2: another client)

    def to_env(self) -> dict[str, str]:
        """Every field as an environment variable."""
        return {variable(f.name): _text(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LabLoad:
        """The record from an environment; a variable unset or empty keeps its field's default."""
        found: dict[str, Any] = {}
        for f in fields(cls):
            text = env.get(variable(f.name), "")
            if text:
                found[f.name] = _value(f.type, text)
        return cls(**found)


def variable(name: str) -> str:
    """A field's environment variable: `process_rate` -> LAB_LOAD_PROCESS_RATE."""
    return PREFIX + name.upper()


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict):
        return json.dumps(value) if value else ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _value(kind: object, text: str) -> object:
    """`text` read as the field's type (`from __future__ import annotations`: the type's name)."""
    if kind == "bool":
        return text != "0"
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if str(kind).startswith("dict"):
        return dict(json.loads(text))
    return text
