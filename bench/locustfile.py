"""What one simulated user does: every endpoint of the users API, the POST included.

Run by locust as a subprocess (never imported by the runner: locust's gevent patching
breaks `requests`/`urllib3` imported earlier in the same process). Besides locust's own
--csv/--json-file output it records every measured request itself, so the runner gets
exact percentiles (locust buckets them to whole milliseconds), status codes, and can leave
a warmup out. Settings come from the environment:

BENCH_SAMPLES  path prefix of the raw samples (JSON) each locust process writes when it
               quits: PREFIX-<pid>.json (several with --processes; the runner merges them)
BENCH_WARMUP   seconds from the first request that are not counted (default 0)
BENCH_WAIT     seconds each user waits between requests (default 0: closed loop, flat out)
BENCH_RATE     total arrival rate (req/s) of this process, paced across all users like
               `vegeta -rate` (open model); the run reports when the users could not keep it

It also watches itself, so a saturated load generator is never mistaken for a slow stack:
the CPU time this process used during the measured window, and locust's own CPU warning,
made to check every 2 s instead of every 10 s (so short runs can raise it too).
"""

from __future__ import annotations

import json
import os
import random
import time
from array import array
from collections import Counter
from typing import Any

import gevent
import locust.runners
from locust import FastHttpUser, events, task

locust.runners.CPU_MONITOR_INTERVAL = 2.0  # locust's default 10 s never fires in short runs

SAMPLES = os.environ.get("BENCH_SAMPLES")
WARMUP = float(os.environ.get("BENCH_WARMUP", "0"))
WAIT = float(os.environ.get("BENCH_WAIT", "0"))
RATE = float(os.environ.get("BENCH_RATE", "0"))
USER_IDS = (0, 1, 2)  # the rows every app starts with
POST_IDS = range(100, 200)  # bounded, so the table cannot grow through a long run


class Recorder:
    """Raw samples of the measured phase of this locust process."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.measured_from: float | None = None
        self.stopped: float | None = None
        self.ok_latencies = array("d")
        self.failed_latencies = array("d")
        self.overloaded = 0  # 503s that Envoy's circuit breaker made (x-envoy-overloaded)
        self.status_codes: Counter[str] = Counter()
        self.failures = 0
        self.warmup_requests = 0
        self.per_second: Counter[int] = Counter()
        self.per_second_failures: Counter[int] = Counter()
        self.cpu_at_start: float | None = None  # process CPU seconds when measuring began
        self.cpu_at_stop: float | None = None
        self.cpu_warnings: list[float] = []

    def add(self, response_time: float, status: int, failed: bool, overloaded: bool) -> None:
        now = time.time()
        if self.first is None:
            self.first = now
            self.measured_from = now + WARMUP
        if now < (self.measured_from or now):
            self.warmup_requests += 1
            return
        if self.cpu_at_start is None:
            self.cpu_at_start = time.process_time()
        (self.failed_latencies if failed else self.ok_latencies).append(response_time)
        self.overloaded += overloaded
        self.status_codes[str(status)] += 1
        second = int(now - (self.measured_from or now))
        self.per_second[second] += 1
        if failed:
            self.failures += 1
            self.per_second_failures[second] += 1

    def as_json(self) -> dict[str, Any]:
        last = max(self.per_second, default=-1)
        cpu = None
        if self.cpu_at_start is not None and self.cpu_at_stop is not None:
            cpu = self.cpu_at_stop - self.cpu_at_start
        return {
            "generator_cpu_seconds": cpu,
            "generator_cpu_warnings": self.cpu_warnings,
            "measured_from": self.measured_from,
            "stopped": self.stopped,
            "warmup_s": WARMUP,
            "warmup_requests": self.warmup_requests,
            "requests": len(self.ok_latencies) + len(self.failed_latencies),
            "failures": self.failures,
            "overloaded": self.overloaded,
            "offered_rps": RATE or None,
            "status_codes": dict(self.status_codes),
            "per_second": [[s, self.per_second[s], self.per_second_failures[s]] for s in range(last + 1)],
            "ok_latencies_ms": list(self.ok_latencies),
            "failed_latencies_ms": list(self.failed_latencies),
        }


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
    if not SAMPLES:
        return
    if RECORDER.stopped is None:
        RECORDER.stopped = time.time()
        RECORDER.cpu_at_stop = time.process_time()
    path = f"{SAMPLES}-{os.getpid()}.json"
    with open(f"{path}.tmp", "w", encoding="utf-8") as out:
        json.dump(RECORDER.as_json(), out)
    os.replace(f"{path}.tmp", path)


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
