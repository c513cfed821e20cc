"""What one simulated user does: every endpoint of the users API, the POST included.

Run by locust as a subprocess (never imported by the runner: locust's gevent patching
breaks `requests`/`urllib3` imported earlier in the same process). Besides locust's own
--csv/--json-file output it records every measured request itself into a fine histogram
(bench/histogram.py: 0.01 ms buckets below 100 ms; locust's own are whole milliseconds),
with status codes, leaving the warmup out, and streams it to disk one window (a minute) at
a time, so a long run keeps flat memory and a crash loses at most the current minute.
Settings come from the environment:

BENCH_SAMPLES  path prefix of the files each locust process writes: PREFIX-<host>-<pid>-w<N>.json
               per window, PREFIX-<host>-<pid>.json when it quits (the runner merges them all;
               the host name keeps worker containers, each its own pid 1, apart)
BENCH_WARMUP   seconds from the first request that are not counted (default 0)
BENCH_WAIT     seconds each user waits between requests (default 0: closed loop, flat out)
BENCH_RATE     total arrival rate (req/s) of this process, paced across all users like
               `vegeta -rate` (open model); the run reports when the users could not keep it
BENCH_WINDOW   seconds per streamed window (default 60)

It also watches itself, so a saturated load generator is never mistaken for a slow stack:
the CPU time this process used during the measured window, and locust's own CPU warning,
made to check every 2 s instead of every 10 s (so short runs can raise it too).
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
from collections import Counter
from typing import Any

import gevent
import histogram  # bench/histogram.py: locust puts this file's folder on sys.path
import locust.runners
from locust import FastHttpUser, events, task

locust.runners.CPU_MONITOR_INTERVAL = 2.0  # locust's default 10 s never fires in short runs

SAMPLES = os.environ.get("BENCH_SAMPLES")
WARMUP = float(os.environ.get("BENCH_WARMUP", "0"))
WAIT = float(os.environ.get("BENCH_WAIT", "0"))
RATE = float(os.environ.get("BENCH_RATE", "0"))
WINDOW_S = float(os.environ.get("BENCH_WINDOW", "60"))
USER_IDS = (0, 1, 2)  # the rows every app starts with
POST_IDS = range(100, 200)  # bounded, so the table cannot grow through a long run
HOST = socket.gethostname()


def _process() -> str:
    """Unique across hosts and containers; asked each time, as locust --processes forks after import."""
    return f"{HOST}-{os.getpid()}"


def _write_json(path: str, data: dict[str, Any]) -> None:
    with open(f"{path}.tmp", "w", encoding="utf-8") as out:
        json.dump(data, out)
    os.replace(f"{path}.tmp", path)  # a reader never sees half a file


class Window:
    """What one stretch of the measured phase recorded."""

    def __init__(self, index: int, start: float, measured_from: float) -> None:
        self.index, self.start, self.end = index, start, start + WINDOW_S
        self.measured_from = measured_from
        self.ok: Counter[int] = Counter()
        self.failed: Counter[int] = Counter()
        self.sum_ms, self.min_ms, self.max_ms = 0.0, float("inf"), 0.0
        self.status_codes: Counter[str] = Counter()
        self.failures = self.overloaded = 0
        self.per_second: Counter[int] = Counter()
        self.per_second_failures: Counter[int] = Counter()

    def add(self, now: float, ms: float, status: int, failed: bool, overloaded: bool) -> None:
        (self.failed if failed else self.ok)[histogram.bucket(ms)] += 1
        self.sum_ms += ms
        self.min_ms, self.max_ms = min(self.min_ms, ms), max(self.max_ms, ms)
        self.status_codes[str(status)] += 1
        self.overloaded += overloaded
        second = int(now - self.measured_from)
        self.per_second[second] += 1
        if failed:
            self.failures += 1
            self.per_second_failures[second] += 1

    def as_json(self, end: float) -> dict[str, Any]:
        count = sum(self.ok.values()) + sum(self.failed.values())
        return {
            "window": self.index, "start": self.start, "end": end, "requests": count,
            "failures": self.failures, "overloaded": self.overloaded, "status_codes": dict(self.status_codes),
            "sum_ms": self.sum_ms, "min_ms": self.min_ms if count else None, "max_ms": self.max_ms if count else None,
            "ok_hist": dict(self.ok), "failed_hist": dict(self.failed),
            "per_second": [[s, self.per_second[s], self.per_second_failures[s]] for s in sorted(self.per_second)],
        }  # fmt: skip


class Recorder:
    """The measured phase of this locust process, streamed to disk window by window."""

    def __init__(self) -> None:
        self.measured_from: float | None = None
        self.stopped: float | None = None
        self.window: Window | None = None
        self.warmup_requests = 0
        self.cpu_at_start: float | None = None  # process CPU seconds when measuring began
        self.cpu_at_stop: float | None = None
        self.cpu_warnings: list[float] = []

    def add(self, ms: float, status: int, failed: bool, overloaded: bool) -> None:
        now = time.time()
        if self.measured_from is None:
            self.measured_from = now + WARMUP
        if now < self.measured_from:
            self.warmup_requests += 1
            return
        if self.window is None:
            self.cpu_at_start = time.process_time()
            self.window = Window(0, self.measured_from, self.measured_from)
        while now >= self.window.end:
            self.flush()
        self.window.add(now, ms, status, failed, overloaded)

    def flush(self, end: float | None = None) -> None:
        """Write the current window and start the next one."""
        if self.window is None or self.measured_from is None:
            return
        window = self.window
        if SAMPLES:
            _write_json(f"{SAMPLES}-{_process()}-w{window.index:05d}.json", window.as_json(end or window.end))
        self.window = Window(window.index + 1, window.end, self.measured_from)

    def close(self) -> None:
        """At quit: the last (partial) window, then what this process knows of itself."""
        if self.stopped is None:
            self.stopped, self.cpu_at_stop = time.time(), time.process_time()
        self.flush(end=self.stopped)
        cpu = None
        if self.cpu_at_start is not None and self.cpu_at_stop is not None:
            cpu = self.cpu_at_stop - self.cpu_at_start
        if SAMPLES:
            _write_json(f"{SAMPLES}-{_process()}.json", {
                "measured_from": self.measured_from, "stopped": self.stopped, "warmup_s": WARMUP,
                "warmup_requests": self.warmup_requests, "offered_rps": RATE or None,
                "generator_cpu_seconds": cpu, "generator_cpu_warnings": self.cpu_warnings,
            })  # fmt: skip


RECORDER = Recorder()


@events.request.add_listener
def _on_request(response_time: float, response: Any, exception: Any, **_: Any) -> None:
    status = getattr(response, "status_code", 0) or 0
    headers = getattr(response, "headers", None) or {}
    overloaded = status == 503 and headers.get("x-envoy-overloaded") == "true"
    RECORDER.add(response_time, int(status), exception is not None, overloaded)


@events.test_stop.add_listener
def _on_stop(**_: Any) -> None:
    RECORDER.stopped = time.time()
    RECORDER.cpu_at_stop = time.process_time()


@events.cpu_warning.add_listener
def _on_cpu_warning(cpu_usage: float, **_: Any) -> None:
    if RECORDER.cpu_at_start is not None:  # a busy warmup is not the measurement
        RECORDER.cpu_warnings.append(round(cpu_usage, 1))


@events.quitting.add_listener
def _on_quitting(**_: Any) -> None:
    RECORDER.close()


class Pacer:
    """One schedule shared by all users of this process: a request slot every 1/RATE s.

    A user that is free takes the next slot; when every user is waiting for a response,
    slots pass unused and the achieved rate falls short of the offered one (reported),
    rather than bursting later to catch up.
    """

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_slot = 0.0

    def wait(self) -> float:
        now = time.monotonic()
        slot = max(self.next_slot, now)
        self.next_slot = slot + self.interval
        return slot - now


PACER = Pacer(RATE) if RATE > 0 else None


class ApiUser(FastHttpUser):
    """Calls every endpoint with equal weight, like the seeds' per-API tests combined."""

    def wait_time(self) -> float:
        return PACER.wait() if PACER else WAIT

    def on_start(self) -> None:
        if PACER:  # the first request takes a slot too, or every new user would burst at once
            gevent.sleep(PACER.wait())

    @task
    def root(self) -> None:
        self.client.get("/")

    @task
    def health(self) -> None:
        self.client.get("/health")

    @task
    def metadata(self) -> None:
        self.client.get("/metadata")

    @task
    def name_by_path(self) -> None:
        self.client.get(f"/users_name/{random.choice(USER_IDS)}", name="/users_name/[id]")

    @task
    def name_by_query(self) -> None:
        self.client.get(f"/users_name/?users_id={random.choice(USER_IDS)}", name="/users_name/?users_id=[id]")

    @task
    def attribute(self) -> None:
        attribute = random.choice(("name", "age"))
        self.client.get(
            f"/users/{attribute}?users_id={random.choice(USER_IDS)}", name="/users/[attribute]?users_id=[id]"
        )

    @task
    def add_user(self) -> None:
        user_id = random.choice(POST_IDS)
        self.client.post("/add_users/", json={"id": user_id, "name": f"user{user_id}", "age": str(20 + user_id % 50)})
