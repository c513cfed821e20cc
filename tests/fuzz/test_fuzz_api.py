"""Fuzz the users API through FastAPI's OpenAPI schema, then hold Flask to the same answers.

1. schemathesis generates requests from the schema FastAPI publishes (valid and
   invalid data, every operation: its deterministic coverage cases, including
   unexpected methods, then random ones) and sends them over real HTTP to the gunicorn+uvicorn
   server; no response may be a 5xx, each must conform to the schema (status code,
   Content-Type, headers, body), valid data must be accepted, invalid data refused.
2. Every one of those requests is replayed, unchanged but for the port, to the
   gunicorn Flask server right after FastAPI answered it, so both per-process
   tables see the same sequence of POSTs (see conftest). The last test requires
   the same status, Content-Type, Allow and JSON body for each request, and lists
   every mismatch in one message.

Bounded for CI: MAX_EXAMPLES random examples per operation on top of the coverage
cases, derandomized with a fixed seed, no example database.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import ValidationError
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from apps import fastapi_app
from apps.users import USER_DATA, UserData, is_json_content_type
from tests.contract.conftest import Server
from tests.fuzz.conftest import (
    FUZZ_CONFIG,
    FUZZ_LOG,
    REQUEST_TIMEOUT_S,
    Answer,
    Exchange,
    FuzzLog,
    body_of,
    replay,
    target_of,
)

MAX_EXAMPLES = 100  # random examples per operation; the coverage phase adds its own cases

# The document FastAPI serves at /openapi.json (test_served_schema_is_the_fuzzed_one
# checks that). Loaded from the app object at collection time because
# @schema.parametrize() needs it then: schemathesis.pytest.from_fixture, which could
# fetch it from the live server, breaks on pytest 9 (it sets Node._nodeid, gone in
# pytest 9). No request runs in-process: this schema has no app attached, and every
# case is sent to the gunicorn server's URL.
OPENAPI = copy.deepcopy(fastapi_app.app.openapi())
schema = schemathesis.openapi.from_dict(copy.deepcopy(OPENAPI), config=FUZZ_CONFIG)


def lax_mode_acceptance(request: requests.PreparedRequest) -> str | None:
    """The body, if it is one the API accepts by design although the schema forbids it.

    Both apps validate the POST body like FastAPI does by default, with pydantic in
    lax mode: ``"id": true``, ``"id": "7"`` and ``"id": 7.0`` are all user 1 or 7,
    while the schema says ``"type": "integer"``. That is the documented contract
    (apps.users.parse_user_data), so such a body is not counted against the API;
    any other schema-invalid input still has to be refused.
    """
    content_type = request.headers.get("content-type")
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    if request.method != "POST" or not is_json_content_type(content_type):
        return None
    body = body_of(request) or b""
    try:
        payload = json.loads(body)
        USER_DATA.validate_python(payload, from_attributes=True)
    except (ValueError, RecursionError, ValidationError):
        return None  # the app must have refused it: not a lax-mode acceptance
    try:
        UserData.model_validate(payload, strict=True)
    except ValidationError:
        return body.decode("utf-8", "replace")
    return None


def negative_data_rejection_beyond_lax_mode(
    ctx: CheckContext, response: schemathesis.Response, case: schemathesis.Case[Any]
) -> bool | None:
    """schemathesis's negative_data_rejection, minus pydantic's lax coercions (above)."""
    try:
        return negative_data_rejection(ctx, response, case)
    except AcceptedNegativeData:
        accepted = lax_mode_acceptance(response.request)
        if accepted is None:
            raise
        FUZZ_LOG.lax_accepted.append(accepted)
        return None


# Only checks that look at the one response: none sends a request of its own, so
# every request that reaches FastAPI is one this test replays to Flask.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    positive_data_acceptance,
    negative_data_rejection_beyond_lax_mode,
    missing_required_header,
    unsupported_method,
    allow_header_conformance,
]


def test_served_schema_is_the_fuzzed_one(fuzz_servers: dict[str, Server]) -> None:
    served = requests.get(f"{fuzz_servers['fastapi'].url}/openapi.json", timeout=REQUEST_TIMEOUT_S)
    assert served.status_code == 200
    assert served.json() == OPENAPI


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
def test_fastapi_conforms_to_its_schema(
    case: schemathesis.Case[Any], fuzz_servers: dict[str, Server], fuzz_log: FuzzLog
) -> None:
    response = case.call(base_url=fuzz_servers["fastapi"].url, allow_redirects=False, timeout=REQUEST_TIMEOUT_S)
    sent = response.request
    # Replay before validating: a failing check must not leave Flask one request behind.
    fuzz_log.exchanges.append(
        Exchange(
            operation=case.operation.label,
            method=sent.method or case.method,
            target=target_of(sent),
            body=body_of(sent),
            fastapi=Answer.of(response),
            flask=replay(sent, fuzz_servers["flask"]),
        )
    )
    case.validate_response(response, checks=CHECKS)


def test_flask_answers_every_fuzz_request_like_fastapi(fuzz_log: FuzzLog) -> None:
    if not fuzz_log.exchanges:
        pytest.fail("no fuzz requests recorded: run this together with test_fastapi_conforms_to_its_schema")
    mismatches = fuzz_log.mismatches()
    report = "\n".join(exchange.describe() for exchange in mismatches)
    assert not mismatches, (
        f"{len(mismatches)} of {len(fuzz_log.exchanges)} fuzz requests answered differently by Flask:\n{report}"
    )
