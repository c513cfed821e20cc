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

from tests.integration.conftest import ROOT, table_rows

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")

SCRIPT = ROOT / "benchmarks" / "wrk_mix.lua"
# bench/load/locustfile.py's 7 tasks, as (method, path without the varying ids)
LOCUST_MIX = {
    ("GET", "/"),
    ("GET", "/health"),
    ("GET", "/metadata"),
    ("GET", "/users_name/[id]"),
    ("GET", "/users_name/?users_id=[id]"),
    ("GET", "/users/[attribute]?users_id=[id]"),
    ("POST", "/add_users/"),
}


def _cells(report: str, first: str) -> list[str]:
    rows = table_rows(report, first)
    assert len(rows) == 1, report
    return rows[0]


def test_one_stack_has_real_figures_from_every_tool(tmp_path: Path) -> None:
    out = tmp_path / "lab-vs-wrk.md"
    argv = ["--stacks", "flask_gunicorn", "--pairs", "1", "--duration", "1s", "--warmup", "0.5s", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.lab_vs_wrk", *argv],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    report = out.read_text(encoding="utf-8")
    assert report == done.stdout  # what is printed is what is written
    assert "--stacks flask_gunicorn --pairs 1" in report and "load average" in report
    assert "stacks on CPU 0, load generators (locust, wrk) on CPU 1" in report or os.cpu_count() == 1
    lab, vanilla, ratio, goal = _cells(report, "peak req/s, lab locustfile vs vanilla FastHttpUser")[1:]
    assert float(lab.replace(",", "")) > 0 and float(vanilla.replace(",", "")) > 0  # one pair: no [min-max]
    # one pair: the goal is the ratio shown against 0.9 (tests/unit/test_lab_vs_wrk_goals.py sets both sides)
    shown = float(ratio.split()[0].rstrip("x"))
    assert abs(shown - float(lab.replace(",", "")) / float(vanilla.replace(",", ""))) <= 0.006  # from the rounded rps
    assert goal == f"≥ 0.9: {'yes' if shown >= 0.9 else 'no'}" or shown == 0.9  # 0.90 shown may be 0.895
    lab_cost, wrk_cost = _cells(report, "reconnect cost (closing minus keep-alive)")[1:3]
    assert lab_cost.endswith(" ms") and wrk_cost.endswith(" ms")
    stacks, limits = report.split("## What limits each peak")
    cells = _cells(stacks, "flask_gunicorn")
    closes, lab_rps, wrk_rps, lab_ms, wrk_ms, reconnect, left = (cells[i] for i in (1, 2, 3, 6, 7, 9, 10))
    assert closes == "yes"  # gunicorn's sync workers close every connection
    for figure in (lab_rps, wrk_rps):
        assert float(figure.split()[0].replace(",", "")) > 0
    assert float(lab_ms.split()[0]) > 0 and float(wrk_ms.split()[0]) > 0
    assert reconnect.startswith(("+", "-")) and "limit ±" in left
    # each goal is the threshold applied to the figures beside it (values rounded as shown: the edges excepted)
    peak_ratio = float(cells[4].removesuffix("x"))
    assert cells[5] == ("yes" if peak_ratio >= 0.9 else "no") or peak_ratio == 0.9
    gap, limit = float(left.split()[0]), float(left.split("±")[1].rstrip(")"))
    assert abs(gap - (float(cells[8]) - float(reconnect))) <= 0.011  # lab - wrk, less the reconnect cost
    assert abs(limit - (0.5 + 0.1 * float(wrk_ms.split()[0]))) <= 0.006  # 0.5 ms + 10 % of wrk's mean, as shown
    assert cells[11].split(";")[0] == ("yes" if abs(gap) <= limit else "no") or abs(abs(gap) - limit) < 0.011
    ratio, stack_busy, load_busy, cost, verdict = _cells(limits, "flask_gunicorn")[1:]
    assert ratio == cells[4]
    for pair in (stack_busy, load_busy):  # lab / wrk; locust's share is only read past its start-up and warmup
        lab_pct, wrk_pct = pair.split(" / ")
        assert lab_pct == "—" or 0 <= float(lab_pct.removesuffix(" %")) <= 100
        assert 0 < float(wrk_pct.removesuffix(" %")) <= 100  # wrk's load is on the stack's CPU and its own
    assert float(cost.split(" / ")[1]) > 0 and verdict


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
