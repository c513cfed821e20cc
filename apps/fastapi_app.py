"""The users API on FastAPI (ASGI): ``gunicorn -k uvicorn.workers.UvicornWorker apps.fastapi_app:app``.

Behaves exactly like apps.flask_app in status and JSON body, including every
error. FastAPI does its own parameter and body validation with the pydantic model
from apps.users; the exception handlers below reshape its errors into this API's
error bodies. FastAPI defaults overridden, each for parity with Flask:

- no 307 redirect between "/x" and "/x/" (``redirect_slashes=False``); the
  slash-less spellings of /users_name/ and /add_users/ are registered as routes;
- GET routes also answer HEAD, as Flask's do;
- 404/405/422/400 bodies use this API's ``{"error", "detail"}`` shape.

Endpoints are plain ``def``, so FastAPI runs them in its threadpool, like the
original guide; the users table is thread-safe and per process (see apps.users).
"""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from apps.users import (
    GREETING,
    HEALTH,
    TABLE,
    NotFoundError,
    Table,
    UserData,
    error_body,
    error_items,
    http_error_body,
    internal_error_body,
    validation_error_body,
)

app = FastAPI(title="users API", redirect_slashes=False)

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


@app.api_route("/users_name/{users_id}", methods=READ)
def users_name_by_path(users_id: int) -> str:
    """One user's name, the id in the path."""
    return TABLE.lookup("name", users_id)


@app.api_route("/users_name/", methods=READ)
@app.api_route("/users_name", methods=READ, include_in_schema=False)
def users_name_by_query(users_id: int) -> str:
    """One user's name, the id in ``?users_id=``."""
    return TABLE.lookup("name", users_id)


@app.api_route("/users/{attribute}", methods=READ)
def user_attribute(attribute: str, users_id: int) -> str:
    """One attribute (name or age) of one user, the id in ``?users_id=``."""
    return TABLE.lookup(attribute, users_id)


@app.post("/add_users/")
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
