"""How far to trust the lab's verdicts: injected delays recovered, A/A comparisons, the limited-by rules.

    .venv/bin/python -m benchmarks.calibration [--rounds 10] [--delays 1,2,5] [--out FILE]

Everything is measured through the lab's own command line (`python -m bench stack ...`) and read from
the run.json it writes, so the figures are the ones a user gets:

1. Injected truth. A round is one run without a fault and one run per delay d with `--inject
   delay=dms` (the apps' fault switch: every request waits d before it is answered), in an order
   that rotates from round to round. Each run loads `STACK@a STACK@b` (two labels of the same
   stack, interleaved, `--repeat` times) with a mix without /health (the switch never delays it), in
   the open model (`--rate`, default 40 req/s: a few % of the stack's peak, so with d <= 5 ms about
   0.2 requests are in flight on average against 4 workers and queueing does not amplify d). The
   lab's figure is the one its open-model verdict reads: the average of the successful answers timed
   from when each was due (`ok_corrected`), as the difference between the run with d and the run
   without (per repeat the mean of the two labels), with its 95 % Welch interval
   on raw values (bench/analysis/stats.py `difference`). The truth is d plus `time.sleep`'s own overshoot,
   measured here (the median excess of `time.sleep(d)` repeated). Goal: the interval covers the
   truth in >= 90 % of the rounds; the coverage is given with its Wilson interval.
2. A/A. Every run above also compares `STACK@b` with `STACK@a`, as its summary's *Compared with*
   does at equal load (paired repeats; significant = the whole interval beyond 3 %), on the two figures
   it judges there: the average and p99 from due time. A "significant" verdict is false. Goal: <= 5 %.
3. The rule table: each limited-by rule of bench/analysis/rules.toml on its provoked case and its control,
   the synthetic cases of tests/unit/test_diagnosis.py (RULE_CASES), judged by bench/analysis/diagnosis.py.
   The real provocations are tests/integration/test_diagnosis.py.

A run that fails is recorded and the rest still run; the exit code is 1 when something could not
be measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tabulate import tabulate

from bench.analysis import stats
from bench.errors import BenchError
from bench.options import parse_duration, parse_rate, positive_int

ROOT = Path(__file__).resolve().parents[1]
MIX = '[[request]]\nmethod = "GET"\npath = "/"\n\n[[request]]\nmethod = "GET"\npath = "/users_name/1"\n'
COVERAGE_GOAL = 0.90
FALSE_POSITIVE_GOAL = 0.05
AA_FIGURES = {"due avg": ("ok_corrected", "avg_ms"), "due p99": ("ok_corrected", "p99_ms")}  # the open verdicts
EXIT_OK, EXIT_FAILED = 0, 1


def say(message: str) -> None:
    """Progress on stderr, so stdout carries only the report."""
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Settings:
    """Everything one calibration runs, decided before anything starts."""

    stack: str
    backend: str
    delays_ms: tuple[float, ...]
    rounds: int
    repeat: int
    duration: str
    warmup: str
    rate: str
    budget_s: float  # no round starts after this much measuring
    out: Path | None
    command: str

    def lab_args(self, labels: Sequence[str], mix: Path, results: Path, delay_ms: float) -> list[str]:
        """`python -m bench stack ...` for one run; a delay of 0 leaves the fault switch off."""
        inject = ["--inject", f"delay={delay_ms:g}ms"] if delay_ms else []
        return [sys.executable, "-m", "bench", "stack", *labels, "--backend", self.backend, "--rate", self.rate,
                "-t", self.duration, "--warmup", self.warmup,
                "--repeat", str(self.repeat), "--no-floor", "--requests", str(mix), "--results", str(results),
                *inject]  # fmt: skip


@dataclass
class Run:
    """One `bench stack` run: its delay, and from its run.json the per-repeat figures of each label."""

    delay_ms: float
    round: int
    values: dict[str, dict[str, dict[int, float]]] = field(default_factory=dict)  # label -> figure -> repeat -> v
    rps: float | None = None
    error: str | None = None

    def figure(self, label: str, name: str) -> dict[int, float]:
        return self.values.get(label, {}).get(name, {})

    def avg_by_repeat(self) -> dict[int, float]:
        """Per repeat, the mean of the labels' ok-only averages from due time (both measured side by side)."""
        by_label = [self.figure(label, "due avg") for label in self.values]
        common = set.intersection(*(set(v) for v in by_label)) if by_label else set()
        return {r: statistics.fmean(v[r] for v in by_label) for r in sorted(common)}


# --- measuring -----------------------------------------------------------------------------


def sleep_overshoot_ms(delay_ms: float, times: int = 100) -> float:
    """The median of what `time.sleep(delay)` takes beyond `delay`, in ms, on this machine now."""
    excess = []
    for _ in range(times):
        started = time.perf_counter()
        time.sleep(delay_ms / 1000)
        excess.append((time.perf_counter() - started) * 1000 - delay_ms)
    return statistics.median(excess)


def read_run(run: dict[str, Any], into: Run) -> None:
    """The ok measurements' figures by label and repeat, from run.json as written (plain JSON)."""
    for m in run["measurements"]:
        if m["role"] != "stack" or m["status"] != "ok" or not m.get("figures"):
            continue
        figures = into.values.setdefault(m["label"], {})
        for name, (group, key) in {**AA_FIGURES, "rps": (None, "rps")}.items():
            source = m["figures"].get(group) if group else m["figures"]
            value = (source or {}).get(key) if group else source.get(key)
            if value is not None:
                figures.setdefault(name, {})[int(m["repeat"])] = float(value)
    rps = [v for label in into.values for v in into.figure(label, "rps").values()]
    into.rps = statistics.median(rps) if rps else None


def measure_run(settings: Settings, labels: Sequence[str], delay_ms: float, round_: int, work: Path) -> Run:
    """One run of the lab; its error is recorded, never raised."""
    results = work / f"round{round_}-delay{delay_ms:g}"
    run = Run(delay_ms, round_)
    done = subprocess.run(settings.lab_args(labels, work / "mix.toml", results, delay_ms), cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    files = sorted(results.glob("runs/*/run.json"))
    if done.returncode != 0 or not files:
        run.error = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return run
    read_run(json.loads(files[-1].read_text(encoding="utf-8")), run)
    return run


def measure(settings: Settings, work: Path) -> list[Run]:
    """`--rounds` rounds of one run per delay (0 first in round 1, the order rotating by one each round)."""
    (work / "mix.toml").write_text(MIX, encoding="utf-8")
    labels = [f"{settings.stack}@a", f"{settings.stack}@b"]
    plan = [0.0, *settings.delays_ms]
    runs: list[Run] = []
    clock = time.monotonic()
    for r in range(1, settings.rounds + 1):
        if time.monotonic() - clock > settings.budget_s:
            say(f"--budget spent: {r - 1} of {settings.rounds} rounds measured")
            break
        shift = (r - 1) % len(plan)
        for delay in plan[shift:] + plan[:shift]:
            say(f"round {r}/{settings.rounds}: delay {delay:g} ms ...")
            runs.append(measure_run(settings, labels, delay, r, work))
            if runs[-1].error:
                say(f"ERROR: round {r}, delay {delay:g} ms: {runs[-1].error}")
    return runs


# --- the figures ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Recovered:
    """One round's figure for one delay: the lab's difference and whether its interval covers the truth."""

    round: int
    difference: stats.Difference | None

    def covers(self, truth: float) -> bool | None:
        d = self.difference
        if d is None or d.low is None or d.high is None:
            return None
        return d.low <= truth <= d.high


def recovered(runs: Sequence[Run], delay_ms: float) -> list[Recovered]:
    """Per round with both runs measured: the ok-only average with `delay_ms` minus without, Welch on raw values."""
    found = []
    for r in sorted({run.round for run in runs}):
        base = [x for x in runs if x.round == r and x.delay_ms == 0 and not x.error]
        other = [x for x in runs if x.round == r and x.delay_ms == delay_ms and not x.error]
        if base and other:
            found.append(Recovered(r, stats.difference(base[0].avg_by_repeat(), other[0].avg_by_repeat(), False)))
    return found


def aa_verdicts(runs: Sequence[Run], name: str) -> list[bool]:
    """Per measured run: whether `@b` against `@a` was called significant on figure `name` (paired, as the
    summary's Compared-with does)."""
    found = []
    for run in runs:
        labels = list(run.values)
        if run.error or len(labels) < 2:
            continue
        a, b = run.figure(labels[0], name), run.figure(labels[1], name)
        ratio = stats.compare(a, b, set(a) == set(b)) if a and b else None
        if ratio is not None:
            found.append(ratio.significant)
    return found


def wilson(hits: int, n: int) -> str:
    """`7/8 = 88 % (Wilson 95 % 53-98 %)`."""
    s = stats.share(hits, n)
    if s is None:
        return "— (nothing measured)"
    return f"{hits}/{n} = {s.share:.0%} (Wilson 95 % {s.low:.0%}-{s.high:.0%})"


def rule_table() -> list[list[str]]:
    """Each rule on its provoked case and its control (tests/unit/test_diagnosis.py's RULE_CASES)."""
    from bench.analysis.diagnosis import load_rules
    from tests.unit.test_diagnosis import RULE_CASES, rule_outcome

    kinds = {r.name: r.kind for r in load_rules()}
    rows = []
    for rule in sorted(kinds, key=lambda n: (kinds[n], n)):
        if rule not in RULE_CASES:
            rows.append([f"`{rule}`", kinds[rule], "no case", "no case"])
            continue
        fired, silent = rule_outcome(rule)
        rows.append([f"`{rule}`", kinds[rule], "yes" if fired else "**no**", "yes" if silent else "**no**"])
    return rows


# --- the report ----------------------------------------------------------------------------


def _goal(met: bool | None) -> str:
    return "—" if met is None else ("yes" if met else "no")


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def injected_section(runs: Sequence[Run], settings: Settings, overshoot: dict[float, float]) -> list[str]:
    rows, detail = [], []
    for d in settings.delays_ms:
        truth = d + overshoot[d]
        found = recovered(runs, d)
        covered = [c for f in found if (c := f.covers(truth)) is not None]
        estimates = [f.difference.mean for f in found if f.difference]
        rows.append([f"{d:g}", f"{overshoot[d]:.3f}", f"{truth:.3f}",
                     f"{statistics.median(estimates):.3f}" if estimates else "—", wilson(sum(covered), len(covered)),
                     _goal(sum(covered) / len(covered) >= COVERAGE_GOAL if covered else None)])  # fmt: skip
        for f in found:
            diff = f.difference
            detail.append([f"{d:g}", str(f.round), _ms(diff.mean if diff else None),
                           f"{_ms(diff.low)} to {_ms(diff.high)}" if diff else "—",
                           {True: "yes", False: "**no**", None: "no interval"}[f.covers(truth)]])  # fmt: skip
    table = tabulate(rows, headers=["d ms", "sleep overshoot ms", "truth ms", "median estimate ms",
                                    "interval covered the truth", f">= {COVERAGE_GOAL:.0%}?"],
                     tablefmt="github", disable_numparse=True)  # fmt: skip
    rounds = tabulate(detail, headers=["d ms", "round", "difference ms", "95 % interval ms", "covers"],
                      tablefmt="github", disable_numparse=True)  # fmt: skip
    rps = [r.rps for r in runs if r.rps is not None]
    load = (f"Offered load: `--rate {settings.rate}` (open model), median {statistics.median(rps):.0f} req/s answered "
            "per label. The figure is the average of the successful answers timed from when each was due." if rps
            else "")  # fmt: skip
    return ["## 1. Injected truth: is the added delay recovered?", "", table, "", load, "", "Every round:", "",
            rounds, ""]  # fmt: skip


def aa_section(runs: Sequence[Run]) -> list[str]:
    rows = []
    for name in AA_FIGURES:
        found = aa_verdicts(runs, name)
        rows.append([name, wilson(sum(found), len(found)),
                     _goal(sum(found) / len(found) <= FALSE_POSITIVE_GOAL if found else None)])
    anyone = [any(v) for r in runs if (v := [s for n in AA_FIGURES for s in aa_verdicts([r], n)])]
    rows.append(["either", wilson(sum(anyone), len(anyone)), ""])
    head = ["figure (ok-only, from due)", "false 'significant'", f"<= {FALSE_POSITIVE_GOAL:.0%}?"]
    table = tabulate(rows, headers=head, tablefmt="github", disable_numparse=True)
    return ["## 2. A/A: a stack against itself", "", table, ""]


def render(runs: Sequence[Run], settings: Settings, overshoot: dict[float, float], started: datetime,
           load_before: tuple[float, float, float], minutes: float) -> str:  # fmt: skip
    load_after = os.getloadavg()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip() or "?"  # fmt: skip
    header = tabulate([["command", f"`{settings.command}`"], ["date", started.strftime("%Y-%m-%d %H:%M UTC")],
                       ["commit", commit], ["load average before", " / ".join(f"{x:.2f}" for x in load_before)],
                       ["load average after", " / ".join(f"{x:.2f}" for x in load_after)],
                       ["measured", f"{minutes:.1f} min, {len(runs)} runs of `bench stack` in "
                                   f"{len({r.round for r in runs})} of {settings.rounds} rounds (--budget)"],
                       ["stack", f"`{settings.stack}`, backend {settings.backend}"],
                       ["each run", f"`{settings.stack}@a {settings.stack}@b`, --repeat {settings.repeat}, "
                                    f"-t {settings.duration}, --warmup {settings.warmup}, --rate {settings.rate}, "
                                    "GET / and /users_name/1"]],
                      headers=["", ""], tablefmt="github", disable_numparse=True)  # fmt: skip
    failed = [f"- round {r.round}, delay {r.delay_ms:g} ms: {r.error}" for r in runs if r.error]
    rules = tabulate(rule_table(), headers=["rule", "kind", "fired when provoked", "silent in the control"],
                     tablefmt="github", disable_numparse=True)  # fmt: skip
    return "\n".join(["# Calibration of the lab's verdicts", "", header, "",
                      *injected_section(runs, settings, overshoot), *aa_section(runs),
                      "## 3. The limited-by rules", "", rules, "",
                      *(["## Not measured", "", *failed, ""] if failed else [])]) + "\n"  # fmt: skip


# --- command line --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Flags; each can also come from a CALIBRATION_* environment variable (the flag wins)."""

    def env(name: str, default: str) -> str:
        return os.environ.get(f"CALIBRATION_{name}", default)

    p = argparse.ArgumentParser(prog="python -m benchmarks.calibration", description=__doc__.split("\n\n")[0])
    p.add_argument("--stack", default=env("STACK", "flask_gunicorn"), help="the stack measured (the lab's users API)")
    p.add_argument("--backend", default=env("BACKEND", "local"), help="the lab's --backend")
    p.add_argument("--delays", default=env("DELAYS", "1,2,5"), help="injected delays in ms, comma-separated")
    p.add_argument("--rounds", default=env("ROUNDS", "10"), help="rounds: one run without and one per delay each")
    p.add_argument("--repeat", default=env("REPEAT", "3"), help="the lab's --repeat in each run")
    p.add_argument("--duration", default=env("DURATION", "2s"), help="the lab's -t in each run")
    p.add_argument("--warmup", default=env("WARMUP", "1s"), help="the lab's --warmup in each run")
    p.add_argument("--rate", default=env("RATE", "40"), help="the lab's --rate: a few %% of the stack's peak")
    p.add_argument("--budget", default=env("BUDGET", "25m"), help="no round starts after this much measuring")
    p.add_argument("--out", type=Path, default=Path(env("OUT", "")) if env("OUT", "") else None,
                   help="Markdown file to write (default: stdout only)")
    return p  # fmt: skip


def make_settings(args: argparse.Namespace, argv: Sequence[str]) -> Settings:
    """Validate every flag before anything starts."""
    try:
        delays = tuple(float(x) for x in args.delays.split(",") if x.strip())
    except ValueError:
        raise BenchError(f"--delays {args.delays!r}: comma-separated ms, e.g. 1,2,5") from None
    if not delays or min(delays) <= 0:
        raise BenchError(f"--delays {args.delays!r}: every delay above 0 ms")
    parse_duration(args.duration, "--duration")
    parse_duration(args.warmup, "--warmup", allow_zero=True)
    rate = parse_rate(args.rate, "--rate")
    if rate.relative:
        raise BenchError(f"--rate {args.rate!r}: an absolute rate in req/s (a relative one would measure a peak)")
    python = Path(sys.executable)
    shown = python.relative_to(ROOT) if python.is_relative_to(ROOT) else python
    return Settings(args.stack, args.backend, delays, positive_int(args.rounds, "--rounds"),
                    positive_int(args.repeat, "--repeat"), args.duration, args.warmup,
                    args.rate,
                    parse_duration(args.budget, "--budget"), args.out,
                    shlex.join([str(shown), "-m", "benchmarks.calibration", *argv]))  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print the report (and write it to --out); 1 if a run could not be measured."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = make_settings(build_parser().parse_args(argv), argv)
    except BenchError as exc:
        say(f"ERROR: {exc}")
        return exc.exit_code
    started, load_before, clock = datetime.now(UTC), os.getloadavg(), time.monotonic()
    overshoot = {d: sleep_overshoot_ms(d) for d in settings.delays_ms}
    with tempfile.TemporaryDirectory(prefix="calibration-") as work:
        runs = measure(settings, Path(work))
    text = render(runs, settings, overshoot, started, load_before, (time.monotonic() - clock) / 60)
    print(text, end="")
    if settings.out:
        settings.out.parent.mkdir(parents=True, exist_ok=True)
        settings.out.write_text(text, encoding="utf-8")
        say(f"written to {settings.out}")
    return EXIT_FAILED if any(r.error for r in runs) else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
