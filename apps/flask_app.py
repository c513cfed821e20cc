"""The users API on Flask (WSGI): ``gunicorn apps.flask_app:app``.

Answers exactly like apps.fastapi_app (same status, same JSON body, including
every error); the behaviour lives in apps.users and this module only
adapts Flask to it. Flask's defaults that differ from FastAPI's are switched off
below, each with the reason. The users table is per process (see apps.users).
The fault switch and the trace log (apps.users) hook in only when the environment
turns them on, so the default stacks run without them.
"""

from __future__ import annotations

import time
from http import HTTPStatus

from flask import Flask, Response, abort, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from apps.users import (
    BODY_UNREADABLE,
    FAULTS,
    GREETING,
    HEALTH,
    TABLE,
    TRACE,
    BodyUnreadable,
    NotFoundError,
    RequestInvalid,
    error_body,
    http_error_body,
    internal_error_body,
    parse_int,
    parse_user_data,
    validation_error_body,
)


class _JSONProvider(DefaultJSONProvider):
    """Emit JSON the way FastAPI does: keys in insertion order, UTF-8 unescaped."""

    sort_keys = False
    ensure_ascii = False


app = Flask(__name__)
app.json = _JSONProvider(app)
# FastAPI answers OPTIONS with 405; Flask would answer 200 on every route.
app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
# FastAPI answers "/users//name" with 404; werkzeug would 308-redirect to "/users/name".
app.url_map.merge_slashes = False


def _json(value: object, status: int = HTTPStatus.OK) -> Response:
    response = jsonify(value)
    response.status_code = status
    return response


def _query_int(name: str) -> int:
    # Starlette keeps the last of repeated query parameters; request.args.get the first.
    values = request.args.getlist(name)
    return parse_int(values[-1] if values else None, ["query", name])


@app.before_request
def _refuse_leading_double_slash() -> None:
    # Werkzeug routes "//health" as "/health" (it strips extra leading slashes);
    # Starlette finds no route for it, so answer 404 here too. Runs before the
    # routing error is raised, so "//add_users" is a 404 in both, not a 405.
    if request.environ.get("PATH_INFO", "").startswith("//"):
        abort(HTTPStatus.NOT_FOUND)


def _inject_fault() -> Response | None:
    """The fault switch, before routing (as the FastAPI app's middleware): wait, maybe fail."""
    fault = FAULTS.decide(request.path)
    if fault is None:
        return None
    if fault.delay_s:
        time.sleep(fault.delay_s)
    return _json(FAULTS.body(), fault.status) if fault.status else None


def _log_trace(response: Response) -> Response:
    """One trace-log line per answer, with the trace ids the request carried."""
    assert TRACE is not None
    TRACE.write(request.method, request.path, response.status_code, request.headers.get("x-request-id"),
                request.headers.get("traceparent"))  # fmt: skip
    return response


if FAULTS.on:  # registered only when on: the default stacks pay nothing for the switch
    app.before_request(_inject_fault)
if TRACE is not None:
    app.after_request(_log_trace)


@app.get("/")
def root() -> Response:
    """The greeting, as a JSON string."""
    return _json(GREETING)


@app.get("/health")
def health() -> Response:
    """Liveness probe."""
    return _json(HEALTH)


@app.get("/metadata")
def metadata() -> Response:
    """The whole users table."""
    return _json(TABLE.snapshot())


@app.get("/users_name/<users_id>")
def users_name_by_path(users_id: str) -> Response:
    """One user's name, the id in the path."""
    return _json(TABLE.lookup("name", parse_int(users_id, ["path", "users_id"])))


# Both spellings are served directly, as in the FastAPI app: no redirect.
@app.get("/users_name/")
@app.get("/users_name")
def users_name_by_query() -> Response:
    """One user's name, the id in ``?users_id=``."""
    return _json(TABLE.lookup("name", _query_int("users_id")))


@app.get("/users/<attribute>")
def user_attribute(attribute: str) -> Response:
    """One attribute (name or age) of one user, the id in ``?users_id=``."""
    users_id = _query_int("users_id")  # validated first, as FastAPI does
    return _json(TABLE.lookup(attribute, users_id))


# Two rules, not strict_slashes=False: with that, werkzeug answers PUT /add_users
# with 404 where FastAPI (and the slash form) answer 405.
@app.post("/add_users/")
@app.post("/add_users")
def add_users() -> Response:
    """Set one user's name and age; return the whole table."""
    user = parse_user_data(request.content_type, request.get_data())
    return _json(TABLE.upsert(user))


@app.errorhandler(RequestInvalid)
def _on_invalid(exc: RequestInvalid) -> Response:
    return _json(validation_error_body(exc.errors), HTTPStatus.UNPROCESSABLE_ENTITY)


@app.errorhandler(NotFoundError)
def _on_not_found(exc: NotFoundError) -> Response:
    return _json(error_body("not_found", exc.detail), HTTPStatus.NOT_FOUND)


@app.errorhandler(BodyUnreadable)
def _on_body_unreadable(exc: BodyUnreadable) -> Response:
    return _json(error_body("bad_request", BODY_UNREADABLE), HTTPStatus.BAD_REQUEST)


@app.errorhandler(HTTPException)
def _on_http_error(exc: HTTPException) -> Response:
    status = exc.code or HTTPStatus.INTERNAL_SERVER_ERROR
    response = _json(http_error_body(status, request.method, exc.description or ""), status)
    # Keep the Allow header of a 405; drop werkzeug's text/html Content-Type.
    for name, value in exc.get_headers():
        if name.lower() == "allow":
            response.headers[name] = value
    return response


@app.errorhandler(Exception)
def _on_unexpected(exc: Exception) -> Response:
    # A bug must still answer JSON; a handler stops Flask logging it, so log here.
    app.logger.exception("unhandled error", exc_info=exc)
    return _json(internal_error_body(), HTTPStatus.INTERNAL_SERVER_ERROR)
