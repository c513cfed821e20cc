"""Fresh gunicorn servers for the fuzz session, the schemathesis config, and the parity log.

The fuzz session gets its own pair of servers (not tests/contract's): the users
table is per process and POST /add_users/ writes to it, so both tables must start
from the seed and then see the very same sequence of requests. Each request
schemathesis sends to FastAPI is replayed to Flask before the next one is
generated, which keeps the two tables in lockstep, so even stateful answers (a
GET after a POST, /metadata) must agree. Started the way tests/contract
starts its own (one gunicorn worker per app, hence one table per app).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis

from tests.contract.conftest import Server, running_servers

ROOT = Path(__file__).resolve().parents[2]
REQUEST_TIMEOUT_S = 10.0
APP_NAMES = ("fastapi", "flask")

# Fixed, so CI generates the same requests on every run (with derandomize=True on the test).
SEED = 20240611
FUZZ_CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        # Valid and invalid data; explicit examples, coverage (boundary and negative
        # values, missing parameters, unexpected methods) and random fuzzing.
        "generation": {"mode": "all"},
        # Stateful link-following needs OpenAPI links this schema does not have.
        "phases": {"stateful": {"enabled": False}},
    }
)


# --- what was sent and what came back -------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """The parts of a response the two apps must agree on."""

    status: int
    content_type: str | None
    allow: frozenset[str] | None
    body: Any  # parsed JSON; raw bytes if the body is empty or not JSON

    @classmethod
    def of(cls, response: requests.Response | schemathesis.Response) -> Answer:
        headers = {name.lower(): value for name, value in response.headers.items()}

        def header(name: str) -> str | None:
            value = headers.get(name)
            # schemathesis.Response keeps every value of a header in a list.
            return ", ".join(value) if isinstance(value, list) else value

        allow = header("allow")
        content = response.content
        try:
            body: Any = json.loads(content) if content else content
        except ValueError:
            body = content
        return cls(
            status=response.status_code,
            content_type=header("content-type"),
            allow=frozenset(m.strip() for m in allow.split(",")) if allow is not None else None,
            body=body,
        )

    def short(self, limit: int = 300) -> str:
        text = json.dumps(self.body, ensure_ascii=False) if not isinstance(self.body, bytes) else repr(self.body)
        text = text if len(text) <= limit else text[:limit] + "..."
        return f"{self.status} {self.content_type} allow={sorted(self.allow) if self.allow else None} {text}"


@dataclass(frozen=True)
class Exchange:
    """One generated request, as sent to both servers, and both answers."""

    operation: str
    method: str
    target: str  # path and query, exactly as sent
    body: bytes | None
    fastapi: Answer
    flask: Answer | str  # a string when the Flask request itself failed

    def differences(self) -> list[str]:
        """What differs between the two answers; empty when they agree."""
        if isinstance(self.flask, str):
            return ["flask request failed"]
        diffs = []
        if self.fastapi.status != self.flask.status:
            diffs.append("status")
        if self.fastapi.content_type != self.flask.content_type:
            diffs.append("content-type")
        if self.fastapi.allow != self.flask.allow:
            diffs.append("allow")
        if error_shape(self.fastapi.body) != error_shape(self.flask.body):
            diffs.append("error shape (error, detail loc/type)")
        if self.fastapi.body != self.flask.body:
            diffs.append("body")
        return diffs

    def describe(self) -> str:
        body = "" if self.body is None else f" body={self.body[:200]!r}{'...' if len(self.body) > 200 else ''}"
        flask = self.flask if isinstance(self.flask, str) else self.flask.short()
        return (
            f"{self.method} {self.target}{body} [{self.operation}] differs in {', '.join(self.differences())}\n"
            f"    fastapi: {self.fastapi.short()}\n"
            f"    flask:   {flask}"
        )


def error_shape(body: Any) -> Any:
    """The error slug and, for a 422, the loc/type of each item: what must match at least."""
    if not isinstance(body, dict) or "error" not in body:
        return None
    detail = body.get("detail")
    if isinstance(detail, list):
        detail = [(item.get("loc"), item.get("type")) if isinstance(item, dict) else item for item in detail]
    return body["error"], detail


@dataclass
class FuzzLog:
    """Every exchange of the session, in the order sent, and the lax-mode exemptions."""

    exchanges: list[Exchange] = field(default_factory=list)
    # Schema-invalid bodies the API accepted by design (see test_fuzz_api.LAX_MODE).
    lax_accepted: list[str] = field(default_factory=list)

    def mismatches(self) -> list[Exchange]:
        return [exchange for exchange in self.exchanges if exchange.differences()]

    def by_operation(self) -> Mapping[str, Mapping[int, int]]:
        """Operation -> FastAPI status -> number of requests, in the order first seen."""
        counts: dict[str, dict[int, int]] = {}
        for exchange in self.exchanges:
            statuses = counts.setdefault(exchange.operation, {})
            statuses[exchange.fastapi.status] = statuses.get(exchange.fastapi.status, 0) + 1
        return counts


FUZZ_LOG = FuzzLog()


def replay(prepared: requests.PreparedRequest, server: Server) -> Answer | str:
    """Send the very request another server got (method, target, headers, body) to ``server``."""
    copy = prepared.copy()
    parts = urlsplit(prepared.url or "")
    copy.url = server.url + parts.path + (f"?{parts.query}" if parts.query else "")
    with requests.Session() as session:
        try:
            return Answer.of(session.send(copy, allow_redirects=False, timeout=REQUEST_TIMEOUT_S))
        except requests.RequestException as exc:
            return f"{type(exc).__name__}: {exc}"


def target_of(prepared: requests.PreparedRequest) -> str:
    parts = urlsplit(prepared.url or "")
    return parts.path + (f"?{parts.query}" if parts.query else "")


def body_of(prepared: requests.PreparedRequest) -> bytes | None:
    body = prepared.body
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    # A streamed body is consumed by the first send; this schema has none.
    raise TypeError(f"cannot replay a streamed request body: {type(body).__name__}")


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fuzz_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """A fresh FastAPI and Flask server for the fuzz session, stopped at its end."""
    with running_servers(APP_NAMES, tmp_path_factory.mktemp("fuzz-servers")) as started:
        yield started


@pytest.fixture(scope="session")
def fuzz_log() -> FuzzLog:
    return FUZZ_LOG


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FUZZ_LOG.exchanges:
        return
    counts = FUZZ_LOG.by_operation()
    terminalreporter.section("fuzz")
    terminalreporter.write_line(
        f"{len(FUZZ_LOG.exchanges)} generated requests over {len(counts)} operations, each sent to FastAPI "
        f"and replayed to Flask; {len(FUZZ_LOG.mismatches())} mismatches; "
        f"{len(FUZZ_LOG.lax_accepted)} schema-invalid bodies accepted by pydantic's lax mode"
    )
    for body in FUZZ_LOG.lax_accepted[:5]:
        terminalreporter.write_line(f"  accepted in lax mode: {body[:120]}")
    for operation, statuses in counts.items():
        by_status = ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
        terminalreporter.write_line(f"  {sum(statuses.values()):5d}  {operation:28}  ({by_status})")
