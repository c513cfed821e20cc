"""The users-API contract, checked over real HTTP against both apps.

Each case states the exact status and JSON body; every case runs against the
Flask and the FastAPI server. The parity test then replays a varied sequence on
both and requires identical answers, and the concurrency test hammers each with
parallel POSTs. Tests only ever write ids >= 1000 (every POST with a smaller id is one that
must fail), so the seed users stay intact.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import pytest

from tests.contract.conftest import Reply, Server

JSON = {"Content-Type": "application/json"}
INT_MSG = "Input should be a valid integer, unable to parse string as an integer"
FRACTION_MSG = "Input should be a valid integer, got a number with a fractional part"
SIZE_MSG = "Unable to parse input string as an integer, exceeded maximum size"
STR_MSG = "Input should be a valid string"
NAN_MSG = "Input should be a finite number"
UNICODE_MSG = "Input should be a valid string, unable to parse raw data as a unicode string"
OBJECT_MSG = "Input should be a valid dictionary or object to extract fields from"
ROUTE_NOT_FOUND = {"error": "not_found", "detail": "no endpoint at this URL"}
BODY_UNREADABLE = {"error": "bad_request", "detail": "There was an error parsing the body"}

# (method, path, body, headers, status, JSON body); None body = nothing expected (HEAD).
Case = tuple[str, str, bytes | None, Mapping[str, str], int, Any]


def invalid(*errors: tuple[list[str | int], str, str]) -> dict[str, Any]:
    """The expected 422 body for (loc, msg, type) errors."""
    detail = [{"loc": loc, "msg": msg, "type": kind} for loc, msg, kind in errors]
    return {"error": "validation_error", "detail": detail}


def not_found(detail: str) -> dict[str, str]:
    return {"error": "not_found", "detail": detail}


def not_allowed(method: str) -> dict[str, str]:
    return {"error": "method_not_allowed", "detail": f"method {method} is not allowed on this URL"}


def user(users_id: object, name: object = "n", age: object = "1") -> bytes:
    return json.dumps({"id": users_id, "name": name, "age": age}).encode()


def field_error(field: str, msg: str, kind: str) -> tuple[list[str | int], str, str]:
    return ["body", field], msg, kind


def post(body: bytes, status: int, expected: Any, headers: Mapping[str, str] = JSON) -> Case:
    return "POST", "/add_users/", body, headers, status, expected


FIELDS = ("id", "name", "age")
MISSING_QUERY = invalid((["query", "users_id"], "Field required", "missing"))
BAD_QUERY = invalid((["query", "users_id"], INT_MSG, "int_parsing"))
BAD_PATH = invalid((["path", "users_id"], INT_MSG, "int_parsing"))
NOT_AN_OBJECT = invalid((["body"], OBJECT_MSG, "model_attributes_type"))
UNKNOWN_HEIGHT = not_found("unknown attribute 'height'; expected one of: name, age")

CASES: dict[str, Case] = {
    # --- the endpoints
    "root": ("GET", "/", None, {}, 200, "Hello Flask-API Server!\n"),
    "health": ("GET", "/health", None, {}, 200, {"health": "ok"}),
    "name-by-path": ("GET", "/users_name/0", None, {}, 200, "user1"),
    "name-by-path-last": ("GET", "/users_name/2", None, {}, 200, "user3"),
    "name-by-path-plus-sign": ("GET", "/users_name/+1", None, {}, 200, "user2"),
    "name-by-query": ("GET", "/users_name/?users_id=1", None, {}, 200, "user2"),
    "name-by-query-no-slash": ("GET", "/users_name?users_id=1", None, {}, 200, "user2"),
    "name-by-query-repeated-last-wins": ("GET", "/users_name/?users_id=0&users_id=2", None, {}, 200, "user3"),
    "name-by-query-whole-float": ("GET", "/users_name/?users_id=1.0", None, {}, 200, "user2"),
    "attribute-name": ("GET", "/users/name?users_id=2", None, {}, 200, "user3"),
    "attribute-age": ("GET", "/users/age?users_id=0", None, {}, 200, "24"),
    "head-health": ("HEAD", "/health", None, {}, 200, None),
    # --- unknown user or attribute
    "unknown-id": ("GET", "/users_name/3", None, {}, 404, not_found("no user with id 3")),
    "negative-id": ("GET", "/users_name/-1", None, {}, 404, not_found("no user with id -1")),
    "huge-id": ("GET", f"/users_name/{10**30}", None, {}, 404, not_found(f"no user with id {10**30}")),
    "unknown-id-by-query": ("GET", "/users_name/?users_id=7", None, {}, 404, not_found("no user with id 7")),
    "unknown-id-attribute": ("GET", "/users/age?users_id=7", None, {}, 404, not_found("no user with id 7")),
    "unknown-attribute": ("GET", "/users/height?users_id=0", None, {}, 404, UNKNOWN_HEIGHT),
    # --- bad path / query input
    "path-not-int": ("GET", "/users_name/abc", None, {}, 422, BAD_PATH),
    "path-float": ("GET", "/users_name/1.5", None, {}, 422, BAD_PATH),
    "path-space": ("GET", "/users_name/%20", None, {}, 422, BAD_PATH),
    "query-missing": ("GET", "/users_name/", None, {}, 422, MISSING_QUERY),
    "query-missing-no-slash": ("GET", "/users_name", None, {}, 422, MISSING_QUERY),
    "query-empty": ("GET", "/users_name/?users_id=", None, {}, 422, BAD_QUERY),
    "query-not-int": ("GET", "/users/name?users_id=x", None, {}, 422, BAD_QUERY),
    "query-exponent": ("GET", "/users_name/?users_id=1e3", None, {}, 422, BAD_QUERY),
    "attribute-query-missing": ("GET", "/users/name", None, {}, 422, MISSING_QUERY),
    "bad-id-beats-unknown-attribute": ("GET", "/users/height?users_id=x", None, {}, 422, BAD_QUERY),
    # --- bad POST bodies
    "body-invalid-json": post(b"{bad", 422, invalid((["body", 1], "JSON decode error", "json_invalid"))),
    "body-truncated-json": post(b'{"id": 1000', 422, invalid((["body", 11], "JSON decode error", "json_invalid"))),
    "body-list": post(b"[1, 2]", 422, NOT_AN_OBJECT),
    "body-number": post(b"5", 422, NOT_AN_OBJECT),
    "body-string": post(b'"s"', 422, NOT_AN_OBJECT),
    "body-null": post(b"null", 422, NOT_AN_OBJECT),
    "body-text-plain": post(user(1000), 422, NOT_AN_OBJECT, {"Content-Type": "text/plain"}),
    "body-no-content-type": post(user(1000), 422, NOT_AN_OBJECT, {}),
    "body-form": post(b"id=1000", 422, NOT_AN_OBJECT, {"Content-Type": "application/x-www-form-urlencoded"}),
    "body-empty": post(b"", 422, invalid((["body"], "Field required", "missing"))),
    "body-empty-object": post(b"{}", 422, invalid(*(field_error(f, "Field required", "missing") for f in FIELDS))),
    "body-missing-age": post(
        b'{"id": 1000, "name": "n"}', 422, invalid(field_error("age", "Field required", "missing"))
    ),
    "body-age-int": post(user(1000, age=3), 422, invalid(field_error("age", STR_MSG, "string_type"))),
    "body-id-not-int": post(user("abc"), 422, invalid(field_error("id", INT_MSG, "int_parsing"))),
    "body-id-float": post(user(1.5), 422, invalid(field_error("id", FRACTION_MSG, "int_from_float"))),
    "body-id-nan": post(
        b'{"id": NaN, "name": "n", "age": "1"}', 422, invalid(field_error("id", NAN_MSG, "finite_number"))
    ),
    "body-id-too-many-digits": post(user("9" * 4301), 422, invalid(field_error("id", SIZE_MSG, "int_parsing_size"))),
    "body-name-lone-surrogate": post(
        b'{"id": 1000, "name": "\\ud800", "age": "1"}', 422, invalid(field_error("name", UNICODE_MSG, "string_unicode"))
    ),
    "body-two-errors": post(
        user(1000, name=None, age=3),
        422,
        invalid(field_error("name", STR_MSG, "string_type"), field_error("age", STR_MSG, "string_type")),
    ),
    "body-int-over-4300-digits": post(b'{"id": ' + b"9" * 5000 + b"}", 400, BODY_UNREADABLE),
    "body-bad-utf8": post(b'{"id": "\x80"}', 400, BODY_UNREADABLE),
    "body-too-deep": post(b"[" * 100_000, 400, BODY_UNREADABLE),
    # --- unknown routes and wrong methods
    "no-route": ("GET", "/nope", None, {}, 404, ROUTE_NOT_FOUND),
    "no-route-post": ("POST", "/nope", b"{}", JSON, 404, ROUTE_NOT_FOUND),
    "trailing-slash": ("GET", "/health/", None, {}, 404, ROUTE_NOT_FOUND),
    "trailing-slash-path-param": ("GET", "/users_name/1/", None, {}, 404, ROUTE_NOT_FOUND),
    "double-slash": ("GET", "//health", None, {}, 404, ROUTE_NOT_FOUND),
    "empty-attribute": ("GET", "/users/?users_id=0", None, {}, 404, ROUTE_NOT_FOUND),
    "post-to-get-route": ("POST", "/health", b"{}", JSON, 405, not_allowed("POST")),
    "get-add-users": ("GET", "/add_users/", None, {}, 405, not_allowed("GET")),
    "put-add-users-no-slash": ("PUT", "/add_users", user(1000), JSON, 405, not_allowed("PUT")),
    "delete-user": ("DELETE", "/users_name/1", None, {}, 405, not_allowed("DELETE")),
    "options": ("OPTIONS", "/health", None, {}, 405, not_allowed("OPTIONS")),
    "head-add-users": ("HEAD", "/add_users/", None, {}, 405, None),
}


def check(reply: Reply, status: int, body: Any) -> None:
    """Exact status and JSON body, and a JSON Content-Type whenever there is a body."""
    assert (reply.status, reply.json()) == (status, body)
    if reply.body:
        assert reply.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_case(server: Server, case: Case) -> None:
    method, path, body, headers, status, expected = case
    check(server.request(method, path, body, headers), status, expected)


def test_method_not_allowed_names_allowed_methods(server: Server) -> None:
    reply = server.request("GET", "/add_users/")
    assert reply.headers["allow"] == "POST"


def test_metadata_holds_the_seed_users_in_order(server: Server) -> None:
    table = server.request("GET", "/metadata").json()
    assert list(table) == ["name", "age"]
    assert list(table["name"].items())[:3] == [("0", "user1"), ("1", "user2"), ("2", "user3")]
    assert list(table["age"].items())[:3] == [("0", "24"), ("1", "30"), ("2", "18")]


def test_add_user_then_read_it_back(server: Server) -> None:
    reply = server.request("POST", "/add_users/", user(1001, "ユーザー", "41"), JSON)
    assert reply.status == 200
    table = reply.json()
    # A new id goes last; the response is the whole table, same as /metadata.
    assert list(table["name"].items())[-1] == ("1001", "ユーザー")
    assert list(table["age"].items())[-1] == ("1001", "41")
    assert server.request("GET", "/metadata").json() == table
    check(server.request("GET", "/users_name/1001"), 200, "ユーザー")
    check(server.request("GET", "/users_name/?users_id=1001"), 200, "ユーザー")
    check(server.request("GET", "/users/age?users_id=1001"), 200, "41")


def test_add_users_without_slash_lax_id_and_extra_field(server: Server) -> None:
    body = b'{"id": "1002", "name": "lax", "age": "7", "extra": true}'
    reply = server.request("POST", "/add_users", body, {"Content-Type": "application/json; charset=utf-8"})
    assert reply.status == 200  # served directly, no 307/308 redirect
    table = reply.json()
    assert (table["name"]["1002"], table["age"]["1002"]) == ("lax", "7")
    assert list(table) == ["name", "age"]  # the extra field is ignored, not stored


def test_add_users_accepts_json_suffix_content_type(server: Server) -> None:
    reply = server.request("POST", "/add_users/", user(1003, "suffix"), {"Content-Type": "application/vnd.api+json"})
    assert (reply.status, reply.json()["name"]["1003"]) == (200, "suffix")


def test_update_keeps_the_row_in_place(server: Server) -> None:
    server.request("POST", "/add_users/", user(1004, "before"), JSON)
    server.request("POST", "/add_users/", user(1005, "after"), JSON)
    table = server.request("POST", "/add_users/", user(1004, "renamed", "99"), JSON).json()
    assert list(table["name"])[-2:] == ["1004", "1005"]
    assert (table["name"]["1004"], table["age"]["1004"]) == ("renamed", "99")


# Replayed in order on both servers; the POSTs keep their tables identical.
PARITY: list[tuple[str, str, bytes | None, Mapping[str, str]]] = [
    ("GET", "/", None, {}),
    ("GET", "/health", None, {}),
    ("GET", "/metadata", None, {}),
    ("GET", "/users_name/1", None, {}),
    ("GET", "/users_name/%2B2", None, {}),
    ("GET", "/users_name/%201%20", None, {}),
    ("GET", "/users_name/1_0", None, {}),
    ("GET", "/users_name/0x1", None, {}),
    ("GET", "/users_name/%E2%91%A0", None, {}),
    ("GET", "/users_name/%FF", None, {}),
    ("GET", "/users_name/10000000000000000000000000000000000000000", None, {}),
    ("GET", "/users_name/?users_id=+1", None, {}),
    ("GET", "/users_name/?users_id", None, {}),
    ("GET", "/users_name/?users_id=1&users_id=x", None, {}),
    ("GET", "/users_name/?users_id=x&users_id=1", None, {}),
    ("GET", "/users_name/?user_id=1", None, {}),
    ("GET", "/users_name?users_id=-0", None, {}),
    ("GET", "/users/age?users_id=2", None, {}),
    ("GET", "/users/AGE?users_id=2", None, {}),
    ("GET", "/users/%C3%A9?users_id=2", None, {}),
    ("GET", "/users/name%2Fx?users_id=2", None, {}),
    ("GET", "/users/name?users_id=2.5", None, {}),
    ("GET", "/metadata/", None, {}),
    ("GET", "/add_users", None, {}),
    ("PATCH", "/metadata", None, {}),
    ("HEAD", "/users_name/0", None, {}),
    ("HEAD", "/users_name/abc", None, {}),
    ("POST", "/add_users/", user(2000, "p1", "20"), JSON),
    ("POST", "/add_users", user(2001, "p2", "21"), JSON),
    ("POST", "/add_users/", user(" 2011 ", True), JSON),
    ("POST", "/add_users/", user(" 2011 ", "padded-string-id"), JSON),
    ("POST", "/add_users/", user(2002.0, "whole-float"), JSON),
    ("POST", "/add_users/", user(10**30, "huge"), JSON),
    ("POST", "/add_users/", user(-5, "negative", 5), JSON),
    ("POST", "/add_users/", b"\xef\xbb\xbf" + user(2003, "bom"), JSON),
    ("POST", "/add_users/", b'{"id": 2004, "id": 2005, "name": "dup", "age": "1"}', JSON),
    ("POST", "/add_users/", b'{"id": Infinity, "name": 1, "age": []}', JSON),
    ("POST", "/add_users/", user(2006, {"a": 1}, None), {"Content-Type": "application/JSON"}),
    ("POST", "/add_users/", user(2007), {"Content-Type": "application/jsonx"}),
    ("POST", "/add_users/", user(2008), {"Content-Type": "text/json"}),
    ("POST", "/add_users/", b"\xff\xfe", JSON),
    ("POST", "/add_users/", b"  ", JSON),
    ("POST", "/add_users/", user(2009) + b" trailing", JSON),
    ("POST", "/add_users/?users_id=1", user(2010, "with-query"), JSON),
    ("GET", "/users_name/2003", None, {}),
    ("GET", "/users_name/2011", None, {}),
    ("GET", "//add_users", None, {}),
    ("GET", "/users_name//", None, {}),
    ("GET", "/users//name?users_id=0", None, {}),
    ("GET", "/metadata", None, {}),
]


def _answer(reply: Reply) -> tuple[int, Any]:
    return reply.status, reply.json()


def test_parity(servers: dict[str, Server]) -> None:
    flask, fastapi = servers["flask"], servers["fastapi"]
    for method, path, body, headers in PARITY:
        flask_reply = flask.request(method, path, body, headers)
        fastapi_reply = fastapi.request(method, path, body, headers)
        assert _answer(flask_reply) == _answer(fastapi_reply), f"{method} {path} {body!r:.80} {headers}"
        assert flask_reply.status < 500, f"{method} {path}"


def test_parity_of_the_whole_table(servers: dict[str, Server]) -> None:
    # Same history on both servers -> same rows in the same order. The concurrency
    # test's rows are left out: parallel POSTs land in a nondeterministic order.
    def ordered_rows(server: Server) -> list[tuple[str, list[tuple[str, str]]]]:
        table = json.loads(server.request("GET", "/metadata").body, object_pairs_hook=list)
        return [(attr, [(key, value) for key, value in rows if not _concurrent_id(key)]) for attr, rows in table]

    assert ordered_rows(servers["flask"]) == ordered_rows(servers["fastapi"])


WRITERS, POSTS_EACH, FIRST_ID = 8, 50, 10_000


def _concurrent_id(key: str) -> bool:
    return FIRST_ID <= int(key) < FIRST_ID + WRITERS * POSTS_EACH


def _post_many(server: Server, writer: int, statuses: list[int]) -> None:
    for i in range(POSTS_EACH):
        users_id = FIRST_ID + writer * POSTS_EACH + i
        reply = server.request("POST", "/add_users/", user(users_id, f"w{writer}-{i}", str(i)), JSON)
        statuses.append(reply.status)


def _read_until(server: Server, done: threading.Event, statuses: list[int]) -> None:
    while not done.is_set():
        statuses.append(server.request("GET", "/metadata").status)


def test_concurrent_posts_lose_nothing(server: Server) -> None:
    statuses: list[int] = []  # list.append is atomic under the GIL
    done = threading.Event()
    writers = [threading.Thread(target=_post_many, args=(server, w, statuses)) for w in range(WRITERS)]
    readers = [threading.Thread(target=_read_until, args=(server, done, statuses)) for _ in range(2)]
    for thread in writers + readers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    for thread in readers:
        thread.join()
    assert set(statuses) == {200}
    table = server.request("GET", "/metadata").json()
    for writer in range(WRITERS):
        for i in range(POSTS_EACH):
            key = str(FIRST_ID + writer * POSTS_EACH + i)
            assert (table["name"][key], table["age"][key]) == (f"w{writer}-{i}", str(i))


def test_server_log_has_no_traceback(server: Server) -> None:
    assert "Traceback" not in server.log()
