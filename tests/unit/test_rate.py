"""One arrival-rate parser (bench/options.py) for every command that takes --rate: the forms it reads, how a
relative rate resolves, the errors naming the flag, and what `stack`/`breaker` do with it."""

from __future__ import annotations

import pytest

from bench.cli import main, parse_flags
from bench.errors import ConfigError
from bench.options import Rate, parse_rate
from bench.scenarios.breaker import BreakerConfig
from bench.scenarios.measure import MeasureConfig


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
