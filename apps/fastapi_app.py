"""The users API on FastAPI (ASGI): ``gunicorn -k uvicorn_worker.UvicornWorker apps.fastapi_app:app``.

Behaves exactly like apps.flask_app in status and JSON body, including every
error. FastAPI does its own parameter and body validation with the pydantic model
from apps.users; the exception handlers below reshape its errors into this API's
error bodies. FastAPI defaults overridden, each for parity with Flask:

- no 307 redirect between "/x" and "/x/" (``redirect_slashes=False``); the
  slash-less spellings of /users_name/ and /add_users/ are registered as routes;
- GET routes also answer HEAD, as Flask's do; each of the two gets its own
  operationId in the schema (FastAPI would give both one id, picked from a set);
- 404/405/422/400 bodies use this API's ``{"error", "detail"}`` shape, and the
  OpenAPI schema documents them (``responses=``): FastAPI would otherwise declare
  its own 422 body and no 404/400 at all, so the schema would not match the API.

Endpoints are plain ``def``, so FastAPI runs them in its threadpool, like the
original guide; the users table is thread-safe and per process (see apps.users).
The fault switch and the trace log (apps.users) are middleware added only when the
environment turns them on, so the default stacks run without them.
"""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

from apps.users import (
    BODY_UNREADABLE,
    FAULTS,
    GREETING,
    HEALTH,
    TABLE,
    TRACE,
    NotFoundError,
    Table,
    UserData,
    error_body,
    error_items,
    http_error_body,
    internal_error_body,
    validation_error_body,
)


class ErrorBody(BaseModel):
    """Schema of every non-422 error body (apps.users.error_body)."""

    model_config = ConfigDict(extra="forbid")

    error: str
    detail: str


class ErrorItemBody(BaseModel):
    """Schema of one entry of a 422 body (apps.users.ErrorItem)."""

    model_config = ConfigDict(extra="forbid")

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """Schema of a 422 body (apps.users.validation_error_body)."""

    model_config = ConfigDict(extra="forbid")

    error: Literal["validation_error"]
    detail: list[ErrorItemBody]


# Documentation only: the exception handlers below produce these bodies. Declaring
# 422 replaces the HTTPValidationError body FastAPI would document by default.
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    HTTPStatus.NOT_FOUND: {"model": ErrorBody, "description": "Unknown user id or attribute"}
}
INVALID: dict[int | str, dict[str, Any]] = {
    HTTPStatus.UNPROCESSABLE_ENTITY: {"model": ValidationErrorBody, "description": "Validation error"}
}
UNREADABLE: dict[int | str, dict[str, Any]] = {
    HTTPStatus.BAD_REQUEST: {"model": ErrorBody, "description": BODY_UNREADABLE}
}
LOOKUP_ERRORS = NOT_FOUND | INVALID
BODY_ERRORS = INVALID | UNREADABLE


def _operation_stem(route: APIRoute) -> str:
    """FastAPI's default operationId without its method suffix; _UsersAPI adds one per method."""
    return re.sub(r"\W", "_", f"{route.name}{route.path_format}")


class _UsersAPI(FastAPI):
    """FastAPI with one deterministic operationId per operation in the OpenAPI schema.

    FastAPI names all methods of a route with one id whose suffix is the first method
    of a set, so the GET and HEAD operations of a route share it (OpenAPI requires
    unique ids) and which of "_get"/"_head" it ends in depends on PYTHONHASHSEED,
    i.e. changes between processes. Here every operation is "<stem>_<method>", and
    the methods of a path are listed in sorted order, not in that set's order.
    """

    def openapi(self) -> dict[str, Any]:
        cached = self.openapi_schema
        with warnings.catch_warnings():
            # The shared stems are expected; the suffixes below make them unique.
            warnings.filterwarnings("ignore", message="Duplicate Operation ID", category=UserWarning)
            schema = super().openapi()
        if schema is not cached:  # generated just now: rename each operation once
            for path_item in schema["paths"].values():
                for method, operation in path_item.items():
                    operation["operationId"] = f"{operation['operationId']}_{method}"
            schema["paths"] = {path: dict(sorted(item.items())) for path, item in schema["paths"].items()}
        return schema


app = _UsersAPI(title="users API", redirect_slashes=False, generate_unique_id_function=_operation_stem)

# Flask serves HEAD for every GET route; FastAPI would answer 405.
READ = ["GET", "HEAD"]


@app.api_route("/", methods=READ)
def root() -> str:
    """The greeting, as a JSON string."""
    return GREETING


@app.api_route("/health", methods=READ)
def health() -> dict[str, str]:
    """Liveness probe."""
    return HEALTH


@app.api_route("/metadata", methods=READ)
def metadata() -> Table:
    """The whole users table."""
    return TABLE.snapshot()


@app.api_route("/users_name/{users_id}", methods=READ, responses=LOOKUP_ERRORS)
def users_name_by_path(users_id: int) -> str:
    """One user's name, the id in the path."""
    return TABLE.lookup("name", users_id)


@app.api_route("/users_name/", methods=READ, responses=LOOKUP_ERRORS)
@app.api_route("/users_name", methods=READ, include_in_schema=False)
def users_name_by_query(users_id: int) -> str:
    """One user's name, the id in ``?users_id=``."""
    return TABLE.lookup("name", users_id)


@app.api_route("/users/{attribute}", methods=READ, responses=LOOKUP_ERRORS)
def user_attribute(attribute: str, users_id: int) -> str:
    """One attribute (name or age) of one user, the id in ``?users_id=``."""
    return TABLE.lookup(attribute, users_id)


@app.post("/add_users/", responses=BODY_ERRORS)
@app.post("/add_users", include_in_schema=False)
def add_users(user: UserData) -> Table:
    """Set one user's name and age; return the whole table."""
    return TABLE.upsert(user)


@app.exception_handler(RequestValidationError)
async def _on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    body = validation_error_body(error_items(exc.errors()))
    return JSONResponse(body, status_code=HTTPStatus.UNPROCESSABLE_ENTITY)


@app.exception_handler(NotFoundError)
async def _on_not_found(request: Request, exc: NotFoundError) -> JSONResponse:
    return JSONResponse(error_body("not_found", exc.detail), status_code=HTTPStatus.NOT_FOUND)


@app.exception_handler(HTTPException)
async def _on_http_error(request: Request, exc: HTTPException) -> JSONResponse:
    # Starlette's 404 (no route), 405 (keeps its Allow header) and FastAPI's 400
    # for an undecodable body all arrive here.
    body = http_error_body(exc.status_code, request.method, str(exc.detail))
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


@app.exception_handler(Exception)
async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette still logs the exception after sending this; a bug answers JSON.
    return JSONResponse(internal_error_body(), status_code=HTTPStatus.INTERNAL_SERVER_ERROR)


Next = Callable[[Request], Awaitable[Response]]


async def _inject_fault(request: Request, call_next: Next) -> Response:
    """The fault switch, before routing (as the Flask app's before_request): wait, maybe fail."""
    fault = FAULTS.decide(request.url.path)
    if fault is None:
        return await call_next(request)
    if fault.delay_s:
        await asyncio.sleep(fault.delay_s)  # not time.sleep: the event loop serves other requests meanwhile
    if fault.status:
        return JSONResponse(FAULTS.body(), status_code=fault.status)
    return await call_next(request)


async def _log_trace(request: Request, call_next: Next) -> Response:
    """One trace-log line per answer, with the trace ids the request carried."""
    response = await call_next(request)
    assert TRACE is not None
    TRACE.write(request.method, request.url.path, response.status_code, request.headers.get("x-request-id"),
                request.headers.get("traceparent"))  # fmt: skip
    return response


# Added only when on (the default stacks pay nothing); the last added runs first, so the
# trace log also sees the answers the fault switch made.
if FAULTS.on:
    app.middleware("http")(_inject_fault)
if TRACE is not None:
    app.middleware("http")(_log_trace)
