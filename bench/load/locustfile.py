"""What one simulated user does: every endpoint of the users API, the POST included.

Run by locust as a subprocess (never imported by the runner: locust's gevent patching
breaks `requests`/`urllib3` imported earlier in the same process). Besides locust's own
--csv/--json-file output it counts every measured request itself into a `Tally`
(bench/load/record.py: a histogram of 0.01 ms buckets below 100 ms, where locust's own are whole
milliseconds; status codes; requests per second), leaving the warmup out, and streams it to
disk one window (a minute) at a time, so a long run keeps flat memory and a crash loses at
most the current minute. What the window counts, and the open model's schedule, live in
bench/load/window.py (plain objects on a clock a test can fake); this file is their locust and
gevent side. bench/load/record.py and bench/load/window.py ship beside this file wherever it runs.

Its settings are one record, `LabLoad` (bench/load/lab_load.py, beside this file too), read from the
LAB_LOAD_* variables the runner sets (bench/load/runner.py): where its files go (LAB_LOAD_SAMPLES:
PREFIX-<host>-<pid>-w<N>.json per window, PREFIX-<host>-<pid>.json when it quits; the runner merges
them all, the host name keeps worker containers, each its own pid 1, apart), the uncounted warmup
(from the first request) and the measured time (a locust process running alone quits then, so the
window is what was asked: locust's -t takes whole seconds and counts its start-up), the think time,
the open model's arrival rate and bound on requests in flight of this process (one OpenUser per
process sends every slot on time, like `vegeta -rate`), the requests to send (`--requests`), whether
its own users send (not beside a user's locustfile, `-f this,theirs`), and shipping: a worker sends
its files to the master over locust's own connection and the master writes them beside its own
(swarm: workers may run on other nodes than the master, whose folder is the run's); at the end the
master asks every worker for its last window and report and waits for them (SHIP_WAIT_S at most).
Client switches, for a stack that tells clients apart (the gateway): headers sent with every request
({"Authorization": "Bearer <jwt>"}: FastHttpUser's default_headers), and the local address every
client socket binds to before it connects (127.0.0.2: another client than 127.0.0.1).

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
import gevent.pool
import locust.runners
from lab_load import LabLoad  # bench/load/lab_load.py: locust puts this folder on sys.path
from locust import FastHttpUser, events, task
from locust.exception import StopUser
from locust.user.task import LOCUST_STATE_STOPPING
from record import ATTEMPTS_HEADER, REQUEST_ID_HEADER, VERSION_HEADER, ProcessReport, Tally  # beside this file
from window import Recorder, Schedule, Slot  # bench/load/window.py: locust puts this folder on sys.path

locust.runners.CPU_MONITOR_INTERVAL = 2.0  # locust's default 10 s never fires in short runs

LOAD = LabLoad.from_env(os.environ)
SHIP_WAIT_S = 10.0  # the master's wait for the workers' last files (within the runner's 15 s to stop locust)
USER_IDS = (0, 1, 2)  # the rows every app starts with
POST_IDS = range(100, 200)  # bounded, so the table cannot grow through a long run
HOST = socket.gethostname()


def _process() -> str:
    """Unique across hosts and containers; asked each time, as locust --processes forks after import."""
    return f"{HOST}-{os.getpid()}"


def _write_json(path: str, data: dict[str, Any]) -> None:
    if LOAD.ship and isinstance(SHIPPING.runner, locust.runners.WorkerRunner):
        SHIPPING.runner.send_message("bench_file", {"name": os.path.basename(path), "data": data})
        return
    with open(f"{path}.tmp", "w", encoding="utf-8") as out:
        json.dump(data, out)
    os.replace(f"{path}.tmp", path)  # a reader never sees half a file


def _write_window(window: Tally) -> None:
    if LOAD.samples:
        _write_json(f"{LOAD.samples}-{_process()}-w{window.window:05d}.json", window.to_json())


def _write_report(report: ProcessReport) -> None:
    report.process = _process()
    report.netns = report.netns or report.process  # unknown: this process's counters count on their own
    if LOAD.samples:
        _write_json(f"{LOAD.samples}-{_process()}.json", report.to_json())


RECORDER = Recorder(warmup_s=LOAD.warmup_s, duration_s=LOAD.duration_s, window_s=LOAD.window_s,
                    rate=LOAD.process_rate, on_window=_write_window, on_close=_write_report)  # fmt: skip


def _bind_sockets_to(address: str) -> None:
    """Every client socket leaves from `address`: geventhttpclient 2.6 (FastHttpUser's client) has no
    source-address option, so its socket factory is wrapped to bind before connecting."""
    from geventhttpclient.connectionpool import ConnectionPool

    create = ConnectionPool._create_tcp_socket

    def bound(pool: Any, family: int, socktype: int, protocol: int) -> Any:
        sock = create(pool, family, socktype, protocol)
        sock.bind((address, 0))
        return sock

    ConnectionPool._create_tcp_socket = bound


if LOAD.source_address:
    _bind_sockets_to(LOAD.source_address)


def _attempts(headers: Any) -> int:
    try:
        return int(headers.get(ATTEMPTS_HEADER) or 1)
    except ValueError:
        return 1


class Shipping:
    """LabLoad.ship: the workers' files travel to the master over locust's own connection."""

    def __init__(self) -> None:
        self.runner: Any = None
        self.done: set[str] = set()  # workers whose last files arrived

    def start(self, runner: Any) -> None:
        self.runner = runner
        if isinstance(runner, locust.runners.MasterRunner):
            runner.register_message("bench_file", self.receive)
            runner.register_message("bench_done", lambda msg, **_: self.done.add(msg.node_id))
        elif isinstance(runner, locust.runners.WorkerRunner):
            runner.register_message("bench_flush", self.flush)

    @staticmethod
    def receive(msg: Any, **_: Any) -> None:
        """On the master: a worker's file, written where the master writes its own."""
        name = os.path.basename(str(msg.data["name"]))  # a name, never a path from the wire
        _write_json(os.path.join(os.path.dirname(LOAD.samples or "./x"), name), msg.data["data"])

    def flush(self, environment: Any, **_: Any) -> None:
        """On a worker, asked by the master at the end: stop, send the last window and the report."""
        environment.runner.stop()  # the users end; test_stop notes when
        RECORDER.close()
        environment.runner.send_message("bench_done")

    def collect(self) -> None:
        """On the master when the test stops: ask every worker for its last files and wait for them."""
        expected = {client.id for client in self.runner.clients.all}
        if not expected:
            return
        self.runner.send_message("bench_flush")
        deadline = time.monotonic() + SHIP_WAIT_S
        while not expected <= self.done and time.monotonic() < deadline:
            gevent.sleep(0.1)


SHIPPING = Shipping()


def _end_then_quit(runner: Any) -> None:
    RECORDER.stop()  # the window ends now, not when locust has stopped its users (tens of ms later)
    runner.quit()


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    if type(environment.runner) is locust.runners.LocalRunner:  # alone, not a worker: it ends its own window
        RECORDER.end_after = lambda seconds: gevent.spawn_later(seconds, _end_then_quit, environment.runner)
    if LOAD.ship:
        SHIPPING.start(environment.runner)


@events.request.add_listener
def _on_request(response_time: float, response: Any, exception: Any, context: Any = None, **_: Any) -> None:
    status = getattr(response, "status_code", 0) or 0
    headers = getattr(response, "headers", None) or {}
    overloaded = status == 503 and headers.get("x-envoy-overloaded") == "true"
    slot = (context or {}).get("slot")  # OpenUser's; a user's own locustfile may use the name too
    slot = slot if isinstance(slot, Slot) else None
    RECORDER.add(response_time, int(status), exception is not None, overloaded, slot,
                 headers.get(VERSION_HEADER), _attempts(headers), REQUEST_ID_HEADER in headers)  # fmt: skip


@events.test_stopping.add_listener
def _on_stopping(**_: Any) -> None:
    RECORDER.stop()  # before the users stop: the window ends when the stop is asked for


@events.test_stop.add_listener
def _on_stop(**_: Any) -> None:
    RECORDER.stop()
    if LOAD.ship and isinstance(SHIPPING.runner, locust.runners.MasterRunner):
        SHIPPING.collect()


@events.cpu_warning.add_listener
def _on_cpu_warning(cpu_usage: float, **_: Any) -> None:
    if RECORDER.cpu_at_start is not None:  # a busy warmup is not the measurement
        RECORDER.report.generator_cpu_warnings.append(round(cpu_usage, 1))


@events.quitting.add_listener
def _on_quitting(**_: Any) -> None:
    RECORDER.close()


# --- what a user sends: every endpoint of the users API, in equal shares ---------------------


def root(client: Any) -> None:
    client.get("/")


def health(client: Any) -> None:
    client.get("/health")


def metadata(client: Any) -> None:
    client.get("/metadata")


def name_by_path(client: Any) -> None:
    client.get(f"/users_name/{random.choice(USER_IDS)}", name="/users_name/[id]")


def name_by_query(client: Any) -> None:
    client.get(f"/users_name/?users_id={random.choice(USER_IDS)}", name="/users_name/?users_id=[id]")


def attribute(client: Any) -> None:
    name = random.choice(("name", "age"))
    client.get(f"/users/{name}?users_id={random.choice(USER_IDS)}", name="/users/[attribute]?users_id=[id]")


def add_user(client: Any) -> None:
    user_id = random.choice(POST_IDS)
    client.post("/add_users/", json={"id": user_id, "name": f"user{user_id}", "age": str(20 + user_id % 50)})


def from_mix(mix: list[dict[str, Any]]) -> list[Any]:
    """The mix's requests (bench/stacks/userapp.py), each repeated by its weight, as request functions."""

    def sender(r: dict[str, Any]) -> Any:
        def send(client: Any) -> None:
            extra = {"json": r["json"]} if r.get("json") is not None else {"data": r["body"]} if r.get("body") else {}
            expect = set(r.get("expect") or ())
            if not expect:
                client.request(r["method"], r["path"], name=r["name"], headers=r.get("headers") or None, **extra)
                return
            with client.request(r["method"], r["path"], name=r["name"], headers=r.get("headers") or None,
                                catch_response=True, **extra) as response:  # fmt: skip
                if response.status_code in expect:
                    response.success()  # a status the mix's table says this request is meant to get

        return send

    return [sender(r) for r in mix for _ in range(int(r.get("weight", 1)))]


REQUESTS = from_mix(json.loads(LOAD.mix)) if LOAD.mix else (root, health, metadata, name_by_path, name_by_query,
                                                             attribute, add_user)  # fmt: skip


class ApiUser(FastHttpUser):
    """Closed model: each user sends one request, waits for its answer (and the think time), sends the next."""

    abstract = LOAD.process_rate > 0 or not LOAD.own_users
    default_headers = LOAD.headers or None

    def wait_time(self) -> float:
        return LOAD.wait_s

    @task
    def one_request(self) -> None:
        if RECORDER.ended:
            raise StopUser  # at once: a user asleep in a task would hold up locust's graceful stop
        random.choice(REQUESTS)(self.client)


class OpenUser(FastHttpUser):
    """One per locust process in the open model: it runs the schedule; its client holds a connection
    for every request in flight."""

    abstract = LOAD.process_rate <= 0 or not LOAD.own_users
    concurrency = LOAD.process_max_in_flight
    default_headers = LOAD.headers or None

    def context(self) -> dict[str, Any]:
        return {"slot": getattr(gevent.getcurrent(), "bench_slot", None)}

    def on_start(self) -> None:
        self.schedule = Schedule(LOAD.process_rate, RECORDER)
        self.senders = gevent.pool.Pool(LOAD.process_max_in_flight)

    @task
    def send_on_schedule(self) -> None:
        """Send every slot as it falls due, each from its own greenlet, until the user is told to stop:
        the requests in flight grow as the stack slows, up to the bound (bench/load/window.py)."""
        if RECORDER.ended:
            raise StopUser  # on_stop counts what is left
        while self._state != LOCUST_STATE_STOPPING and not RECORDER.ended:
            self.schedule.fall_due()
            for slot in self.schedule.take(self.senders.free_count()):
                self.senders.spawn(self._send, slot)
            gevent.sleep(self.schedule.wait_s())

    def _send(self, slot: Slot) -> None:
        me = gevent.getcurrent()
        if not self.schedule.send(me, slot):
            return  # spawned just before the window ended: never sent
        me.bench_slot = slot  # read by context() into the request event
        try:
            random.choice(REQUESTS)(self.client)
        finally:
            self.schedule.answered(me)

    def on_stop(self) -> None:
        self.schedule.finish()  # every slot unanswered is counted, once, before the senders are killed
        self.senders.kill(block=False)
