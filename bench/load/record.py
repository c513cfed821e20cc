"""The one record of a measurement: what a locust process tallies, how tallies add up, and
the figures they give. Written and read by the same classes, so the locustfile's window
files, the runner's merge and run.json cannot drift apart (as locust's own StatsEntry
serializes and unserializes itself).

Standard library only: the locustfile imports this file by itself, inside locust, wherever
locust runs (locally, in the `user` and `worker` containers, on a remote worker), so it ships
beside bench/load/locustfile.py everywhere (the python image, .dockerignore, the compose mounts).

- `Tally`: what one locust process counted in one stretch of time (a window, a minute by
  default). Tallies add up (`merge`): histograms and counters sum, min and max combine.
  Behind a gateway it also counts what the answers' headers say: which upstream version
  answered (`x-bench-version`, added by the gateway's route), how many retries the gateway
  made (`x-envoy-attempt-count` - 1) and whether a trace id came back (`x-request-id`).
- `ProcessReport`: what a locust process says of itself when it quits (its CPU, warmup, ...).
- `Latency`, `WindowFigures`, `Figures`: what merged tallies give: the numbers in run.json.

Adding a figure is one field: a percentile is one `Latency` field (`p99_9_ms: ... = percentile(99.9)`),
a new counter is one `Tally` field with its merge rule; the report adds its column.

Latencies go into a histogram: buckets 0.01 ms wide below 100 ms, 0.1 ms to 1 s, 1 ms above.
A percentile read back is within half a bucket of the true sample (0.005 ms below 100 ms,
0.05 ms to 1 s, 0.5 ms above); min, max and the sum (hence the average) are exact. Memory
is bounded by the number of distinct buckets, however long the run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# --- the histogram -------------------------------------------------------------------------

_FINE_END, _MID_END = 100.0, 1000.0
_FINE_STEPS, _MID_STEPS = 100, 10  # buckets per ms
_MID_BASE = int(_FINE_END * _FINE_STEPS)  # 10000
_COARSE_BASE = _MID_BASE + int((_MID_END - _FINE_END) * _MID_STEPS)  # 19000
GENERATOR_BUSY_PERCENT = 90.0  # locust's own CPU warning threshold, of the one core it runs on
LATE_MS = 10.0  # an open-model slot sent later than this after it was due counts as late


def bucket(ms: float) -> int:
    """The bucket index of a response time in milliseconds."""
    if ms < _FINE_END:
        return max(0, round(ms * _FINE_STEPS))
    if ms < _MID_END:
        return _MID_BASE + round((ms - _FINE_END) * _MID_STEPS)
    return _COARSE_BASE + round(ms - _MID_END)


def bucket_value(index: int) -> float:
    """The response time (ms) a bucket index stands for."""
    if index < _MID_BASE:
        return index / _FINE_STEPS
    if index < _COARSE_BASE:
        return _FINE_END + (index - _MID_BASE) / _MID_STEPS
    return _MID_END + (index - _COARSE_BASE)


def percentile(hist: Mapping[int, int], p: float) -> float | None:
    """Nearest-rank percentile read from a histogram; None when it is empty."""
    count = sum(hist.values())
    if not count:
        return None
    rank = max(1, -(-p * count // 100))  # ceil without floats drifting
    seen = 0
    for index in sorted(hist):
        seen += hist[index]
        if seen >= rank:
            return bucket_value(index)
    return bucket_value(max(hist))


# --- TCP counters of a network namespace (/proc/<pid>/net/netstat and snmp) ----------------

# what the lab reads, by its own name -> (section, field) of /proc/<pid>/net/{netstat,snmp}
TCP_COUNTERS = {
    "listen_overflows": ("TcpExt", "ListenOverflows"),  # a connection found the accept queue full
    "listen_drops": ("TcpExt", "ListenDrops"),  # a SYN dropped at the listener
    "syn_retrans": ("TcpExt", "TCPSynRetrans"),  # a SYN sent again (after 1 s, 3 s, ...)
    "timeouts": ("TcpExt", "TCPTimeouts"),  # retransmission timer expired
    "retrans_segs": ("Tcp", "RetransSegs"),  # segments sent again
    "attempt_fails": ("Tcp", "AttemptFails"),  # connection attempts that failed
    "estab_resets": ("Tcp", "EstabResets"),  # established connections reset
    "out_rsts": ("Tcp", "OutRsts"),  # resets sent
    "active_opens": ("Tcp", "ActiveOpens"),  # connections opened from here
    "passive_opens": ("Tcp", "PassiveOpens"),  # connections accepted here
}


def read_tcp_counters(proc: str = "/proc/self") -> dict[str, int] | None:
    """The TCP_COUNTERS of the network namespace `proc` lives in; None when they cannot be read."""
    values: dict[tuple[str, str], int] = {}
    for name in ("netstat", "snmp"):
        try:
            with open(f"{proc}/net/{name}", encoding="ascii") as f:
                lines = f.read().splitlines()
        except OSError:
            return None
        for head, row in zip(lines[::2], lines[1::2], strict=False):  # "TcpExt: A B" then "TcpExt: 1 2"
            section, fields_, numbers = head.split(":")[0], head.split()[1:], row.split()[1:]
            values |= {(section, k): int(v) for k, v in zip(fields_, numbers, strict=False) if v.lstrip("-").isdigit()}
    return {mine: values.get(key, 0) for mine, key in TCP_COUNTERS.items()}


def tcp_deltas(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in TCP_COUNTERS}


def local_ports(proc: str = "/proc/self") -> tuple[int, int] | None:
    """(sockets holding an ephemeral port, the ephemeral range's size) in `proc`'s namespace.

    A connection accepted by a server listening on a port of the range holds no port of its
    own, so sockets on a listening port are not counted.
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range" if proc == "/proc/self" else
                  f"{proc}/root/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:  # fmt: skip
            low, high = (int(x) for x in f.read().split())
        sockets = []
        for table in ("tcp", "tcp6"):
            with open(f"{proc}/net/{table}", encoding="ascii") as f:
                rows = [line.split() for line in f.read().splitlines()[1:]]
            sockets += [(int(r[1].rsplit(":", 1)[1], 16), r[3]) for r in rows if len(r) > 3]
    except (OSError, ValueError, IndexError):
        return None
    listening = {port for port, state in sockets if state == "0A"}  # 0A: LISTEN
    used = sum(1 for port, state in sockets if state != "0A" and low <= port <= high and port not in listening)
    return used, high - low + 1


# --- one stretch of measurement, as a locust process counts it -----------------------------


def _merged(rule: str, default: Any = 0) -> Any:
    return field(default=default, metadata={"merge": rule})


_BY_INT = {"merge": "counter", "keys": int}  # a Counter keyed by integers (JSON turns them into strings)
_BY_STR = {"merge": "counter", "keys": str}
_HIST_BY_STR = {"merge": "hist_by", "keys": str}  # name -> a bucket histogram (a Counter keyed by integers)
# The response headers a gateway's answers carry (see the module docstring).
VERSION_HEADER = "x-bench-version"
ATTEMPTS_HEADER = "x-envoy-attempt-count"
REQUEST_ID_HEADER = "x-request-id"


@dataclass
class Tally:
    """What one locust process counted in one window; tallies of any processes and windows add up.

    Each field says how two tallies combine (`merge` metadata): counters and sums add,
    `min`/`max` combine, `span` widens the time range, `same` keeps a value both agree on.
    """

    window: int | None = _merged("same", None)  # index of the window (None once windows are merged)
    start: float | None = _merged("span_start", None)  # wall-clock time the stretch began
    end: float | None = _merged("span_end", None)
    failures: int = _merged("sum")
    overloaded: int = _merged("sum")  # 503s with x-envoy-overloaded: true (the breaker, not the app)
    sum_ms: float = _merged("sum", 0.0)
    ok_sum_ms: float = _merged("sum", 0.0)  # of the successful requests: their exact average
    min_ms: float | None = _merged("min", None)
    max_ms: float | None = _merged("max", None)
    ok_hist: Counter[int] = field(default_factory=Counter, metadata=_BY_INT)  # bucket -> successful requests
    failed_hist: Counter[int] = field(default_factory=Counter, metadata=_BY_INT)  # bucket -> failed requests
    status_codes: Counter[str] = field(default_factory=Counter, metadata=_BY_STR)  # "200" -> n ("0": no answer)
    per_second: Counter[int] = field(default_factory=Counter, metadata=_BY_INT)  # second of the window -> requests
    per_second_failed: Counter[int] = field(default_factory=Counter, metadata=_BY_INT)
    # The open model only: each slot timed from when it was due (wrk2's correction of coordinated
    # omission), answered or not; how late slots were sent; slots the run ended on.
    corrected_hist: Counter[int] = field(default_factory=Counter, metadata=_BY_INT)  # every slot due
    corrected_sum_ms: float = _merged("sum", 0.0)
    corrected_max_ms: float | None = _merged("max", None)
    ok_corrected_hist: Counter[int] = field(default_factory=Counter, metadata=_BY_INT)  # successful answers only
    ok_corrected_sum_ms: float = _merged("sum", 0.0)
    lateness_hist: Counter[int] = field(default_factory=Counter, metadata=_BY_INT)  # send time - slot
    late: int = _merged("sum")  # slots sent more than LATE_MS after they were due
    held: int = _merged("sum")  # slots that waited because MAX_IN_FLIGHT requests were in flight
    unfinished: int = _merged("sum")  # sent, still unanswered when the run ended
    unsent: int = _merged("sum")  # due, never sent (the bound held them to the end)
    peak_in_flight: int = _merged("max")
    # Behind a gateway: which version answered, retries it made, answers that carried a trace id.
    version_hist: dict[str, Counter[int]] = field(default_factory=dict, metadata=_HIST_BY_STR)  # version -> buckets
    retried: int = _merged("sum")  # retries the gateway made, as its answers' attempt counts say
    request_ids: int = _merged("sum")  # answers that carried an x-request-id back

    @property
    def requests(self) -> int:
        return sum(self.ok_hist.values()) + sum(self.failed_hist.values())

    def add(self, second: int, ms: float, status: int, failed: bool, overloaded: bool,
            corrected_ms: float | None = None, version: str | None = None, attempts: int = 1,
            request_id: bool = False) -> None:  # fmt: skip
        """Count one request that took `ms` and ended `second` s into the measured phase
        (`corrected_ms`: the open model's time since its slot was due; `version`, `attempts`,
        `request_id`: what a gateway's answer said, see the module docstring)."""
        if corrected_ms is not None:
            self._due(corrected_ms)
            if not failed:
                self.ok_corrected_hist[bucket(corrected_ms)] += 1
                self.ok_corrected_sum_ms += corrected_ms
        if version is not None:
            self.version_hist.setdefault(version, Counter())[bucket(ms)] += 1
        self.retried += max(attempts - 1, 0)
        self.request_ids += request_id
        (self.failed_hist if failed else self.ok_hist)[bucket(ms)] += 1
        self.sum_ms += ms
        self.ok_sum_ms += 0.0 if failed else ms
        self.min_ms = ms if self.min_ms is None else min(self.min_ms, ms)
        self.max_ms = ms if self.max_ms is None else max(self.max_ms, ms)
        self.status_codes[str(status)] += 1
        self.overloaded += overloaded
        self.per_second[second] += 1
        if failed:
            self.failures += 1
            self.per_second_failed[second] += 1

    def send(self, lateness_ms: float, held: bool, in_flight: int) -> None:
        """The open model sends a slot `lateness_ms` after it was due, with `in_flight` then in flight."""
        self.lateness_hist[bucket(lateness_ms)] += 1
        self.late += lateness_ms > LATE_MS
        self.held += held
        self.peak_in_flight = max(self.peak_in_flight, in_flight)

    def cut(self, waited_ms: float, sent: bool) -> None:
        """A slot the run ended on, unanswered: late by all of `waited_ms`, at least."""
        self._due(waited_ms)
        if sent:
            self.unfinished += 1
        else:
            self.unsent += 1
            self.late += 1

    def _due(self, corrected_ms: float) -> None:
        self.corrected_hist[bucket(corrected_ms)] += 1
        self.corrected_sum_ms += corrected_ms
        self.corrected_max_ms = max(self.corrected_max_ms or 0.0, corrected_ms)

    def merge(self, other: Tally) -> None:
        """Add `other` into this tally, field by field, by each field's merge rule."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            setattr(self, f.name, _MERGE[f.metadata["merge"]](mine, theirs))

    def latency(self, ok_only: bool = False) -> Latency:
        """Latency of every request, or of the successful ones only."""
        if ok_only:
            return Latency.of(self.ok_hist, self.ok_sum_ms)
        return Latency.of(self.ok_hist + self.failed_hist, self.sum_ms, self.min_ms, self.max_ms)

    def to_json(self) -> dict[str, Any]:
        # not dataclasses.asdict: it rebuilds a Counter from (key, value) pairs, counting the pairs
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tally:
        """Read what `to_json` wrote (JSON turned the integer keys into strings)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            raw = data[f.name]
            if f.metadata["merge"] == "counter":
                raw = _counter(raw, f.metadata["keys"])
            elif f.metadata["merge"] == "hist_by":
                raw = {f.metadata["keys"](name): _counter(hist, int) for name, hist in (raw or {}).items()}
            values[f.name] = raw
        return cls(**values)


def _plain(value: Any) -> Any:
    """A field as JSON holds it: Counters (also inside a dict) as plain dicts."""
    if isinstance(value, Counter):
        return dict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _counter(raw: Mapping[Any, Any] | None, keys: Any) -> Counter[Any]:
    return Counter({keys(k): int(v) for k, v in (raw or {}).items()})


def _merge_by_name(a: dict[str, Counter[int]], b: dict[str, Counter[int]]) -> dict[str, Counter[int]]:
    return {name: a.get(name, Counter()) + b.get(name, Counter()) for name in {**a, **b}}


def _none_or(pick: Any) -> Any:
    return lambda a, b: b if a is None else a if b is None else pick(a, b)


_MERGE: dict[str, Any] = {
    "sum": lambda a, b: a + b,
    "counter": lambda a, b: a + b,
    "hist_by": _merge_by_name,
    "min": _none_or(min),
    "max": _none_or(max),
    "span_start": _none_or(min),
    "span_end": _none_or(max),
    "same": lambda a, b: a if a == b else None,
}


@dataclass
class ProcessReport:
    """What one locust process says of itself when it quits."""

    process: str = ""  # <host>-<pid>: unique across hosts and containers
    measured_from: float | None = None  # wall-clock time measuring began (after the warmup)
    stopped: float | None = None  # wall-clock time measuring ended: when the stop was asked for, before the users stop
    warmup_s: float = 0.0
    warmup_requests: int = 0
    warmup_retried: int = 0  # behind a gateway: retries its warmup answers reported (Envoy's counters include them)
    warmup_status_codes: dict[str, int] = field(default_factory=dict)
    offered_rps: float | None = None  # this process's share of an open-model arrival rate
    generator_cpu_seconds: float | None = None  # CPU this process used while measuring
    generator_cpu_warnings: list[float] = field(default_factory=list)  # locust's own CPU warnings
    netns: str = ""  # the network namespace it ran in (processes sharing one share its counters)
    tcp: dict[str, int] = field(default_factory=dict)  # TCP_COUNTERS deltas over the measured window
    ports_in_use: int | None = None  # ephemeral ports held when measuring stopped
    port_range: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessReport:
        return cls(**_known(cls, data))


# --- the figures merged tallies give ------------------------------------------------------


def _percentile(p: float) -> Any:
    return field(default=None, metadata={"percentile": p})


@dataclass(frozen=True)
class Latency:
    """Response times in ms: average, min and max exact; percentiles from the histogram.

    A field with `percentile` metadata is filled with that percentile: adding p99.9 is one line.
    """

    avg_ms: float | None = None
    min_ms: float | None = None
    p50_ms: float | None = _percentile(50)
    p90_ms: float | None = _percentile(90)
    p95_ms: float | None = _percentile(95)
    p99_ms: float | None = _percentile(99)
    p99_9_ms: float | None = _percentile(99.9)
    max_ms: float | None = None

    @classmethod
    def of(cls, hist: Counter[int], sum_ms: float | None = None, min_ms: float | None = None,
           max_ms: float | None = None) -> Latency:  # fmt: skip
        """From a histogram; the exact sum, min and max when they are known (else from the buckets)."""
        count = sum(hist.values())
        values = {f.name: _rounded(percentile(hist, f.metadata["percentile"]))
                  for f in fields(cls) if "percentile" in f.metadata}  # fmt: skip
        if hist:
            values["min_ms"] = _rounded(min_ms if min_ms is not None else bucket_value(min(hist)))
            values["max_ms"] = _rounded(max_ms if max_ms is not None else bucket_value(max(hist)))
        if sum_ms is not None and count:
            values["avg_ms"] = _rounded(sum_ms / count)
        return cls(**values)

    @classmethod
    def percentile_fields(cls) -> list[str]:
        """The names of the percentile fields, lowest first (`p50_ms`, ...)."""
        return [f.name for f in fields(cls) if "percentile" in f.metadata]

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Latency:
        return cls(**_known(cls, data or {}))


@dataclass(frozen=True)
class WindowFigures:
    """One streamed window (a minute by default): a row of the drift table."""

    window: int
    requests: int
    failures: int
    rps: float
    latency: Latency

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WindowFigures:
        return cls(**(_known(cls, data) | {"latency": Latency.from_json(data.get("latency"))}))


@dataclass(frozen=True)
class Figures:
    """What one measured load gave: the figures of every request of every locust process."""

    requests: int = 0
    failures: int = 0
    rps: float = 0.0
    measured_s: float = 0.0
    measured_from: float | None = None  # wall-clock time the measured window began (None: runs before it was kept)
    status_codes: dict[str, int] = field(default_factory=dict)
    overloaded: int = 0  # 503s made by Envoy's circuit breaker, not the app
    latency: Latency = field(default_factory=Latency)  # every request
    ok_latency: Latency = field(default_factory=Latency)  # successful requests only
    offered_rps: float | None = None  # the open-model arrival rate asked for, if any
    generator_cpu_percent: float | None = None  # the busiest locust process's CPU (100 = its core)
    generator_cpu_warnings: int = 0  # times locust's own CPU monitor saw > 90 %
    generator_bound: bool = False  # the load generator, not the stack, may have set the pace
    processes: int = 0  # locust processes that reported
    # The open model (empty in the closed one): latency timed from each slot's due time, every
    # slot due in the window counted (answered or not); how late slots left; the run's end.
    corrected: Latency = field(default_factory=Latency)
    ok_corrected: Latency = field(default_factory=Latency)  # the same, successful answers only
    slots: int = 0  # slots due in the measured window
    lateness: Latency = field(default_factory=Latency)  # send time - due time, of the slots sent
    late: int = 0  # slots sent more than LATE_MS late, or never
    held: int = 0  # slots that waited because the in-flight bound was reached
    unfinished: int = 0  # sent, unanswered at the end
    unsent: int = 0  # due, never sent
    peak_in_flight: int = 0  # most requests in flight at once in one locust process
    client_tcp: dict[str, int] = field(default_factory=dict)  # locust's side: TCP counter deltas, summed by netns
    ports_in_use: int | None = None  # ephemeral ports locust's namespace held at the end (the fullest)
    port_range: int | None = None
    per_second: list[list[int]] = field(default_factory=list)  # [second, requests, failures]
    per_window: list[WindowFigures] = field(default_factory=list)  # drift, a minute each
    # Behind a gateway (empty or 0 elsewhere): answers per upstream version and their latency, the
    # retries the gateway made (from its attempt counts), answers that carried a trace id back.
    versions: dict[str, int] = field(default_factory=dict)
    version_latency: dict[str, Latency] = field(default_factory=dict)
    retried: int = 0
    request_ids: int = 0
    # The warmup's answers, all processes (counted, not measured), so counts can be set beside Envoy's, which
    # cover the whole load: requests, retries the gateway reported, status codes.
    warmup_requests: int = 0
    warmup_retried: int = 0
    warmup_status_codes: dict[str, int] = field(default_factory=dict)

    def window(self) -> tuple[float, float] | None:
        """(start, end) of the measured window in wall-clock time, if known."""
        return None if self.measured_from is None else (self.measured_from, self.measured_from + self.measured_s)

    @classmethod
    def of(cls, windows: Iterable[Tally], reports: list[ProcessReport]) -> Figures:
        """Fold every window file of every process into the figures of the whole load."""
        total, by_index = Tally(), dict[int, Tally]()
        for tally in windows:
            total.merge(tally)
            by_index.setdefault(tally.window or 0, Tally(window=tally.window)).merge(tally)
        starts = [r.measured_from for r in reports if r.measured_from] or [total.start or 0.0]
        stops = [r.stopped for r in reports if r.stopped] or [total.end or 0.0]
        measured = max(max(stops) - min(starts), 0.0)
        cpu = [r.generator_cpu_seconds for r in reports if r.generator_cpu_seconds is not None]
        busiest = _share(max(cpu) if cpu else None, measured)  # each process has one core
        warnings = sum(len(r.generator_cpu_warnings) for r in reports)
        last = max(total.per_second, default=-1)
        return cls(
            requests=total.requests,
            failures=total.failures,
            rps=round(total.requests / measured, 1) if measured > 0 else 0.0,
            measured_s=round(measured, 2),
            measured_from=min(starts) if any(r.measured_from for r in reports) else None,
            status_codes=dict(sorted(total.status_codes.items())),
            overloaded=total.overloaded,
            latency=total.latency(),
            ok_latency=total.latency(ok_only=True),
            offered_rps=sum(r.offered_rps or 0 for r in reports) or None,
            generator_cpu_percent=busiest,
            generator_cpu_warnings=warnings,
            generator_bound=(busiest or 0) >= GENERATOR_BUSY_PERCENT or warnings > 0,
            processes=len(reports),
            corrected=Latency.of(total.corrected_hist, total.corrected_sum_ms, None, total.corrected_max_ms),
            ok_corrected=Latency.of(total.ok_corrected_hist, total.ok_corrected_sum_ms),
            slots=sum(total.corrected_hist.values()),
            lateness=Latency.of(total.lateness_hist),
            late=total.late,
            held=total.held,
            unfinished=total.unfinished,
            unsent=total.unsent,
            peak_in_flight=total.peak_in_flight,
            client_tcp=_client_tcp(reports),
            ports_in_use=max((r.ports_in_use for r in reports if r.ports_in_use is not None), default=None),
            port_range=next((r.port_range for r in reports if r.port_range), None),
            per_second=[[s, total.per_second[s], total.per_second_failed[s]] for s in range(last + 1)],
            per_window=[_window_figures(i, by_index[i]) for i in sorted(by_index)],
            versions={v: sum(h.values()) for v, h in sorted(total.version_hist.items())},
            version_latency={v: Latency.of(h) for v, h in sorted(total.version_hist.items())},
            retried=total.retried,
            request_ids=total.request_ids,
            warmup_requests=sum(r.warmup_requests for r in reports),
            warmup_retried=sum(r.warmup_retried for r in reports),
            warmup_status_codes=dict(sorted(sum((Counter(r.warmup_status_codes) for r in reports), Counter()).items())),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Figures:
        return cls(**(_known(cls, data) | {
            "latency": Latency.from_json(data.get("latency")),
            "ok_latency": Latency.from_json(data.get("ok_latency")),
            "corrected": Latency.from_json(data.get("corrected")),
            "ok_corrected": Latency.from_json(data.get("ok_corrected")),
            "lateness": Latency.from_json(data.get("lateness")),
            "per_window": [WindowFigures.from_json(w) for w in data.get("per_window", [])],
            "version_latency": {v: Latency.from_json(lat) for v, lat in (data.get("version_latency") or {}).items()},
        }))  # fmt: skip


def _client_tcp(reports: list[ProcessReport]) -> dict[str, int]:
    """Counter deltas summed over namespaces: processes sharing one (locust --processes) count it once."""
    by_netns: dict[str, dict[str, int]] = {}
    for r in reports:
        if r.tcp:
            seen = by_netns.setdefault(r.netns, r.tcp)
            by_netns[r.netns] = {k: max(seen.get(k, 0), v) for k, v in r.tcp.items()}
    return {k: sum(d.get(k, 0) for d in by_netns.values()) for k in TCP_COUNTERS} if by_netns else {}


def _window_figures(index: int, w: Tally) -> WindowFigures:
    span = (w.end or 0.0) - (w.start or 0.0)
    rps = round(w.requests / span, 1) if span > 0 else 0.0
    return WindowFigures(window=index, requests=w.requests, failures=w.failures, rps=rps, latency=w.latency())


def _known(cls: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of `data` that are fields of `cls` (newer files may carry more)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def _share(cpu_seconds: float | None, wall: float) -> float | None:
    if cpu_seconds is None or wall <= 0:
        return None
    return round(100 * float(cpu_seconds) / wall, 1)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
