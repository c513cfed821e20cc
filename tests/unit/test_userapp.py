"""--app's pieces that need no server: reading a mix, which stacks fit an app, the placeholders."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.errors import ConfigError, StackFailed
from bench.stacks.catalog import discover
from bench.stacks.userapp import App, check_paths, load_mix, own_app


def mix(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mix.toml"
    path.write_text(text)
    return path


def test_a_mix_reads_with_its_defaults(tmp_path: Path) -> None:
    found = load_mix(mix(tmp_path, '[[request]]\npath = "/a"\n\n[[request]]\nmethod = "post"\npath = "/b"\n'
                                   'weight = 3\njson = { id = 1 }\nheaders = { "X-Key" = "k" }\n'))  # fmt: skip
    assert [(r.method, r.path, r.weight, r.name) for r in found] == [("GET", "/a", 1, "/a"), ("POST", "/b", 3, "/b")]
    assert found[1].json == {"id": 1} and found[1].headers == {"X-Key": "k"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"has no \[\[request\]\] table"),
        ('[[request]]\npath = "a"\n', "path must start with /"),
        ('[[request]]\npath = "/a"\nmethod = "FETCH"\n', "method 'FETCH' is not one of"),
        ('[[request]]\npath = "/a"\nweight = 0\n', "weight must be a whole number of at least 1"),
        ('[[request]]\npath = "/a"\nbody = "x"\njson = 1\n', "give json or body, not both"),
        ('[[request]]\npath = "/a"\nurl = "/b"\n', "unknown key 'url'"),
        ('[[request]]\npath = "/a"\nexpect = 404\n', "expect must be a list of HTTP statuses"),
    ],
)
def test_a_malformed_mix_is_one_line_naming_the_request(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_mix(mix(tmp_path, text))


def test_which_stacks_serve_which_apps() -> None:
    stacks = discover()
    wsgi, flask, asgi = App("m:app", "wsgi"), App("m:app", "wsgi", flask=True), App("m:create()", "asgi")
    assert [n for n, s in stacks.items() if wsgi.fits(s.interface)] == [
        "flask_gunicorn", "flask_gunicorn_nginx", "flask_gunicorn_gthread", "granian_wsgi"]  # fmt: skip
    assert next(n for n, s in stacks.items() if flask.fits(s.interface)) == "flask"
    assert [n for n, s in stacks.items() if asgi.fits(s.interface)] == [
        "fastapi_istio", "fastapi", "uvicorn", "fastapi_nginx", "granian_asgi"]  # fmt: skip
    assert (asgi.name, asgi.factory, asgi.context()["app.target"]) == ("m:create", True, "m:create()")
    assert asgi.environment() == {"UVICORN_FACTORY": "true", "GRANIAN_FACTORY": "true"}
    for stack in stacks.values():  # each stack's own app is the lab's users API, which it serves
        assert own_app(stack.app, stack.interface).fits(stack.interface), stack.name


class _Paths(BaseHTTPRequestHandler):
    """/ok answers 200, /broken 500, /get-only refuses POST with 405, anything else 404."""

    def do_GET(self) -> None:
        self._answer({"/ok": 200, "/broken": 500, "/get-only": 200}.get(self.path, 404))

    def do_POST(self) -> None:
        self._answer(405 if self.path == "/get-only" else 404)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Paths)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_mix_path_answering_404_or_405_is_refused_before_the_load_unless_expected(tmp_path: Path,
                                                                                     server: str) -> None:
    """A wrong path, or the wrong app served, answers 404/405 to every request: refused, naming each path."""
    wrong = load_mix(mix(tmp_path, '[[request]]\npath = "/ok"\n\n[[request]]\npath = "/work"\n\n'
                                   '[[request]]\nmethod = "POST"\npath = "/get-only"\n\n'
                                   '[[request]]\npath = "/broken"\n'))  # fmt: skip
    with pytest.raises(StackFailed) as failed:
        check_paths(server, wrong)
    message = str(failed.value)
    assert message.startswith("3 of 4 requests of the mix fail before any load: ")
    assert "GET /work: HTTP 404 (a wrong path or the wrong app?" in message
    assert "POST /get-only: HTTP 405" in message and "GET /broken: HTTP 500" in message
    assert "GET /ok" not in message
    meant = load_mix(mix(tmp_path, '[[request]]\npath = "/ok"\n\n[[request]]\npath = "/gone"\nexpect = [404]\n'))
    assert meant[1].expect == (404,)
    check_paths(server, meant)  # expected: no error
