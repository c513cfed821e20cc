"""--app's pieces that need no server: reading a mix, which stacks fit an app, the placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import ConfigError
from bench.stacks import discover
from bench.userapp import App, load_mix, own_app


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
