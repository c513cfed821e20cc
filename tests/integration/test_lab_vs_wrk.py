"""benchmarks/lab_vs_wrk.py for real: one stack, short runs, both tools' figures in the table."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from tests.integration.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")

SCRIPT = ROOT / "benchmarks" / "wrk_mix.lua"
# bench/locustfile.py's 7 tasks, as (method, path without the varying ids)
LOCUST_MIX = {
    ("GET", "/"),
    ("GET", "/health"),
    ("GET", "/metadata"),
    ("GET", "/users_name/[id]"),
    ("GET", "/users_name/?users_id=[id]"),
    ("GET", "/users/[attribute]?users_id=[id]"),
    ("POST", "/add_users/"),
}


def _cells(table: str, stack: str) -> list[str]:
    rows = [line for line in table.splitlines() if line.startswith(f"| {stack} |")]
    assert len(rows) == 1, table
    return [cell.strip() for cell in rows[0].strip("|").split("|")]


def test_one_stack_has_real_figures_from_both_tools(tmp_path: Path) -> None:
    out = tmp_path / "lab-vs-wrk.md"
    argv = ["--stacks", "flask_gunicorn", "--duration", "2s", "--warmup", "1s", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.lab_vs_wrk", *argv],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    table = out.read_text(encoding="utf-8")
    assert table == done.stdout  # what is printed is what is written
    assert "--stacks flask_gunicorn --duration 2s" in table
    assert "stacks on CPU 0, load generators (locust, wrk) on CPU 1" in table or os.cpu_count() == 1
    _, concurrency, lab_rps, wrk_rps, ratio, peak_met, lab_ms, wrk_ms, gap, latency_met, _ = _cells(
        table, "flask_gunicorn"
    )
    assert concurrency == "32"
    assert float(lab_rps.replace(",", "")) > 0
    assert float(wrk_rps.replace(",", "")) > 0
    assert float(ratio.rstrip("x")) > 0
    assert float(lab_ms) > 0
    assert float(wrk_ms) > 0
    assert gap.endswith(")") and "limit" in gap
    assert peak_met in ("yes", "no")
    assert latency_met in ("yes", "no")


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, str, bytes]]] = []  # one test at a time

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append((self.command, self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _template(method: str, path: str) -> tuple[str, str]:
    """A request as the locustfile names it, ids and attributes replaced by placeholders."""
    path = path.replace("users_id=0", "users_id=[id]").replace("users_id=1", "users_id=[id]")
    path = path.replace("users_id=2", "users_id=[id]")
    for attribute in ("name", "age"):
        path = path.replace(f"/users/{attribute}?", "/users/[attribute]?")
    if path.startswith("/users_name/") and not path.startswith("/users_name/?"):
        path = "/users_name/[id]"
    return method, path


def test_wrk_sends_the_locustfile_mix_in_equal_shares(recorder: str) -> None:
    done = subprocess.run(
        ["wrk", "-t1", "-c2", "-d1s", "-s", str(SCRIPT), recorder], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads([line for line in done.stdout.splitlines() if line.startswith('{"wrk_mix"')][-1])
    assert summary["requests"] > 0 and summary["latency_us"]["mean"] > 0
    seen = _Recorder.seen
    kinds = [_template(method, path) for method, path, _, _ in seen]
    assert set(kinds) == LOCUST_MIX
    counts = [kinds.count(kind) for kind in LOCUST_MIX]
    assert max(counts) - min(counts) <= 2  # one rotation: equal shares, up to the requests in flight
    posts = [(ctype, json.loads(body)) for method, _, ctype, body in seen if method == "POST"]
    assert all(ctype == "application/json" for ctype, _ in posts)
    assert all(set(body) == {"id", "name", "age"} and 100 <= body["id"] < 200 for _, body in posts)
