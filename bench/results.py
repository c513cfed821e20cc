"""The result format: one folder per run, a versioned run.json, written atomically.

run.json history (bump SCHEMA_VERSION on any change a script reading it would notice):
  1 - first version: settings, machine, stacks[] with figures, status codes, CPU and memory.

Layout:  results/runs/<run-id>/run.json
         results/runs/<run-id>/<stack>[-r<N>]/   logs/, work/ (rendered configs), load/ (locust files)
A run never overwrites another: the run folder is created with exist_ok=False.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from bench.errors import ConfigError

SCHEMA_VERSION = 1
RUN_FILE = "run.json"


@dataclass
class StackResult:
    """One measurement of one stack (one repeat)."""

    name: str
    backend: str
    status: str  # ok | failed | interrupted
    error: str | None = None
    repeat: int = 1
    users: int = 0  # locust users (the closed-model load)
    requests: int = 0
    failures: int = 0
    avg_ms: float | None = None
    min_ms: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    rps: float = 0.0
    measured_s: float = 0.0
    status_codes: dict[str, int] = field(default_factory=dict)
    cpu_percent: float | None = None  # of one core, summed over the stack's processes
    cpu_seconds: float | None = None
    peak_rss_mb: float | None = None
    rps_per_cpu_second: float | None = None
    time_wait: int | None = None  # TCP connections in TIME_WAIT on the stack's ports after the load
    per_second: list[list[int]] = field(default_factory=list)  # [second, requests, failures]
    per_window: list[dict[str, Any]] = field(default_factory=list)  # a minute each: drift over time
    generator_cpu_percent: float | None = None  # locust's own CPU (100 = its one core)
    generator_cpu_warnings: int = 0
    generator_bound: bool = False  # the generator, not the stack, may have set the pace
    overloaded: int = 0  # 503s made by Envoy's circuit breaker (x-envoy-overloaded: true)
    offered_rps: float | None = None  # open-model arrival rate asked for (breaker, open sweep)
    ok_latency: dict[str, float | None] = field(default_factory=dict)  # successful requests only
    breaker: str | None = None  # breaker preset of a stack with an Envoy sidecar
    phase: str = "measure"  # measure | capacity | breaker <preset> (the breaker scenario)
    envoy: dict[str, list[int]] = field(default_factory=dict)  # Envoy counter -> [before, after]
    description: str = ""
    reference: dict[str, Any] = field(default_factory=dict)  # published seed figures
    details: dict[str, str] = field(default_factory=dict)
    log_tail: str = ""
    folder: str = ""  # relative to the run folder

    @property
    def load(self) -> float:
        """The load offered: the arrival rate (open model) or the locust users (closed)."""
        return self.offered_rps if self.offered_rps else float(self.users)


@dataclass
class RunResult:
    """A whole run: what was asked, where it ran, and every stack's result."""

    run_id: str
    started_at: str
    status: str = "running"  # running | complete | failed | interrupted
    finished_at: str | None = None
    backend: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    stacks: list[StackResult] = field(default_factory=list)
    floor: StackResult | None = None  # locust against a trivial target: the generator's floor
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data = {"schema_version": data.pop("schema_version"), **data}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        """Read a run.json; unknown keys are ignored so newer files stay readable."""
        if not isinstance(data, dict) or "run_id" not in data:
            raise ValueError("not a run.json (no run_id)")
        known = {f.name for f in fields(StackResult)}

        def stack(raw: dict[str, Any]) -> StackResult:
            return StackResult(**{k: v for k, v in raw.items() if k in known})

        stacks = [stack(s) for s in data.get("stacks", [])]
        floor = stack(data["floor"]) if data.get("floor") else None
        run_known = {f.name for f in fields(cls)} - {"stacks", "floor"}
        return cls(stacks=stacks, floor=floor, **{k: v for k, v in data.items() if k in run_known})


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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
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
