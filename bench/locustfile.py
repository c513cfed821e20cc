"""What one simulated user does: every endpoint of the users API, the POST included.

Run by locust as a subprocess (never imported by the runner: locust's gevent patching
breaks `requests`/`urllib3` imported earlier in the same process). Besides locust's own
--csv/--json-file output it counts every measured request itself into a `Tally`
(bench/record.py: a histogram of 0.01 ms buckets below 100 ms, where locust's own are whole
milliseconds; status codes; requests per second), leaving the warmup out, and streams it to
disk one window (a minute) at a time, so a long run keeps flat memory and a crash loses at
most the current minute. bench/record.py ships beside this file wherever it runs.
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
from typing import Any

import gevent
import locust.runners
from locust import FastHttpUser, events, task
from record import ProcessReport, Tally  # bench/record.py: locust puts this folder on sys.path

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


class Recorder:
    """The measured phase of this locust process, streamed to disk a window at a time."""

    def __init__(self) -> None:
        self.report = ProcessReport(warmup_s=WARMUP, offered_rps=RATE or None)
        self.window: Tally | None = None
        self.window_end = 0.0
        self.cpu_at_start: float | None = None  # process CPU seconds when measuring began

    def add(self, ms: float, status: int, failed: bool, overloaded: bool) -> None:
        now = time.time()
        report = self.report
        if report.measured_from is None:
            report.measured_from = now + WARMUP
        if now < report.measured_from:
            report.warmup_requests += 1
            return
        if self.window is None:
            self.cpu_at_start = time.process_time()
            self._open(0, report.measured_from)
        while now >= self.window_end:
            self.flush()
        assert self.window is not None
        self.window.add(int(now - report.measured_from), ms, status, failed, overloaded)

    def _open(self, index: int, start: float) -> None:
        self.window = Tally(window=index, start=start)
        self.window_end = start + WINDOW_S

    def flush(self, end: float | None = None) -> None:
        """Write the current window and start the next one."""
        window = self.window
        if window is None:
            return
        window.end = end or self.window_end
        if SAMPLES:
            _write_json(f"{SAMPLES}-{_process()}-w{window.window:05d}.json", window.to_json())
        self._open((window.window or 0) + 1, self.window_end)

    def stop(self) -> None:
        """The measured phase is over: note when, and the CPU it took."""
        if self.report.stopped is None:
            self.report.stopped = time.time()
            if self.cpu_at_start is not None:
                self.report.generator_cpu_seconds = time.process_time() - self.cpu_at_start

    def close(self) -> None:
        """At quit: the last (partial) window, then what this process knows of itself."""
        self.stop()
        self.flush(end=self.report.stopped)
        self.report.process = _process()
        if SAMPLES:
            _write_json(f"{SAMPLES}-{_process()}.json", self.report.to_json())


RECORDER = Recorder()


@events.request.add_listener
def _on_request(response_time: float, response: Any, exception: Any, **_: Any) -> None:
    status = getattr(response, "status_code", 0) or 0
    headers = getattr(response, "headers", None) or {}
    overloaded = status == 503 and headers.get("x-envoy-overloaded") == "true"
    RECORDER.add(response_time, int(status), exception is not None, overloaded)


@events.test_stop.add_listener
def _on_stop(**_: Any) -> None:
    RECORDER.stop()


@events.cpu_warning.add_listener
def _on_cpu_warning(cpu_usage: float, **_: Any) -> None:
    if RECORDER.cpu_at_start is not None:  # a busy warmup is not the measurement
        RECORDER.report.generator_cpu_warnings.append(round(cpu_usage, 1))


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
