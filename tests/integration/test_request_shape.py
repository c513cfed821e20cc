"""What the lab's load generator puts on the wire, byte for byte: a change to the requests it sends (a
header more, another order, a body) changes what every stack's figure costs, so it must fail here first.

A recording server on loopback keeps every request's bytes and answers a fixed 200; locust runs the
lab's own locustfile against it for about a second with one user."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from tests.integration.conftest import ROOT

ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'

# Each path of the users API as the locustfile sends it: the request line's pattern, then the headers in the
# order they are sent (geventhttpclient's, FastHttpUser's client), then the body.
GET_HEADERS = ["User-Agent", "Accept-Encoding", "Host"]
POST_HEADERS = ["User-Agent", "Accept-Encoding", "Content-Type", "Accept", "Host", "Content-Length"]
PATHS = {
    "/": r"GET / HTTP/1\.1",
    "/health": r"GET /health HTTP/1\.1",
    "/metadata": r"GET /metadata HTTP/1\.1",
    "/users_name/[id]": r"GET /users_name/[0-2] HTTP/1\.1",
    "/users_name/?users_id=[id]": r"GET /users_name/\?users_id=[0-2] HTTP/1\.1",
    "/users/[attribute]?users_id=[id]": r"GET /users/(name|age)\?users_id=[0-2] HTTP/1\.1",
    "/add_users/": r"POST /add_users/ HTTP/1\.1",
}


class Recorder:
    """Accepts connections and keeps (request head, body) of every request, answering each with ANSWER."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list[tuple[bytes, bytes]] = []
        self.closed_by_client = 0

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while data := conn.recv(65536):
                buffer += data
                while b"\r\n\r\n" in buffer:
                    head, rest = buffer.split(b"\r\n\r\n", 1)
                    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
                    if len(rest) < length:
                        break
                    self.requests.append((head, rest[:length]))
                    buffer = rest[length:]
                    conn.sendall(ANSWER)
            self.closed_by_client += 1


@pytest.fixture(scope="module")
def recorded() -> Iterator[Recorder]:
    recorder = Recorder()
    threading.Thread(target=recorder.serve, daemon=True).start()
    try:
        done = subprocess.run([sys.executable, "-m", "locust", "-f", "bench/load/locustfile.py", "--headless",
                               "-u", "1", "-r", "1", "-t", "1s", "-H", f"http://127.0.0.1:{recorder.port}",
                               "--only-summary"],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        yield recorder
    finally:
        recorder.sock.close()


def _record_wrk(shape: str) -> Recorder:
    """benchmarks/wrk_mix.lua for about a second on one connection, sending `shape`'s bytes."""
    recorder = Recorder()
    threading.Thread(target=recorder.serve, daemon=True).start()
    try:
        done = subprocess.run(["wrk", "-t1", "-c1", "-d1s", "-s", "benchmarks/wrk_mix.lua",
                               f"http://127.0.0.1:{recorder.port}"], cwd=ROOT, capture_output=True, text=True,
                              env=dict(os.environ) | {"WRK_MIX_SHAPE": shape}, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        return recorder
    finally:
        recorder.sock.close()


def _shapes(recorder: Recorder) -> set[tuple[str, tuple[str, ...], str]]:
    """Each request as (its path's name, its header names in order, its Content-Length): ids and ports left out."""
    found = set()
    for head, body in recorder.requests:
        line, headers = _parsed(head)
        name = next((n for n, pattern in PATHS.items() if re.fullmatch(pattern, line)), line)
        found.add((name, tuple(h for h, _ in headers), str(len(body))))
    return found


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")
def test_wrk_sends_locust_s_bytes_when_asked_and_only_host_otherwise(recorded: Recorder) -> None:
    """benchmarks/lab_vs_wrk_fidelity.py prices locust's headers with wrk sending them: the same paths, header
    names in the same order and the same body sizes as the lab's locust; wrk's own shape has only Host (and the
    POST's Content-Type and Content-Length, in an order wrk does not fix)."""
    as_locust = _shapes(_record_wrk("locust"))
    assert as_locust == _shapes(recorded)
    own = _shapes(_record_wrk("wrk"))  # wrk.format's header order follows a Lua table's: compared as sets
    assert {(name, frozenset(headers)) for name, headers, _ in own} == {
        (n, frozenset({"Host"})) for n in PATHS if n != "/add_users/"} | {
        ("/add_users/", frozenset({"Content-Type", "Host", "Content-Length"}))}  # fmt: skip


def _parsed(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    line, *headers = head.decode("latin-1").split("\r\n")
    return line, [tuple(h.split(": ", 1)) for h in headers]  # type: ignore[misc]


def test_every_path_is_sent_with_the_expected_request_line_headers_and_body(recorded: Recorder) -> None:
    seen: dict[str, int] = dict.fromkeys(PATHS, 0)
    for head, body in recorded.requests:
        line, headers = _parsed(head)
        name = next((n for n, pattern in PATHS.items() if re.fullmatch(pattern, line)), None)
        assert name is not None, f"a request the users API does not have: {line!r}"
        seen[name] += 1
        values = dict(headers)
        assert values["User-Agent"].startswith("python/gevent-http-client-")
        assert values["Accept-Encoding"] == "gzip, deflate, br"
        assert values["Host"] == f"127.0.0.1:{recorded.port}"
        if line.startswith("POST"):
            assert [h for h, _ in headers] == POST_HEADERS
            assert (values["Content-Type"], values["Accept"]) == ("application/json", "application/json")
            sent = json.loads(body)
            assert values["Content-Length"] == str(len(body))
            assert 100 <= sent["id"] < 200 and sent == {"id": sent["id"], "name": f"user{sent['id']}",
                                                        "age": str(20 + sent["id"] % 50)}  # fmt: skip
        else:
            assert [h for h, _ in headers] == GET_HEADERS and body == b""
    assert all(seen.values()), f"paths never sent in a second of load: {[n for n, k in seen.items() if not k]}"


def test_the_connection_is_kept_alive_across_requests(recorded: Recorder) -> None:
    """One user, one connection: hundreds of requests, at most a reconnect or two (at the end, locust closes)."""
    assert len(recorded.requests) >= 100
    assert recorded.closed_by_client <= 2
