"""The result format: one folder per run, a versioned run.json, written atomically.

run.json history (bump SCHEMA_VERSION on any change a script reading it would notice):
  1 - first version: settings, machine, stacks[] of flat rows (figures, status codes, CPU and
      memory), the scenario's meaning in a free-text `phase` and an untyped `details` dict,
      the floor apart.
  2 - one typed row per measurement, `measurements[]` (the floor is one of them, role "floor"):
      `label` (the row name: stack, or stack@param=value,...), `role` (stack | floor |
      capacity | overload | step), `params` (stack parameters that applied, e.g. the breaker
      preset), `load` (the load shape that applied), `figures` (bench/load/record.py's Figures:
      counts, `latency` and `ok_latency` with every percentile, per second and per window),
      `usage` (the stack's CPU and memory), `deployment` (was `details`), `step` (a sweep
      step's load, verdict and knee). `scenario` is top-level; `stacks{}` holds each stack's
      description and published reference once. `settings` records only what applied
      (`bench layers`: `pairs[]` with each pair's rows and the fixed rate they were loaded at).
      `params` holds every stack parameter that applied, defaults included. `signals`: the
      stack side's TCP counters, listen backlogs and (compose) memory state; `figures.client_tcp`
      locust's side; `limited_by`: the rules of bench/analysis/rules.toml that fired, headline first.
      Version-1 files are read by upgrading them (`upgrade_v1`).
      Added to version 2 before it was published (2026-11-26), so without a bump: `slo` (null
      without --slo): `text`, the objectives as given (also in `settings`), and `verdicts[]`, one
      per label: `passed`, `repeats` (ok repeats judged) and `objectives[]` (`objective`, `unit`,
      `value`: the median over the ok repeats, `met`, `missed_in`: repeats that missed it on their
      own); a sweep's verdict has `sustainable` (the highest load that met the SLO, null: none).
      A sweep `step` has `slo_missed` (the objectives it missed in words, [] when it met them,
      null without --slo) and `sustainable` (the step at that load).
      Added within version 2 before it was published (readers ignore what they do not know): role
      `experiment` (a phase of `bench gateway`, labelled gateway@<experiment>=<phase>, its `params`
      experiment, variant, client and weights); `counts` (what a scenario counted beside the load:
      the gateway's trace log lines, and those with a trace id); `figures.versions` and
      `figures.version_latency` (answers and latency per upstream version), `figures.retried`
      (retries the gateway's answers reported), `figures.request_ids` (answers with a trace id);
      `envoy` holds every cluster's and listener's counters, not one cluster's.
      `figures.measured_from` (wall-clock start of the measured window; null in older files), and
      `usage` covers that window (CPU % and CPU seconds; before, the sampler's own window, which
      began at the warmup's nominal end and so counted some of the warmup's CPU).
  3 - `limited_by` holds only the LIMITS that fired (harm seen in the window: connects failed, work
      refused, every CPU busy; the headline first) and `risks[]` the RISKS (levels that may become a
      limit, e.g. 83 % of the local ports held with no connect failed; never the headline); each
      verdict has its `kind` (limit | risk). `usage.busiest_process_percent`: the stack's busiest
      process's CPU over the window (100 = one core; local backend). Version-2 files are read as they
      are: their `limited_by` mixed levels and limits (`kind` reads "limit", `risks` is empty).
      The open model's figures count only the slots DUE in the measured window, at both edges (before,
      an answer landing in the window counted even when its slot fell due in the warmup): requests,
      rps, failures, status codes, latency, per_second/per_window, late/held/lateness/peak_in_flight;
      `slots` == requests + unfinished + unsent; late warmup answers are the warmup's counts.
  4 - `summary[]`: one entry per role and label (`label`, `role`, `repeats`, `ok_repeats`, `figures`:
      every figure of bench/analysis/summary.py's registry as {median, min, max, n} over the ok repeats),
      derived figures included (requests per CPU-second `usage.requests_per_cpu_s`, errors
      `figures.error_pct`, `figures.success_pct`, `figures.app_5xx`, the clients' whole-load counts
      `whole.*`). Written from the measurements each time the run is saved and never read back:
      an older file is read as it is (its summary is computed when it is reported).
  5 - Verdicts are judged on successful answers only. `figures.ok_latency.avg_ms` is exact (the
      tally keeps the successful answers' sum) and `figures.ok_corrected` (open model: successful
      answers timed from when each was due) appears; the summary's `ok_latency.*`, `ok_corrected.*`
      and `figures.ok_rps` are what the headline, verdicts, the SLO, compare and the sweep read, and
      `latency.*`, `corrected.*`, `figures.rps` (every answer, failures included) are only shown.
      `figures.error_pct` is the one errors figure: failed + unanswered of requests + unanswered
      slots. `slo.verdicts[]`: a label passes when a majority of its ok repeats (two: both) each met
      every objective (before: each objective's median), `met_by` (those repeats) and `needed`
      appear; an objective's `met` is a majority of the repeats meeting it and `missed_values` holds
      the missing repeats' own values. Older files are read as they are: an ok figure they lack is
      taken from every answer's only when the load had no failure (the two are then the same).
      The noise guard and the open model in `bench stack`/`all`: role `floor_end` (the floor measured
      again when the comparison ends, same load and window as the start's role `floor`); `noise`
      (written, never read back: the two floors' req/s and avg and how far the end moved from the
      start, `changed` past 10 %; null without both floors); role `peak` (the closed loop flat out
      whose slowest row sets a relative `--rate 50%`); settings `rate` (as given), `offered_rps`
      (the rate every row was offered) and `max_in_flight` for `stack`/`all` runs under `--rate`,
      whose rows' latency is then read from due time (`ok_corrected`).

Layout:  results/runs/<run-id>/run.json, summary.md, results.csv, *.png
         results/runs/<run-id>/<label>[-r<N>]/   logs/, work/ (rendered configs), load/ (locust files)
A run never overwrites another: the run folder is created with exist_ok=False.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from bench.analysis.noise import floor_change
from bench.analysis.summary import summarize
from bench.errors import ConfigError
from bench.load.record import Figures, Latency

SCHEMA_VERSION = 5
READS = (1, 2, 3, 4, 5)  # versions this lab reads (a summary missing before 4 is computed when reported)
RUN_FILE = "run.json"
MAX_IN_FLIGHT = 10_000  # the open model's default bound, like vegeta's -max-workers

Status = Literal["ok", "failed", "interrupted"]
# stack: one stack of a comparison; floor: locust against a trivial nginx; capacity: the
# breaker experiment's first, closed-loop phase; overload: a breaker phase at the offered
# rate; step: one load step of a sweep; saturation / fixed_rate: `bench layers`' closed loop
# flat out, and its open-model rate that both rows of a pair sustain; experiment: one phase (a
# variant, loaded as one client) of a gateway experiment; floor_end: the floor again when a stack
# comparison ends (the noise guard); peak: a stack comparison's closed loop flat out, whose slowest
# row sets a relative --rate
Role = Literal["stack", "floor", "floor_end", "peak", "capacity", "overload", "step", "saturation", "fixed_rate",
               "experiment"]  # fmt: skip


@dataclass(frozen=True)
class LoadShape:
    """The load as it applied: locust's own -u / -r / -t, the uncounted warmup, the model."""

    users: int
    spawn_rate: float
    duration_s: float
    warmup_s: float = 0.0
    wait_s: float = 0.0
    rate: float | None = None  # total arrival rate (open model); None: closed loop
    processes: int = 1  # locust processes (a master and this many workers when > 1)
    max_in_flight: int = MAX_IN_FLIGHT  # open model: requests in flight allowed, all processes together
    mix: str = ""  # the requests sent, as JSON (bench/stacks/userapp.py's --requests); "" the lab's users API mix
    locustfile: str = ""  # the user's own locustfile, beside the lab's recorder; "" none

    @property
    def model(self) -> str:
        return "open" if self.rate else "closed"

    @classmethod
    def open(cls, rate: float, duration_s: float, warmup_s: float = 0.0, processes: int = 1,
             max_in_flight: int = MAX_IN_FLIGHT) -> LoadShape:  # fmt: skip
        """An arrival rate (like `vegeta attack -rate`): one scheduling user per locust process
        sends each request when it is due, with as many in flight as the stack needs, up to the bound."""
        return cls(users=processes, spawn_rate=processes, duration_s=duration_s, warmup_s=warmup_s, rate=rate,
                   processes=processes, max_in_flight=max_in_flight)  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> LoadShape | None:
        return None if data is None else cls(**_known(cls, data))


@dataclass(frozen=True)
class StackUsage:
    """What the measured window cost the stack: CPU and memory summed over its processes."""

    cpu_percent: float = 0.0  # 100 = one core busy for the whole window
    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    samples: int = 0
    rss_mb_per_window: list[float] = field(default_factory=list)  # peak RSS in each minute
    cpus_busy_percent: float | None = None  # how busy the stack's CPUs were in all (its own use and any other)
    busiest_process_percent: float | None = None  # the stack's busiest process (100 = one core), where known

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> StackUsage | None:
        return None if data is None else cls(**_known(cls, data))


@dataclass(frozen=True)
class SweepStep:
    """One step of a sweep: its load (users, or req/s offered) and whether it met the target."""

    load: float
    unit: str  # users | req/s
    verdict: str  # "ok", or why this step broke the target
    knee: bool = False  # the highest load that met the target
    slo_missed: list[str] | None = None  # --slo: the objectives this step missed ([]: met them); None: no SLO
    sustainable: bool = False  # --slo: the highest load that met it

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> SweepStep | None:
        return None if data is None else cls(**_known(cls, data))


@dataclass(frozen=True)
class Signals:
    """What the stack's side said during the load, beyond CPU and memory (bench/analysis/diagnosis.py reads it)."""

    scope: str = ""  # "stack netns" (compose: the stack's own counters) | "host-wide" (local: shared with locust)
    server_tcp: dict[str, int] = field(default_factory=dict)  # TCP counter deltas over the measured window
    listen_backlog: dict[str, int] = field(default_factory=dict)  # port name -> backlog the kernel holds
    somaxconn: int | None = None  # net.core.somaxconn in the stack's namespace: the cap on any backlog
    memory: dict[str, float] = field(default_factory=dict)  # compose: oom_kills, limit_hits, limit_pct
    not_measured: dict[str, str] = field(default_factory=dict)  # signal -> why it could not be read

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Signals:
        return cls(**_known(cls, data or {}))


@dataclass(frozen=True)
class Finding:
    """One rule of bench/analysis/rules.toml that fired for a measurement: what limited it (a limit) or may (a risk),
    the evidence, a tip."""

    rule: str
    headline: str
    evidence: dict[str, float]
    tip: str
    kind: str = "limit"  # limit | risk (runs before risks existed hold limits only)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class ObjectiveVerdict:
    """One objective of an SLO judged for one label: the value judged and whether it met it."""

    objective: str  # as given: "p99<100ms"
    unit: str  # of `value`: ms | % | req/s
    value: float | None  # the median over the ok repeats (a sweep: the judged step's); None: no value
    met: bool  # stacks: a majority of the ok repeats met it (two: both); a sweep: the judged step met it
    missed_in: list[int] = field(default_factory=list)  # repeats whose own value missed it
    missed_values: list[float | None] = field(default_factory=list)  # each of those repeats' own value

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ObjectiveVerdict:
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class SloVerdict:
    """One label against the SLO. Stacks: passed when a majority of its repeats (two: both) each met every
    objective, a failed repeat meeting none; a sweep: when some step met every objective."""

    label: str
    passed: bool
    objectives: list[ObjectiveVerdict] = field(default_factory=list)
    repeats: int = 0  # repeats judged, failed ones included, not interrupted ones (a sweep: ok steps)
    met_by: list[int] | None = None  # stacks: the ok repeats that met every objective (None: a sweep, or before 5)
    needed: int = 0  # stacks: how many repeats passing takes (a majority of those judged; two: both)
    not_measured: list[int] = field(default_factory=list)  # stacks: repeats that failed, counted as meeting nothing
    sustainable: float | None = None  # a sweep: the highest load that met the SLO (users or req/s)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SloVerdict:
        objectives = [ObjectiveVerdict.from_json(o) for o in data.get("objectives", [])]
        return cls(**(_known(cls, data) | {"objectives": objectives}))


@dataclass
class SloResult:
    """The --slo of a run and each label's verdict."""

    text: str  # "p99<100ms,errors<1%,rps>500"
    verdicts: list[SloVerdict] = field(default_factory=list)

    @property
    def failed(self) -> list[SloVerdict]:
        return [v for v in self.verdicts if not v.passed]

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> SloResult | None:
        if data is None:
            return None
        return cls(text=data["text"], verdicts=[SloVerdict.from_json(v) for v in data.get("verdicts", [])])


@dataclass
class Measurement:
    """One measurement: one stack (one label) loaded once, and everything it gave."""

    label: str  # the row name: stack, or stack@param=value,... ; repeats share it
    stack: str
    role: Role = "stack"
    repeat: int = 1
    status: Status = "failed"  # failed until a load succeeds
    error: str | None = None
    log_tail: str = ""
    backend: str = ""
    folder: str = ""  # relative to the run folder
    params: dict[str, str] = field(default_factory=dict)  # stack parameters that applied
    load: LoadShape | None = None
    figures: Figures | None = None
    usage: StackUsage | None = None
    time_wait: int | None = None  # TCP connections in TIME_WAIT on the stack's ports afterwards
    envoy: dict[str, list[int]] = field(default_factory=dict)  # Envoy counter -> [before, after]
    deployment: dict[str, str] = field(default_factory=dict)  # ports, pinning, compose project, images
    step: SweepStep | None = None
    signals: Signals = field(default_factory=Signals)
    limited_by: list[Finding] | None = None  # the limits that fired, headline first; [] none found; None not judged
    risks: list[Finding] = field(default_factory=list)  # the risks that fired: levels, never the headline
    counts: dict[str, int] = field(default_factory=dict)  # counted beside the load (the gateway's trace log)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def latency(self) -> Latency:
        return self.figures.latency if self.figures else Latency()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurement:
        verdicts = data.get("limited_by")
        return cls(**(_known(cls, data) | {
            "load": LoadShape.from_json(data.get("load")),
            "figures": Figures.from_json(data["figures"]) if data.get("figures") else None,
            "usage": StackUsage.from_json(data.get("usage")),
            "step": SweepStep.from_json(data.get("step")),
            "signals": Signals.from_json(data.get("signals")),
            "limited_by": None if verdicts is None else [Finding.from_json(v) for v in verdicts],
            "risks": [Finding.from_json(v) for v in data.get("risks", [])],
        }))  # fmt: skip


@dataclass(frozen=True)
class StackInfo:
    """What the run knew of a stack: its description and the seed's published figures."""

    description: str = ""
    reference: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    """A whole run: what was asked, where it ran, and every measurement."""

    run_id: str
    scenario: str
    started_at: str
    status: str = "running"  # running | complete | failed | interrupted
    finished_at: str | None = None
    backend: str = ""
    settings: dict[str, Any] = field(default_factory=dict)  # only what applied
    machine: dict[str, Any] = field(default_factory=dict)
    stacks: dict[str, StackInfo] = field(default_factory=dict)
    measurements: list[Measurement] = field(default_factory=list)
    slo: SloResult | None = None  # --slo and each label's verdict
    schema_version: int = SCHEMA_VERSION

    def rows(self, *roles: Role) -> list[Measurement]:
        """The measurements of these roles (all when none given), in the order they were taken."""
        return [m for m in self.measurements if not roles or m.role in roles]

    @property
    def floor(self) -> Measurement | None:
        return next(iter(self.rows("floor")), None)

    def to_json(self) -> dict[str, Any]:
        """The run as run.json holds it: every measurement, then each label's summary (derived figures included)
        and the noise guard's two floors."""
        data = asdict(self)
        change = floor_change(self)
        return {"schema_version": data.pop("schema_version"), **data, "summary": summarize(self).to_json(),
                "noise": None if change is None else change.to_json()}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        """Read a run.json of any known version; unknown keys are ignored so newer files stay readable."""
        if not isinstance(data, dict) or "run_id" not in data:
            raise ValueError("not a run.json (no run_id)")
        version = data.get("schema_version", 1)
        if version == 1:
            data = upgrade_v1(data)
        elif version not in READS:
            raise ValueError(f"run.json schema version {version} is not one this lab reads "
                             f"({', '.join(map(str, READS))})")  # fmt: skip
        return cls(**(_known(cls, data) | {
            "stacks": {k: StackInfo(**_known(StackInfo, v)) for k, v in data.get("stacks", {}).items()},
            "measurements": [Measurement.from_json(m) for m in data.get("measurements", [])],
            "slo": SloResult.from_json(data.get("slo")),
            # the file's own version (1 is upgraded to 2): what its figures and verdicts mean
            "schema_version": max(version, 2),
        }))  # fmt: skip


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A version-1 run.json as version 2 (flat rows -> typed measurements)."""
    settings = dict(data.get("settings", {}))
    old = settings.pop("scenario", "compare")
    scenario = "measure" if old == "compare" else old
    rows = list(data.get("stacks", []))
    measurements = [_v1_row(data["floor"], "floor")] if data.get("floor") else []
    measurements += [_v1_row(row, _v1_role(row.get("phase", "measure"))) for row in rows]
    stacks = {r["name"]: {"description": r.get("description", ""), "reference": r.get("reference", {})} for r in rows}
    kept = {k: data[k] for k in ("run_id", "started_at", "status", "finished_at", "backend", "machine") if k in data}
    return kept | {"scenario": scenario, "settings": settings, "stacks": stacks, "measurements": measurements}


def _v1_role(phase: str) -> str:
    if phase.startswith("breaker"):
        return "overload"
    return {"measure": "stack", "capacity": "capacity", "sweep": "step"}.get(phase, "stack")


def _v1_row(row: dict[str, Any], role: str) -> dict[str, Any]:
    params = {"breaker": row["breaker"]} if row.get("breaker") else {}
    label = f"{row['name']}@breaker={row['breaker']}" if role == "overload" else row["name"]
    latency = {k: row.get(k) for k in ("avg_ms", "min_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms")}
    kept = ("requests", "failures", "rps", "measured_s", "status_codes", "overloaded", "offered_rps",
            "generator_cpu_percent", "generator_cpu_warnings", "generator_bound", "per_second")
    figures: dict[str, Any] = {k: row.get(k) for k in kept if k in row}
    figures |= {"latency": latency, "ok_latency": row.get("ok_latency") or {},
                "per_window": [_v1_window(w) for w in row.get("per_window", [])]}  # fmt: skip
    details = dict(row.get("details") or {})
    step = None
    if role == "step":
        step = {"load": row.get("offered_rps") or row.get("users", 0), "unit": "req/s" if row.get("offered_rps")
                else "users", "verdict": details.pop("verdict", ""), "knee": bool(details.pop("knee", ""))}  # fmt: skip
    usage = {"cpu_percent": row.get("cpu_percent") or 0.0, "cpu_seconds": row.get("cpu_seconds") or 0.0,
             "peak_rss_mb": row.get("peak_rss_mb") or 0.0,
             "rss_mb_per_window": [w.get("stack_rss_mb") or 0.0 for w in row.get("per_window", [])]}  # fmt: skip
    return {
        "label": label, "stack": row["name"], "role": role, "repeat": row.get("repeat", 1),
        "status": row.get("status", "failed"), "error": row.get("error"), "log_tail": row.get("log_tail", ""),
        "backend": row.get("backend", ""), "folder": row.get("folder", ""), "params": params,
        "load": {"users": row.get("users", 0), "spawn_rate": 0.0, "duration_s": row.get("measured_s", 0.0),
                 "rate": row.get("offered_rps")},
        "figures": figures if row.get("status") != "failed" or row.get("requests") else None,
        "usage": usage if row.get("cpu_percent") is not None else None,
        "time_wait": row.get("time_wait"), "envoy": row.get("envoy") or {}, "deployment": details, "step": step,
    }  # fmt: skip


def _v1_window(w: dict[str, Any]) -> dict[str, Any]:
    latency = {k: w.get(k) for k in ("avg_ms", "p50_ms", "p99_ms")}
    return {k: w.get(k) for k in ("window", "requests", "failures", "rps")} | {"latency": latency}


def _known(cls: Any, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def folder_of(label: str) -> str:
    """A label as a folder name inside the run folder: `flask@a` -> `flask-a`."""
    return "".join(c if c.isalnum() or c in "_." else "-" for c in label)


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def new_run_dir(results_dir: Path) -> tuple[str, Path]:
    """Create a fresh, unique run folder; refuse up front if `results_dir` is not writable."""
    runs = results_dir / "runs"
    try:
        runs.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=runs, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"results folder {results_dir} is not writable: {exc.strerror or exc}",
            tip="choose another with --results DIR",
        ) from exc
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        run_id = stamp if n == 1 else f"{stamp}-{n}"
        try:
            (runs / run_id).mkdir()
        except FileExistsError:
            continue
        return run_id, runs / run_id
    raise ConfigError(f"cannot create a new run folder in {runs}")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so a reader never sees half a file (temp file + os.replace)."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `path` so that a reader sees the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_run(run_dir: Path, run: RunResult) -> None:
    write_json_atomic(run_dir / RUN_FILE, run.to_json())


def load_run(run_dir: Path) -> RunResult:
    """Read one run folder's run.json (ValueError/OSError if damaged or missing)."""
    return RunResult.from_json(json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8")))
