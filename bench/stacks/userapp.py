"""Your own app in the lab's stacks: what to serve, which interface it speaks, what to send it.

`--app mypkg.wsgi:app` (or a factory, `mypkg.main:create_app()`, as gunicorn writes one)
replaces the lab's users API in every stack that fits the app's interface: WSGI stacks for a
WSGI app (the Flask development server only for a Flask app), ASGI stacks for an ASGI app.
The interface is found by importing the app in a child process (never this one: its imports
are the user's) and looking at it, unless `--interface` says it. Requests come from a small
TOML file (`--requests mix.toml`) or the user's own locustfile (`--locustfile`); before any
load, the health path and every path of the mix must answer without a 5xx.

    [[request]]              # one table per request; chosen at random by weight
    method = "GET"           # default GET
    path = "/simple/"
    weight = 3               # default 1
    name = "/simple/"        # how it is reported (default: the path)
    json = { id = 1 }        # or body = "..." ; headers = { "X-Key" = "..." }
    expect = [404]           # statuses other than 2xx/3xx this request is meant to get (default none)

A path that answers 404 or 405 before the load is refused (almost always a wrong path, or the
wrong app being served) unless its table expects that status; an expected status counts as a
success under load too.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ConfigError, StackFailed

INTERFACES = ("wsgi", "asgi")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_DETECT = """
import importlib, inspect, json, sys
module, _, name = sys.argv[1].partition(":")
factory = name.endswith("()")
app = getattr(importlib.import_module(module), name.removesuffix("()"))
if factory:
    app = app()
call = app if inspect.isfunction(app) or inspect.ismethod(app) else getattr(app, "__call__", app)
asgi = inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(app)
params = list(inspect.signature(call).parameters) if callable(call) else []
flask = any(c.__module__.startswith("flask.") and c.__name__ == "Flask" for c in type(app).__mro__)
print(json.dumps({"interface": "asgi" if asgi else "wsgi" if len(params) >= 2 else "?", "flask": flask}))
"""


@dataclass(frozen=True)
class App:
    """What the stacks serve: the lab's own users API (`own`), or the user's app."""

    target: str  # "mypkg.wsgi:app", or a factory "mypkg.main:create_app()"
    interface: str  # wsgi | asgi
    flask: bool = False  # a Flask app: the Flask development server can serve it
    folder: Path | None = None  # imported from this folder (None: an installed package)
    requirements: Path | None = None  # its dependencies, for the container images
    own: bool = False

    @property
    def name(self) -> str:
        """`module:attribute`, without the factory's `()` (uvicorn and granian take --factory)."""
        return self.target.removesuffix("()")

    @property
    def factory(self) -> bool:
        return self.target.endswith("()")

    def fits(self, interface: str) -> bool:
        """Whether a stack serving `interface` (wsgi | asgi | flask | none) can serve this app."""
        if interface == "flask":
            return self.interface == "wsgi" and self.flask
        return interface == self.interface

    def context(self) -> dict[str, str]:
        """The `{{app.*}}` placeholders of the stacks' commands."""
        return {"app.target": self.target, "app.name": self.name}

    def environment(self) -> dict[str, str]:
        """What the servers read from their environment: where to import from, whether to call a factory."""
        factory = "true" if self.factory else "false"
        return {"UVICORN_FACTORY": factory, "GRANIAN_FACTORY": factory}


def own_app(target: str, interface: str) -> App:
    """A stack's own app (the lab's users API), as its stack.toml names it."""
    return App(target, "wsgi" if interface == "flask" else interface, flask=interface == "flask", own=True)


def resolve_app(target: str, interface: str | None, folder: Path, requirements: Path | None) -> App:
    """The user's `--app`, its interface found by importing it (in a child) unless given."""
    module, colon, name = target.partition(":")
    if not colon or not module or not name.removesuffix("()").isidentifier():
        raise ConfigError(f"--app: cannot read {target!r}", tip="use module:attribute, e.g. mypkg.wsgi:app, or a "
                          "factory, mypkg.main:create_app()")  # fmt: skip
    if interface is not None and interface not in INTERFACES:
        raise ConfigError(f"--interface: {interface!r} is not one of {', '.join(INTERFACES)}")
    if requirements is not None and not requirements.is_file():
        raise ConfigError(f"--requirements: {requirements} is not a file")
    found = detect(target, folder)
    if interface is None and found["interface"] not in INTERFACES:
        raise ConfigError(f"--app: {target} is neither a WSGI nor an ASGI app", tip="say which with --interface")
    return App(target, interface or found["interface"], bool(found["flask"]), folder, requirements)


def detect(target: str, folder: Path) -> dict[str, Any]:
    """Import the app in a child Python with `folder` on its path and say what it is (asked once per process
    for the same app, folder and path: each answer is a Python start and the app's imports)."""
    return dict(_detect(target, folder, os.environ.get("PYTHONPATH")))


@functools.cache
def _detect(target: str, folder: Path, pythonpath: str | None) -> tuple[tuple[str, Any], ...]:
    env = dict(os.environ) | {"PYTHONPATH": os.pathsep.join(filter(None, [str(folder), pythonpath]))}
    done = subprocess.run([sys.executable, "-c", _DETECT, target], capture_output=True, text=True, env=env,
                          cwd=folder, timeout=120)  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"--app: cannot import {target} from {folder}: {last}",
                          tip="run from the folder that holds the module (or --app-dir), or install its package")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return tuple(found.items())


@dataclass(frozen=True)
class Request:
    """One request of a mix."""

    method: str
    path: str
    weight: int = 1
    name: str = ""
    json: Any = None
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    expect: tuple[int, ...] = ()  # statuses this request is meant to get besides 2xx/3xx


def load_mix(path: Path) -> tuple[Request, ...]:
    """The [[request]] tables of a mix file; anything malformed is a one-line error naming it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"--requests: cannot read {path}: {exc}") from exc
    tables = data.get("request")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"--requests: {path} has no [[request]] table", tip="see `python -m bench stack --help`")
    return tuple(_request(t, f"{path}: request {i + 1}") for i, t in enumerate(tables))


def _request(table: Any, where: str) -> Request:
    if not isinstance(table, dict):
        raise ConfigError(f"--requests: {where} is not a table")
    unknown = set(table) - {"method", "path", "weight", "name", "json", "body", "headers", "expect"}
    if unknown:
        raise ConfigError(f"--requests: {where}: unknown key {sorted(unknown)[0]!r}",
                          tip="known: method, path, weight, name, json, body, headers, expect")  # fmt: skip
    method, path = str(table.get("method", "GET")).upper(), table.get("path")
    if method not in METHODS:
        raise ConfigError(f"--requests: {where}: method {method!r} is not one of {', '.join(METHODS)}")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigError(f"--requests: {where}: path must start with /, got {path!r}")
    weight = table.get("weight", 1)
    if not isinstance(weight, int) or weight < 1:
        raise ConfigError(f"--requests: {where}: weight must be a whole number of at least 1, got {weight!r}")
    if "json" in table and "body" in table:
        raise ConfigError(f"--requests: {where}: give json or body, not both")
    expect = table.get("expect", [])
    if not isinstance(expect, list) or not all(isinstance(c, int) and 100 <= c <= 599 for c in expect):
        raise ConfigError(f"--requests: {where}: expect must be a list of HTTP statuses, got {expect!r}",
                          tip="e.g. expect = [404]")  # fmt: skip
    return Request(method, path, weight, str(table.get("name", path)), table.get("json"), table.get("body"),
                   {str(k): str(v) for k, v in dict(table.get("headers", {})).items()}, tuple(expect))  # fmt: skip


# --inject: the lab's app misbehaving on purpose, through its fault switch (apps/users.py FaultSwitch)
INJECT_KEYS = {  # --inject key -> the apps' variable, and how its value reads
    "delay": "BENCH_FAULT_DELAY_MS",  # 2ms, 0.5s: every (or `delayed`) request waits this long
    "delayed": "BENCH_FAULT_DELAY_RATE",  # 10%: the share of requests that wait (default all)
    "errors": "BENCH_FAULT_ERROR_RATE",  # 1%: the share of requests answered with an error
    "status": "BENCH_FAULT_STATUS",  # 503: that error's status (default 500)
}
INJECT_TIP = "e.g. --inject delay=2ms,errors=1% (keys: delay, delayed, errors, status)"


def parse_inject(text: str | None) -> dict[str, str]:
    """`delay=2ms,errors=1%` -> the apps' fault switch variables ({"BENCH_FAULT_DELAY_MS": "2", ...}); a key or
    value that cannot be read is a one-line ConfigError naming it."""
    found: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        key, eq, value = (s.strip() for s in part.partition("="))
        if not eq or key not in INJECT_KEYS:
            raise ConfigError(f"--inject: cannot read {part!r}", tip=INJECT_TIP)
        if INJECT_KEYS[key] in found:
            raise ConfigError(f"--inject: {key} given twice", tip=INJECT_TIP)
        found[INJECT_KEYS[key]] = _inject_value(key, value)
    return found


def _inject_value(key: str, value: str) -> str:
    try:
        if key == "delay":
            ms = float(value.removesuffix("ms")) if value.endswith("ms") else float(value.removesuffix("s")) * 1000
            if not value.endswith("s") or not 0 <= ms <= 600_000:
                raise ValueError
            return f"{ms:g}"
        if key == "status":
            if not 500 <= int(value) <= 599:
                raise ValueError
            return str(int(value))
        share = float(value.removesuffix("%")) / 100 if value.endswith("%") else float(value)
        if not 0 <= share <= 1:
            raise ValueError
        return f"{share:g}"
    except ValueError:
        shown = {"delay": "a duration up to 600s (2ms, 0.5s)", "status": "an HTTP status 500-599"}
        raise ConfigError(f"--inject: {key}={value!r} is not {shown.get(key, 'a share 0-100% (1%, 0.01)')}",
                          tip=INJECT_TIP) from None


@dataclass(frozen=True)
class Workload:
    """What a run serves and sends: the app (None: each stack's own), its mix, locustfile and health path."""

    app: App | None = None
    mix: tuple[Request, ...] = ()
    locustfile: Path | None = None
    health: str | None = None
    inject: Mapping[str, str] = field(default_factory=dict)  # --inject: the lab's app's fault switch (BENCH_FAULT_*)

    def check(self, base_url: str, own: bool) -> None:
        """Before any load: the lab's own API answers as it must (unless told to fail: --inject errors=...); a
        mix's every path answers without a 5xx."""
        if self.mix:
            check_paths(base_url, self.mix)
        elif own and self.locustfile is None and not float(self.inject.get(INJECT_KEYS["errors"], 0)):
            from bench.stacks.verify import verify

            verify(base_url)

    def settings(self) -> dict[str, Any]:
        shown: dict[str, Any] = {}
        if self.app is not None:
            shown["app"] = {"target": self.app.target, "interface": self.app.interface, "flask": self.app.flask,
                            "folder": str(self.app.folder) if self.app.folder else None}  # fmt: skip
        if self.mix:
            shown["requests"] = [f"{r.method} {r.path} x{r.weight}" for r in self.mix]
        if self.locustfile is not None:
            shown["locustfile"] = str(self.locustfile)
        shown |= {"inject": dict(self.inject)} if self.inject else {}
        return shown | ({"health_path": self.health} if self.health else {})


def mix_json(mix: tuple[Request, ...]) -> str:
    """The mix as the locustfile reads it from LAB_LOAD_MIX (bench/load/lab_load.py): no file to ship into
    containers."""
    return json.dumps([r.__dict__ for r in mix])


def check_paths(base_url: str, mix: tuple[Request, ...]) -> None:
    """Every request of the mix once: a 5xx, no answer, or a 404/405 the table does not expect (a wrong path,
    or the wrong app served: a swarm run once measured the lab's own API with every request of a user's mix
    answered 404) is a StackFailed naming the path."""
    wrong = []
    for r in mix:
        data = json.dumps(r.json).encode() if r.json is not None else (r.body or "").encode() or None
        req = urllib.request.Request(base_url + r.path, data=data, method=r.method, headers=dict(r.headers))
        if r.json is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:
            wrong.append(f"{r.method} {r.path}: no answer ({exc})")
            continue
        if status in r.expect:
            continue
        if status >= 500:
            wrong.append(f"{r.method} {r.path}: HTTP {status}")
        elif status in (404, 405):
            wrong.append(f"{r.method} {r.path}: HTTP {status} (a wrong path or the wrong app? if it is meant to, "
                         f"add expect = [{status}] to its table)")  # fmt: skip
    if wrong:
        raise StackFailed(f"{len(wrong)} of {len(mix)} requests of the mix fail before any load: " + "; ".join(wrong))
