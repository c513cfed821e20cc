"""The lab's locustfile sending wrk's bytes: no User-Agent, no Accept-Encoding, no Accept.

benchmarks/lab_vs_wrk_fidelity.py runs it beside bench/load/locustfile.py itself, so the cost of the
headers locust adds (geventhttpclient's User-Agent, FastHttpSession's `Accept-Encoding: gzip,
deflate, br`, and `Accept: application/json` on the JSON POST) is priced apart from everything else
the generator does: the recording, the timing and the connections stay the lab's own.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench" / "load"))  # the locustfile's own imports

from geventhttpclient.client import HTTPClient  # noqa: E402
from geventhttpclient.header import Headers  # noqa: E402

DROPPED = ("accept-encoding", "accept")  # FastHttpSession adds them to every request it sends

setattr(HTTPClient, "DEFAULT_HEADERS", Headers())  # noqa: B010  geventhttpclient's User-Agent, copied into every client
_build_request = HTTPClient._build_request


def _bare(self: Any, method: str, request_uri: str, body: Any = b"", headers: Any = None, chunked: Any = None) -> Any:
    kept = {k: v for k, v in (headers or {}).items() if k.lower() not in DROPPED}
    return _build_request(self, method, request_uri, body, kept, chunked)


HTTPClient._build_request = _bare  # type: ignore[method-assign]

_lab = importlib.import_module("locustfile")  # its listeners register on import, as when the lab runs it
ApiUser = _lab.ApiUser  # the users locust finds in this file
OpenUser = _lab.OpenUser
