"""Measurements for tests, built the way production builds them: requests counted into a
Tally (as the locustfile does), folded into Figures (as the runner does), kept in a Measurement."""

from __future__ import annotations

from collections.abc import Sequence

from bench.load.record import Figures, ProcessReport, Tally
from bench.results import LoadShape, Measurement, Role, RunResult, StackUsage

START = 1_700_000_000.0


def figures(latencies_ms: Sequence[float], seconds: float = 10.0, failed: Sequence[float] = (),
            codes: Sequence[int] = (), overloaded: int = 0, cpu_s: float | None = None,
            offered_rps: float | None = None) -> Figures:  # fmt: skip
    """The figures of a load whose requests took `latencies_ms` (and `failed` ones), spread over `seconds`."""
    tally = Tally(window=0, start=START, end=START + seconds)
    every = [(ms, False) for ms in latencies_ms] + [(ms, True) for ms in failed]
    for i, (ms, bad) in enumerate(every):
        status = codes[i] if i < len(codes) else (500 if bad else 200)
        tally.add(int(i * seconds / len(every)), ms, status, bad, overloaded=bad and i < overloaded)
    report = ProcessReport(process="host-1", measured_from=START, stopped=START + seconds,
                           generator_cpu_seconds=cpu_s, offered_rps=offered_rps)  # fmt: skip
    return Figures.of([tally], [report])


def measured(label: str, repeat: int = 1, latencies_ms: Sequence[float] = (2.0, 3.0, 4.0, 10.0),
             seconds: float = 10.0, cpu_percent: float = 90.0, rss_mb: float = 100.0, role: Role = "stack",
             stack: str | None = None, params: dict[str, str] | None = None,
             **kwargs: object) -> Measurement:  # fmt: skip
    """One ok measurement of `label`."""
    return Measurement(
        label=label, stack=stack or label.split("@")[0], role=role, repeat=repeat, status="ok", backend="local",
        folder=label, params=params or {}, load=LoadShape(users=10, spawn_rate=10, duration_s=seconds),
        figures=figures(latencies_ms, seconds, **kwargs),  # type: ignore[arg-type]
        usage=StackUsage(cpu_percent, cpu_percent * seconds / 100, rss_mb, samples=int(seconds * 2)),
    )  # fmt: skip


def failed(label: str, repeat: int = 1, error: str = "port 8000 in use", role: Role = "stack") -> Measurement:
    return Measurement(label=label, stack=label, role=role, repeat=repeat, status="failed", backend="local",
                       error=error, folder=label)  # fmt: skip


def run_of(*measurements: Measurement, scenario: str = "measure") -> RunResult:
    return RunResult(run_id="20261124-090444", scenario=scenario, started_at="2026-11-24T09:04:44+0000",
                     backend="local", measurements=list(measurements))  # fmt: skip
