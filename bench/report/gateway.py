"""The gateway experiments' sections: for each experiment, every phase (off first) at the same load.

One table per experiment: the figures every phase has (requests, status codes, success, latency,
the phase against `off`), then the experiment's own (shares per version, retries as the clients
and as Envoy counted them, the requests a timeout cut, RBAC and JWT decisions, trace ids), then
a few sentences saying what the table shows. Cells are the median [min-max] over the repeats;
counts are summed over them.
"""

from __future__ import annotations

from pathlib import Path

from bench.analysis import stats
from bench.analysis.summary import LabelSummary, RunSummary, Spread, ok_latency
from bench.report.common import codes
from bench.report.tables import Column, cells, markdown, number, section
from bench.report.verdicts import Verdict, verdict
from bench.results import Measurement, RunResult
from bench.sampling import envoy

LATENCY = [Column("ok_latency.avg_ms", "avg ms", "{:.2f}"), Column("ok_latency.p50_ms", "p50 ms", "{:.2f}"),
           Column("ok_latency.p99_ms", "p99 ms", "{:.2f}"), Column("figures.ok_rps", "req/s", "{:.0f}")]  # fmt: skip
OWN: dict[str, list[Column]] = {  # each experiment's own figures, beside the common ones
    "retries": [
        Column("whole.retried", "retried (clients, whole load)", "{:.0f}"),
        Column("envoy.upstream_rq_retry", "Envoy retries", "{:.0f}"),
        Column("envoy.upstream_rq_retry_success", "Envoy retry successes", "{:.0f}"),
        Column("envoy.upstream_rq_retry_overflow", "over the retry budget", "{:.0f}"),
    ],
    "timeouts": [
        Column("latency.max_ms", "max ms", "{:.1f}"),
        Column("whole.504", "504 (clients, whole load)", "{:.0f}"),
        Column("envoy.upstream_rq_timeout", "Envoy timeouts", "{:.0f}"),
    ],
    "allowlist": [
        Column("whole.403", "403 (clients, whole load)", "{:.0f}"),
        Column("envoy.rbac.denied", "RBAC denied", "{:.0f}"),
        Column("envoy.rbac.allowed", "RBAC allowed", "{:.0f}"),
    ],
    "trace": [
        Column("figures.request_ids", "answers with x-request-id", "{:.0f}"),
        Column("whole.requests", "answers (whole load)", "{:.0f}"),
        Column("counts.trace_log_lines", "app log lines", "{:.0f}"),
        Column("counts.trace_log_with_id", "with a trace id", "{:.0f}"),
    ],
    "auth": [
        Column("whole.401", "401 (clients, whole load)", "{:.0f}"),
        Column("envoy.jwt_authn.denied", "JWT denied", "{:.0f}"),
        Column("whole.403", "403 (clients, whole load)", "{:.0f}"),
        Column("envoy.rbac.denied", "RBAC denied", "{:.0f}"),
    ],
}
TITLES = {"weights": "Weighted routing", "retries": "Retries", "timeouts": "Timeouts", "allowlist": "IP allow-list",
          "trace": "Trace ids", "auth": "Client authentication (JWT)"}  # fmt: skip
# the phase's client (bench/gateway/api_gateway.py CLIENTS); `outside` is 127.0.0.2 locally, 10.201.16.200 under compose
CLIENTS = {"default": "-", "outside": "refused address", "token": "valid JWT", "expired": "expired JWT",
           "forged": "forged JWT"}  # fmt: skip
INTRO = (
    "Each experiment ran through one real Envoy configured from `stacks/gateway/gateway.toml` (Istio's objects, "
    "rendered as Istio renders them), every phase at the same closed-loop load, repeats interleaved. A phase is "
    "a variant (its own listener, the same upstream processes) loaded as one client. Cells are the median "
    "[min-max] over the repeats (counts too: a count per repeat); *requests* and *status codes* are summed over "
    "them. *vs off*: the phase's average response time against the `off` phase's, paired by repeat, with its "
    "95 % interval (bench/analysis/stats.py); *not significant* unless the whole interval lies beyond 3 % "
    "from no change. Envoy's counters and the app's log cover the whole load, warmup included, and so do the clients' "
    "counts marked *whole load*; the other figures cover the measured window. Clients: the usual one "
    "(127.0.0.1 locally, 10.201.16.10 under compose), a *refused address* outside the allow-list (127.0.0.2, "
    "10.201.16.200), or one sending a valid, an expired or a *forged* JWT (signed with a key the gateway's key "
    "set does not hold)."
)


def sections(run: RunResult, summary: RunSummary) -> list[str]:
    found = experiments(summary)
    if not found:
        return []
    return [section("The API gateway, feature by feature", INTRO)] + [
        experiment_section(name, phases) for name, phases in found.items()
    ]


def charts(run: RunResult, summary: RunSummary, out_dir: Path) -> list[Path]:
    return []


def experiments(summary: RunSummary) -> dict[str, dict[str, LabelSummary]]:
    """experiment -> phase label -> its summary, in the order they were first measured."""
    found: dict[str, dict[str, LabelSummary]] = {}
    for label, s in summary.of("experiment").items():
        found.setdefault(s.repeats[0].params.get("experiment", "?"), {})[label] = s
    return found


def experiment_section(name: str, summaries: dict[str, LabelSummary]) -> str:
    """One experiment: its table, then what it shows."""
    columns = [Column("figures.success_pct", "success %"), *LATENCY, *OWN.get(name, [])]
    figures = cells(summaries, columns)
    base = next(iter(summaries.values()))
    rows = []
    for label, s in summaries.items():
        good, ms = s.ok, s.repeats
        status = "ok" if len(good) == len(ms) else "/".join(sorted({m.status for m in ms}))
        requests = sum(m.figures.requests for m in good if m.figures)
        vs_off = "-" if s is base else _vs_off(verdict("avg", base, s, interleaved=True))
        rows.append([f"`{_phase(ms[0])}`", _client(ms[0]), status, str(requests), codes(good), *figures[label],
                     vs_off])  # fmt: skip
    head = ["phase", "client", "status", "requests", "status codes", *(c.title for c in columns), "vs off (avg)"]
    table = markdown(rows, head)
    phases = {label: s.repeats for label, s in summaries.items()}
    if name == "weights":
        table += "\n\n" + markdown(*_shares(phases))
    notes = READINGS.get(name, lambda _: [])(phases)
    return section(f"{TITLES.get(name, name)} (`{name}`)", table, "\n".join(f"- {n}" for n in notes if n))


def _phase(m: Measurement) -> str:
    return m.label.split("=", 1)[-1]


def _client(m: Measurement) -> str:
    client = m.params.get("client", "default")
    if client == "default" and m.params.get("experiment") == "auth":
        return "no token"
    return CLIENTS.get(client, client)


def _vs_off(v: Verdict | None) -> str:
    """`1.21x slower (95 % CI 1.10-1.33)`, `not significant (1.02x)`, or `-`."""
    if v is None:
        return "-"
    n, low, high = v.factor()
    direction = "slower" if v.ratio.ratio > 1 else "faster"
    if low is None or high is None:
        return f"{n:.2f}x {direction} (one repeat: no interval)"
    interval = v.ratio.interval() if v.ratio.no_spread else f"95 % CI {low:.2f}-{high:.2f}"
    if not v.ratio.significant:
        return f"not significant ({n:.2f}x {direction}, {interval})"
    return f"{n:.2f}x {direction} ({interval})"


# --- weighted routing: the share each version got --------------------------------------------------


def _shares(phases: dict[str, list[Measurement]]) -> tuple[list[list[str]], list[str]]:
    """Per phase: asked weights, each version's measured share with its 95 % interval, its p50/p99."""
    versions = sorted({v for ms in phases.values() for m in ms if m.figures for v in m.figures.versions})
    rows = []
    for ms in phases.values():
        good = [m for m in ms if m.ok and m.figures]
        total = sum(sum(m.figures.versions.values()) for m in good if m.figures)
        cells_ = [f"`{_phase(ms[0])}`", ms[0].params.get("weights", "100")]
        for version in versions:
            hits = sum(m.figures.versions.get(version, 0) for m in good if m.figures)
            found = stats.share(hits, total)
            cells_.append(
                "-" if found is None else f"{100 * found.share:.2f} [{100 * found.low:.2f}-{100 * found.high:.2f}]"
            )
            cells_.append(_version_latency(good, version))
        rows.append(cells_)
    head = ["phase", "weights asked"] + [h for v in versions for h in (f"{v} share % [95 % CI]", f"{v} p50 / p99 ms")]
    return rows, head


def _version_latency(ms: list[Measurement], version: str) -> str:
    """The median over repeats of one version's p50 and p99."""
    p50 = [lat.p50_ms for m in ms if m.figures and (lat := m.figures.version_latency.get(version)) and lat.p50_ms]
    p99 = [lat.p99_ms for m in ms if m.figures and (lat := m.figures.version_latency.get(version)) and lat.p99_ms]
    if not p50 or not p99:
        return "-"
    mid50, mid99 = Spread.of(p50), Spread.of(p99)
    return "-" if mid50 is None or mid99 is None else f"{mid50.mid:.2f} / {mid99.mid:.2f}"


# --- what each experiment shows, in words ------------------------------------------------------------


def _sum(ms: list[Measurement], pick: str) -> int:
    return sum(int(getattr(m.figures, pick)) for m in ms if m.ok and m.figures)


def _ok_pct(ms: list[Measurement]) -> str:
    requests, failures = _sum(ms, "requests"), _sum(ms, "failures")
    return f"{100 * (requests - failures) / requests:.2f} %" if requests else "-"


def _envoy(ms: list[Measurement], counter: str) -> int:
    return sum(envoy.change(m.envoy, counter) for m in ms if m.ok)


def _p99(ms: list[Measurement]) -> str:
    """The median p99 of the successful answers, as the table's p99 column."""
    values = [p99 for m in ms if m.ok and m.figures and (p99 := ok_latency(m.figures).p99_ms) is not None]
    spread = Spread.of(values)
    return number(spread.mid if spread else None, "{:.1f}")


def _weights(phases: dict[str, list[Measurement]]) -> list[str]:
    notes = []
    for ms in phases.values():
        total = sum(sum(m.figures.versions.values()) for m in ms if m.ok and m.figures)
        asked = ms[0].params.get("weights")
        if not asked or not total:
            continue
        v2 = stats.share(sum(m.figures.versions.get("v2", 0) for m in ms if m.ok and m.figures), total)
        assert v2 is not None
        notes.append(f"`{_phase(ms[0])}` asked {asked} (v1/v2): v2 answered {100 * v2.share:.2f} % of {total} "
                     f"requests (95 % CI {100 * v2.low:.2f}-{100 * v2.high:.2f} %).")  # fmt: skip
    return notes


def _retries(phases: dict[str, list[Measurement]]) -> list[str]:
    notes = []
    for ms in phases.values():
        seen, counted = _sum(ms, "retried") + _sum(ms, "warmup_retried"), _envoy(ms, "upstream_rq_retry")
        text = f"`{_phase(ms[0])}`: {_ok_pct(ms)} of the requests succeeded (p99 {_p99(ms)} ms)"
        if counted or seen:
            text += (f"; the gateway retried: clients saw {seen} retries in their answers' attempt counts over the "
                     f"whole loads ({_sum(ms, 'retried')} in the measured windows), Envoy counted {counted} "
                     f"({_envoy(ms, 'upstream_rq_retry_success')} succeeded, "
                     f"{_envoy(ms, 'upstream_rq_retry_overflow')} refused by the retry budget)")  # fmt: skip
        notes.append(text + ".")
    return notes


def _timeouts(phases: dict[str, list[Measurement]]) -> list[str]:
    notes = []
    for ms in phases.values():
        cut = sum(m.figures.status_codes.get("504", 0) for m in ms if m.ok and m.figures)
        whole = cut + sum(m.figures.warmup_status_codes.get("504", 0) for m in ms if m.ok and m.figures)
        envoy_cut = _envoy(ms, "upstream_rq_timeout")
        notes.append(f"`{_phase(ms[0])}`: {_ok_pct(ms)} succeeded, p99 {_p99(ms)} ms; the route timeout cut {cut} "
                     f"requests in the measured windows ({whole} over the whole loads: 504), Envoy counted "
                     f"{envoy_cut} upstream timeouts.")  # fmt: skip
    return notes


def _outcomes(phases: dict[str, list[Measurement]]) -> list[str]:
    return [f"`{_phase(ms[0])}` ({_client(ms[0])}): {codes([m for m in ms if m.ok])}." for ms in phases.values()]


def _trace(phases: dict[str, list[Measurement]]) -> list[str]:
    notes = []
    for ms in phases.values():
        lines = sum(m.counts.get("trace_log_lines", 0) for m in ms if m.ok)
        with_id = sum(m.counts.get("trace_log_with_id", 0) for m in ms if m.ok)
        text = f"`{_phase(ms[0])}`: {_sum(ms, 'request_ids')} of {_sum(ms, 'requests')} answers carried an x-request-id"
        if lines:
            answered = _sum(ms, "requests") + _sum(ms, "warmup_requests")
            text += (f"; the app logged {lines} requests over the whole loads, {with_id} with a trace id "
                     f"({100 * with_id / lines:.2f} %), for {answered} answers the clients got (warmup included; "
                     f"a request still in flight when a load stopped is logged but never answered)")  # fmt: skip
        notes.append(text + ".")
    return notes


READINGS = {"weights": _weights, "retries": _retries, "timeouts": _timeouts, "allowlist": _outcomes,
            "trace": _trace, "auth": _outcomes}  # fmt: skip
