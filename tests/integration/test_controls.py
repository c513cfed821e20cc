"""The comparison's two controls, measured for real with the default 3 interleaved repeats.

A/A: one stack under two labels must come out "not significant" on every figure; positive:
the stack against the floor (nginx answering from memory, several times faster) must come
out significant. A method so wide that nothing is significant fails the second; one that
calls noise a difference fails the first.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import measurements, only_run, run_bench, table_rows

LOAD = ["-u", "8", "-r", "8", "-t", "2s", "--warmup", "0.5s", "--backend", "local", "--no-floor"]


def test_an_identical_pair_is_not_significant_and_the_floor_is(tmp_path: Path) -> None:
    done = run_bench("stack", "flask_gunicorn@a", "flask_gunicorn@b", "floor", *LOAD, "--results", str(tmp_path))
    assert done.returncode == 0, done.stderr
    _, run = only_run(tmp_path)
    assert run["settings"]["repeat"] == 3  # the default
    labels = [m["label"] for m in measurements(run)]
    a, b, floor = "flask_gunicorn@a", "flask_gunicorn@b", "floor"
    assert labels == [a, b, floor, floor, b, a, a, b, floor]  # each round in the other direction
    summary = (tmp_path / "summary.md").read_text()
    head = table_rows(summary, "stack")[0]  # the headline table: a figure cell is the median [min-max] of the repeats
    row = dict(zip(head, table_rows(summary, "`flask_gunicorn@a`")[0], strict=True))
    detail = summary.split("## Every other figure")[1]  # counts are in the second table
    other = dict(zip(table_rows(detail, "stack")[0], table_rows(detail, "`flask_gunicorn@a`")[0], strict=True))
    assert row["avg (ms)"].endswith("]") and other["requests"] == str(sum(
        m["figures"]["requests"] for m in measurements(run) if m["label"] == "flask_gunicorn@a"))  # fmt: skip
    lines = {line.split("`")[1]: line for line in summary.splitlines() if line.startswith("- `")}
    same = lines["flask_gunicorn@b"]
    # the closed model: one verdict, throughput; latency is the same fact, shown beside it (Little's law)
    assert "throughput not significant (" in same and "latency at these users, not judged apart" in same, same
    floor = lines["floor"]
    assert "throughput not significant" not in floor and "x higher (95 % CI " in floor, floor
