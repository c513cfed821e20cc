"""cli.main with bad input: one clear line, a TIP where there is an obvious fix, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.options import parse_duration

COMMANDS = ["list", "all", "stack", "breaker", "sweep", "layers", "gateway", "k8s", "report", "compare"]


def test_unknown_stack_lists_the_known_ones(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["stack", "flask_gunicron", "--results", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "ERROR: stack 'flask_gunicron' not found" in err
    assert "TIP: known stacks: flask, flask_gunicorn, flask_gunicorn_nginx, fastapi_istio" in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # refused before anything started


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["-u", "-5"], "--users: must be at least 1, got -5"),
        (["-u", "many"], "--users: 'many' is not a whole number"),
        (["-t", "0"], "--duration: must be more than zero"),
        (["-t", "soon"], "--duration: cannot read 'soon' as a duration"),
        (["-r", "0"], "--spawn-rate: must be more than zero"),
        (["--repeat", "0"], "--repeat: must be at least 1"),
    ],
)
def test_bad_values_are_refused_up_front(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["stack", "flask", "--results", str(tmp_path), *flags])
    assert code == 2
    assert f"ERROR: {message}" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["all", "--userz", "3"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --userz" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("20", 20.0), ("20s", 20.0), ("1m", 60.0), ("1h30m", 5400.0), ("1.5s", 1.5), ("2m5s", 125.0), ("50ms", 0.05)],
)
def test_durations_read_like_locusts(text: str, seconds: float) -> None:
    assert parse_duration(text, "-t") == seconds


SEED_STACKS = ["flask", "flask_gunicorn", "flask_gunicorn_nginx", "fastapi_istio"]


def test_list_names_every_stack_and_marks_those_of_bench_all(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [row[0] for row in rows][:4] == SEED_STACKS
    assert [row[0] for row in rows if row[1] == "all"] == SEED_STACKS
    assert {"fastapi", "uvicorn", "flask_gunicorn_gthread", "fastapi_nginx", "granian_wsgi", "granian_asgi"} <= {
        row[0] for row in rows}  # fmt: skip


def test_list_params_shows_what_set_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--params"]) == 0
    out = capsys.readouterr().out
    gunicorn = out.split("flask_gunicorn ")[1].split("\nflask_gunicorn_nginx")[0]
    assert "    worker_class=sync  [sync|gthread]  " in gunicorn
    assert "    workers=4  [int 1-64]  gunicorn worker processes" in gunicorn


def test_report_without_runs_says_how_to_get_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["report", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "ERROR: no readable run in" in err
    assert "TIP: measure first" in err


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)], ids=["top", *COMMANDS])
def test_every_help_page_renders(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """argparse reads % in help text as a format: one unescaped % made `python -m bench --help` a traceback."""
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    assert "usage: python -m bench" in capsys.readouterr().out
