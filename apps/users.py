"""Framework-free core of the users API, shared by the Flask and the FastAPI app.

Everything that decides *what* the API answers lives here: the users table, the
pydantic models that validate input, the error bodies and their human messages.
The two apps only translate HTTP into calls to this module, so they cannot drift
apart (tests/contract checks that they do not, over real HTTP).

Per-process state
    The table is plain in-memory state, one copy per process, like the original
    guide's module-level ``users_db``: every gunicorn worker has its own table, a
    POST handled by one worker is invisible to the others, and a restart resets it.

Threads
    Inside one process several threads may serve requests at once (gunicorn's
    ``gthread`` worker, Flask's threaded dev server, FastAPI's threadpool for
    ``def`` endpoints). Every access therefore goes through the table's lock, and
    whole-table reads return a copy taken under it: serialising a dict that another
    thread is inserting into fails with "dictionary changed size during iteration".

Size
    The table holds the three seed users plus one row per distinct id ever POSTed
    to the process; nothing else makes it grow. There is no cap or eviction, so its
    size is bounded only by what callers post (ids and strings are stored as sent).
    Benchmarks should reuse a bounded set of ids; restarting the worker resets it.

Errors
    Every error is JSON: ``{"error": <slug>, "detail": <text or list>}``; for 422
    the detail is the list of pydantic errors reduced to ``loc``/``msg``/``type``.

The fault switch (off unless the environment asks; never on in the lab's default stacks)
    Lets an experiment make an instance fail or slow down on purpose, identically in both
    apps (``FaultSwitch``). Read once at import, so each server process has one setting:

    ``BENCH_FAULT_ERROR_RATE``  share of requests (0-1) answered with an error instead of
                                their answer: ``{"error": "injected_fault", "detail": ...}``
    ``BENCH_FAULT_STATUS``      that error's status, 500-599 (default 500)
    ``BENCH_FAULT_DELAY_MS``    milliseconds a request waits before it is answered (default 0)
    ``BENCH_FAULT_DELAY_RATE``  share of requests (0-1) that wait (default 1: all of them)

    Each request is decided independently (delayed or not, then failed or not), before
    routing, so any path can fail, except ``/health``: a liveness probe keeps answering, as
    a real process whose work fails still does, so the lab's readiness check (and Envoy)
    still see the instance up. A value that cannot be read stops the server at start.

The trace log (off unless ``BENCH_TRACE_LOG`` names a file)
    One line per answered request, appended to that file by every worker process:
    ``<unix time> <method> <path> <status> x-request-id=<id or -> traceparent=<value or ->``,
    so an experiment can count that every request reached the app with a trace id. The
    default stacks keep it off (logging every request would measure the disk).
"""

from __future__ import annotations

import email.message
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any, Final, TypedDict

from pydantic import AfterValidator, BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticKnownError

# name -> {user id as a decimal string -> value}. String keys because that is what
# JSON object keys are; storing them this way makes both apps emit the same bytes.
Table = dict[str, dict[str, str]]
Loc = list[str | int]

GREETING: Final = "Hello Flask-API Server!\n"
HEALTH: Final = {"health": "ok"}
ATTRIBUTES: Final = ("name", "age")
SEED: Final[Mapping[str, Mapping[str, str]]] = {
    "name": {"0": "user1", "1": "user2", "2": "user3"},
    "age": {"0": "24", "1": "30", "2": "18"},
}

# FastAPI's own wording for a body it cannot even decode (bad UTF-8, too deep, ...).
BODY_UNREADABLE: Final = "There was an error parsing the body"
ROUTE_NOT_FOUND: Final = "no endpoint at this URL"


class ErrorItem(TypedDict):
    """One entry of a 422 body: where the input was wrong, why, and the error kind."""

    loc: Loc
    msg: str
    type: str


class NotFoundError(LookupError):
    """An unknown user id or attribute; both apps answer 404 with ``detail``."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class RequestInvalid(ValueError):
    """Input that failed validation; both apps answer 422 with ``errors``."""

    def __init__(self, errors: list[ErrorItem]) -> None:
        super().__init__(errors)
        self.errors = errors


class BodyUnreadable(ValueError):
    """A JSON body that cannot be decoded at all; FastAPI answers 400 for it."""


def _utf8_encodable(value: str) -> str:
    """Refuse strings UTF-8 cannot encode (JSON such as "\\ud800" decodes to one).

    Stored, such a string would make every later whole-table response fail to
    serialise, so the table would answer 500 forever; refuse it at the door.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticKnownError("string_unicode") from None
    return value


Text = Annotated[str, AfterValidator(_utf8_encodable)]


class UserData(BaseModel):
    """The body of POST /add_users/: sets ``name`` and ``age`` of user ``id``."""

    id: int
    name: Text
    age: Text


# FastAPI validates with from_attributes=True; the Flask app must do the same, or
# a non-object body reports "model_type" instead of FastAPI's "model_attributes_type".
USER_DATA: Final = TypeAdapter(UserData)
INT: Final = TypeAdapter(int)


class UsersTable:
    """The users table, safe to share between the threads of one process."""

    def __init__(self, seed: Mapping[str, Mapping[str, str]]) -> None:
        self._lock = threading.Lock()
        self._columns: Table = {attr: dict(seed[attr]) for attr in ATTRIBUTES}

    def lookup(self, attribute: str, users_id: int) -> str:
        """Return one attribute of one user; NotFoundError if either is unknown."""
        column = self._columns.get(attribute)  # the set of columns never changes
        if column is None:
            raise NotFoundError(unknown_attribute_message(attribute))
        with self._lock:
            value = column.get(str(users_id))
        if value is None:
            raise NotFoundError(user_not_found_message(users_id))
        return value

    def upsert(self, user: UserData) -> Table:
        """Set the user's name and age and return the whole table as it then is."""
        key = str(user.id)
        with self._lock:
            # Both columns change under one lock hold so no reader sees half a row.
            self._columns["name"][key] = user.name
            self._columns["age"][key] = user.age
            return self._copy()

    def snapshot(self) -> Table:
        """Return a copy of the whole table, safe to serialise outside the lock."""
        with self._lock:
            return self._copy()

    def _copy(self) -> Table:
        return {attr: dict(column) for attr, column in self._columns.items()}


TABLE: Final = UsersTable(SEED)


def user_not_found_message(users_id: int) -> str:
    """The 404 text for an id that is not in the table."""
    return f"no user with id {users_id}"


def unknown_attribute_message(attribute: str) -> str:
    """The 404 text for an attribute other than name or age."""
    return f"unknown attribute {attribute!r}; expected one of: {', '.join(ATTRIBUTES)}"


def method_not_allowed_message(method: str) -> str:
    """The 405 text for a known URL asked with the wrong method."""
    return f"method {method} is not allowed on this URL"


def error_body(error: str, detail: str) -> dict[str, str]:
    """The JSON body of every non-422 error."""
    return {"error": error, "detail": detail}


def internal_error_body() -> dict[str, str]:
    """The JSON body of a 500, should a bug ever let an exception escape."""
    return error_body("internal_error", "internal server error")


def validation_error_body(errors: list[ErrorItem]) -> dict[str, Any]:
    """The JSON body of a 422."""
    return {"error": "validation_error", "detail": errors}


def http_error_body(status: int, method: str, detail: str) -> dict[str, str]:
    """The body for an error the framework raised itself (no route, wrong method...).

    404 and 405 get this module's texts so that both apps say the same thing; other
    statuses keep the framework's ``detail`` (in practice only FastAPI's 400 for an
    undecodable body, which the Flask app reproduces with BODY_UNREADABLE).
    """
    if status == HTTPStatus.NOT_FOUND:
        return error_body("not_found", ROUTE_NOT_FOUND)
    if status == HTTPStatus.METHOD_NOT_ALLOWED:
        return error_body("method_not_allowed", method_not_allowed_message(method))
    slug = HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    return error_body(slug, detail)


def error_items(errors: Iterable[Mapping[str, Any]], prefix: Loc | None = None) -> list[ErrorItem]:
    """Reduce pydantic/FastAPI error dicts to loc/msg/type, prefixing each loc.

    "input", "ctx" and "url" are dropped: they echo the caller's data back (and a
    NaN input would not even serialise as JSON) and differ in form between apps.
    """
    head = prefix or []
    return [{"loc": [*head, *error["loc"]], "msg": error["msg"], "type": error["type"]} for error in errors]


def missing(loc: Loc) -> ErrorItem:
    """The error FastAPI reports for an absent parameter or body."""
    return {"loc": loc, "msg": "Field required", "type": "missing"}


def parse_int(raw: str | None, loc: Loc) -> int:
    """Validate a path or query value as FastAPI does for an ``int`` parameter."""
    if raw is None:
        raise RequestInvalid([missing(loc)])
    try:
        return INT.validate_python(raw, from_attributes=True)
    except ValidationError as exc:
        raise RequestInvalid(error_items(exc.errors(), loc)) from None


def parse_user_data(content_type: str | None, body: bytes) -> UserData:
    """Validate a POST /add_users/ body exactly as FastAPI does for a model body."""
    if not body:
        raise RequestInvalid([missing(["body"])])
    payload = _decode_body(content_type, body)
    try:
        return USER_DATA.validate_python(payload, from_attributes=True)
    except ValidationError as exc:
        raise RequestInvalid(error_items(exc.errors(), ["body"])) from None


def _decode_body(content_type: str | None, body: bytes) -> object:
    """Mirror FastAPI: JSON only for application/json or */*+json, else raw bytes.

    The raw bytes then fail model validation ("model_attributes_type"), which is
    what FastAPI reports for a missing or non-JSON Content-Type.
    """
    if not is_json_content_type(content_type):
        return body
    try:
        return json.loads(body)  # bytes, like Starlette: same encoding sniffing
    except json.JSONDecodeError as exc:
        item: ErrorItem = {"loc": ["body", exc.pos], "msg": "JSON decode error", "type": "json_invalid"}
        raise RequestInvalid([item]) from None
    except (ValueError, RecursionError):
        # Bad UTF-8, an int over Python's 4300-digit limit, nesting too deep:
        # FastAPI turns any such failure into a 400, so the Flask app does too.
        raise BodyUnreadable(BODY_UNREADABLE) from None


def is_json_content_type(content_type: str | None) -> bool:
    """True for the Content-Types FastAPI decodes as JSON (it requires one)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


# --- the fault switch and the trace log (see the module docstring) --------------------------

FAULT_ERROR_RATE: Final = "BENCH_FAULT_ERROR_RATE"
FAULT_STATUS: Final = "BENCH_FAULT_STATUS"
FAULT_DELAY_MS: Final = "BENCH_FAULT_DELAY_MS"
FAULT_DELAY_RATE: Final = "BENCH_FAULT_DELAY_RATE"
TRACE_LOG: Final = "BENCH_TRACE_LOG"
NEVER_FAULTED: Final = frozenset({"/health"})  # liveness keeps answering while the work fails


@dataclass(frozen=True)
class Fault:
    """What the switch does to one request: wait `delay_s`, then answer `status` (None: normally)."""

    delay_s: float
    status: int | None


@dataclass(frozen=True)
class FaultSwitch:
    """Failures and delays injected on purpose; the default (all zero) is off."""

    error_rate: float = 0.0
    status: int = HTTPStatus.INTERNAL_SERVER_ERROR
    delay_ms: float = 0.0
    delay_rate: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FaultSwitch:
        """The switch as the environment sets it; ValueError naming the variable for a bad value."""
        return cls(
            error_rate=_env_number(env, FAULT_ERROR_RATE, 0.0, 0.0, 1.0),
            status=int(_env_number(env, FAULT_STATUS, 500, 500, 599)),
            delay_ms=_env_number(env, FAULT_DELAY_MS, 0.0, 0.0, 600_000.0),
            delay_rate=_env_number(env, FAULT_DELAY_RATE, 1.0, 0.0, 1.0),
        )

    @property
    def on(self) -> bool:
        return self.error_rate > 0 or (self.delay_ms > 0 and self.delay_rate > 0)

    def decide(self, path: str, draw: Callable[[], float] = random.random) -> Fault | None:
        """What to do to a request for `path`; None when it is answered as usual, at once."""
        if not self.on or path in NEVER_FAULTED:
            return None
        delay = self.delay_ms / 1000 if self.delay_ms > 0 and draw() < self.delay_rate else 0.0
        status = self.status if self.error_rate > 0 and draw() < self.error_rate else None
        return Fault(delay, status) if delay or status else None

    def body(self) -> dict[str, str]:
        """The JSON body of an injected error, shaped like every other error of the API."""
        return error_body("injected_fault", f"failed on purpose ({FAULT_ERROR_RATE}={self.error_rate:g})")


def _env_number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise ValueError(f"{name}={raw!r} is outside {low:g}-{high:g}")
    return value


class TraceLog:
    """Appends one line per answered request to a file shared by the server's worker processes."""

    def __init__(self, path: str) -> None:
        # O_APPEND: each line is one write(2) at the end of the file, so workers never interleave
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TraceLog | None:
        path = env.get(TRACE_LOG, "").strip()
        return cls(path) if path else None

    def write(self, method: str, path: str, status: int, request_id: str | None, traceparent: str | None) -> None:
        shown = "".join("%20" if c.isspace() else c for c in path)  # one field, whatever the path holds
        line = f"{time.time():.6f} {method} {shown} {status} x-request-id={request_id or '-'} "
        os.write(self._fd, f"{line}traceparent={traceparent or '-'}\n".encode("utf-8", "replace"))


FAULTS: Final = FaultSwitch.from_env(os.environ)
TRACE: Final = TraceLog.from_env(os.environ)
