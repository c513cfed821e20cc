"""One arrival-rate parser (bench/options.py) for every command that takes --rate: the forms it reads, how a
relative rate resolves, the errors naming the flag, and what `stack`/`breaker` do with it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bench.analysis.summary import summarize
from bench.cli import main, parse_flags
from bench.errors import ConfigError
from bench.load.record import Figures, ProcessReport, Tally
from bench.options import Rate, parse_rate
from bench.report import render
from bench.results import LoadShape, Measurement
from bench.scenarios.breaker import BreakerConfig
from bench.scenarios.measure import MeasureConfig
from tests.factories import START, run_of


@pytest.mark.parametrize(
    ("text", "rate"),
    [("200", Rate(200.0)), ("200/s", Rate(200.0)), (" 200 req/s ", Rate(200.0)), ("12.5rps", Rate(12.5)),
     ("50%", Rate(0.5, relative=True)), ("150%", Rate(1.5, relative=True)), ("2x", Rate(2.0, relative=True)),
     ("0.5X", Rate(0.5, relative=True))],
)  # fmt: skip
def test_the_forms_of_a_rate(text: str, rate: Rate) -> None:
    assert parse_rate(text, "--rate") == rate


@pytest.mark.parametrize("text", ["", "fast", "-5", "0", "0%", "2y", "50 %%", "x2", "200/m"])
def test_a_bad_rate_names_the_flag(text: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_rate(text, "--rate")
    assert str(error.value) == f"--rate: cannot read {text!r} as a rate"
    assert error.value.tip and "50%" in error.value.tip


def test_a_relative_rate_resolves_against_the_peak() -> None:
    assert Rate(0.5, relative=True).resolve(413.0) == 206.5
    assert Rate(2.0, relative=True).resolve(413.0) == 826.0
    assert Rate(0.5, relative=True).resolve(None) is None  # no peak measured: no rate
    assert Rate(200.0).resolve(None) == 200.0
    assert [r.of("the peak") for r in (Rate(200.0), Rate(0.5, True), Rate(2.0, True))] == [
        "200 req/s", "50% of the peak", "2x the peak"]  # fmt: skip


def test_stack_and_breaker_read_the_same_parser() -> None:
    _, stack = parse_flags(["stack", "flask", "flask_gunicorn", "--rate", "200/s"])
    _, breaker = parse_flags(["breaker", "--rate", "2x"])
    assert (stack.values["rate"], breaker.values["rate"]) == (Rate(200.0), Rate(2.0, relative=True))
    scenario, flags = parse_flags(["stack", "flask", "--rate", "50%"])
    config = scenario.configure(flags)
    assert isinstance(config, MeasureConfig) and config.rate == Rate(0.5, relative=True)
    scenario, flags = parse_flags(["breaker"])
    config = scenario.configure(flags)
    assert isinstance(config, BreakerConfig) and config.rate == Rate(2.0, relative=True)  # its default
    assert config.settings()["rate"] == "2x capacity"


def test_the_open_model_stack_settings() -> None:
    scenario, flags = parse_flags(["stack", "flask", "flask_gunicorn", "--rate", "200", "-t", "5s",
                                   "--max-in-flight", "300"])  # fmt: skip
    config = scenario.configure(flags)
    assert isinstance(config, MeasureConfig)
    settings = config.settings()
    assert (settings["rate"], settings["offered_rps"], settings["max_in_flight"]) == ("200 req/s", 200.0, 300)
    assert "users" not in settings and "spawn_rate" not in settings  # the open model has no users
    row = config.row_load(200.0)
    assert (row.rate, row.max_in_flight, row.duration_s, row.model) == (200.0, 300, 5.0, "open")
    closed = scenario.configure(parse_flags(["stack", "flask", "-u", "7"])[1])
    assert isinstance(closed, MeasureConfig) and closed.row_load().model == "closed" and closed.rate is None
    assert "rate" not in closed.settings() and "max_in_flight" not in closed.settings()


@pytest.mark.parametrize(
    ("argv", "said"),
    [(["--rate", "200", "-u", "10"], "-u/--users does not go with --rate 200 req/s"),
     (["--rate", "200", "--wait", "10ms"], "--wait does not go with --rate"),
     (["--max-in-flight", "100"], "--max-in-flight applies to the open model only"),
     (["--rate", "fast"], "--rate: cannot read 'fast' as a rate")],
)  # fmt: skip
def test_flags_that_do_not_go_with_the_rate_are_refused(argv: list[str], said: str, capsys: pytest.CaptureFixture[str],
                                                       tmp_path: object) -> None:  # fmt: skip
    assert main(["stack", "flask", *argv, "--results", str(tmp_path)]) == 2
    assert f"ERROR: {said}" in capsys.readouterr().err


def test_a_relative_rate_keeps_users_for_its_peak() -> None:
    scenario, flags = parse_flags(["stack", "flask", "--rate", "50%", "-u", "12"])
    config = scenario.configure(flags)
    assert isinstance(config, MeasureConfig)
    assert (config.peak_load().users, config.peak_load().model) == (12, "closed")
    assert config.settings()["rate"] == "50% of the slowest row's closed-loop peak"


def _open_row(label: str, repeat: int, sent_ms: float, late_ms: float) -> Measurement:
    """100 requests at 100 req/s for 1 s, each answered `sent_ms` after its send and sent `late_ms` after it
    fell due, counted the way the locustfile counts them (bench/load/record.py's Tally)."""
    tally = Tally(window=0, start=START, end=START + 1.0)
    for _ in range(100):
        tally.send(late_ms, held=False, in_flight=1)
        tally.add(0, sent_ms, 200, False, False, corrected_ms=sent_ms + late_ms)
    report = ProcessReport(process="host-1", measured_from=START, stopped=START + 1.0, offered_rps=100.0)
    return Measurement(label=label, stack=label, repeat=repeat, status="ok", backend="local", folder=label,
                       load=LoadShape.open(100.0, 1.0), figures=Figures.of([tally], [report]))  # fmt: skip


def test_an_open_model_summary_reads_latency_from_due_and_compares_it_at_equal_load() -> None:
    # a: 2 ms from send, sent 1 ms late: 3 ms from due; b twice as slow from send and as late: 6 ms (+ spread)
    ms = [_open_row("a", r, 2.0, 1.0) for r in (1, 2, 3)]
    ms += [_open_row("b", r, 4.0 * (1 + 0.01 * r), 2.0) for r in (1, 2, 3)]
    run = replace(run_of(*ms), settings={"rate": "100 req/s", "offered_rps": 100.0})
    text = render(run, summarize(run), Path("runs/x"))
    assert "**Open model**: every row offered 100 req/s (`--rate`: 100 req/s)" in text
    head = table_rows(text, "stack")[0]
    a = dict(zip(head, table_rows(text, "`a`")[0], strict=True))
    b = dict(zip(head, table_rows(text, "`b`")[0], strict=True))
    assert (a["avg from due (ms)"], b["avg from due (ms)"]) == ("3.00", "6.08 [6.04-6.12]")
    (line,) = [x for x in text.splitlines() if x.startswith("- `b`: ")]
    assert line.startswith("- `b`: avg from due 2.03x slower (95 % CI ") and "median 6.08 vs 3.00 ms" in line
    assert "p99 from due " in line and "throughput" not in line
    assert "Every row was offered the same arrival rate" in text and "Little's law" not in text
    # the floor under the same open-model load: its latency from due (0.2 ms from send, sent 0.1 ms late)
    floor = replace(_open_row("floor", 1, 0.2, 0.1), role="floor")
    run = replace(run, measurements=[floor, *run.measurements])
    text = render(run, summarize(run), Path("runs/x"))
    assert ("**Load generator floor** (the same open-model load, 100 req/s, against nginx answering from memory, "
            "same cores): avg from due 0.30 ms, p99 from due 0.30 ms (from send: avg 0.20 ms)") in text
    assert "req/s near this one" not in text  # every row runs at the rate: no pace to set


def table_rows(markdown: str, first: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in markdown.splitlines()
            if line.startswith(f"| {first} ")]  # fmt: skip


def test_an_environment_default_for_another_command_is_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # BENCH_MAX_IN_FLIGHT set for breaker runs, BENCH_WAIT for closed-loop runs: `stack` leaves what its model
    # has no use for, and refuses only what was typed
    monkeypatch.setenv("BENCH_MAX_IN_FLIGHT", "300")
    scenario, flags = parse_flags(["stack", "flask"])
    closed = scenario.configure(flags)
    assert isinstance(closed, MeasureConfig) and closed.rate is None
    monkeypatch.setenv("BENCH_WAIT", "10ms")
    scenario, flags = parse_flags(["stack", "flask", "--rate", "200"])
    config = scenario.configure(flags)
    assert isinstance(config, MeasureConfig) and config.rate == Rate(200.0) and config.max_in_flight == 300
    assert config.row_load(200.0).model == "open"  # BENCH_WAIT left unused, BENCH_MAX_IN_FLIGHT applied
    with pytest.raises(ConfigError, match="--max-in-flight applies to the open model only"):
        scenario, flags = parse_flags(["stack", "flask", "--max-in-flight", "300"])
        scenario.configure(flags)
