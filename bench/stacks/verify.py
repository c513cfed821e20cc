"""Check a stack's answers before loading it: a stack that answers wrongly is not measured."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from bench.errors import StackFailed

_MISSING = object()


@dataclass(frozen=True)
class Check:
    """One request and the answer every implementation of the API must give."""

    method: str
    path: str
    status: int
    body: Any = _MISSING  # exact JSON expected, if given
    contains: dict[str, Any] | None = None  # keys that must map to these values
    payload: dict[str, Any] | None = None


CHECKS = (
    Check("GET", "/", 200, "Hello Flask-API Server!\n"),
    Check("GET", "/health", 200, {"health": "ok"}),
    Check("GET", "/metadata", 200, contains={"name": {"0": "user1", "1": "user2", "2": "user3"}}),
    Check("GET", "/users_name/0", 200, "user1"),
    Check("GET", "/users_name/?users_id=1", 200, "user2"),
    Check("GET", "/users/age?users_id=2", 200, "18"),
    Check("POST", "/add_users/", 200, contains={"name": {"0": "user1", "7": "user7"}},
          payload={"id": 7, "name": "user7", "age": "77"}),
    # real clients (seed 000's vegeta targets) post without the slash: no redirect allowed
    Check("POST", "/add_users", 200, contains={"age": {"8": "88"}}, payload={"id": 8, "name": "user8", "age": "88"}),
    Check("GET", "/users_name/12345", 404, contains={"error": "not_found"}),
    Check("GET", "/users/height?users_id=0", 404, contains={"error": "not_found"}),
    Check("GET", "/users_name/abc", 422, contains={"error": "validation_error"}),
    Check("POST", "/add_users/", 422, contains={"error": "validation_error"}, payload={"id": 9}),
)  # fmt: skip


def verify(base_url: str, checks: tuple[Check, ...] = CHECKS) -> None:
    """Send every check; raise StackFailed listing each wrong answer."""
    wrong = [problem for check in checks if (problem := _run(base_url, check))]
    if wrong:
        raise StackFailed(f"{len(wrong)} of {len(checks)} response checks failed: " + "; ".join(wrong))


def _run(base_url: str, check: Check) -> str | None:
    label = f"{check.method} {check.path}"
    try:
        status, body = request(base_url, check.method, check.path, check.payload)
    except OSError as exc:
        return f"{label}: {exc}"
    if status != check.status:
        return f"{label}: HTTP {status}, expected {check.status}"
    if check.body is not _MISSING and body != check.body:
        return f"{label}: body {body!r}, expected {check.body!r}"
    for key, value in (check.contains or {}).items():
        got = body.get(key) if isinstance(body, dict) else None
        if isinstance(value, dict) and isinstance(got, dict):
            if any(got.get(k) != v for k, v in value.items()):
                return f"{label}: {key} is {got!r}, expected to include {value!r}"
        elif got != value:
            return f"{label}: {key} is {got!r}, expected {value!r}"
    return None


def request(base_url: str, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
    """One HTTP request; returns (status, parsed JSON or raw text). No redirects followed."""
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(base_url + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=10) as response:
            return response.status, _parse(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _parse(exc.read())


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None  # a 307 must show up as a 307, not be followed
