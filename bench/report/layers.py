"""`bench layers`' sections: what each layer costs at a fixed rate and at saturation, and per row
the CPU and memory a target load needs, beside Istio's published sidecar figure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.analysis import stats
from bench.analysis.summary import RunSummary, Spread, ok_due_latency, ok_rps
from bench.report import charts as chart_files
from bench.report.common import workers_note
from bench.report.tables import markdown, number, section
from bench.results import Measurement, RunResult

# Istio's own figure for its sidecar (Performance and Scalability, Istio 1.16.2, unchanged since 1.12):
# https://istio.io/v1.16/docs/ops/deployment/performance-and-scalability
ISTIO_SIDECAR = {"vcpu_per_1k": 0.35, "mb_per_1k": 40.0, "p90_added_ms": 2.65, "version": "1.16.2"}
Pick = Callable[[Measurement], float | None]


def sections(run: RunResult, summary: RunSummary) -> list[str]:
    return [fixed_rate_section(run), saturation_section(run), per_row_section(run, summary)]


def charts(run: RunResult, summary: RunSummary, out_dir: Path) -> list[Path]:
    return chart_files.write_charts(run, out_dir, summary.of("saturation"))


def _pairs(run: RunResult) -> list[dict[str, Any]]:
    return list(run.settings.get("pairs", []))


def _rows(run: RunResult, role: str, label: str, rate: float | None = None) -> list[Measurement]:
    return [m for m in run.rows(role) if m.label == label and m.ok and m.figures  # type: ignore[arg-type]
            and (rate is None or (m.load is not None and m.load.rate == rate))]  # fmt: skip


def _by_repeat(ms: list[Measurement], pick: Pick) -> dict[int, float]:
    return {m.repeat: v for m in ms if (v := pick(m)) is not None}


def _cost(base: dict[int, float], other: dict[int, float], fmt: str) -> str:
    """`+1.23 ms [0.80 to 1.70]` or `not significant (+0.1 [-0.3 to 0.5])`."""
    d = stats.difference(base, other, interleaved=True)
    if d is None:
        return "-"
    if d.low is None or d.high is None:
        return f"{fmt.format(d.mean)} (one repeat)"
    spread = f"no spread in {d.n} repeats" if d.no_spread else f"{fmt.format(d.low)} to {fmt.format(d.high)}"
    text = f"{fmt.format(d.mean)} [{spread}]"
    return text if d.significant else f"not significant ({text})"


def _median(values: dict[int, float], fmt: str) -> str:
    spread = Spread.of(values.values())
    return number(spread.mid if spread else None, fmt)


def _corrected(which: str) -> Pick:
    """The successful answers' latency from due time (failed and unanswered slots are errors, not latency)."""
    return lambda m: None if m.figures is None or (due := ok_due_latency(m.figures)) is None else getattr(due, which)


def fixed_rate_section(run: RunResult) -> str:
    rows = []
    for pair in _pairs(run):
        rate = pair.get("rate")
        base, other = _rows(run, "fixed_rate", pair["base"], rate), _rows(run, "fixed_rate", pair["other"], rate)
        cells = [f"`{pair['name']}`", pair["what"], number(rate, "{:.0f}")]
        for which in ("p50_ms", "p99_ms"):
            a, b = _by_repeat(base, _corrected(which)), _by_repeat(other, _corrected(which))
            cells += [_median(a, "{:.2f}"), _median(b, "{:.2f}"), _cost(a, b, "{:+.2f}")]
        rows.append(cells)
    if not rows:
        return ""
    head = ["pair", "what changes", "fixed rate req/s", "base p50 ms", "other p50 ms", "p50 cost ms [95 % CI]",
            "base p99 ms", "other p99 ms", "p99 cost ms [95 % CI]"]  # fmt: skip
    note = ("Both rows of a pair at one open-model rate, half the slower one's capacity, so neither queues: the "
            "latency added is the layer's own (timed from each request's due time). A cost is the mean of the "
            "per-repeat differences (repeats interleaved, paired), its 95 % interval a t interval; *not significant* "
            f"unless all of it lies beyond {stats.MIN_EFFECT:.0%} of the base, and with no spread.")  # fmt: skip
    return section("What each layer costs: latency at a fixed rate", markdown(rows, head), note)


def _rps(m: Measurement) -> float | None:
    return ok_rps(m.figures) if m.figures else None


def _cpu_us(m: Measurement) -> float | None:
    """CPU time per successful answer, microseconds (all the stack's processes)."""
    served = m.figures.requests - m.figures.failures if m.figures else 0
    if m.usage is None or not served:
        return None
    return 1e6 * m.usage.cpu_seconds / served


def _rss(m: Measurement) -> float | None:
    return m.usage.peak_rss_mb if m.usage else None


def saturation_section(run: RunResult) -> str:
    rows = []
    for pair in _pairs(run):
        base, other = _rows(run, "saturation", pair["base"]), _rows(run, "saturation", pair["other"])
        ratio = stats.compare(_by_repeat(base, _rps), _by_repeat(other, _rps), interleaved=True)
        cells = [f"`{pair['name']}`", _median(_by_repeat(base, _rps), "{:.0f}"), _median(_by_repeat(other, _rps),
                 "{:.0f}"), _ratio(ratio)]  # fmt: skip
        for pick, fmt in ((_cpu_us, "{:+.0f}"), (_rss, "{:+.0f}")):
            a, b = _by_repeat(base, pick), _by_repeat(other, pick)
            cells += [_median(a, "{:.0f}"), _median(b, "{:.0f}"), _cost(a, b, fmt)]
        rows.append(cells)
    if not rows:
        return ""
    head = ["pair", "base req/s", "other req/s", "throughput other/base [95 % CI]", "base CPU µs/req",
            "other CPU µs/req", "CPU cost µs/req", "base peak RSS MB", "other peak RSS MB",
            "memory cost MB"]  # fmt: skip
    note = ("Closed loop at saturation (`-u` users, flat out): throughput, CPU time per request summed over the "
            "stack's processes, and peak memory. CPU per request is what a layer costs in cores at any load.")
    return section("What each layer costs: throughput, CPU and memory at saturation", markdown(rows, head), note)


def _ratio(r: stats.Ratio | None) -> str:
    if r is None:
        return "-"
    spread = f"no spread in {r.n} repeats" if r.no_spread else f"{r.low:.2f}-{r.high:.2f}"
    text = f"{r.ratio:.2f}x" + ("" if r.low is None else f" [{spread}]")
    return text if r.significant else f"not significant ({text})"


def per_row_section(run: RunResult, summary: RunSummary) -> str:
    """Per row: requests per CPU-second and memory per 1k req/s, to size a target load."""
    rows = []
    for label, s in summary.of("saturation").items():
        ok = [m for m in s.ok if m.figures and m.usage]
        per_cpu_s = list(s.values("usage.requests_per_cpu_s").values())
        mb_per_1k = [m.usage.peak_rss_mb / (ok_rps(m.figures) / 1000) for m in ok if m.usage and m.figures
                     and ok_rps(m.figures)]  # fmt: skip
        rows.append([f"`{label}`", s.cell("figures.ok_rps"), s.cell("usage.requests_per_cpu_s"),
                     _spread([1000 / v for v in per_cpu_s], "{:.2f}"), _spread(mb_per_1k, "{:.0f}"),
                     s.repeats[0].params.get("workers", "-")])  # fmt: skip
    if not rows:
        return ""
    head = ["row", "req/s at saturation", "req per CPU-s", "CPU cores per 1k req/s", "MB per 1k req/s", "workers"]
    return section("How much CPU and memory a load needs", markdown(rows, head), _sidecar(run),
                   workers_note(run, run.rows("saturation")))  # fmt: skip


def _sidecar(run: RunResult) -> str:
    """The Envoy sidecar's measured cost per 1k req/s (the `envoy` pair), beside Istio's published one."""
    pair = next((p for p in _pairs(run) if p["name"] == "envoy"), None)
    published = (f"Istio publishes {ISTIO_SIDECAR['vcpu_per_1k']} vCPU and {ISTIO_SIDECAR['mb_per_1k']:g} MB per "
                 f"1,000 req/s for its sidecar, adding {ISTIO_SIDECAR['p90_added_ms']} ms to p90 (Istio "
                 f"{ISTIO_SIDECAR['version']}, 1,000 services on Kubernetes: its Performance and Scalability page).")
    if pair is None:
        return published
    base, other = _rows(run, "saturation", pair["base"]), _rows(run, "saturation", pair["other"])
    cpu = stats.difference(_by_repeat(base, _cpu_us), _by_repeat(other, _cpu_us), interleaved=True)
    rss = stats.difference(_by_repeat(base, _rss), _by_repeat(other, _rss), interleaved=True)
    if cpu is None or rss is None:
        return published
    rps = Spread.of(v for m in other if (v := _rps(m)))
    if rps is None:
        return published
    vcpu = cpu.mean / 1000  # µs per request x 1000 req/s = ms per s
    return (f"Here the sidecar (the `envoy` pair) costs {vcpu:.2f} vCPU per 1,000 req/s (CPU per request "
            f"{cpu.mean:+.0f} µs) and {rss.mean:+.0f} MB at {rps.mid:.0f} req/s. {published}")


def _spread(values: list[float], fmt: str) -> str:
    spread = Spread.of(values)
    return "-" if spread is None else spread.cell(fmt)


