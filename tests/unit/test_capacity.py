"""`bench capacity`: the search finds a known capacity within its precision, a Ctrl-C keeps the finished
steps and the best bracket (marked partial), and sizing turns capacities into cores, replicas and memory.
Every expected value is computed by hand in the comments beside it."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bench.analysis import capacity as search
from bench.analysis.capacity import Plan, Tried
from bench.cli import parse_flags
from bench.errors import ConfigError
from bench.load.record import Figures, ProcessReport, Tally
from bench.report import write_summaries
from bench.report.compare import compare_runs, markdown
from bench.results import Finding, LoadShape, Measurement, RunResult, StackUsage, load_run, save_run
from bench.scenarios.capacity import Capacity, CapacityConfig
from tests.factories import START, run_of
from tests.integration.conftest import table_rows

# --- the search alone, against a simulated stack ---------------------------------------------------------------


def queue_p99_ms(workers: int, service_ms: float) -> Callable[[float], float]:
    """A stack of `workers` that each take `service_ms` a request: p99 grows as service / (1 - utilisation)
    and is unbounded at and past workers / service (the requests arrive faster than they can leave)."""

    def p99(rate: float) -> float:
        busy = rate * service_ms / 1000 / workers
        return math.inf if busy >= 1 else service_ms / (1 - busy)

    return p99


@pytest.mark.parametrize(("workers", "service_ms", "slo_ms", "start", "least"), [
    (4, 10.0, 50.0, 100, None),  # saturates at 400 req/s; p99 < 50 ms while busy < 0.8: 320 req/s
    (8, 5.0, 20.0, 100, None),  # 1600 req/s; busy < 0.75: 1200 req/s
    (1, 2.0, 100.0, 100, None),  # 500 req/s; busy < 0.98: 490 req/s
    (4, 10.0, 50.0, 1000, 250),  # 320 req/s again, from a start that fails: steps down to 250 first
])  # fmt: skip
def test_the_search_finds_a_known_capacity_within_two_percent(workers: int, service_ms: float, slo_ms: float,
                                                              start: float, least: float | None) -> None:  # fmt: skip
    capacity = workers * 1000 / service_ms * (1 - service_ms / slo_ms)  # service / (1 - busy) = slo
    p99 = queue_p99_ms(workers, service_ms)
    plan = Plan(start=start, most=12800, least=least)
    tried: list[Tried] = []
    why = search.drive(plan, lambda rate: p99(rate) < slo_ms, tried)
    found = search.bracket(tried)
    assert found.passed is not None and found.failed is not None
    assert found.passed <= capacity <= found.failed  # the true capacity lies inside the bracket
    assert abs(found.passed - capacity) <= 0.02 * capacity
    assert found.width is not None and found.width <= 0.02 and why == "bracketed within 2 %"
    assert len({t.load for t in tried}) == len(tried)  # no rate measured twice


def test_the_search_steps_by_doubling_then_bisects() -> None:
    tried: list[Tried] = []
    search.drive(Plan(start=100, most=12800), lambda rate: queue_p99_ms(4, 10.0)(rate) < 50.0, tried)
    # 100, 200 pass, 400 fails (saturated); bisecting 200-400 towards 320: 300 p, 350 f, 325 f, 312 p, 318 p, 321 f
    assert [(t.load, t.passed) for t in tried] == [(100, True), (200, True), (400, False), (300, True),
                                                   (350, False), (325, False), (312, True), (318, True),
                                                   (321, False)]  # fmt: skip
    # 321 <= 318 x 1.02 = 324.36: done


def test_the_search_says_when_it_found_no_capacity_or_only_a_lower_bound() -> None:
    nothing: list[Tried] = []
    why = search.drive(Plan(start=100, most=800, least=25), lambda rate: False, nothing)
    assert why == "no load met it, down to 25"
    assert [t.load for t in nothing] == [100, 50, 25]
    everything: list[Tried] = []
    why = search.drive(Plan(start=100, most=300), lambda rate: True, everything)
    assert [t.load for t in everything] == [100, 200, 300] and why == "met at the most tried (300): at least that much"


def test_the_sweep_keeps_its_two_bisection_steps() -> None:
    tried: list[Tried] = []
    why = search.drive(Plan(start=4, most=1024, precision=None, refine=2), lambda users: users <= 11, tried)
    assert [t.load for t in tried] == [4, 8, 16, 12, 10] and why == "2 bisection steps done"


def test_a_ctrl_c_between_steps_keeps_the_finished_steps_and_the_best_bracket() -> None:
    p99 = queue_p99_ms(4, 10.0)
    plan = Plan(start=100, most=12800)
    calls: list[float] = []

    def step(rate: float) -> bool:
        if len(calls) == 5:
            raise KeyboardInterrupt  # Ctrl-C before the sixth step
        calls.append(rate)
        return p99(rate) < 50.0

    tried: list[Tried] = []
    with pytest.raises(KeyboardInterrupt):
        search.drive(plan, step, tried)
    assert [t.load for t in tried] == [100, 200, 400, 300, 350]  # the five finished steps
    assert search.bracket(tried) == search.Bracket(300, 350)  # the best bracket so far
    assert search.stopped(plan, tried) is None and search.next_load(plan, tried) == 325  # not done: partial


# --- the scenario, its run.json and its summary, with a stack answering from a formula ----------------------------


def open_figures(rate: float, seconds: float, due_ms: float) -> Figures:
    """An open-model window as the locustfile counts it: `rate` x `seconds` slots, each answered in 2 ms and
    `due_ms` after it was due."""
    tally = Tally(window=0, start=START, end=START + seconds)
    slots = int(rate * seconds)
    for i in range(slots):
        tally.add(int(i * seconds / slots), 2.0, 200, False, False, corrected_ms=due_ms)
    return Figures.of([tally], [ProcessReport("h-1", START, START + seconds, offered_rps=rate)])


Stack = tuple[float, float, float]  # capacity (req/s), req/s per core, peak RSS MB


class _Session:
    """What a scenario sees of bench.session.Session: each label's stack meets p99 < 100 ms (10 ms from due) up
    to its own capacity and takes 200 ms past it; its CPU is rate / `per_core` cores; Ctrl-C before step `stop`.
    A label given a list of stacks is that stack in search 1, 2, ... (`--repeat`)."""

    def __init__(self, capacity: dict[str, Stack | list[Stack]], stop: int | None = None,
                 ceiling: float | None = 1000.0) -> None:  # fmt: skip
        self.run = run_of(scenario="capacity")
        self.run_dir = Path("/nonexistent")
        self.capacity, self.stop, self.steps, self.ceiling = capacity, stop, 0, ceiling
        self.floors: list[LoadShape] = []

    def measure_floor(self, load: LoadShape) -> Measurement | None:
        """nginx as the floor: locust achieves `ceiling` req/s of whatever it is offered (None: no floor here)."""
        self.floors.append(load)
        if self.ceiling is None:
            return None
        floor = Measurement(label="floor", stack="floor", role="floor", load=load, status="ok")
        floor.figures = open_figures(self.ceiling, 5.0, 1.0)
        self.record(floor)
        return floor

    def new(self, stack: Any, role: Any, load: LoadShape, **kwargs: Any) -> Measurement:
        self.steps += 1
        if self.steps == self.stop:
            raise KeyboardInterrupt
        return Measurement(label=kwargs.get("label") or stack.name, stack=stack.name, role=role, load=load,
                           repeat=kwargs.get("repeat", 1), params=dict(kwargs.get("params") or {}))  # fmt: skip

    def load(self, running: object, m: Measurement, out: Path) -> None:
        assert m.load is not None and m.load.rate is not None
        mine = self.capacity[m.label]
        capacity, per_core, rss_mb = mine[m.repeat - 1] if isinstance(mine, list) else mine
        rate, seconds = m.load.rate, m.load.duration_s
        m.figures = open_figures(rate, seconds, 10.0 if rate <= capacity else 200.0)
        cpu = 100 * rate / per_core
        m.usage = StackUsage(cpu, cpu * seconds / 100, rss_mb, samples=10)
        # past its capacity the stack's CPU is full: the diagnosis says so (below it, no limit found)
        busy = [Finding("cpu.stack", "cpu", {"stack_cpu_percent": cpu}, "more cores")] if rate > capacity else []
        m.status, m.limited_by = "ok", busy

    def record(self, m: Measurement) -> None:
        self.run.measurements.append(m)

    def save(self) -> None:
        pass

    @contextmanager
    def up(self, stack: Any, params: Any, folder: str, replicas: int | None = None) -> Iterator[object]:
        yield object()


def _search(tmp_path: Path, stop: int | None = None, *more: str, stacks: dict[str, Stack | list[Stack]] | None = None,
            ceiling: float | None = 1000.0, names: tuple[str, ...] = ("flask_gunicorn", "flask"),
            ) -> tuple[RunResult, str]:  # fmt: skip
    """flask_gunicorn meets the SLO up to 330 req/s at 400 req/s per core (80 MB); flask up to 150 at 200 (50 MB)."""
    _, flags = parse_flags(["capacity", *names, "--slo", "p99<100ms,errors<1%", "--target-rps",
                            "2000", "--min-answers", "100", "--step", "1s", "--results", str(tmp_path),
                            *more])  # fmt: skip
    config = Capacity().configure(flags)
    assert isinstance(config, CapacityConfig)
    session = _Session(stacks or {"flask_gunicorn": (330, 400, 80.0), "flask": (150, 200, 50.0)}, stop, ceiling)
    session.run.settings = config.settings()
    try:
        Capacity().run(session, config)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        session.run.status = "interrupted"  # as bench.session.Session.open sets it
    else:
        session.run.status = "complete"
    run_dir = tmp_path / "runs" / session.run.run_id
    run_dir.mkdir(parents=True)
    save_run(run_dir, session.run)
    return load_run(run_dir), write_summaries(tmp_path, run_dir).read_text()


def test_each_stack_has_its_capacity_bracket_cpu_memory_and_sizing(tmp_path: Path) -> None:
    run, summary = _search(tmp_path)
    assert summary.startswith(f"# Capacity at an SLO: run {run.run_id}\n")
    loads = {label: [m.step.load for m in run.rows("step") if m.label == label and m.step]
             for label in ("flask_gunicorn", "flask")}  # fmt: skip
    # 100 p, 200 p, 400 f (a climb step: measured again) 400 f, 300 p, 350 f, 325 p, 337 f, 331 f:
    # 331 <= 325 x 1.02 = 331.5, done
    assert loads["flask_gunicorn"] == [100, 200, 400, 400, 300, 350, 325, 337, 331]
    # 100 p, 200 f (again) 200 f, 150 p, 175 f, 162 f, 156 f, 153 f: 153 <= 150 x 1.02 = 153, done
    assert loads["flask"] == [100, 200, 200, 150, 175, 162, 156, 153]
    assert [m.load.duration_s for m in run.rows("step")][:2] == [1.0, 1.0]  # 100 answers at 100 req/s: 1 s is enough
    rows = table_rows(summary.split("## Capacity at")[1].split("## ")[0])
    # capacity 325 at 325 / 400 = 0.8125 cores (0.81), 400 req/s per core, 80 MB, 1 replica; no workers parameter
    # is recorded by this fake session (the stack's defaults are bench.session's business)
    assert rows[1] == ["`flask_gunicorn`", "325", "- (one search)", "325", "+1.8 %", "0.81", "400", "80", "-",
                       "80 (1 replica)"]  # fmt: skip
    assert rows[2] == ["`flask`", "150", "- (one search)", "150", "+2.0 %", "0.75", "200", "50", "-", "50 (1 replica)"]
    each = table_rows(summary.split("## Each search")[1].split("## ")[0])
    assert each[1] == ["`flask_gunicorn`", "1", "325", "325-331 (+1.8 %)", "325", "331",
                       "p99 200.00 ms, not <100ms (2.00x the bound)",
                       "cpu", "bracketed within 2 %"]  # fmt: skip
    assert each[2][:6] == ["`flask`", "1", "150", "150-153 (+2.0 %)", "150", "153"]
    # 2000 req/s: flask_gunicorn 2000 / 400 = 5 cores, ceil(2000 / 325) = 7 replicas x 80 MB = 560 MB;
    # flask 2000 / 200 = 10 cores, ceil(2000 / 150) = 14 replicas x 50 MB = 700 MB
    assert "For 2,000 req/s at `p99<100ms,errors<1%`: `flask_gunicorn` needs 5 cores and 560 MB, limited by cpu; " \
           "`flask` needs 10 cores and 700 MB, limited by cpu. It assumes this machine (" in summary  # fmt: skip
    assert summary.index("## The answer") < summary.index("## Capacity at")  # the answer first
    sizing = table_rows(summary.split("## Sizing for 2,000 req/s")[1].split("## ")[0])
    assert sizing[1:] == [["1", "`flask_gunicorn`", "5 cores", "7", "560", ""],
                          ["2", "`flask`", "10 cores", "14", "700", ""]]
    assert run.slo is not None and [v.sustainable for v in run.slo.verdicts] == [325, 150]


def test_a_ctrl_c_keeps_the_finished_steps_and_marks_the_capacity_partial(tmp_path: Path) -> None:
    run, summary = _search(tmp_path, stop=7)  # Ctrl-C as flask_gunicorn's seventh step was about to start
    assert run.status == "interrupted"
    assert [m.step.load for m in run.rows("step") if m.step] == [100, 200, 400, 400, 300, 350]
    rows = table_rows(summary.split("## Capacity at")[1].split("## ")[0])
    assert rows[1][:2] == ["`flask_gunicorn`", "300 (partial)"] and len(rows) == 2  # flask never started
    each = table_rows(summary.split("## Each search")[1].split("## ")[0])
    assert each[1][2:4] == ["300 (partial)", "300-350 (+16.7 %, not within 2 %)"]
    assert each[1][8] == "**partial**: stopped before the search ended"
    assert "**Partial**: the search of `flask_gunicorn` did not finish." in summary
    # sized on what was found: 300 / (300 / 400 cores) = 400 req/s per core: 5 cores; ceil(2000 / 300) = 7 replicas
    assert "`flask_gunicorn` needs 5 cores and 560 MB" in summary


def test_sizing_rounds_up_and_ranks_by_cores() -> None:
    def found(label: str, rate: float | None, cores: float | None, rss: float | None,
              lower: str | None = None) -> search.Capacity:  # fmt: skip
        one = search.StackCapacity(label, rate, search.Bracket(rate, None), 0.02, "done", cores=cores,
                                   peak_rss_mb=rss, lower_bound=lower)  # fmt: skip
        return search.over_repeats(label, [one])

    a = found("a", 1200.0, 0.96, 90.0)  # 1250 req/s per core
    b = found("b", 900.0, 0.5, 60.0, lower="--max-rate")  # 1800 req/s per core, a lower bound
    c = found("c", None, None, None)
    d = found("d", 500.0, None, 40.0)  # no CPU measured
    ranked = search.ranked([a, b, c, d], 2000.0)
    # b: ceil(2000 / 1800) = 2 cores, ceil(2000 / 900) = 3 replicas x 60 = 180 MB; a: ceil(1.6) = 2 cores,
    # ceil(1.67) = 2 replicas x 90 = 180 MB; tied on cores and memory: kept in the order given
    assert [(s.label, s.cores, s.replicas, s.memory_mb, s.lower_bound) for s in ranked[:2]] == [
        ("a", 2, 2, 180.0, False), ("b", 2, 3, 180.0, True)]
    assert ranked[0].cores_said() == "2 cores"  # one search: no interval
    assert [(s.label, s.why_none) for s in ranked[2:]] == [("c", "no rate met the SLO"),
                                                          ("d", "its CPU was not measured")]  # fmt: skip
    assert search.size(found("e", 1000.0, 1.0, 100.0), 2000.0).cores == 2  # exactly 2.0: not rounded up to 3


def test_the_capacity_over_repeats_is_the_median_with_the_t_interval_of_the_log_capacities() -> None:
    spread = search.Spread.of([300.0, 325.0, 350.0])
    # median 325; ln 300 = 5.703782, ln 325 = 5.783825, ln 350 = 5.857933: mean 5.781847, sd 0.077094,
    # se = sd / sqrt(3) = 0.044510; t(0.975, 2 df) = 4.302653: half = 0.191515;
    # exp(5.781847 - 0.191515) = 267.83, exp(5.781847 + 0.191515) = 392.82
    assert spread is not None and spread.median == 325 and spread.n == 3
    assert spread.low == pytest.approx(267.83, abs=0.01) and spread.high == pytest.approx(392.82, abs=0.01)
    one = search.Spread.of([310.0])
    assert one == search.Spread(310.0, None, None, 1)  # one search: no interval
    same = search.Spread.of([310.0, 310.0])
    assert same is not None and same.low == same.high == pytest.approx(310.0)  # no spread in 2 searches
    assert search.Spread.of([]) is None


def _one(rate: float, per_core: float, rss: float, repeat: int, workers: int | None = None) -> search.StackCapacity:
    return search.StackCapacity("s", rate, search.Bracket(rate, rate * 1.01), 0.02, "done", cores=rate / per_core,
                                peak_rss_mb=rss, repeat=repeat, workers=workers)  # fmt: skip


def test_sizing_over_repeats_gives_the_cores_with_their_interval() -> None:
    found = search.over_repeats("s", [_one(325, 400, 80, 1, 4), _one(300, 360, 90, 2, 4), _one(356, 440, 70, 3, 4)])
    # req/s per core 400, 360, 440: median 400; ln: 5.991465, 5.886104, 6.086775: mean 5.988115, sd 0.100368,
    # se 0.057948, half 4.302653 x 0.057948 = 0.249330: 310.68-511.56 req/s per core
    assert found.per_core is not None and found.per_core.median == 400
    assert (found.per_core.low, found.per_core.high) == (pytest.approx(310.68, abs=0.01),
                                                         pytest.approx(511.56, abs=0.01))  # fmt: skip
    sizing = search.size(found, 2000.0)
    # 2000 / 400 = 5 cores; 2000 / 511.56 = 3.91 -> 4; 2000 / 310.68 = 6.44 -> 7; ceil(2000 / 325) = 7 replicas
    # x the median peak RSS 80 MB = 560 MB; 80 MB / 4 workers = 20 MB per worker
    assert (sizing.cores, sizing.cores_low, sizing.cores_high, sizing.replicas, sizing.memory_mb) == (5, 4, 7, 7, 560)
    assert sizing.cores_said() == "5 cores [4-7]"
    assert found.mb_per_worker == 20 and found.mb_per_replica == 80
    assert found.worst_width == pytest.approx(0.01)


def test_repeated_searches_run_interleaved_and_the_summary_gives_the_median_and_its_interval(tmp_path: Path) -> None:
    stacks: dict[str, Stack | list[Stack]] = {
        "flask_gunicorn": [(330, 400, 80.0), (300, 360, 90.0), (360, 440, 70.0)], "flask": (150, 200, 50.0)}
    run, summary = _search(tmp_path, None, "--repeat", "3", stacks=stacks)
    firsts = [(m.label, m.repeat) for m in run.rows("step") if m.step and m.step.load == 100]
    # every stack's first search, then every stack's second (the other way round), then the third
    assert firsts == [("flask_gunicorn", 1), ("flask", 1), ("flask", 2), ("flask_gunicorn", 2),
                      ("flask_gunicorn", 3), ("flask", 3)]  # fmt: skip
    rows = table_rows(summary.split("## Capacity at")[1].split("## ")[0])
    # the searches find 325 (330: ... 325 p, 331 f), 300 (300: ... 300 p, 306 f), 356 (360: ... 356 p, 362 f);
    # median 325; ln 325 = 5.783825, ln 300 = 5.703782, ln 356 = 5.874931: mean 5.787513, sd 0.085634,
    # se 0.049441, half 4.302653 x 0.049441 = 0.212727: 263.69-403.53; widest bracket 306 / 300 = +2.0 %;
    # CPU at capacity 325 / 400 = 0.8125, 300 / 360 = 0.8333, 356 / 440 = 0.8091: median 0.81
    assert rows[1][:8] == ["`flask_gunicorn`", "325", "264-404", "325, 300, 356", "+2.0 %", "0.81", "400", "80"]
    assert rows[2][:5] == ["`flask`", "150", "no spread in 3 searches", "150, 150, 150", "+2.0 %"]
    # sized on the req/s per core as above: 5 cores [4-7]; 7 replicas x 80 MB; flask 10 cores [10-10], 700 MB
    assert "`flask_gunicorn` needs 5 cores [4-7] and 560 MB, limited by cpu; `flask` needs 10 cores [10-10] and " \
           "700 MB, limited by cpu." in summary  # fmt: skip
    assert "the median of 3 searches run interleaved, each within 2 % of where the SLO broke" in summary


def test_the_generator_ceiling_is_measured_first_and_a_capacity_within_its_reach_is_a_lower_bound(
        tmp_path: Path) -> None:  # fmt: skip
    run, summary = _search(tmp_path, None, "--max-rate", "3200", ceiling=300.0)
    assert run.measurements[0].role == "floor" and run.measurements[0].load is not None
    assert run.measurements[0].load.rate == 3200  # --max-rate offered to nginx, before any step
    rows = table_rows(summary.split("## Capacity at")[1].split("## ")[0])
    # the ceiling: the most ok req/s of the floor (300) and of any step (400, at flask_gunicorn's 400 req/s step);
    # flask_gunicorn first failed at 331 req/s: 331 / 400 = 83 % of it, at or above 80 %: a lower bound;
    # flask first failed at 153: 38 %, a capacity
    assert rows[1][1] == "325 (lower bound: within reach of the load generator's ceiling (400 req/s, the most it " \
                         "achieved in the run; 331 req/s is 83 % of it))"  # fmt: skip
    assert rows[2][1] == "150"
    assert "`flask_gunicorn` needs 5 cores and 560 MB (at most: its capacity is a lower bound)" in summary


def test_without_a_floor_nothing_is_a_lower_bound_by_the_generator(tmp_path: Path) -> None:
    _, summary = _search(tmp_path, None, "--no-floor", ceiling=400.0)
    rows = table_rows(summary.split("## Capacity at")[1].split("## ")[0])
    assert rows[1][1] == "325"  # not measured: no ceiling to be within reach of


def test_memory_per_worker_comes_from_the_workers_each_row_ran(tmp_path: Path) -> None:
    stacks: dict[str, Stack | list[Stack]] = {"flask_gunicorn@workers=2": (330, 400, 80.0),
                                              "flask_gunicorn@workers=4": (330, 400, 120.0)}  # fmt: skip
    _, summary = _search(tmp_path, None, "--set", "workers=2,4", stacks=stacks, names=("flask_gunicorn",))
    rows = table_rows(summary.split("## Capacity at")[1].split("## ")[0])
    # 80 MB / 2 workers = 40; 120 MB / 4 workers = 30; one replica each (no swarm): MB per replica = peak RSS
    assert [r[8:] for r in rows[1:]] == [["40 (2 workers)", "80 (1 replica)"], ["30 (4 workers)", "120 (1 replica)"]]


def test_two_capacity_runs_compare_by_the_ratio_of_their_capacities_with_welchs_interval(tmp_path: Path) -> None:
    a, _ = _search(tmp_path / "a", None, "--repeat", "3", names=("flask_gunicorn",),
                   stacks={"flask_gunicorn": [(330, 400, 80.0), (300, 360, 90.0), (360, 440, 70.0)]})  # fmt: skip
    b, _ = _search(tmp_path / "b", None, "--repeat", "3", names=("flask_gunicorn",),
                   stacks={"flask_gunicorn": [(420, 400, 80.0), (440, 400, 80.0), (400, 400, 80.0)]})  # fmt: skip
    b = replace(b, run_id="20261206-120000")
    c = compare_runs(a, b)
    [found] = c.capacities
    # A's searches found 325, 300, 356; B's 418 (420: ... 412 p, 425 f, 418 p), 437 (440), 400 (400: 406 f)
    assert (found.found_in(found.base), found.found_in(found.other)) == ([325, 300, 356], [418, 437, 400])
    # ln A: 5.783825, 5.703782, 5.874931: mean 5.787513, variance 0.0073331; ln B: 6.035481, 6.079933, 5.991465:
    # mean 6.035626, variance 0.0019567. Difference 0.248114 -> ratio exp(0.248114) = 1.2816. Welch: se^2 =
    # 0.0073331 / 3 + 0.0019567 / 3 = 0.0024444 + 0.0006522 = 0.0030966, se 0.055647; df = 0.0030966^2 /
    # (0.0024444^2 / 2 + 0.0006522^2 / 2) = 2.996; t(0.975, 2.996) = 3.1846: half 0.177217;
    # exp(0.248114 - 0.177217) = 1.0735, exp(0.248114 + 0.177217) = 1.5301: all of it above 1.03, significant
    assert found.ratio.ratio == pytest.approx(1.2816, abs=1e-4) and found.ratio.method == "welch"
    assert (found.ratio.low, found.ratio.high) == (pytest.approx(1.0735, abs=1e-4), pytest.approx(1.5301, abs=1e-4))
    text = markdown(c)
    row = table_rows(text.split("## Capacity at `p99<100ms,errors<1%` in B against A")[1].split("## ")[0])[1]
    assert row == ["`flask_gunicorn`", "3 / 3", "325", "418", "1.28", "95 % CI 1.07-1.53", "1.28x higher"]


def test_capacity_runs_with_another_slo_are_not_compared(tmp_path: Path) -> None:
    a, _ = _search(tmp_path / "a", None, names=("flask",))
    b, _ = _search(tmp_path / "b", None, "--slo", "p99<50ms,errors<1%", "--step", "2s", names=("flask",))
    with pytest.raises(ConfigError, match=r"SLO p99<100ms,errors<1% vs p99<50ms,errors<1%; step \(s\) 1 vs 2"):
        compare_runs(a, b)


def test_the_chart_and_results_csv_hold_every_step(tmp_path: Path) -> None:
    run, _ = _search(tmp_path)
    run_dir = tmp_path / "runs" / run.run_id
    png = run_dir / "capacity.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![p99 from due against the offered rate, the SLO and each capacity marked](capacity.png)" in (
        run_dir / "summary.md").read_text()  # fmt: skip
    assert 'src="data:image/png;base64,' in (run_dir / "report.html").read_text() or "capacity.png" in (
        run_dir / "report.html").read_text()  # fmt: skip
    frame = pd.read_csv(run_dir / "results.csv")
    steps = frame[frame["role"] == "step"]
    # the 9 steps of flask_gunicorn, then the 8 of flask (the test above), each with its rate and p99 from due
    assert list(steps["step.load"]) == [100, 200, 400, 400, 300, 350, 325, 337, 331,
                                        100, 200, 200, 150, 175, 162, 156, 153]  # fmt: skip
    assert list(steps["ok_corrected.p99_ms"])[:3] == [10.0, 10.0, 200.0]


def test_inject_reaches_the_session_and_run_json_settings(tmp_path: Path) -> None:
    run, _ = _search(tmp_path, None, "--inject", "delay=20ms", names=("flask_gunicorn",))
    assert run.settings["inject"] == {"BENCH_FAULT_DELAY_MS": "20"}


def test_a_failing_climb_step_is_measured_again_before_the_search_bisects_below_it() -> None:
    seen: dict[float, int] = {}

    def flaky(rate: float) -> bool:
        """Meets the SLO up to 330 req/s, but its first step at 200 req/s misses it once (a scheduler hiccup)."""
        seen[rate] = seen.get(rate, 0) + 1
        return rate <= 330 and not (rate == 200 and seen[rate] == 1)

    tried: list[Tried] = []
    why = search.drive(Plan(start=100, most=12800, confirm=True), flaky, tried)
    # 100 p, 200 f, 200 p (measured again: it passes, so the climb goes on), 400 f, 400 f (failed twice), then
    # bisection as without the hiccup: 300 p, 350 f, 325 p, 337 f, 331 f (a midpoint, not a climb step: once)
    assert [(t.load, t.passed) for t in tried] == [(100, True), (200, False), (200, True), (400, False),
                                                   (400, False), (300, True), (350, False), (325, True),
                                                   (337, False), (331, False)]  # fmt: skip
    assert search.bracket(tried) == search.Bracket(325, 331) and why == "bracketed within 2 %"
    without: list[Tried] = []
    search.drive(Plan(start=100, most=12800), lambda r: flaky(r) if r != 200 else False, without)
    # without confirming, 200 always failing: 150, 175, 187, 193, 196, 198 pass; 198-200 within 2 %: 198, not 325
    assert search.bracket(without).passed == 198
