"""Your own app in every stack that fits it, for real: two well-known open-source apps from PyPI.

pypiserver (a package index; Bottle, WSGI) and Datasette (explore SQLite data; ASGI, started
from a factory) are served by the lab's stacks from a user's folder (tests/data/apps, copied
with a database and a package file made here), loaded with their own request mixes.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bench.backends import compose
from tests.integration.conftest import ROOT, measurements, only_run

APPS = ROOT / "tests" / "data" / "apps"
SHORT = ["-u", "8", "-r", "8", "-t", "1s", "--warmup", "0.5s", "--repeat", "1", "--no-floor"]
WSGI = ["flask_gunicorn", "flask_gunicorn_nginx", "flask_gunicorn_gthread", "granian_wsgi"]
ASGI = ["fastapi_istio", "fastapi", "uvicorn", "fastapi_nginx", "granian_asgi"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's folder: the entry modules, a package for pypiserver to list, a database for Datasette."""
    where = tmp_path_factory.mktemp("myapp")
    shutil.copytree(APPS, where, dirs_exist_ok=True)
    (where / "packages").mkdir()
    (where / "packages" / "tinypkg-1.0.tar.gz").write_bytes(b"not really a package")
    with sqlite3.connect(where / "fixtures.db") as db:
        db.execute("create table users (id integer primary key, name text, age integer)")
        db.executemany("insert into users (name, age) values (?, ?)", [(f"u{i}", 20 + i % 50) for i in range(200)])
    return where


def lab(folder: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`./lab ARGS` run from the user's folder, as a user runs it."""
    return subprocess.run([str(ROOT / "lab"), *args], cwd=folder, capture_output=True, text=True, timeout=timeout)


def test_a_wsgi_app_runs_in_every_wsgi_stack(folder: Path, tmp_path: Path) -> None:
    done = lab(folder, "all", "--app", "pypi_wsgi:app", "--requests", "pypi.toml", *SHORT, "--backend", "local",
               "--results", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    _, run = only_run(tmp_path)
    rows = measurements(run)
    assert [m["label"] for m in rows] == WSGI
    for m in rows:
        assert m["status"] == "ok" and m["figures"]["failures"] == 0, m["error"]
        names = {r["name"] for r in json.loads(m["load"]["mix"])}
        assert names == {"/simple/", "/simple/tinypkg/", "/packages/", "/health"}
    assert run["settings"]["app"]["interface"] == "wsgi" and run["settings"]["app"]["flask"] is False
    assert run["settings"]["skipped"]["flask"] == "the Flask development server serves Flask apps only"
    assert run["settings"]["skipped"]["uvicorn"] == "it serves ASGI apps and this one is WSGI"
    assert "[flask] skipped: the Flask development server serves Flask apps only" in done.stderr


def test_an_asgi_app_from_a_factory_runs_in_every_asgi_stack(folder: Path, tmp_path: Path) -> None:
    done = lab(folder, "all", "--app", "datasette_asgi:create_app()", "--requests", "datasette.toml",
               "--health", "/-/versions.json", *SHORT, "--backend", "local", "--results", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    _, run = only_run(tmp_path)
    assert [m["label"] for m in measurements(run)] == ASGI
    for m in measurements(run):
        assert m["status"] == "ok" and m["figures"]["failures"] == 0, m["error"]
        assert set(m["figures"]["status_codes"]) == {"200"}
    assert run["settings"]["app"]["interface"] == "asgi"


@pytest.mark.skipif(compose.unavailable_reason() is not None, reason="no Docker engine with compose here")
def test_the_wsgi_app_under_compose_with_its_dependencies_from_wheels(folder: Path, tmp_path: Path) -> None:
    app = ["--app", "pypi_wsgi:app", "--requests", "pypi.toml", "--requirements", "requirements-pypi.txt"]
    done = lab(folder, "stack", "flask_gunicorn", *app, *SHORT, "--backend", "compose", "--results", str(tmp_path))
    assert done.returncode == 0, done.stderr
    _, run = only_run(tmp_path)
    (m,) = measurements(run)
    assert m["status"] == "ok" and m["backend"] == "compose" and m["figures"]["requests"] > 0
    assert "building bench/userapp:" in done.stderr


def test_your_own_locustfile_sends_and_the_lab_measures(folder: Path, tmp_path: Path) -> None:
    done = lab(folder, "stack", "granian_wsgi", "--app", "pypi_wsgi:app", "--locustfile", "pypi_locustfile.py",
               *SHORT, "--backend", "local", "--results", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    _, run = only_run(tmp_path)
    (m,) = measurements(run)
    assert m["status"] == "ok" and m["figures"]["requests"] > 0 and m["figures"]["status_codes"] == {
        "200": m["figures"]["requests"]}  # fmt: skip
    rows = json.loads((tmp_path / "runs" / run["run_id"] / m["folder"] / "load" / "locust.json").read_text())
    assert {r["name"] for r in rows} == {"/simple/", "/simple/tinypkg/"}  # their requests, not the lab's


def test_a_path_that_fails_before_the_load_is_named(folder: Path, tmp_path: Path) -> None:
    (folder / "broken.toml").write_text('[[request]]\npath = "/fixtures/users.json?_sort=nope"\n')
    done = lab(folder, "stack", "uvicorn", "--app", "datasette_asgi:create_app()", "--requests", "broken.toml",
               "--health", "/-/versions.json", *SHORT, "--backend", "local", "--results", str(tmp_path))  # fmt: skip
    assert done.returncode == 1
    _, run = only_run(tmp_path)
    (m,) = measurements(run)
    assert m["error"] == ("1 of 1 requests of the mix fail before any load: GET /fixtures/users.json?_sort=nope: "
                          "HTTP 500")  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--app", "nomodule:app", "--requests", "pypi.toml"], "ERROR: --app: cannot import nomodule:app from"),
        (["--app", "pypi_wsgi", "--requests", "pypi.toml"], "ERROR: --app: cannot read 'pypi_wsgi'"),
        (["--app", "pypi_wsgi:app"], "ERROR: --app needs the requests to send"),
        (["--health", "/h"], "ERROR: --health goes with --app"),
        (["--app", "pypi_wsgi:app", "--requests", "nope.toml"], "ERROR: --requests: cannot read nope.toml"),
    ],
)
def test_bad_input_to_the_app_flags_is_one_line(folder: Path, tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "stack", "flask_gunicorn", *args, "--results",
                           str(tmp_path)], cwd=folder, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(message), done.stderr
    assert not (tmp_path / "runs").exists()
