"""Ctrl-C in the middle of every scenario: what was measured is in run.json and the summary, the
partial measurement is marked, the run says interrupted, exit 130, nothing is left running."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.conftest import ROOT, as_at_a_terminal, measurements, only_run, table_rows
from tests.integration.test_failures import leftovers


def interrupt_when(argv: list[str], results: Path, ready: Callable[[list[str]], bool],
                   delay: float = 1.0) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """Run `python -m bench ARGV`, send SIGINT `delay` s after `ready(lines so far)`; its stderr and run.json."""
    proc = subprocess.Popen([sys.executable, "-m", "bench", *argv, "--results", str(results)], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True, preexec_fn=as_at_a_terminal)  # fmt: skip
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:
        seen.append(line)
        if ready(seen):
            break
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 130, "".join(seen) + rest
    _, run = only_run(results)
    assert run["status"] == "interrupted"
    assert leftovers(run["run_id"]) == []
    return "".join(seen) + rest, run


def test_a_sweep_interrupted_after_two_steps_keeps_both(tmp_path: Path) -> None:
    def two_steps(lines: list[str]) -> bool:
        return sum(" users: " in line and "->" in line for line in lines) == 2

    stderr, run = interrupt_when(["sweep", "flask_gunicorn", "--step", "6s", "--max-users", "64", "--backend",
                                  "local"], tmp_path, two_steps, delay=5.5)  # fmt: skip
    # 5.5 s into the third step: past locust's start (about 1.5 s) and the step's 2 s warmup, before its end
    steps = measurements(run, "step")
    loads = [str(s["load"]["users"]) for s in steps]
    assert loads[:2] == ["4", "8"] and len(loads) == 3  # the third: 16, or 6 when 8 already broke
    assert [s["status"] for s in steps] == ["ok", "ok", "interrupted"]  # the third was under way
    assert steps[0]["step"]["verdict"] == "ok" and steps[1]["step"]["verdict"]
    assert steps[2]["figures"]["requests"] > 0  # what the partial step measured is kept too
    summary = (tmp_path / "summary.md").read_text()
    rows = table_rows(summary.split("Every step:")[1], "`flask_gunicorn`")
    assert sorted(row[1] for row in rows) == sorted(loads)
    assert "- `flask_gunicorn` (repeat 1): **interrupted**" in summary
    assert "interrupted" in stderr


def test_a_breaker_run_interrupted_after_its_capacity_phase_keeps_it(tmp_path: Path) -> None:
    def overloading(lines: list[str]) -> bool:
        return any(line.startswith("overload:") for line in lines)

    _, run = interrupt_when(["breaker", "--rate", "2x", "-t", "8s", "--backend", "local"], tmp_path, overloading,
                            delay=4.0)  # fmt: skip
    capacity, partial = run["measurements"]
    assert capacity["role"] == "capacity" and capacity["status"] == "ok" and capacity["figures"]["rps"] > 0
    assert partial["label"] == "fastapi_istio@breaker=off" and partial["status"] == "interrupted"
    summary = (tmp_path / "summary.md").read_text()
    assert f"Capacity measured first (closed loop, {capacity['figures']['requests']} requests" in summary


def test_layers_interrupted_in_its_second_row_keeps_the_first(tmp_path: Path) -> None:
    def second_row(lines: list[str]) -> bool:
        return sum(line.startswith("[") and "starting" in line for line in lines) == 2

    _, run = interrupt_when(["layers", "nginx", "-t", "4s", "--warmup", "0.5s", "--backend", "local"], tmp_path,
                            second_row, delay=3.0)  # fmt: skip
    first, partial = run["measurements"]
    assert (first["label"], first["role"], first["status"]) == ("flask_gunicorn", "saturation", "ok")
    assert (partial["label"], partial["status"]) == ("flask_gunicorn_nginx", "interrupted")
    assert "- `flask_gunicorn_nginx` (repeat 1): **interrupted**" in (tmp_path / "summary.md").read_text()


def test_an_open_model_run_interrupted_in_its_second_row_keeps_the_first(tmp_path: Path) -> None:
    def second_row_loaded(lines: list[str]) -> bool:  # the floor first, then a row each
        return sum("offering 100 req/s" in line for line in lines) == 3

    argv = ["stack", "flask_gunicorn", "floor", "--rate", "100", "-t", "4s", "--warmup", "0.5s", "--repeat", "1",
            "--backend", "local"]  # fmt: skip
    stderr, run = interrupt_when(argv, tmp_path, second_row_loaded, delay=2.5)
    floor, first, partial = run["measurements"]
    assert (floor["role"], first["label"], partial["label"]) == ("floor", "flask_gunicorn", "floor")
    assert floor["status"] == first["status"] == "ok" and partial["status"] == "interrupted"
    assert first["figures"]["slots"] == 100 * 4  # the finished row keeps its whole window, slot for slot
    f = partial["figures"]  # the interrupted one keeps what it counted: each slot once, never more than planned
    if f:
        assert f["slots"] == f["requests"] + f["unfinished"] + f["unsent"] <= 100 * 4
    assert not measurements(run, "floor_end")  # no floor again at the end of a run cut short
    summary = (tmp_path / "summary.md").read_text()
    assert "- `floor` (repeat 1): **interrupted**" in summary
    head = table_rows(summary, "stack")[0]
    row = dict(zip(head, table_rows(summary, "`flask_gunicorn`")[0], strict=True))
    done = first["figures"]  # the row measured, in the table: successful answers per second
    assert row["req/s"] == f"{done['rps'] * (done['requests'] - done['failures']) / done['requests']:.0f}"
    assert "interrupted" in stderr


def test_a_capacity_search_interrupted_after_two_steps_keeps_them_and_says_partial(tmp_path: Path) -> None:
    """SIGINT once run.json holds two finished steps (waiting on the file, not on a clock): both are kept as they
    were, the search's capacity is marked partial, exit 130, nothing left running."""
    argv = ["capacity", "flask_gunicorn", "--slo", "p99<50ms,errors<1%", "--start-rate", "200", "--max-rate", "3200",
            "--step", "2s", "--min-answers", "200", "--no-floor", "--backend", "local", "--results", str(tmp_path)]
    log = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "bench", *argv], cwd=ROOT, stderr=log, text=True,
                            preexec_fn=as_at_a_terminal)  # fmt: skip
    finished: list[dict[str, Any]] = []
    while len(finished) < 2:
        assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()  # still searching
        time.sleep(0.2)
        runs = list((tmp_path / "runs").glob("*/run.json")) if (tmp_path / "runs").is_dir() else []
        if runs:
            run_file = json.loads(runs[0].read_text())
            finished = [m for m in run_file["measurements"] if m["role"] == "step" and m["status"] == "ok"]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130, (tmp_path / "stderr.txt").read_text()
    log.close()
    _, run = only_run(tmp_path)
    assert run["status"] == "interrupted" and leftovers(run["run_id"]) == []
    steps = measurements(run, "step")
    loads = [s["step"]["load"] for s in steps]
    assert loads[0] == 200 and loads[1] in (400, 100)  # doubling from the start rate (halving if it failed)
    kept = [s for s in steps if s["status"] == "ok"]
    assert [(s["step"]["load"], s["step"]["slo_missed"]) for s in kept[:2]] == [
        (s["step"]["load"], s["step"]["slo_missed"]) for s in finished[:2]]  # as they were when SIGINT came
    summary = (tmp_path / "summary.md").read_text()
    row = table_rows(summary.split("## Each search")[1].split("## ")[0], "`flask_gunicorn`")[0]
    assert row[2].endswith("(partial)") and row[8] == "**partial**: stopped before the search ended", row
    assert "## Every step, in the order taken" in summary
