"""Failure, bad input and interruption, provoked for real: clear errors, nothing lost, nothing left."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from bench.results import RunResult, save_run
from tests.factories import measured
from tests.integration.conftest import ROOT, as_at_a_terminal, measurements, only_run, run_bench

SHORT = ["-u", "5", "-r", "5", "--warmup", "0", "--repeat", "1", "--backend", "local", "--no-floor"]
DYING_FLASK = (
    "import os, threading; threading.Timer(3.0, os._exit, [3]).start(); "
    "from apps.flask_app import app; app.run(host='127.0.0.1', port={{port.app}})"
)


def leftovers(run_id: str) -> list[str]:
    """Processes still carrying this run's id in their environment."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.pid != os.getpid() and proc.environ().get("BENCH_RUN_ID") == run_id:
                found.append(f"{proc.pid} {' '.join(proc.info['cmdline'] or [])}")
        except psutil.Error:
            continue
    return found


def add_stack(stacks_dir: Path, name: str, source: str, edit: dict[str, str] | None = None, extra: str = "") -> None:
    """Copy a real stack folder under a new name, changing lines of its stack.toml (the configs the stacks
    share come along)."""
    shutil.copytree(ROOT / "stacks" / "common", stacks_dir / "common", dirs_exist_ok=True)
    shutil.copytree(ROOT / "stacks" / source, stacks_dir / name)
    toml = stacks_dir / name / "stack.toml"
    text = toml.read_text()
    for old, new in (edit or {}).items():
        assert old in text
        text = text.replace(old, new)
    toml.write_text(text + extra)


@pytest.fixture
def occupied_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def test_failing_stacks_are_recorded_and_the_others_still_run(tmp_path: Path, occupied_port: int) -> None:
    stacks_dir = tmp_path / "stacks"
    stacks_dir.mkdir()
    add_stack(stacks_dir, "flask_gunicorn", "flask_gunicorn")
    shutil.copytree(ROOT / "stacks" / "floor", stacks_dir / "floor")
    add_stack(stacks_dir, "taken", "flask_gunicorn", extra=f"\n[local_ports]\napp = {occupied_port}\n")
    add_stack(stacks_dir, "never_ready", "flask", {'"{{app.target}}", "run",': '"no_such_module:app", "run",'})
    dying_command = json.dumps(["{{python}}", "-c", DYING_FLASK])
    add_stack(stacks_dir, "dying", "flask", extra="")
    toml = stacks_dir / "dying" / "stack.toml"
    toml.write_text(
        toml.read_text().split("[[process]]")[0] + f'[[process]]\nname = "flask"\ncommand = {dying_command}\n'
    )

    results = tmp_path / "results"
    done = run_bench(
        "stack", "taken", "never_ready", "dying", "flask_gunicorn", *SHORT, "-t", "8s",
        "--ready-timeout", "15s", "--results", str(results),
        env={"BENCH_STACKS_DIR": str(stacks_dir)},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    _, run = only_run(results)
    by_name = {m["label"]: m for m in measurements(run)}
    assert run["status"] == "failed"

    taken = by_name["taken"]
    assert taken["status"] == "failed"
    assert "gunicorn exited with code" in taken["error"]
    assert "Connection in use" in taken["log_tail"]

    never = by_name["never_ready"]
    assert never["status"] == "failed" and "exited with code" in never["error"]
    assert "no_such_module" in never["log_tail"]

    dying = by_name["dying"]
    assert dying["status"] == "failed"
    assert dying["error"] == "stack broke during the load: flask exited with code 3"
    assert dying["figures"]["requests"] > 0  # what was measured before it died is kept

    assert by_name["flask_gunicorn"]["status"] == "ok"
    assert by_name["flask_gunicorn"]["figures"]["requests"] > 0
    assert "ERROR: 3 measurement(s) failed" in done.stderr
    assert "Connection in use" in done.stderr  # the log tail is shown to the person too
    summary = (results / "summary.md").read_text()
    assert "## What did not go well" in summary
    assert "- `dying` (repeat 1): **failed**: stack broke during the load" in summary
    assert leftovers(run["run_id"]) == []


def test_a_stack_that_never_answers_hits_its_deadline(tmp_path: Path) -> None:
    stacks_dir = tmp_path / "stacks"
    stacks_dir.mkdir()
    silent = json.dumps(["{{python}}", "-m", "http.server", "--bind", "127.0.0.1", "{{port.app}}"])
    add_stack(stacks_dir, "silent", "flask")
    toml = stacks_dir / "silent" / "stack.toml"
    toml.write_text(
        toml.read_text().split("[[process]]")[0] + f'[[process]]\nname = "http.server"\ncommand = {silent}\n'
    )
    results = tmp_path / "results"
    done = run_bench("stack", "silent", *SHORT, "-t", "2s", "--ready-timeout", "3s", "--results", str(results),
                     env={"BENCH_STACKS_DIR": str(stacks_dir)})  # fmt: skip
    assert done.returncode == 1
    _, run = only_run(results)
    (silent,) = measurements(run)
    assert silent["status"] == "failed"
    assert silent["error"].endswith("/health not ready after 3 s (HTTP 404)")
    assert '"GET /health HTTP/1.1" 404' in silent["log_tail"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_tears_down_and_keeps_what_was_measured(tmp_path: Path, sig: signal.Signals) -> None:
    results = tmp_path / "results"
    argv = [sys.executable, "-m", "bench", "stack", "flask_gunicorn", "flask", *SHORT, "-t", "60s"]
    proc = subprocess.Popen([*argv, "--results", str(results)], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            preexec_fn=as_at_a_terminal)  # fmt: skip
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "loading" in line:
            break
    time.sleep(3)
    proc.send_signal(sig)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 130, "".join(seen) + rest
    assert "interrupted" in rest
    _, run = only_run(results)
    assert run["status"] == "interrupted"
    (stack,) = measurements(run)
    assert stack["status"] == "interrupted"
    assert stack["figures"]["requests"] > 0 and stack["figures"]["latency"]["avg_ms"] > 0
    assert (results / "summary.md").exists()
    assert leftovers(run["run_id"]) == []


def test_unwritable_results_folder_is_refused_before_anything_starts(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = run_bench("stack", "flask", *SHORT, "-t", "2s", "--results", str(blocker / "results"))
    assert done.returncode == 2
    assert f"ERROR: results folder {blocker / 'results'} is not writable" in done.stderr
    assert "TIP: choose another with --results DIR" in done.stderr
    assert "starting" not in done.stderr


def test_missing_nginx_is_named_with_how_to_install_it(tmp_path: Path) -> None:
    done = run_bench(
        "stack", "flask_gunicorn_nginx", *SHORT, "-t", "2s", "--results", str(tmp_path), env={"PATH": "/usr/bin:/bin"}
    )  # fmt: skip  (Debian's nginx lives in /usr/sbin)
    assert done.returncode == 2
    assert "ERROR: 'nginx' not found, needed by stack 'flask_gunicorn_nginx'" in done.stderr
    assert "TIP: install nginx: apt-get install -y nginx" in done.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_report_skips_a_damaged_run(tmp_path: Path) -> None:
    good = tmp_path / "runs" / "20260101-000000"
    good.mkdir(parents=True)
    run = RunResult(run_id="20260101-000000", scenario="measure", started_at="x", status="complete",
                    measurements=[measured("flask")])  # fmt: skip
    save_run(good, run)
    damaged = tmp_path / "runs" / "20260102-000000"
    damaged.mkdir()
    (damaged / "run.json").write_text('{"schema_version": 2, "run_id": ')
    done = run_bench("report", "--results", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert f"WARNING: skipping {damaged / 'run.json'}: damaged" in done.stderr
    assert "run 20260101-000000" in (tmp_path / "summary.md").read_text()
